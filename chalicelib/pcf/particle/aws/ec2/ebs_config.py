"""Pure helpers of the ``ebs_volume`` flavor: configuration checks, tags, and what an update must change.

Nothing here calls AWS; ``ebs_volume.EBSVolume`` feeds these functions what it read or was given.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, NoReturn

from pcf.core.pcf_exceptions import InvalidConfigException
from pcf.util.aws.tag_specifications import DEPLOYMENT_TAG, NAME_TAG, managed_tags
from pcf.util.pcf_util import tags_to_dict

VOLUME_TYPES = ("standard", "io1", "io2", "gp2", "gp3", "sc1", "st1")
DEFAULT_VOLUME_TYPE = "gp2"  # what CreateVolume uses when VolumeType is omitted
IOPS_REQUIRED = frozenset({"io1", "io2"})
IOPS_ALLOWED = frozenset({"io1", "io2", "gp3"})
MIN_SIZE_GIB = {"io1": 4, "io2": 4, "st1": 125, "sc1": 125}
MAX_SIZE_GIB = {"standard": 1024}
ABSOLUTE_MAX_SIZE_GIB = 65536
MAX_TAG_VALUE_LENGTH = 256
RESERVED_TAG_PREFIX = "aws:"
DEFAULT_DEVICE = "/dev/sdf"
CONFIG_KEYS = frozenset({"custom_config", "region_name"})
UPDATABLE = ("Size", "VolumeType", "Iops")
# Modifications whose targets the volume is already moving to (DescribeVolumesModifications states).
MODIFICATION_IN_FLIGHT = frozenset({"modifying", "optimizing"})

Fail = Callable[[str, str], NoReturn]


def is_reference(value: Any) -> bool:
    """A ``$inherit$``/``$lookup$`` string, resolved only just before the transition."""
    return isinstance(value, str) and value.startswith("$")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def validate_volume_config(
    aws_resource: Mapping[str, Any], start_params: Iterable[str], prefix: str, *, require_create: bool = True
) -> None:
    """Check an ``ebs_volume``'s ``aws_resource``; raise ``InvalidConfigException(field, reason)``.

    ``prefix`` is prepended to every field name (``"<pcf_id>.aws_resource"``). Without ``require_create`` the
    fields only creating a volume needs (``AvailabilityZone``, ``Size`` or ``SnapshotId``) may be missing.
    """

    def fail(field: str, reason: str) -> NoReturn:
        raise InvalidConfigException(f"{prefix}.{field}", reason)

    allowed = set(start_params) | CONFIG_KEYS
    for key in aws_resource:
        if key not in allowed:
            fail(key, f"is not a create_volume parameter of this flavor (allowed: {', '.join(sorted(allowed))})")

    config = aws_resource.get("custom_config") or {}
    name = config.get("volume_name")
    if not isinstance(name, str) or not name:
        fail("custom_config.volume_name", "is required: the volume's PCFName tag (its identity)")
    elif len(name) > MAX_TAG_VALUE_LENGTH:
        fail(
            "custom_config.volume_name", f"is {len(name)} characters; a tag value holds at most {MAX_TAG_VALUE_LENGTH}"
        )

    zone = aws_resource.get("AvailabilityZone")
    if (require_create or zone is not None) and (not isinstance(zone, str) or not zone):
        fail("AvailabilityZone", "is required: the zone the volume is created in (e.g. 'us-east-1a')")

    size, snapshot = aws_resource.get("Size"), aws_resource.get("SnapshotId")
    if require_create and size is None and not snapshot:
        fail("Size", "is required unless SnapshotId is given (the size then defaults to the snapshot's)")

    volume_type = aws_resource.get("VolumeType", DEFAULT_VOLUME_TYPE)
    if not is_reference(volume_type) and volume_type not in VOLUME_TYPES:
        fail("VolumeType", f"{volume_type!r} is not one of {', '.join(VOLUME_TYPES)}")
    known_type = None if is_reference(volume_type) else volume_type

    if size is not None and not is_reference(size):
        if not _is_int(size) or size < 1:
            fail("Size", f"must be a positive whole number of GiB, not {size!r}")
        low = MIN_SIZE_GIB.get(known_type or "", 1)
        high = MAX_SIZE_GIB.get(known_type or "", ABSOLUTE_MAX_SIZE_GIB)
        if not low <= size <= high:
            fail("Size", f"{size} GiB is outside {low}-{high} GiB for {known_type} volumes")

    iops = aws_resource.get("Iops")
    if iops is None:
        if known_type in IOPS_REQUIRED:
            fail("Iops", f"is required for {known_type} volumes")
    elif not is_reference(iops):
        if known_type is not None and known_type not in IOPS_ALLOWED:
            fail("Iops", f"is only allowed for {', '.join(sorted(IOPS_ALLOWED))} volumes, not {known_type}")
        if not _is_int(iops) or iops < 1:
            fail("Iops", f"must be a positive whole number, not {iops!r}")

    encrypted = aws_resource.get("Encrypted")
    if encrypted is not None and not isinstance(encrypted, bool):
        fail("Encrypted", f"must be true or false, not {encrypted!r}")
    if aws_resource.get("KmsKeyId") and encrypted is not True:
        fail("KmsKeyId", "needs Encrypted: true")

    _validate_tag_specifications(aws_resource.get("TagSpecifications"), fail)
    _validate_custom_config(config, fail)


def _validate_tag_specifications(specs: Any, fail: Fail) -> None:
    if specs is None:
        return
    if not isinstance(specs, list):
        fail("TagSpecifications", "must be a list of {ResourceType, Tags}")
    for index, spec in enumerate(specs):
        if not isinstance(spec, Mapping) or spec.get("ResourceType") != "volume":
            fail(f"TagSpecifications.{index}.ResourceType", "must be 'volume' (prefer custom_config.tags)")
        for tag in spec.get("Tags") or []:
            _check_tag_key(
                tag.get("Key") if isinstance(tag, Mapping) else None, f"TagSpecifications.{index}.Tags", fail
            )


def _validate_custom_config(config: Mapping[str, Any], fail: Fail) -> None:
    tags = config.get("tags")
    if tags is not None:
        if not isinstance(tags, Mapping):
            fail("custom_config.tags", "must be a mapping of tag name to value")
        for key, value in tags.items():
            _check_tag_key(key, "custom_config.tags", fail)
            if not isinstance(value, str | int | float | bool):
                fail(f"custom_config.tags.{key}", f"must be a string or number, not {type(value).__name__}")
            if len(str(value)) > MAX_TAG_VALUE_LENGTH:
                fail(f"custom_config.tags.{key}", f"a tag value holds at most {MAX_TAG_VALUE_LENGTH} characters")
    for flag in ("attach", "adopt"):
        value = config.get(flag)
        if value is not None and not isinstance(value, bool):
            fail(f"custom_config.{flag}", f"must be true or false, not {value!r}")
    device = config.get("device")
    if device is not None and (not isinstance(device, str) or not device.strip()):
        fail("custom_config.device", f"must be a device name such as '{DEFAULT_DEVICE}', not {device!r}")


def _check_tag_key(key: Any, field: str, fail: Fail) -> None:
    if not isinstance(key, str) or not key:
        fail(field, f"tag names must be non-empty strings, not {key!r}")
    elif key.lower().startswith(RESERVED_TAG_PREFIX):
        fail(f"{field}.{key}", f"tag names starting with {RESERVED_TAG_PREFIX!r} are reserved by AWS")
    elif key in (NAME_TAG, DEPLOYMENT_TAG):
        fail(f"{field}.{key}", f"{key} is set by the framework (from custom_config.volume_name / the deployment)")


# -- tags -----------------------------------------------------------------------------------------------
def user_tags(aws_resource: Mapping[str, Any]) -> dict[str, str]:
    """The user's tags: ``TagSpecifications`` (volume) then ``custom_config.tags``, framework tags removed."""
    tags: dict[str, str] = {}
    for spec in aws_resource.get("TagSpecifications") or []:
        if isinstance(spec, Mapping) and spec.get("ResourceType", "volume") == "volume":
            tags.update(tags_to_dict(spec.get("Tags")))
    for key, value in ((aws_resource.get("custom_config") or {}).get("tags") or {}).items():
        tags[str(key)] = str(value)
    for key in (NAME_TAG, DEPLOYMENT_TAG):
        tags.pop(key, None)
    return tags


def tags_managed_exactly(aws_resource: Mapping[str, Any]) -> bool:
    """True when the definition lists tags: then tags not listed are removed from the volume too."""
    config = aws_resource.get("custom_config") or {}
    return "tags" in config or "TagSpecifications" in aws_resource


def desired_tags(aws_resource: Mapping[str, Any], volume_name: str) -> dict[str, str]:
    """Every tag the volume should carry: the user's, plus ``PCFName`` and the deployment tag."""
    return managed_tags(volume_name, user_tags(aws_resource))


def tag_changes(
    current: Mapping[str, str], desired: Mapping[str, str], exact: bool
) -> tuple[list[str], dict[str, str]]:
    """(tag names to delete, tags to create or overwrite) to go from ``current`` to ``desired``.

    Only differing tags appear. Tags the definition does not list are deleted only when ``exact``;
    ``aws:`` tags are never touched.
    """
    to_set = {key: value for key, value in desired.items() if current.get(key) != value}
    to_delete: list[str] = []
    if exact:
        to_delete = sorted(
            key for key in current if key not in desired and not key.lower().startswith(RESERVED_TAG_PREFIX)
        )
    return to_delete, to_set


# -- updatable parameters -----------------------------------------------------------------------------------
def effective_values(volume: Mapping[str, Any], modification: Mapping[str, Any] | None) -> dict[str, Any]:
    """Size/VolumeType/Iops the volume has or is already being modified to.

    During a ``modifying``/``optimizing`` modification EC2 may still report the original values; the
    modification's targets are what the volume is becoming, so they count.
    """
    values = {key: volume.get(key) for key in UPDATABLE}
    if modification and modification.get("ModificationState") in MODIFICATION_IN_FLIGHT:
        for key in UPDATABLE:
            target = modification.get(f"Target{key}")
            if target is not None:
                values[key] = target
    return values


def update_changes(
    desired: Mapping[str, Any], current: Mapping[str, Any], update_keys: Iterable[str]
) -> dict[str, Any]:
    """``modify_volume`` parameters for the update keys the definition sets and the volume differs in."""
    return {
        key: desired[key]
        for key in update_keys
        if desired.get(key) is not None and not is_reference(desired[key]) and current.get(key) != desired[key]
    }


def volume_differences(
    aws_resource: Mapping[str, Any], volume_name: str, values: Mapping[str, Any], tags: Mapping[str, str],
    update_keys: Iterable[str],
) -> dict[str, tuple[Any, Any]]:
    """``{field: (desired, actual)}`` where a volume with these ``values`` (Size, VolumeType, Iops) and ``tags``
    differs from its definition: the update keys it sets, and the tags (``Tags.<key>``; ``None`` desired: to be
    removed). Library mode, ``sync_state`` and reconciliation all compare with this."""
    found: dict[str, tuple[Any, Any]] = {
        key: (wanted, values.get(key)) for key, wanted in update_changes(aws_resource, values, update_keys).items()
    }
    to_delete, to_set = tag_changes(tags, desired_tags(aws_resource, volume_name), tags_managed_exactly(aws_resource))
    found.update({f"Tags.{key}": (value, tags.get(key)) for key, value in to_set.items()})
    found.update({f"Tags.{key}": (None, tags[key]) for key in to_delete})
    return found
