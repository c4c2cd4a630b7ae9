"""Colour only where a person reads a terminal; plain lines when piped, with ``--no-color`` or ``NO_COLOR``; and one
table of exit codes."""

from __future__ import annotations

import ast
import io
from pathlib import Path

import pytest

from pcf_cli.exit_codes import ExitCode
from pcf_cli.output import make_console, table_text
from tests.cli.cli_support import CliRunner, MemoryCloud, TerminalStream, particle

ESC = "\x1b["
PCF_CLI = Path(__file__).resolve().parents[2] / "pcf_cli"


def test_piped_output_is_plain_text(pcf_cli: CliRunner, memory: MemoryCloud) -> None:
    pcf_cli.write("pcf.yml", particle("a"))

    result = pcf_cli("run")

    assert result.code == ExitCode.OK
    assert ESC not in result.out and ESC not in result.err
    assert result.out.splitlines()[0].split() == ["pcf_id", "state", "id", "transitions"]


def test_a_terminal_gets_colour(pcf_cli: CliRunner, memory: MemoryCloud) -> None:
    pcf_cli.write("pcf.yml", particle("a"))
    pcf_cli.terminal = True

    result = pcf_cli("run")

    assert result.code == ExitCode.OK
    assert ESC in result.out and ESC in result.err  # the summary's header and verdict; progress lines
    assert "particles settled" in result.err  # the bar below the progress lines, while the apply runs


def test_the_progress_bar_is_for_a_terminal_only(pcf_cli: CliRunner, memory: MemoryCloud) -> None:
    pcf_cli.write("pcf.yml", particle("a"))

    assert "particles settled" not in pcf_cli("run").err
    pcf_cli.terminal = True
    assert "particles settled" not in pcf_cli("run", "-q").err


@pytest.mark.parametrize("how", ["--no-color before the command", "--no-color after it", "NO_COLOR set"])
def test_no_color_prints_the_plain_lines_on_a_terminal_too(pcf_cli: CliRunner, memory: MemoryCloud,
                                                          how: str) -> None:
    pcf_cli.write("pcf.yml", particle("a"))
    piped = pcf_cli("run", "-q")
    pcf_cli.terminal = True
    if how.startswith("NO_COLOR"):
        pcf_cli.environ["NO_COLOR"] = "1"
    argv = {"--no-color before the command": ["--no-color", "run", "-q"],
            "--no-color after it": ["run", "-q", "--no-color"]}.get(how, ["run", "-q"])

    result = pcf_cli(*argv)

    assert result.code == ExitCode.OK
    assert ESC not in result.out and ESC not in result.err
    assert [line.split()[:2] for line in result.out.splitlines()] == [
        line.split()[:2] for line in piped.out.splitlines()]


def test_an_error_is_red_on_a_terminal_only(pcf_cli: CliRunner) -> None:
    piped = pcf_cli("run", "-f", "missing.yml")
    pcf_cli.terminal = True
    shown = pcf_cli("run", "-f", "missing.yml")

    assert piped.code == shown.code == ExitCode.USAGE
    assert piped.err.startswith("pcf: error: file: ")
    assert shown.err.startswith(ESC) and "pcf: error: file: " in shown.err


def test_consoles_colour_a_terminal_unless_told_not_to() -> None:
    for stream, color, environ, styled in [
        (TerminalStream(), True, {}, True),
        (TerminalStream(), False, {}, False),
        (TerminalStream(), True, {"NO_COLOR": "1"}, False),
        (io.StringIO(), True, {}, False),
    ]:
        console = make_console(stream, color=color, environ=environ)
        console.print("[not markup]", style="red")
        assert (ESC in stream.getvalue()) is styled
        assert "[not markup]" in stream.getvalue()


def test_piped_tables_are_never_wrapped() -> None:
    long = "x" * 300

    assert table_text(("a", "b"), [(long, "y")]).splitlines() == ["a" + " " * 301 + "b", f"{long}  y"]


def test_the_exit_codes_are_today_s() -> None:
    assert {code.name: int(code) for code in ExitCode} == {
        "OK": 0, "FAILED": 1, "USAGE": 2, "DRIFT": 3, "INTERRUPTED": 130}


def is_literal_exit(node: ast.AST) -> bool:
    """``return 1``, ``sys.exit(2)``, ``SystemExit(1)``, or an ``EXIT_…`` constant."""
    if isinstance(node, ast.Return):
        return isinstance(node.value, ast.Constant) and type(node.value.value) is int
    if isinstance(node, ast.Call):
        called = getattr(node.func, "attr", getattr(node.func, "id", ""))
        return called in ("exit", "SystemExit", "Exit") and any(isinstance(a, ast.Constant) for a in node.args)
    return isinstance(node, ast.Name) and node.id.startswith("EXIT_")


def literal_exits(tree: ast.AST) -> list[int]:
    """The lines of ``tree`` that exit with a number written out instead of an ``ExitCode``."""
    return sorted(node.lineno for node in ast.walk(tree) if is_literal_exit(node))


@pytest.mark.parametrize("module", sorted(p.name for p in PCF_CLI.glob("*.py")))
def test_every_exit_code_comes_from_the_table(module: str) -> None:
    assert literal_exits(ast.parse((PCF_CLI / module).read_text())) == []


def test_the_scan_finds_literal_exits() -> None:
    source = ("import sys\nEXIT_OK = 0\ndef f():\n    return 1\ndef g():\n    sys.exit(2)\n"
              "def h():\n    return EXIT_OK\n")

    assert literal_exits(ast.parse(source)) == [2, 4, 6, 8]
