"""Jinja2 templates from definitions, read and rendered so that a template cannot run code, read files,
or take more than its limits (a definition is data).

- ``read_template_file(name, root, field=…)``: a template file, only from under ``root``, only a regular file
  (checked before opening: a FIFO never blocks; /proc files, devices and directories are refused), at most
  ``max_source_bytes``, UTF-8.
- ``render_template_text(source, params, field=…)`` and ``render_many(jobs)``: rendering happens in Jinja2's
  ``ImmutableSandboxedEnvironment`` (``StrictUndefined``, no loader, so ``include``/``import``/``extends`` are
  refused) inside a child process (``python -I`` with an empty environment: no AWS credentials to find) whose
  address space and CPU time are limited; each template's output is cut off as soon as it passes
  ``max_output_bytes``. ``render_many`` renders a batch in one child.
- ``render_batch()``: renders that particles being built ask for (``check_later``) are gathered and run in one
  child when the block ends: validating a quasiparticle of 1,000 templated workers costs one child process.

Every failure is an ``InvalidConfigException(field, reason)`` with a one-line reason. Renders are cached in
this process (LRU, by a hash of source, params and limits), so validating again spawns nothing.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import signal
import stat
import subprocess
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pcf.core.pcf_exceptions import InvalidConfigException
from pcf.util.definition_files import check_file_reads_allowed

MIB = 1024 * 1024
CACHE_SIZE = 512
MAX_POWER_BITS = 65536
"""``a ** b`` of integers is refused beyond this many bits (CPython computes it without checking for signals)."""
MAX_REASON = 300
PSEUDO_FILESYSTEMS = (Path("/proc"), Path("/sys"), Path("/dev"))


@dataclass(frozen=True)
class TemplateLimits:
    """What reading and rendering one template may take. ``max_output_bytes`` is EC2's user data limit (raw,
    before base64); CPU and wall seconds and memory bound each template's render."""

    max_source_bytes: int = 64 * 1024
    max_output_bytes: int = 16384
    cpu_seconds: int = 2
    wall_seconds: float = 10
    memory_bytes: int = 256 * MIB


DEFAULT_TEMPLATE_LIMITS = TemplateLimits()


@dataclass(frozen=True)
class RenderJob:
    """One template to render: its text, its params (JSON data) and the field a refusal names
    (``params_field`` for a value the template needs that the params do not give; ``field`` when unset)."""

    source: str
    params: Mapping[str, Any] | None
    field: str
    params_field: str | None = None


Outcome = dict[str, Any]
"""What the child says of one job: ``{"ok": text}`` or ``{"error": kind, …}``."""
UNCACHED = frozenset({"crash", "wall"})
"""Outcomes that depend on the moment (a crash, a busy machine), not on the template: never cached."""


# -- reading ------------------------------------------------------------------------------------------
def read_template_file(
    name: str, root: str | os.PathLike[str], *, field: str, limits: TemplateLimits = DEFAULT_TEMPLATE_LIMITS
) -> str:
    """The text of the template file ``name`` (relative to ``root``, or absolute), which must lie under ``root``
    (symlinks resolved) and be a regular UTF-8 file of at most ``max_source_bytes``."""
    check_file_reads_allowed(field)
    if not isinstance(name, str) or not name.strip() or "\0" in name:
        raise InvalidConfigException(field, "must name a template file")
    base = Path(root).resolve()
    path = (base / name).resolve()
    if not path.is_relative_to(base):
        raise InvalidConfigException(
            field, f"{name!r} lies outside {base}; a template must be under the definition file's folder"
        )
    if any(path.is_relative_to(system) for system in PSEUDO_FILESYSTEMS):
        raise InvalidConfigException(field, f"{name!r} is a system file ({path}), not a template")
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise InvalidConfigException(field, f"{name!r} does not exist (names are read from {base})") from None
    except OSError as error:
        raise InvalidConfigException(field, f"{name!r} cannot be read: {error.strerror}") from None
    if not stat.S_ISREG(info.st_mode):
        raise InvalidConfigException(field, f"{name!r} is not a regular file ({_file_kind(info.st_mode)})")
    _check_source_size(name, info.st_size, field, limits)
    data = _read_regular(path, info, name, field, limits.max_source_bytes + 1)
    _check_source_size(name, len(data), field, limits)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InvalidConfigException(field, f"{name!r} is not UTF-8 text (byte {error.start})") from None


def _read_regular(path: Path, info: os.stat_result, name: str, field: str, at_most: int) -> bytes:
    """At most ``at_most`` bytes of ``path``, opened without following a symlink or blocking, and only if it
    is still the regular file ``info`` describes."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        descriptor = os.open(path, flags)
    except OSError as error:
        raise InvalidConfigException(field, f"{name!r} cannot be read: {error.strerror}") from None
    try:
        opened = os.fstat(descriptor)
        if not stat.S_ISREG(opened.st_mode) or (opened.st_dev, opened.st_ino) != (info.st_dev, info.st_ino):
            raise InvalidConfigException(field, f"{name!r} changed while it was being read")
        chunks: list[bytes] = []
        size = 0
        while size < at_most:
            chunk = os.read(descriptor, at_most - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks)
    finally:
        os.close(descriptor)


def _check_source_size(name: str, size: int, field: str, limits: TemplateLimits) -> None:
    if size > limits.max_source_bytes:
        raise InvalidConfigException(
            field, f"{name!r} is {size} bytes; a template may be at most {limits.max_source_bytes} bytes"
        )


def _file_kind(mode: int) -> str:
    for test, kind in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a device"),
                       (stat.S_ISBLK, "a device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return kind
    return "not a file"


# -- rendering ----------------------------------------------------------------------------------------
def render_template_text(
    source: str,
    params: Mapping[str, Any] | None,
    *,
    field: str,
    limits: TemplateLimits = DEFAULT_TEMPLATE_LIMITS,
    params_field: str | None = None,
) -> str:
    """``source`` rendered with ``params``; ``InvalidConfigException`` naming ``field`` when it cannot be."""
    [result] = render_many([RenderJob(source, params, field, params_field)], limits)
    if isinstance(result, InvalidConfigException):
        raise result
    return result


def render_many(
    jobs: Sequence[RenderJob], limits: TemplateLimits = DEFAULT_TEMPLATE_LIMITS
) -> list[str | InvalidConfigException]:
    """Each job's text or refusal, in order; the renders not cached yet run in one child process."""
    results = _render(jobs, limits, stop_at_first_error=False)
    return [InvalidConfigException(job.field, "could not be rendered") if result is None else result
            for job, result in zip(jobs, results, strict=True)]


def _render(
    jobs: Sequence[RenderJob], limits: TemplateLimits, *, stop_at_first_error: bool
) -> list[str | InvalidConfigException | None]:
    """As ``render_many``; with ``stop_at_first_error`` the jobs after the first refusal may stay ``None``."""
    results: list[str | InvalidConfigException | None] = [None] * len(jobs)
    wanted: dict[str, tuple[str, str]] = {}
    positions: dict[str, list[int]] = {}
    for index, job in enumerate(jobs):
        prepared = _prepare(job, limits)
        if isinstance(prepared, InvalidConfigException):
            results[index] = prepared
            if stop_at_first_error:
                break
            continue
        params_text, key = prepared
        cached = _recall(key)
        if cached is not None:
            results[index] = _result(cached, job, limits)
            if stop_at_first_error and "error" in cached:
                break
            continue
        positions.setdefault(key, []).append(index)
        wanted.setdefault(key, (job.source, params_text))
    if not wanted:
        return results
    keys = list(wanted)
    for key, outcome in zip(keys, _outcomes([wanted[k] for k in keys], limits, stop_at_first_error), strict=True):
        if outcome is None:
            continue
        if outcome.get("error") not in UNCACHED:
            _remember(key, outcome)
        for index in positions[key]:
            results[index] = _result(outcome, jobs[index], limits)
    return results


def _prepare(job: RenderJob, limits: TemplateLimits) -> tuple[str, str] | InvalidConfigException:
    """(params as JSON, cache key), or the refusal of a job that need not reach the child."""
    if not isinstance(job.source, str):
        return InvalidConfigException(job.field, "must be the template's text")
    size = len(job.source.encode("utf-8", "surrogatepass"))
    if size > limits.max_source_bytes:
        return InvalidConfigException(
            job.field, f"the template is {size} bytes; a template may be at most {limits.max_source_bytes} bytes"
        )
    params_field = job.params_field or job.field
    params = {} if job.params is None else job.params
    if not isinstance(params, Mapping):
        return InvalidConfigException(params_field, "must be a mapping of template parameters")
    try:
        params_text = json.dumps(params, allow_nan=False)  # in the definition's order: a loop over a mapping keeps it
    except (TypeError, ValueError) as error:
        return InvalidConfigException(
            params_field, f"must be JSON data (strings, numbers, true/false, null, lists, mappings): {error}"
        )
    digest = hashlib.sha256()
    for part in (job.source, params_text, repr(limits)):
        data = part.encode("utf-8", "surrogatepass")
        digest.update(b"%d:" % len(data) + data)
    return params_text, digest.hexdigest()


_REASONS: dict[str, Callable[[str, Any, TemplateLimits], str]] = {
    "syntax": lambda message, line, _: f"template syntax error at line {line}: {message}",
    "undefined": lambda message, _, __: f"the template needs a value that is not given: {message}",
    "security": lambda message, _, __: f"the template tried something the sandbox forbids: {message}",
    "loads": lambda *_: "the template includes, imports or extends another template; a template cannot load files",
    "size": lambda _, __, limits: (f"renders to more than {limits.max_output_bytes} bytes; EC2 accepts at most 16 KB "
                                   "of user data"),
    "cpu": lambda _, __, limits: f"took more than the {limits.cpu_seconds} s of CPU time a template may take to render",
    "wall": lambda _, __, limits: f"took more than the {limits.wall_seconds:g} s a template may take to render",
    "memory": lambda _, __, limits: (f"needs more than the {limits.memory_bytes // MIB} MiB of memory a template may "
                                     "take to render"),
    "recursion": lambda *_: "recurses too deeply to render",
    "crash": lambda message, _, __: f"could not be rendered: the renderer {message}",
}
"""The child's error kind -> the one-line reason a user reads."""


def _result(outcome: Outcome, job: RenderJob, limits: TemplateLimits) -> str | InvalidConfigException:
    if "ok" in outcome:
        return str(outcome["ok"])
    kind = str(outcome.get("error"))
    message = _one_line(outcome.get("message", ""))
    field = (job.params_field or job.field) if kind == "undefined" else job.field
    reason = _REASONS.get(kind, lambda text, _, __: f"fails to render: {text}")(message, outcome.get("line"), limits)
    return InvalidConfigException(field, reason)


def _one_line(text: Any) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= MAX_REASON else line[: MAX_REASON - 1] + "…"


# -- the cache ----------------------------------------------------------------------------------------
_cache: OrderedDict[str, Outcome] = OrderedDict()
_cache_lock = threading.Lock()


def _recall(key: str) -> Outcome | None:
    with _cache_lock:
        outcome = _cache.get(key)
        if outcome is not None:
            _cache.move_to_end(key)
        return outcome


def _remember(key: str, outcome: Outcome) -> None:
    with _cache_lock:
        _cache[key] = outcome
        _cache.move_to_end(key)
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)


def clear_cache() -> None:
    """Forget every cached render (tests)."""
    with _cache_lock:
        _cache.clear()


# -- batches of particles being built ----------------------------------------------------------------
@dataclass
class _Batch:
    jobs: list[RenderJob]
    checks: list[Callable[[], None]]


_batch: ContextVar[_Batch | None] = ContextVar("pcf_template_batch", default=None)


@contextmanager
def render_batch() -> Iterator[None]:
    """Gather the ``check_later`` calls made inside; when the block ends (without an error), render all their
    jobs in one child process (stopping at the first refusal), then run the checks in order (their renders
    are cache hits now): the first failing check raises. A batch inside a batch joins it."""
    if _batch.get() is not None:
        yield
        return
    batch = _Batch([], [])
    token = _batch.set(batch)
    try:
        yield
    finally:
        _batch.reset(token)
    if batch.jobs:
        _render(batch.jobs, DEFAULT_TEMPLATE_LIMITS, stop_at_first_error=True)
    for check in batch.checks:
        check()


def check_later(jobs: Sequence[RenderJob], check: Callable[[], None]) -> None:
    """Run ``check`` (which renders ``jobs``, with the default limits) now, or, inside ``render_batch()``, once
    every job gathered there has been rendered."""
    batch = _batch.get()
    if batch is None:
        check()
        return
    batch.jobs.extend(jobs)
    batch.checks.append(check)


# -- the child process --------------------------------------------------------------------------------
BOOTSTRAP = (
    "import json, sys\n"
    "request = json.loads(sys.stdin.buffer.read())\n"
    "sys.path[:0] = request['path']\n"
    "from pcf.util.templates import child_main\n"
    "child_main(request)\n"
)


def child_environment() -> dict[str, str]:
    """The child's whole environment: nothing of this process's (no AWS credentials, no settings)."""
    return {}


def child_command() -> list[str]:
    """``python -I -c BOOTSTRAP``: isolated (no PYTHON* variables, no user site, no script folder on the path)."""
    return [sys.executable, "-I", "-c", BOOTSTRAP]


def _outcomes(
    batch: list[tuple[str, str]], limits: TemplateLimits, stop_at_first_error: bool
) -> list[Outcome | None]:
    """The outcome of each (source, params JSON); a job the child died on gets the reason, and the jobs after
    it go to a new child (unless stopping at the first error)."""
    results: list[Outcome | None] = [None] * len(batch)
    start = 0
    while start < len(batch):
        outcomes, failure = _run_child(batch[start:], limits, stop_at_first_error)
        results[start : start + len(outcomes)] = outcomes
        missing = next((i for i, outcome in enumerate(outcomes) if outcome is None), None)
        if missing is None:
            break
        if failure is None:
            if stop_at_first_error:  # the child stopped at an error on purpose
                break
            failure = {"error": "crash", "message": "ended before rendering every template"}
        results[start + missing] = failure
        if stop_at_first_error:
            break
        start += missing + 1
    return results


def _run_child(
    batch: list[tuple[str, str]], limits: TemplateLimits, stop_at_first_error: bool
) -> tuple[list[Outcome | None], Outcome | None]:
    """One child over ``batch``: what it said of each job, and why it ended early (``None`` if it did not)."""
    sources: dict[str, int] = {}
    jobs = [{"source": sources.setdefault(source, len(sources)), "params": params} for source, params in batch]
    request = {"path": [p for p in sys.path if p and os.path.isabs(p)], "limits": asdict(limits),
               "sources": list(sources), "jobs": jobs, "stop_at_first_error": stop_at_first_error}
    failure: Outcome | None = None
    try:
        done = subprocess.run(
            child_command(), input=json.dumps(request).encode("ascii"), env=child_environment(),
            cwd=os.path.abspath(os.sep), timeout=limits.wall_seconds * len(batch), capture_output=True, check=False,
        )
        stdout = done.stdout
        if done.returncode != 0:
            failure = _crash(done.returncode, done.stderr)
    except subprocess.TimeoutExpired as expired:
        stdout = expired.stdout or b""
        failure = {"error": "wall"}
    except OSError as error:
        stdout, failure = b"", {"error": "crash", "message": f"could not be started: {error}"}
    outcomes: list[Outcome | None] = [None] * len(batch)
    for line in stdout.splitlines():
        try:
            said = json.loads(line)
            outcomes[int(said.pop("job"))] = said
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            continue  # a line cut short when the child died
    return outcomes, failure


def _crash(returncode: int, stderr: bytes) -> Outcome:
    if returncode == -getattr(signal, "SIGXCPU", -1):
        return {"error": "cpu"}
    if b"MemoryError" in stderr:
        return {"error": "memory"}
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return {"error": "crash", "message": f"was killed by {name}"}
    last = stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
    return {"error": "crash", "message": f"exited with status {returncode} {last[0]}".strip()}


class _Exceeded(BaseException):
    """A job ran out of CPU or wall time (raised by the signal handlers; not an ``Exception``, so templates and
    Jinja2 cannot catch it)."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


class _Guard:
    """In the child: the address space limit (``RLIMIT_AS``), and each job's CPU time (``ITIMER_PROF``, then
    ``RLIMIT_CPU``'s soft limit a second later; its hard limit kills a child stuck in C code) and wall time
    (``ITIMER_REAL``)."""

    def __init__(self, limits: TemplateLimits, jobs: int) -> None:
        self.limits = limits
        self.active = False
        self.resource: Any = _posix_resource_module()
        self.timer = hasattr(signal, "setitimer")
        if self.resource is not None:
            _lower_limit(self.resource, self.resource.RLIMIT_AS, limits.memory_bytes)
            self.hard = math.ceil(self._cpu_used()) + (limits.cpu_seconds + 2) * (jobs + 1)
            self.hard = _lower_limit(self.resource, self.resource.RLIMIT_CPU, self.hard)
            signal.signal(signal.SIGXCPU, self._stop("cpu"))
        if self.timer:
            signal.signal(signal.SIGALRM, self._stop("wall"))
            signal.signal(signal.SIGPROF, self._stop("cpu"))

    def _cpu_used(self) -> float:
        usage = self.resource.getrusage(self.resource.RUSAGE_SELF)
        return float(usage.ru_utime + usage.ru_stime)

    def _stop(self, kind: str) -> Callable[[int, Any], None]:
        def handler(_signum: int, _frame: Any) -> None:
            if self.active:
                self.active = False
                raise _Exceeded(kind)

        return handler

    def run(self, render: Callable[[], Outcome]) -> Outcome:
        if self.resource is not None:  # whole seconds: the second line behind ITIMER_PROF
            soft = min(self.hard, math.ceil(self._cpu_used()) + self.limits.cpu_seconds + 1)
            self.resource.setrlimit(self.resource.RLIMIT_CPU, (soft, self.hard))
        if self.timer:
            signal.setitimer(signal.ITIMER_REAL, self.limits.wall_seconds)
            signal.setitimer(signal.ITIMER_PROF, self.limits.cpu_seconds)
        self.active = True
        try:
            return render()
        except _Exceeded as exceeded:
            return {"error": exceeded.kind}
        finally:
            self.active = False
            if self.timer:
                signal.setitimer(signal.ITIMER_REAL, 0)
                signal.setitimer(signal.ITIMER_PROF, 0)
            if self.resource is not None:
                self.resource.setrlimit(self.resource.RLIMIT_CPU, (self.hard, self.hard))


def _lower_limit(resource: Any, which: int, value: int) -> int:
    """Set the ``which`` limit to ``value`` (or to the hard limit already there, if lower); the value in force
    (a platform that refuses the limit, as macOS may for ``RLIMIT_AS``, keeps its own)."""
    _soft, hard = resource.getrlimit(which)
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    try:
        resource.setrlimit(which, (value, value))
    except (ValueError, OSError):
        return int(hard)
    return value


def _sandbox() -> Any:
    from jinja2 import StrictUndefined
    from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

    class Sandbox(ImmutableSandboxedEnvironment):
        """The immutable sandbox, refusing integer powers too large to compute (CPython computes them without
        checking for signals, so no CPU limit could stop one)."""

        intercepted_binops = frozenset({"**"})

        def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
            if operator == "**" and _huge_power(left, right):
                raise SecurityError(f"a power of more than {MAX_POWER_BITS} bits")
            return super().call_binop(context, operator, left, right)

    return Sandbox(undefined=StrictUndefined, keep_trailing_newline=True, autoescape=False)


def _huge_power(base: Any, exponent: Any) -> bool:
    if not (isinstance(base, int) and isinstance(exponent, int)) or exponent <= 0 or abs(base) <= 1:
        return False
    return exponent * abs(base).bit_length() > MAX_POWER_BITS


class _LoadsFiles(Exception):
    """The template includes, imports or extends another template."""


def _compile(environment: Any, source: str) -> Any:
    from jinja2 import nodes

    tree = environment.parse(source)
    if next(tree.find_all((nodes.Extends, nodes.Include, nodes.Import, nodes.FromImport)), None) is not None:
        raise _LoadsFiles()
    return environment.from_string(tree)


def _render_job(environment: Any, compiled: dict[int, Any], sources: list[str], job: Mapping[str, Any],
                limits: TemplateLimits) -> Outcome:
    from jinja2 import TemplateSyntaxError, UndefinedError
    from jinja2.sandbox import SecurityError

    try:
        template = compiled.get(job["source"])
        if template is None:
            template = compiled[job["source"]] = _compile(environment, sources[job["source"]])
        size = 0
        parts: list[str] = []
        for chunk in template.generate(**json.loads(job["params"])):
            size += len(chunk.encode("utf-8"))
            if size > limits.max_output_bytes:
                return {"error": "size"}
            parts.append(chunk)
        return {"ok": "".join(parts)}
    except TemplateSyntaxError as error:
        return {"error": "syntax", "line": error.lineno, "message": error.message}
    except SecurityError as error:
        return {"error": "security", "message": str(error)}
    except UndefinedError as error:
        return {"error": "undefined", "message": str(error)}
    except _LoadsFiles:
        return {"error": "loads"}
    except MemoryError:
        return {"error": "memory"}
    except RecursionError:
        return {"error": "recursion"}
    except OverflowError as error:
        if "MAX_RANGE" in str(error):
            return {"error": "security", "message": str(error)}
        return {"error": "failed", "message": f"OverflowError: {error}"}
    except Exception as error:  # anything else a template can raise: reported as its own failure
        return {"error": "failed", "message": f"{type(error).__name__}: {error}"}


def _posix_resource_module() -> Any:
    """The ``resource`` module (POSIX limits), ``None`` where there is none (then the wall-time limit only)."""
    try:
        import resource
    except ImportError:  # pragma: no cover - not on POSIX
        return None
    return resource


def child_main(request: Mapping[str, Any]) -> None:
    """The child's work (see ``BOOTSTRAP``): limits first, then one JSON line per job on stdout."""
    limits = TemplateLimits(**request["limits"])
    guard = _Guard(limits, len(request["jobs"]))
    environment = _sandbox()
    compiled: dict[int, Any] = {}
    out = sys.stdout.buffer
    for index, job in enumerate(request["jobs"]):
        outcome = guard.run(functools.partial(_render_job, environment, compiled, request["sources"], job, limits))
        out.write(json.dumps({"job": index, **outcome}).encode("ascii") + b"\n")
        out.flush()
        if request.get("stop_at_first_error") and "error" in outcome:
            break
