"""Files a definition names (a user data template), and the folder they are read from.

A definition is data: a file it names is read by whoever builds it from a file of their own (the pcf CLI,
``Particle.from_file``), relative to that file's folder, and sent on as text. The control plane never reads
one: its Lambda handlers run inside ``file_reads_disabled()``.

- ``template_root(folder)``: relative names are read from ``folder`` while inside, and only what lies under it
  may be read. Outside any, ``$PCF_TEMPLATE_ROOT`` if set, else the working directory (library mode with a
  dict definition, as the original PCF).
- ``file_reads_disabled()``: inside (this thread or task only), reading any file a definition names is an
  ``InvalidConfigException``; ``disable_file_reads()`` does it for the whole process, for good.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from contextvars import ContextVar
from pathlib import Path

from pcf.core.pcf_exceptions import InvalidConfigException

TEMPLATE_ROOT_ENV = "PCF_TEMPLATE_ROOT"
NO_FILE_READS = (
    "the control plane never reads files a definition names: send the template's text as "
    "custom_config.userdata_template (the pcf CLI does this)"
)

_root: ContextVar[Path | None] = ContextVar("pcf_template_root", default=None)
_reads_off: ContextVar[bool] = ContextVar("pcf_definition_file_reads_off", default=False)
_process_reads_off = False


@contextmanager
def template_root(folder: str | os.PathLike[str]) -> Iterator[Path]:
    """Read the files definitions name from ``folder`` (made absolute) while inside."""
    root = Path(folder).absolute()
    token = _root.set(root)
    try:
        yield root
    finally:
        _root.reset(token)


@contextmanager
def reading_definitions(folder: str | os.PathLike[str] | None) -> Iterator[None]:
    """Build definitions read from ``folder`` (``None``: given in Python): files they name are read from under
    it, and their templates render together in one child process (``pcf.util.templates.render_batch``). Every way
    of building from a file goes through here."""
    from pcf.util.templates import render_batch

    with template_root(folder) if folder is not None else nullcontext(), render_batch():
        yield


def current_template_root() -> Path:
    """The folder definition-named files are read from: ``template_root``'s, else ``$PCF_TEMPLATE_ROOT``, else
    the working directory."""
    root = _root.get()
    if root is not None:
        return root
    configured = os.environ.get(TEMPLATE_ROOT_ENV)
    return Path(configured).absolute() if configured else Path.cwd()


def disable_file_reads() -> None:
    """Refuse, from now on and in every thread of this process, to read any file a definition names."""
    global _process_reads_off
    _process_reads_off = True


@contextmanager
def file_reads_disabled() -> Iterator[None]:
    """Refuse to read any file a definition names while inside (this context only: the thread or task)."""
    token = _reads_off.set(True)
    try:
        yield
    finally:
        _reads_off.reset(token)


def file_reads_allowed() -> bool:
    return not (_process_reads_off or _reads_off.get())


def check_file_reads_allowed(field: str) -> None:
    """``InvalidConfigException(field, …)`` where files a definition names must not be read."""
    if not file_reads_allowed():
        raise InvalidConfigException(field, NO_FILE_READS)
