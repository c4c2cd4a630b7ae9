"""Dictionary and id helpers used across particles (the original ``pcf_util`` API, without its traps).

Paths into nested definitions are dotted strings (``"aws_resource.custom_config.instance_name"``);
list positions are written as numbers (``"BlockDeviceMappings.0.Ebs"``). Lookups distinguish a missing
key from a falsy value: ``0``, ``""`` and ``False`` are values.
"""

from __future__ import annotations

import copy
import importlib
import pkgutil
from collections.abc import Iterable, Mapping, Sequence
from types import ModuleType
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
    parts: list[str | int] = list(path.split(".")) if isinstance(path, str) else list(path)
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
    """The value at the nested dict keys (original API; prefer ``get_path``): ``None`` when a key is absent, ``""``
    for no keys, as the original gave."""
    if not list_nested_keys:
        return ""
    node: Any = curr_dict
    for key in list_nested_keys:
        if not isinstance(node, Mapping) or key not in node:
            return None
        node = node[key]
    return node


def replace_value_nested_dict(curr_dict: Any, list_nested_keys: list[str], new_value: Any) -> Any:
    """Set the value at the nested keys where they exist and return ``curr_dict`` (original API; prefer
    ``set_path``). As in the original, a list on the way is walked item by item, a missing key sets nothing, and a
    last key with a number suffix that is not itself a key (``Tags1``) sets that item of the list under its stem
    (``Tags``)."""
    if not list_nested_keys:
        return curr_dict
    if isinstance(curr_dict, list):
        for item in curr_dict:
            replace_value_nested_dict(item, list_nested_keys, new_value)
        return curr_dict
    first, rest = list_nested_keys[0], list_nested_keys[1:]
    if first in curr_dict:
        if rest:
            replace_value_nested_dict(curr_dict[first], rest, new_value)
        else:
            curr_dict[first] = new_value
        return curr_dict
    stem = first.rstrip("0123456789")
    if stem != first and stem in curr_dict:
        if rest:
            replace_value_nested_dict(curr_dict[stem], rest, new_value)
        else:
            curr_dict[stem][int(first[len(stem):])] = new_value
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
    """Does ``dict_b`` hold every key of ``dict_a`` with an equal value? Keys only ``dict_b`` has are ignored, as in
    the original; lists compare as multisets, nested dicts the same way."""
    if not isinstance(dict_a, Mapping) or not isinstance(dict_b, Mapping):
        return False
    for key, value in dict_a.items():
        if key not in dict_b:
            return False
        other = dict_b[key]
        if isinstance(value, list):
            same = is_list_equal(value, other)
        elif isinstance(value, Mapping):
            same = is_dict_equal(value, other)
        else:
            same = value == other
        if not same:
            return False
    return True


def diff_dict(curr_dict: Mapping[str, Any], updated_dict: Mapping[str, Any]) -> dict[str, Any]:
    """What ``updated_dict`` asks that ``curr_dict`` lacks, in the original PCF's shape: ``{key: {"new": value}}``
    for a key ``curr_dict`` does not have, ``{key: {"original": have, "updated": wanted}}`` for a different value,
    ``{key: {...}}`` for nested differences. Only keys of ``updated_dict`` count (current may carry more); an empty
    dict or list is a value, compared whole; lists compare as multisets. An empty result means equivalent."""
    return _difference(curr_dict, updated_dict, apply=False)


def update_dict(curr_dict: Mapping[str, Any], updated_dict: Mapping[str, Any]) -> tuple[dict[str, Any], dict]:
    """A deep copy of ``curr_dict`` updated with ``updated_dict``, and the ``diff_dict`` between them: nested dicts
    update key by key; anything else, an empty dict or list included, replaces the value (the original's rule)."""
    updated = copy.deepcopy(dict(curr_dict))
    return updated, _difference(updated, updated_dict, apply=True)


def _difference(have: Any, wanted: Mapping[str, Any], apply: bool) -> dict[str, Any]:
    diff: dict[str, Any] = {}
    for key, value in wanted.items():
        if not isinstance(have, Mapping) or key not in have:
            diff[key] = {"new": value}
        elif isinstance(value, Mapping) and value and isinstance(have[key], Mapping):
            nested = _difference(have[key], value, apply)
            if nested:
                diff[key] = nested
            continue
        elif isinstance(value, list) and value:
            if is_list_equal(value, have[key]):
                continue
            diff[key] = {"original": have[key], "updated": value}
        elif have[key] != value:
            diff[key] = {"original": have[key], "updated": value}
        else:
            continue
        if apply:
            have[key] = copy.deepcopy(value)
    return diff


def is_dict_update_needed(curr_dict: Mapping[str, Any], updated_dict: Mapping[str, Any]) -> bool:
    """True when ``diff_dict`` finds a difference."""
    return bool(diff_dict(curr_dict, updated_dict))


def deep_merge(target: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Merge ``overrides`` into ``target`` in place: dicts merge key by key, anything else replaces."""
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(target.get(key), dict):
            deep_merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)
    return target


def get_item_from_dicts(key: str, *dicts: Mapping[str, Any]) -> Any:
    """The value of ``key`` in the first of ``dicts`` that has it, ``None`` when none does."""
    for d in dicts:
        if key in d:
            return d[key]
    return None


def find_nested_vars(curr_dict: Mapping[str, Any], nested_key: str | None = None,
                     var_list: list[tuple[str, list[str]]] | None = None) -> list[tuple[str, list[str]]]:
    """Every ``$kind$...`` string value as ``(dotted key, [kind, ...])``; a list item's key ends in its index
    (``"SecurityGroupIds0"``), as in the original PCF."""
    found = [] if var_list is None else var_list
    for key, value in curr_dict.items():
        path = f"{nested_key}.{key}" if nested_key else str(key)
        if isinstance(value, Mapping):
            find_nested_vars(value, path, found)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                if isinstance(item, Mapping):
                    find_nested_vars(item, path, found)
                elif isinstance(item, str) and item.startswith("$"):
                    found.append((f"{path}{index}", item[1:].split("$")))
        elif isinstance(value, str) and value.startswith("$"):
            found.append((path, value[1:].split("$")))
    return found


def transform_list_of_dicts_to_desired_list(curr_list: Iterable[Mapping[str, Any]], nested_key_name: str,
                                            new_list: list[Any] | None = None) -> list[Any]:
    """The distinct values of ``nested_key_name`` across a list of dicts, in order."""
    values = [] if new_list is None else new_list
    for item in curr_list:
        if nested_key_name in item and item[nested_key_name] not in values:
            values.append(item[nested_key_name])
    return values


def get_value_from_particles(particles: Sequence[Any], particle_class: type[Any], attr_name: str) -> Any:
    """The attribute ``attr_name`` of the one particle of ``particle_class``'s flavor among ``particles``, synced
    first; ``InvalidConfigException`` when there is not exactly one or the value is empty."""
    from pcf.core.pcf_exceptions import InvalidConfigException

    matching = [p for p in particles if getattr(p, "flavor", None) == particle_class.flavor]
    if len(matching) == 1:
        matching[0].sync_state()
        value = getattr(matching[0], attr_name, None)
        if value:
            return value
    raise InvalidConfigException(f"No parents to get value to from. Please provide the value for {attr_name}")


def pkg_submodules(package: str | ModuleType, recursive: bool = True) -> list[ModuleType]:
    """Every importable submodule of ``package`` (a module or its name), recursively by default; ``[]`` when the
    package cannot be imported."""
    if isinstance(package, str):
        try:
            package = importlib.import_module(package)
        except ImportError:
            return []
    found: list[ModuleType] = []
    for info in pkgutil.iter_modules(getattr(package, "__path__", []), f"{package.__name__}."):
        try:
            module = importlib.import_module(info.name)
        except ImportError:
            continue
        found.append(module)
        if recursive and info.ispkg:
            found += pkg_submodules(module)
    return found


def particle_class_from_flavor(flavor: str) -> type[Any] | None:
    """The particle or quasiparticle class of ``flavor``, ``None`` when there is none."""
    from pcf.core.pcf_exceptions import UnknownFlavorError
    from pcf.core.registry import get_particle_flavor

    if not isinstance(flavor, str) or not flavor:
        return None
    try:
        return get_particle_flavor(flavor)
    except UnknownFlavorError:
        return None


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
