"""Dictionary and id helpers used across particles (the original ``pcf_util`` API, without its traps).

Paths into nested definitions are dotted strings (``"aws_resource.custom_config.instance_name"``);
list positions are written as numbers (``"BlockDeviceMappings.0.Ebs"``). Lookups distinguish a missing
key from a falsy value: ``0``, ``""`` and ``False`` are values.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

MISSING: Any = type("Missing", (), {"__repr__": lambda self: "MISSING", "__bool__": lambda self: False})()


def generate_pcf_id(flavor: str, pcf_name: str) -> str:
    """The particle's id: ``flavor:pcf_name``."""
    return f"{flavor}:{pcf_name}"


def extract_components_from_pcf_id(pcf_id: str) -> tuple[str, str]:
    """Split a pcf_id into (flavor, pcf_name); the name may itself contain colons."""
    flavor, _, name = pcf_id.partition(":")
    return flavor, name


def split_path(path: str | Iterable[str | int]) -> list[str | int]:
    """A dotted path as a list of keys, digits turned into list positions."""
    parts = path.split(".") if isinstance(path, str) else list(path)
    return [int(p) if isinstance(p, str) and p.isdigit() else p for p in parts]


def get_path(tree: Any, path: str | Iterable[str | int], default: Any = MISSING) -> Any:
    """The value at ``path`` in nested dicts/lists, or ``default`` when any step is missing."""
    node = tree
    for key in split_path(path):
        in_dict = isinstance(node, Mapping) and key in node
        in_list = isinstance(node, list) and isinstance(key, int) and -len(node) <= key < len(node)
        if not (in_dict or in_list):
            return default
        node = node[key]
    return node


def set_path(tree: Any, path: str | Iterable[str | int], value: Any) -> None:
    """Set the value at ``path``, creating intermediate dicts; raises ``KeyError`` through a missing list item."""
    keys = split_path(path)
    node = tree
    for key in keys[:-1]:
        if isinstance(node, list):
            node = node[int(key)]
        else:
            node = node.setdefault(key, {})
    last = keys[-1]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value


def find_nested_dict_value(curr_dict: Mapping[str, Any], list_nested_keys: list[str]) -> Any:
    """The value at the nested keys, ``None`` when absent (original API; prefer ``get_path``)."""
    value = get_path(curr_dict, list(list_nested_keys))
    return None if value is MISSING else value


def replace_value_nested_dict(
    curr_dict: dict[str, Any], list_nested_keys: list[str], new_value: Any
) -> dict[str, Any]:
    """Set the value at the nested keys and return the dict (original API; prefer ``set_path``)."""
    set_path(curr_dict, list(list_nested_keys), new_value)
    return curr_dict


def walk_strings(tree: Any, prefix: tuple[str | int, ...] = ()) -> Iterable[tuple[tuple[str | int, ...], str]]:
    """Every string leaf of nested dicts/lists with its path."""
    if isinstance(tree, Mapping):
        for key, value in tree.items():
            yield from walk_strings(value, (*prefix, key))
    elif isinstance(tree, list):
        for index, value in enumerate(tree):
            yield from walk_strings(value, (*prefix, index))
    elif isinstance(tree, str):
        yield prefix, tree


def param_filter(curr_dict: Mapping[str, Any], key_set: Iterable[str], remove: bool = False) -> dict[str, Any]:
    """Keep only the keys in ``key_set`` (or, with ``remove``, all but those)."""
    keys = set(key_set)
    if remove:
        return {k: v for k, v in curr_dict.items() if k not in keys}
    return {k: v for k, v in curr_dict.items() if k in keys}


def keep_and_replace_keys(curr_dict: Mapping[str, Any], keep_replace_dict: Mapping[str, str]) -> dict[str, Any]:
    """Keep the keys of ``keep_replace_dict``, renaming those mapped to a non-empty new name."""
    return {(keep_replace_dict[k] or k): copy.deepcopy(v) for k, v in curr_dict.items() if k in keep_replace_dict}


def keep_and_remove_keys(curr_dict: Mapping[str, Any], remove_dict: Iterable[str]) -> dict[str, Any]:
    """A copy without the keys in ``remove_dict``."""
    removed = set(remove_dict)
    return {k: copy.deepcopy(v) for k, v in curr_dict.items() if k not in removed}


def _canonical(value: Any) -> Any:
    """A hashable, order-insensitive form of nested data, for comparing lists as sets."""
    if isinstance(value, Mapping):
        return tuple(sorted((str(k), _canonical(v)) for k, v in value.items()))
    if isinstance(value, list | tuple | set | frozenset):
        return tuple(sorted((_canonical(v) for v in value), key=repr))
    return value


def is_list_equal(list_a: Any, list_b: Any) -> bool:
    """Lists equal as multisets, nested dicts compared by value."""
    if not isinstance(list_a, list) or not isinstance(list_b, list):
        return False
    return _canonical(list_a) == _canonical(list_b)


def is_dict_equal(dict_a: Any, dict_b: Any) -> bool:
    """Dicts equal by value, their lists compared as multisets."""
    if not isinstance(dict_a, Mapping) or not isinstance(dict_b, Mapping):
        return False
    return _canonical(dict_a) == _canonical(dict_b)


def diff_dict(curr_dict: Mapping[str, Any], updated_dict: Mapping[str, Any]) -> dict[str, Any]:
    """What ``updated_dict`` asks that ``curr_dict`` lacks: ``{key: {"original": …, "updated": …}}``.

    Only keys of ``updated_dict`` are compared (current may carry more); nested dicts recurse; lists
    compare as multisets. An empty result means equivalent.
    """
    diff: dict[str, Any] = {}
    for key, wanted in updated_dict.items():
        if key not in curr_dict:
            diff[key] = {"original": MISSING, "updated": wanted}
            continue
        have = curr_dict[key]
        if isinstance(wanted, Mapping) and isinstance(have, Mapping):
            nested = diff_dict(have, wanted)
            if nested:
                diff[key] = nested
        elif isinstance(wanted, list):
            if not is_list_equal(have, wanted):
                diff[key] = {"original": have, "updated": wanted}
        elif have != wanted:
            diff[key] = {"original": have, "updated": wanted}
    return diff


def is_dict_update_needed(curr_dict: Mapping[str, Any], updated_dict: Mapping[str, Any]) -> bool:
    """True when ``diff_dict`` finds a difference."""
    return bool(diff_dict(curr_dict, updated_dict))


def update_dict(curr_dict: Mapping[str, Any], updated_dict: Mapping[str, Any]) -> tuple[dict[str, Any], dict]:
    """A deep copy of ``curr_dict`` with ``updated_dict`` merged in (nested dicts merge), and the diff."""
    merged = copy.deepcopy(dict(curr_dict))
    diff = diff_dict(curr_dict, updated_dict)
    deep_merge(merged, updated_dict)
    return merged, diff


def deep_merge(target: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Merge ``overrides`` into ``target`` in place: dicts merge key by key, anything else replaces."""
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(target.get(key), dict):
            deep_merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)
    return target


def list_to_dict(key_name: str, dict_list: Iterable[Mapping[str, Any]]) -> dict[Any, Mapping[str, Any]]:
    """Index a list of dicts by one of their fields."""
    return {d[key_name]: d for d in dict_list}


def get_particle_unique_identifiers(flavor_name: str) -> list[str]:
    """The ``UNIQUE_KEYS`` of a registered flavor."""
    from pcf.core.registry import get_particle_flavor

    return list(get_particle_flavor(flavor_name).UNIQUE_KEYS)


def tags_to_dict(tags: Iterable[Mapping[str, str]] | None) -> dict[str, str]:
    """AWS ``[{"Key": k, "Value": v}]`` tags as a plain dict."""
    return {t["Key"]: t.get("Value", "") for t in tags or ()}


def dict_to_tags(tags: Mapping[str, Any]) -> list[dict[str, str]]:
    """A plain dict as AWS ``[{"Key": k, "Value": v}]`` tags, sorted by key."""
    return [{"Key": str(k), "Value": str(v)} for k, v in sorted(tags.items())]
