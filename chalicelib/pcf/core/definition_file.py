"""Reading definition files (JSON or YAML) within limits.

Whatever a file holds, reading it ends in data or in one ``DefinitionError("file", reason)`` whose reason names
the file, where (line and column; for JSON the key path when known) and why, in one line: never a hang, a
``RecursionError``, a ``MemoryError`` or a parser's own exception. Sizes are checked before the work they would
cost: the file size before reading it all, JSON nesting before ``json.loads`` recurses, YAML nesting while
composing, and YAML's size with aliases expanded on the node graph before any Python object is built.
"""

from __future__ import annotations

import codecs
import json
import math
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Literal, NoReturn

import yaml
from yaml.events import AliasEvent, MappingStartEvent, SequenceStartEvent, StreamEndEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from pcf.core.pcf_exceptions import DefinitionError

FileKind = Literal["json", "yaml"]
MIB = 1024 * 1024
_CHUNK_BYTES = 64 * 1024


@dataclass(frozen=True)
class DefinitionLimits:
    """Bounds on one definition file."""

    max_bytes: int = 4 * MIB
    """Size of the file, in bytes."""
    max_depth: int = 64
    """Nesting of mappings and lists: a top-level mapping is level 1 (YAML: with aliases expanded too)."""
    max_int_digits: int = 32
    """Digits of one integer (sign and ``_`` not counted)."""
    max_nodes: int = 1_000_000
    """Values of a YAML document once aliases are expanded: every mapping, list and scalar counts once per place
    it appears (a JSON file's values are bounded by ``max_bytes``)."""
    max_expanded_bytes: int = 16 * MIB
    """Characters of a YAML document's scalars once aliases are expanded: a long string aliased many times is
    cheap to load but not to serialize (into an execution's input, say)."""


DEFAULT_LIMITS = DefinitionLimits()


def read_definition_data(path: str | Path, limits: DefinitionLimits = DEFAULT_LIMITS) -> Any:
    """Whatever a JSON (comments allowed) or YAML file holds, read within ``limits``."""
    file = Path(path)
    return parse_definition_text(_read_bounded(file, limits), file_kind(file), str(file), limits)


def load_definitions(path: str | Path, limits: DefinitionLimits = DEFAULT_LIMITS) -> list[dict[str, Any]]:
    """The definitions a file holds: one mapping, or a non-empty list of them (not validated yet)."""
    file = Path(path)
    data = read_definition_data(file, limits)
    items = data if isinstance(data, list) else [data]
    if not items:
        raise DefinitionError("file", f"{file} holds no definition")
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            where = f"[{index}]" if isinstance(data, list) else ""
            raise DefinitionError(
                f"file{where}", f"must be a definition (a mapping) or a list of them, not {type(item).__name__}"
            )
    return items


def load_definition(path: str | Path, limits: DefinitionLimits = DEFAULT_LIMITS) -> dict[str, Any]:
    """The one definition (a mapping) a file holds (not validated yet)."""
    file = Path(path)
    data = read_definition_data(file, limits)
    if not isinstance(data, dict):
        raise DefinitionError("file", f"{file} must hold one mapping (a particle or quasiparticle definition)")
    return data


def file_kind(path: Path) -> FileKind:
    """``json`` for a ``.json`` file; YAML (which also reads most JSON) for ``.yml``, ``.yaml`` and anything else."""
    return "json" if path.suffix.lower() == ".json" else "yaml"


def parse_definition_text(
    data: bytes | str, kind: FileKind, source: str, limits: DefinitionLimits = DEFAULT_LIMITS
) -> Any:
    """Parse in-memory JSON or YAML text within ``limits``; ``source`` names it in errors."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    if len(raw) > limits.max_bytes:
        _refuse(f"{source} is larger than {limits.max_bytes:,} bytes (a definition file's limit)")
    text = _decode_utf8(raw, source)
    return _parse_json(text, source, limits) if kind == "json" else _parse_yaml(text, source, limits)


def _refuse(reason: str) -> NoReturn:
    raise DefinitionError("file", reason)


def _read_bounded(file: Path, limits: DefinitionLimits) -> bytes:
    """At most ``max_bytes`` of a regular file; anything else (a FIFO, a device) is refused unopened."""
    try:
        info = file.stat()
    except (FileNotFoundError, NotADirectoryError, ValueError):
        _refuse(f"{file} does not exist")
    except OSError as error:
        _refuse(f"{file} cannot be read: {error.strerror}")
    _require_regular(file, info.st_mode)
    if info.st_size > limits.max_bytes:
        _refuse(f"{file} is larger than {limits.max_bytes:,} bytes (a definition file's limit)")
    try:
        # O_NONBLOCK: should the file become a FIFO after stat, opening it does not wait for a writer.
        descriptor = os.open(file, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
        with os.fdopen(descriptor, "rb") as stream:
            _require_regular(file, os.fstat(stream.fileno()).st_mode)
            data = _read_at_most(stream, limits.max_bytes + 1, info.st_size + 1)
    except OSError as error:
        _refuse(f"{file} cannot be read: {error.strerror}")
    if len(data) > limits.max_bytes:
        _refuse(f"{file} is larger than {limits.max_bytes:,} bytes (a definition file's limit)")
    return data


def _read_at_most(stream: BinaryIO, limit: int, expected: int) -> bytes:
    """Up to ``limit`` bytes, asking first for the ``expected`` size (a read allocates what it asks for)."""
    chunks = [stream.read(min(limit, expected))]
    total = len(chunks[0])
    while chunks[-1] and total < limit:
        chunks.append(stream.read(min(limit - total, _CHUNK_BYTES)))
        total += len(chunks[-1])
    return b"".join(chunks)


def _require_regular(file: Path, mode: int) -> None:
    if stat.S_ISDIR(mode):
        _refuse(f"{file} is a directory, not a definition file")
    if not stat.S_ISREG(mode):
        _refuse(f"{file} is not a regular file (a FIFO, socket or device is not read)")


def _decode_utf8(raw: bytes, source: str) -> str:
    """Strict UTF-8, a leading BOM dropped; the first invalid byte is located."""
    start = len(codecs.BOM_UTF8) if raw.startswith(codecs.BOM_UTF8) else 0
    try:
        return str(memoryview(raw)[start:], "utf-8")
    except UnicodeDecodeError as error:
        bad = start + error.start
        line_start = max(raw.rfind(b"\n", 0, bad) + 1, start)
        line = raw.count(b"\n", 0, bad) + 1
        column = len(raw[line_start:bad].decode("utf-8")) + 1
        _refuse(f"{source}: line {line}, column {column} (byte {bad}): not valid UTF-8 (byte 0x{raw[bad]:02x})")


def _line_column(text: str, offset: int) -> tuple[int, int]:
    return text.count("\n", 0, offset) + 1, offset - text.rfind("\n", 0, offset)


# --- JSON -------------------------------------------------------------------------------------------------------

_JSON_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?|[\[\]{}]', re.DOTALL)
"""A string (to skip, unterminated ones included) or a bracket."""
_JSON_STRING_OR_COMMENT = re.compile(r'"(?:[^"\\\n]|\\.)*"|//[^\n]*|#[^\n]*|/\*.*?(?:\*/|\Z)', re.DOTALL)
"""A string (kept) or a comment (blanked): ``//`` or ``#`` to the end of the line, or ``/* ... */``."""
_PLAIN_KEY = re.compile(r"[A-Za-z0-9_-]+")


class _Problem:
    """Stands, in parsed JSON, for a value refused by a parse hook; the walk that finds it names its path."""

    __slots__ = ("key", "reason")

    def __init__(self, reason: str, key: str | None = None) -> None:
        self.reason = reason
        self.key = key


def strip_json_comments(text: str, source: str = "JSON text") -> str:
    """JSON with comments as plain JSON: ``//`` and ``#`` to the end of the line and ``/* ... */`` outside strings
    become spaces (newlines kept), so errors still point at the right line and column. The original PCF read
    definition files as JSON with comments."""
    if "/" not in text and "#" not in text:
        return text

    def blank(match: re.Match[str]) -> str:
        found = match.group()
        if found.startswith('"'):
            return found
        if found.startswith("/*") and not found.endswith("*/"):
            line, column = _line_column(text, match.start())
            _refuse(f"{source}: line {line}, column {column}: a /* comment is never closed")
        return re.sub(r"[^\n]", " ", found)

    return _JSON_STRING_OR_COMMENT.sub(blank, text)


def _parse_json(text: str, source: str, limits: DefinitionLimits) -> Any:
    text = strip_json_comments(text, source)
    _check_json_depth(text, source, limits.max_depth)
    problems: list[_Problem] = []

    def problem(reason: str, key: str | None = None) -> _Problem:
        problems.append(_Problem(reason, key))
        return problems[-1]

    def mapping(pairs: list[tuple[str, Any]]) -> dict[str, Any] | _Problem:
        result = dict(pairs)
        if len(result) == len(pairs):
            return result
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                return problem(f"duplicate key {key!r}", key)
            seen.add(key)
        return result

    def integer(digits: str) -> int | _Problem:
        count = len(digits) - digits.startswith("-")
        if count > limits.max_int_digits:
            return problem(f"integer of {count:,} digits (more than {limits.max_int_digits})")
        return int(digits)

    def number(digits: str) -> float | _Problem:
        value = float(digits)
        return value if math.isfinite(value) else problem(f"number {_short(digits)} is too large for a float")

    def constant(name: str) -> _Problem:
        return problem(f"{name} is not a number (JSON has no NaN or Infinity)")

    try:
        data = json.loads(text, object_pairs_hook=mapping, parse_int=integer, parse_float=number,
                          parse_constant=constant)
    except json.JSONDecodeError as error:
        _refuse(f"{source} is not valid JSON: {str(error).splitlines()[0]}")
    except RecursionError:
        _refuse(f"{source}: nesting deeper than {limits.max_depth} levels")
    if problems:
        path, found = _first_problem(data)
        _refuse(f"{source}: at {path or 'the top level'}: {found.reason}")
    return data


def _check_json_depth(text: str, source: str, max_depth: int) -> None:
    """Refuse nesting past ``max_depth``: one linear pass over brackets, skipping string contents."""
    if text.count("[") + text.count("{") <= max_depth:
        return
    depth = 0
    for match in _JSON_TOKEN.finditer(text):
        char = text[match.start()]
        if char in "[{":
            depth += 1
            if depth > max_depth:
                line, column = _line_column(text, match.start())
                _refuse(f"{source}: line {line}, column {column}: nesting deeper than {max_depth} levels")
        elif char in "]}":
            depth -= 1


def _first_problem(data: Any) -> tuple[str, _Problem]:
    """The key path of the first ``_Problem`` in document order."""
    stack: list[tuple[str, Any]] = [("", data)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, _Problem):
            return (_key_path(path, value.key) if value.key is not None else path), value
        if isinstance(value, dict):
            stack.extend(reversed([(_key_path(path, key), item) for key, item in value.items()]))
        elif isinstance(value, list):
            stack.extend(reversed([(f"{path}[{index}]", item) for index, item in enumerate(value)]))
    raise AssertionError("a JSON parse hook refused a value the walk did not find")


def _key_path(path: str, key: str) -> str:
    shown = key if _PLAIN_KEY.fullmatch(key) else repr(key)
    return f"{path}.{shown}" if path else shown


def _short(text: str) -> str:
    return text if len(text) <= 40 else f"{text[:37]}..."


# --- YAML -------------------------------------------------------------------------------------------------------

_STRING_KEY_TAGS = frozenset({"tag:yaml.org,2002:str", "tag:yaml.org,2002:merge", "tag:yaml.org,2002:value"})
_INT_TAG = "tag:yaml.org,2002:int"
_FLOAT_TAG = "tag:yaml.org,2002:float"


def _parse_yaml(text: str, source: str, limits: DefinitionLimits) -> Any:
    loader: _BoundedLoader | None = None
    try:
        loader = _BoundedLoader(text, source, limits)
        return loader.get_single_data()
    except yaml.YAMLError as error:
        _refuse(f"{source} is not valid YAML: {_yaml_problem(error, text)}")
    except DefinitionError:
        raise
    except RecursionError:
        _refuse(f"{source}: nesting deeper than {limits.max_depth} levels")
    except (ValueError, TypeError, AttributeError, OverflowError, KeyError) as error:
        _refuse(f"{source} is not valid YAML: {str(error).splitlines()[0] if str(error) else type(error).__name__}")
    finally:
        if loader is not None:
            loader.dispose()


def _yaml_problem(error: yaml.YAMLError, text: str) -> str:
    """A YAML parser error in one line, with its position."""
    if isinstance(error, yaml.MarkedYAMLError):
        mark = error.problem_mark or error.context_mark
        what = error.problem or error.context or "invalid YAML"
        return f"{what} at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else what
    if isinstance(error, yaml.reader.ReaderError) and isinstance(error.character, int):
        line, column = _line_column(text, error.position)
        return f"unacceptable character #x{error.character:04x}: {error.reason} at line {line}, column {column}"
    return str(error).splitlines()[0]


def _short_tag(tag: str) -> str:
    return tag.replace("tag:yaml.org,2002:", "!!", 1)


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader (pure Python, so composing can be checked) refusing what passes ``limits`` with the
    mark where it happens; the one document's size with aliases expanded is checked before it is constructed."""

    def __init__(self, text: str, source: str, limits: DefinitionLimits) -> None:
        super().__init__(text)
        self._source = source
        self._limits = limits
        self._depth = 0
        self._nodes = 0
        self._open_anchors: set[str] = set()

    def _refuse_at(self, mark: Any, reason: str) -> NoReturn:
        _refuse(f"{self._source}: line {mark.line + 1}, column {mark.column + 1}: {reason}")

    def _too_many(self) -> str:
        return f"more than {self._limits.max_nodes:,} values once YAML aliases are expanded"

    def get_single_node(self) -> Node | None:
        self.get_event()
        document = None
        if not self.check_event(StreamEndEvent):
            document = self.compose_document()
        if not self.check_event(StreamEndEvent):
            self._refuse_at(self.peek_event().start_mark, "a second YAML document ('---'): a definition file holds one")
        self.get_event()
        return document

    def get_single_data(self) -> Any:
        node = self.get_single_node()
        if node is None:
            return None
        self._check_expanded(node)
        return self.construct_document(node)

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        event = self.peek_event()
        if isinstance(event, AliasEvent):
            if event.anchor in self._open_anchors:
                self._refuse_at(event.start_mark, f"alias *{event.anchor} is inside the node &{event.anchor} it "
                                "names (a recursive anchor)")
            return super().compose_node(parent, index)
        self._nodes += 1
        if self._nodes > self._limits.max_nodes:
            self._refuse_at(event.start_mark, self._too_many())
        collection = isinstance(event, SequenceStartEvent | MappingStartEvent)
        if collection:
            self._depth += 1
            if self._depth > self._limits.max_depth:
                self._refuse_at(event.start_mark, f"nesting deeper than {self._limits.max_depth} levels")
            if event.anchor is not None:
                self._open_anchors.add(event.anchor)
        node = super().compose_node(parent, index)
        if collection:
            self._depth -= 1
            self._open_anchors.discard(event.anchor)
        if node is not None:
            self._check_node(node)
        return node

    def _check_node(self, node: Node) -> None:
        """Refuse a tag the safe constructor has no constructor for, an over-long integer, a float that is not
        finite, and in a mapping a key that is not a string or appears twice."""
        if node.tag not in self.yaml_constructors and node.tag not in _STRING_KEY_TAGS:
            self._refuse_at(node.start_mark, f"tag {_short_tag(node.tag)} is not allowed (plain YAML values only)")
        if node.tag == _INT_TAG:
            digits = len(node.value.lstrip("+-").replace("_", ""))
            if digits > self._limits.max_int_digits:
                self._refuse_at(node.start_mark, f"integer of {digits:,} digits (more than "
                                f"{self._limits.max_int_digits})")
        elif node.tag == _FLOAT_TAG and isinstance(node, ScalarNode):
            try:
                finite = math.isfinite(self.construct_yaml_float(node))
            except ValueError:
                self._refuse_at(node.start_mark, f"{_short(node.value)!r} is not a number")
            if not finite:
                self._refuse_at(node.start_mark, f"{_short(node.value)!r} is not a finite number")
        elif isinstance(node, MappingNode):
            seen: set[str] = set()
            for key, _ in node.value:
                if not isinstance(key, ScalarNode):
                    self._refuse_at(key.start_mark, f"a mapping key must be a string, not a {key.id}")
                if key.tag not in _STRING_KEY_TAGS:
                    self._refuse_at(key.start_mark, f"mapping key {_short(key.value)!r} is a {_short_tag(key.tag)}, "
                                    "not a string (quote it)")
                if key.value in seen:
                    self._refuse_at(key.start_mark, f"duplicate key {_short(key.value)!r}")
                seen.add(key.value)

    def _check_expanded(self, root: Node) -> None:
        """Refuse a node that contains itself, and a document whose size or depth with aliases expanded passes
        the limits: one memoized walk, linear in the distinct nodes (and their links)."""
        size: dict[int, int] = {}
        text: dict[int, int] = {}
        height: dict[int, int] = {}
        walking: set[int] = set()
        stack: list[tuple[Node, bool]] = [(root, False)]
        while stack:
            node, finished = stack.pop()
            key = id(node)
            if not finished and key in size:
                continue
            children = _children(node)
            if finished:
                walking.discard(key)
                size[key] = 1 + sum(size[id(child)] for child in children)
                if size[key] > self._limits.max_nodes:
                    self._refuse_at(node.start_mark, self._too_many())
                text[key] = len(node.value) if isinstance(node, ScalarNode) else sum(text[id(c)] for c in children)
                if text[key] > self._limits.max_expanded_bytes:
                    self._refuse_at(node.start_mark, f"more than {self._limits.max_expanded_bytes:,} characters of "
                                    "values once YAML aliases are expanded")
                height[key] = 0 if isinstance(node, ScalarNode) else 1 + max(
                    (height[id(child)] for child in children), default=0
                )
                if height[key] > self._limits.max_depth:
                    self._refuse_at(node.start_mark, f"nesting deeper than {self._limits.max_depth} levels once "
                                    "aliases are expanded")
            elif key in walking:
                self._refuse_at(node.start_mark, "this node contains itself through an alias (a recursive anchor)")
            else:
                walking.add(key)
                stack.append((node, True))
                stack.extend((child, False) for child in children if id(child) not in size)

    def construct_object(self, node: Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except (DefinitionError, yaml.YAMLError):
            raise
        except (ValueError, TypeError, AttributeError, OverflowError) as error:
            detail = f": {str(error).splitlines()[0]}" if isinstance(error, ValueError) and str(error) else ""
            self._refuse_at(node.start_mark, f"not a valid {_short_tag(node.tag)} value{detail}")


def _children(node: Node) -> list[Node]:
    if isinstance(node, MappingNode):
        return [item for pair in node.value for item in pair]
    if isinstance(node, SequenceNode):
        return list(node.value)
    return []
