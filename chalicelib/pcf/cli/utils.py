"""The original PCF's CLI helpers (``pcf.cli.utils``), for code that calls them: colour, failing with a message,
"did you mean" suggestions, loading definition files and applying them in this process.

Files are read as the ``pcf`` command reads them (JSON with comments or YAML, within ``docs/definitions.md``'s
limits); an error prints one message and exits 1, as the original did.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable
from typing import Any, NoReturn

import click

from pcf.core import State
from pcf.core.definition import DEFAULT_DEFINITION_FILES
from pcf.core.pcf_exceptions import DefinitionError, MaxTimeoutException
from pcf.util.pcf_util import particle_class_from_flavor
from pcf_cli.exit_codes import ExitCode
from pcf_cli.suggestions import similar_strings

__all__ = [
    "click_options",
    "color",
    "did_you_mean",
    "execute_applying_command",
    "fail",
    "load_pcf_config_from_file",
    "particle_class_instance",
    "particles_from_file",
    "read_config_file",
    "similar_strings",
]

CONFIG_EXTENSIONS = (".json", ".yml", ".yaml")


def click_options(options: Iterable[Callable[[Any], Any]]) -> Callable[[Any], Any]:
    """A decorator adding a list of ``click.option`` decorators to a command."""

    def add(func: Any) -> Any:
        for option in options:
            func = option(func)
        return func

    return add


def color(color: str | None) -> str | None:
    """``color``, or ``None`` when ``NO_COLOR`` is set (https://no-color.org)."""
    return None if os.environ.get("NO_COLOR") else color


def fail(error_msg: str, fg: str | None = "red") -> NoReturn:
    """Print the message and exit 1."""
    click.secho(error_msg, fg=color(fg))
    sys.exit(ExitCode.FAILED)


def did_you_mean(suggestions: Iterable[str] = (), fg: str | None = None, exit_after: bool = True,
                 exit_code: int = 1) -> None:
    """Print ``Did you mean this?`` (or ``one of these?``) and the suggestions; exit with ``exit_code``."""
    chosen = list(suggestions)
    which = "this" if len(chosen) == 1 else "one of these"
    click.secho(f"\nDid you mean {which}?\n\t" + "\n\t".join(chosen), fg=color(fg))
    if exit_after:
        sys.exit(exit_code)


def load_pcf_config_from_file(filename: str) -> tuple[list[dict[str, Any]], str]:
    """The definitions of ``filename`` and the file read; for ``pcf.json``, the first of pcf.json, pcf.yml,
    pcf.yaml that exists."""
    basename = os.path.basename(filename)
    if os.path.splitext(filename)[1] not in CONFIG_EXTENSIONS:
        fail(f"Error: {basename} is not a valid PCF config file:\n\nPCF supports JSON and YAML config files. "
             "Valid file extensions are .json, .yml, and .yaml")
    if basename == "pcf.json":
        for default in DEFAULT_DEFINITION_FILES:
            if os.path.isfile(default):
                return read_config_file(default)
        fail("Error: could not find a PCF config file.\n\nIf your config file is not named 'pcf.json', 'pcf.yml', "
             "or 'pcf.yaml',\nuse the '--file' option to name it, e.g.\n\n\tpcf apply --file my_pcf_config.json")
    if not os.path.isfile(filename):
        fail(f"Error: could not find PCF config file {filename}\n\nIf your config file is not named 'pcf.json', "
             f"'pcf.yml', or 'pcf.yaml',\nuse the '--file' option to name it, e.g.\n\n\tpcf apply --file {filename}")
    return read_config_file(filename)


def read_config_file(filename: str) -> tuple[list[dict[str, Any]], str]:
    """The definitions the file holds (one mapping or a list; entries that are not mappings are skipped)."""
    from pcf.core.definition_file import read_definition_data

    try:
        data = read_definition_data(filename)
    except (OSError, DefinitionError) as error:
        fail(f"Error reading PCF config file {filename}:\n\n{error}")
    items = data if isinstance(data, list) else [data]
    return [item for item in items if isinstance(item, dict)], filename


def particle_class_instance(flavor: str, particle_config: dict[str, Any]) -> Any:
    """The particle of ``flavor`` built from ``particle_config``; fails when the flavor is unknown or the definition
    is invalid."""
    particle_class = particle_class_from_flavor(str(flavor).strip())
    if particle_class is None:
        fail(f"Error: {flavor} is not a supported Particle or Quasiparticle flavor")
    try:
        return particle_class(particle_config)
    except DefinitionError as error:
        fail(f"Error: {particle_config.get('pcf_name')}: {error}")


def particles_from_file(pcf_name: str | None, filename: str, quiet: bool = False) -> list[Any]:
    """The particles the file defines; only the one named ``pcf_name`` when given."""
    config, used = load_pcf_config_from_file(filename)
    names = []
    chosen = []
    for definition in config:
        name, flavor = definition.get("pcf_name"), definition.get("flavor")
        names.append(str(name))
        if flavor is None:
            fail(f"Error: No flavor specified in {name} configuration")
        if pcf_name and str(name).strip() == pcf_name.strip():
            if not quiet:
                click.secho(f"Loading Particle/Quasiparticle flavor {flavor} for {pcf_name}...", fg=color("blue"))
            return [particle_class_instance(flavor, definition)]
        if not pcf_name:
            chosen.append(particle_class_instance(flavor, definition))
    if pcf_name:
        click.secho(f"Error: could not find Particle or Quasiparticle '{pcf_name}' in {os.path.basename(used)}",
                    fg=color("red"))
        similar = similar_strings(pcf_name, names)
        if similar:
            did_you_mean(similar)
        sys.exit(ExitCode.FAILED)
    return chosen


def execute_applying_command(pcf_name: str | None, config_file: str, desired_state: str, cascade: bool = False,
                             quiet: bool = False, timeout: int | None = None) -> None:
    """Set ``desired_state`` on the file's particles (or the one named) and apply them in this process (library
    mode), printing what happens unless ``quiet``; exits 1 on a timeout."""
    particles = particles_from_file(pcf_name, config_file, quiet=quiet)
    if not particles:
        click.secho("No particle or quasiparticle definitions found.")
    for particle in particles:
        if not quiet:
            click.secho(f"Setting desired state of {particle.name} to {desired_state}...", fg=color("blue"))
        particle.set_desired_state(State[desired_state])
        if not quiet:
            click.secho(f"Applying changes to {particle.name}...", fg=color("blue"))
        try:
            particle.apply(cascade=cascade, max_timeout=timeout)
        except MaxTimeoutException:
            fail(f"Error: Max timeout of {timeout} seconds reached")
        if not quiet:
            click.secho(f"Successfully applied changes to {particle.name}", fg=color("green"))
