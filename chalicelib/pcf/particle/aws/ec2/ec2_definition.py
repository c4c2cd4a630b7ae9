"""The desired and current definitions of an EC2 instance, and how they are compared.

Pure helpers of ``EC2Instance`` (no AWS calls): user data rendering (a Jinja2 template, given as
``userdata_template`` text or read once from ``userdata_template_file``, rendered in the sandbox of
``pcf.util.templates``; explicit ``UserData``, ``userdata_bash``, ``userdata_wait``), the instance's tags, and
the field-by-field comparison over ``STATE_PARAM_FILTER`` that decides whether a running instance needs an update.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pcf.core.pcf_exceptions import InvalidConfigException
from pcf.core.references import INHERIT_PREFIX
from pcf.util.aws.tag_specifications import NAME_TAG, EC2InstanceTagSpecifications, managed_tags
from pcf.util.definition_files import current_template_root
from pcf.util.pcf_util import MISSING, dict_to_tags, tags_to_dict, walk_strings
from pcf.util.templates import RenderJob, read_template_file, render_template_text

USERDATA_FINISHED_TAG = "UserdataFinished"
BASH_SHEBANG = "#!/bin/bash"
MAX_USER_DATA_BYTES = 16 * 1024
USER_DATA_FIELD = "aws_resource.UserData"
TEMPLATE_FIELD = "aws_resource.custom_config.userdata_template_file"
INLINE_FIELD = "aws_resource.custom_config.userdata_template"
PARAMS_FIELD = "aws_resource.custom_config.userdata_params"
WAIT_FIELD = "aws_resource.custom_config.userdata_wait"


def _field(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


# -- user data ----------------------------------------------------------------------------------------
def load_template(custom_config: dict[str, Any], prefix: str = "", root: Path | None = None) -> str | None:
    """The user data template's text: ``custom_config.userdata_template``, else the text of
    ``userdata_template_file`` read now (under ``root``, by default the current template root, see
    ``pcf.util.definition_files``) and kept as ``userdata_template``, so the file is read once. ``None``
    when there is no template."""
    inline = custom_config.get("userdata_template")
    if inline is not None:
        if not isinstance(inline, str):
            raise InvalidConfigException(_field(prefix, INLINE_FIELD), "must be the template's text (a string)")
        return inline
    name = custom_config.get("userdata_template_file")
    if not name:
        return None
    text = read_template_file(
        name, current_template_root() if root is None else root, field=_field(prefix, TEMPLATE_FIELD)
    )
    custom_config["userdata_template"] = text
    return text


def inline_template_file(aws_resource: dict[str, Any], root: Path, prefix: str = "") -> None:
    """Read ``custom_config.userdata_template_file`` from under ``root`` into ``custom_config.userdata_template``
    (what the control plane is sent), unless the text is there already or an explicit ``UserData`` wins."""
    config = aws_resource.get("custom_config")
    if isinstance(config, dict) and aws_resource.get("UserData") is None:
        load_template(config, prefix, root)


def template_job(custom_config: dict[str, Any], prefix: str = "") -> RenderJob | None:
    """The render of the template with ``userdata_params`` (see ``load_template``); ``None`` without a template.
    Refusals name ``userdata_template_file`` when the definition names one, else ``userdata_template``."""
    source = load_template(custom_config, prefix)
    if source is None:
        return None
    field = TEMPLATE_FIELD if custom_config.get("userdata_template_file") else INLINE_FIELD
    return RenderJob(
        source, custom_config.get("userdata_params"), _field(prefix, field), _field(prefix, PARAMS_FIELD)
    )


def render_template(custom_config: dict[str, Any], prefix: str = "") -> str | None:
    """The template rendered with ``userdata_params`` in Jinja2's sandbox (``pcf.util.templates``); every
    failure is an ``InvalidConfigException``. ``None`` without a template."""
    job = template_job(custom_config, prefix)
    if job is None:
        return None
    return render_template_text(job.source, job.params, field=job.field, params_field=job.params_field)


def user_data_jobs(aws_resource: Mapping[str, Any], custom_config: dict[str, Any], prefix: str = "") -> list[RenderJob]:
    """The renders ``compose_user_data`` will ask for (none when an explicit ``UserData`` wins)."""
    if aws_resource.get("UserData") is not None:
        return []
    job = template_job(custom_config, prefix)
    return [job] if job is not None else []


def check_user_data(
    aws_resource: Mapping[str, Any], custom_config: dict[str, Any], region_name: str, prefix: str = ""
) -> None:
    """Compose the user data once with the params as they are (an ``$inherit$`` value, known only when the
    parent is, stands as its reference text): refuse a template that cannot render, or user data over 16 KB."""
    try:
        compose_user_data(aws_resource, custom_config, region_name, prefix)
    except InvalidConfigException as error:
        references = [text for _path, text in walk_strings(custom_config.get("userdata_params"))
                      if text.startswith(INHERIT_PREFIX)]
        if not references or error.reason.startswith("template syntax error"):
            raise
        raise InvalidConfigException(
            error.field, f"{error.reason} (checked with each $inherit$ value standing as its reference text)"
        ) from None


def userdata_wait_command(region_name: str) -> str:
    """The shell lines appended for ``userdata_wait``: the instance tags itself ``UserdataFinished=true``."""
    metadata = "http://169.254.169.254/latest"
    return "\n".join(
        [
            "# added by PCF (custom_config.userdata_wait): report that the user data has finished",
            f'PCF_IMDS_TOKEN=$(curl -s -X PUT "{metadata}/api/token" -H "X-aws-ec2-metadata-token-ttl-seconds: 300")',
            'PCF_INSTANCE_ID=$(curl -s -H "X-aws-ec2-metadata-token: $PCF_IMDS_TOKEN" '
            f'"{metadata}/meta-data/instance-id")',
            f'aws ec2 create-tags --region {region_name} --resources "$PCF_INSTANCE_ID" '
            f"--tags Key={USERDATA_FINISHED_TAG},Value=true",
            "",
        ]
    )


def specifies_user_data(aws_resource: Mapping[str, Any], custom_config: Mapping[str, Any]) -> bool:
    """Whether the definition asks for any user data (explicit, template, or ``userdata_wait``)."""
    return (
        aws_resource.get("UserData") is not None
        or bool(custom_config.get("userdata_template_file"))
        or custom_config.get("userdata_template") is not None
        or bool(custom_config.get("userdata_wait"))
    )


def compose_user_data(
    aws_resource: Mapping[str, Any], custom_config: dict[str, Any], region_name: str, prefix: str = ""
) -> str | None:
    """The user data to launch with, or ``None`` when the definition asks for none.

    Explicit ``UserData`` wins over the template (``userdata_template``, the text of ``userdata_template_file``);
    ``userdata_bash`` prepends ``#!/bin/bash`` (unless the script already starts with ``#!``); ``userdata_wait``
    appends the self-tagging command. More than EC2's 16 KB is an ``InvalidConfigException``.
    """
    explicit = aws_resource.get("UserData")
    body: str | None
    if explicit is not None:
        body = explicit.decode("utf-8") if isinstance(explicit, bytes) else str(explicit)
    else:
        body = render_template(custom_config, prefix)
    if custom_config.get("userdata_bash") and body and not body.startswith("#!"):
        body = f"{BASH_SHEBANG}\n{body}"
    if custom_config.get("userdata_wait"):
        if not body:
            body = f"{BASH_SHEBANG}\n"
        elif not body.startswith("#!"):
            raise InvalidConfigException(
                _field(prefix, WAIT_FIELD),
                "needs user data that is a shell script (starting with '#!'); set userdata_bash or add a shebang",
            )
        body = f"{body.rstrip(chr(10))}\n{userdata_wait_command(region_name)}"
    size = len(body.encode("utf-8")) if body is not None else 0
    if size > MAX_USER_DATA_BYTES:
        raise InvalidConfigException(_field(prefix, USER_DATA_FIELD), f"is {size} bytes; EC2 accepts at most 16 KB")
    return body


def decode_user_data(value: str | None) -> str:
    """User data as ``describe_instance_attribute`` returns it (base64) decoded to text; ``""`` for none."""
    if not value:
        return ""
    try:
        return base64.b64decode(value).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return value


# -- tags ---------------------------------------------------------------------------------------------
def _tag_mapping(tags: Any) -> dict[str, Any]:
    if isinstance(tags, Mapping):
        return {str(k): v for k, v in tags.items()}
    if isinstance(tags, list):
        return dict(tags_to_dict(tags))
    return {}


def requested_tags(aws_resource: Mapping[str, Any], custom_config: Mapping[str, Any]) -> dict[str, Any]:
    """The user's instance tags: ``TagSpecifications`` of type ``instance``, then ``custom_config.tags``."""
    merged: dict[str, Any] = {}
    for spec in aws_resource.get("TagSpecifications") or []:
        if isinstance(spec, Mapping) and spec.get("ResourceType") == "instance":
            merged.update(_tag_mapping(spec.get("Tags")))
    merged.update(_tag_mapping(custom_config.get("tags")))
    return merged


def instance_tags(
    instance_name: str, aws_resource: Mapping[str, Any], custom_config: Mapping[str, Any]
) -> tuple[dict[str, str], frozenset[str]]:
    """(tags the instance must carry, tag keys it must not carry). A tag whose value is ``None`` is removed."""
    requested = requested_tags(aws_resource, custom_config)
    present = managed_tags(instance_name, {k: v for k, v in requested.items() if v is not None})
    absent = frozenset(k for k, v in requested.items() if v is None and k not in present)
    return present, absent


def tag_specifications(
    instance_name: str, aws_resource: Mapping[str, Any], custom_config: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """``TagSpecifications`` for ``run_instances``: the instance's tags, then other resource types as given."""
    wanted = {k: v for k, v in requested_tags(aws_resource, custom_config).items() if v is not None}
    wanted.pop(NAME_TAG, None)
    specs = EC2InstanceTagSpecifications(**managed_tags(instance_name, wanted)).render()
    for spec in aws_resource.get("TagSpecifications") or []:
        if isinstance(spec, Mapping) and spec.get("ResourceType") != "instance":
            specs.append(dict(spec))
    return specs


def tags_of_specifications(specs: Iterable[Mapping[str, Any]] | None) -> dict[str, str]:
    """The instance tags of a ``TagSpecifications`` list."""
    tags: dict[str, str] = {}
    for spec in specs or []:
        if spec.get("ResourceType") == "instance":
            tags.update(tags_to_dict(spec.get("Tags")))
    return tags


def tag_changes(
    current: Mapping[str, str], wanted: Mapping[str, str], absent: Iterable[str]
) -> tuple[dict[str, str], list[str]]:
    """(tags to create or overwrite, keys to delete) to bring ``current`` to ``wanted``; others are left."""
    to_set = {k: v for k, v in wanted.items() if current.get(k) != v}
    to_remove = sorted(k for k in absent if k in current)
    return to_set, to_remove


# -- comparison ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Difference:
    """One field where the instance differs from the desired definition."""

    field: str
    current: Any
    desired: Any


def profile_matches(current: Any, desired: Any) -> bool:
    """Does the instance's ``IamInstanceProfile`` (``{"Arn", "Id"}``) match the desired ``{"Arn"}``/``{"Name"}``?"""
    if not isinstance(current, Mapping) or not current.get("Arn"):
        return False
    if not isinstance(desired, Mapping):
        return False
    arn = str(current["Arn"])
    if desired.get("Arn"):
        return arn == desired["Arn"]
    if desired.get("Name"):
        return arn.rsplit("/", 1)[-1] == desired["Name"]
    return False


def definition_differences(
    current: Mapping[str, Any],
    desired: Mapping[str, Any],
    fields: Iterable[str],
    absent_tags: Iterable[str] = (),
) -> dict[str, Difference]:
    """The ``fields`` the desired definition specifies in which the current one differs.

    Security groups compare as sets; tags compare as "every desired tag present with its value, every
    absent tag missing" (other tags on the instance are ignored); the instance profile by ARN or name.
    """
    found: dict[str, Difference] = {}
    for field in sorted(set(fields) & set(desired)):
        wanted = desired[field]
        have = current.get(field, MISSING)
        if field == "TagSpecifications":
            have_tags = tags_to_dict(current.get("Tags"))
            to_set, to_remove = tag_changes(have_tags, tags_of_specifications(wanted), absent_tags)
            if to_set or to_remove:
                shown = {k: have_tags.get(k, MISSING) for k in [*to_set, *to_remove]}
                found[field] = Difference(field, shown, {"set": to_set, "remove": to_remove})
        elif field == "SecurityGroupIds":
            if have is MISSING or set(have) != set(wanted or []):
                found[field] = Difference(field, have, list(wanted or []))
        elif field == "IamInstanceProfile":
            if not profile_matches(current.get(field), wanted):
                found[field] = Difference(field, have, wanted)
        elif have != wanted:
            found[field] = Difference(field, have, wanted)
    return found


DESCRIBED_FIELDS = frozenset(
    {"IamInstanceProfile", "ImageId", "InstanceType", "KeyName", "SecurityGroupIds", "SubnetId", "TagSpecifications"}
)
"""The compared fields ``describe_instances`` shows; ``UserData`` and ``InstanceInitiatedShutdownBehavior`` need a
``describe_instance_attribute`` call each, which only ``sync_state`` makes."""


def described_view(instance: Mapping[str, Any]) -> dict[str, Any]:
    """An instance as ``describe_instances`` shows it, plus ``SecurityGroupIds`` and ``TagSpecifications`` in the
    shape of ``run_instances`` parameters: what the comparison reads."""
    current = dict(instance)
    current["SecurityGroupIds"] = [group["GroupId"] for group in instance.get("SecurityGroups", [])]
    tags = tags_to_dict(instance.get("Tags"))
    current["TagSpecifications"] = [{"ResourceType": "instance", "Tags": dict_to_tags(tags)}]
    return current


def described_differences(definition: Mapping[str, Any], instance: Mapping[str, Any]) -> dict[str, Difference]:
    """``definition_differences`` of an instance description against a stored definition, over
    ``DESCRIBED_FIELDS``: the same comparison ``EC2Instance.definition_differences`` makes after a sync."""
    aws_resource = definition.get("aws_resource") or {}
    custom_config = aws_resource.get("custom_config") or {}
    name = str(custom_config.get("instance_name", ""))
    desired = {field: aws_resource[field] for field in DESCRIBED_FIELDS if field in aws_resource}
    desired["TagSpecifications"] = tag_specifications(name, aws_resource, custom_config)
    _, absent = instance_tags(name, aws_resource, custom_config)
    return definition_differences(described_view(instance), desired, DESCRIBED_FIELDS, absent)


def reported(differences: Mapping[str, Difference]) -> dict[str, tuple[Any, Any]]:
    """Differences as drift reports them: ``{field: (desired, actual)}``, one ``Tags.<key>`` per tag (``None``
    desired: the tag is to be removed)."""
    found: dict[str, tuple[Any, Any]] = {}
    for field, difference in differences.items():
        if field == "TagSpecifications":
            have = difference.current
            for key, value in difference.desired["set"].items():
                found[f"Tags.{key}"] = (value, _or_none(have.get(key)))
            for key in difference.desired["remove"]:
                found[f"Tags.{key}"] = (None, _or_none(have.get(key)))
        else:
            found[field] = (difference.desired, _or_none(difference.current))
    return found


def _or_none(value: Any) -> Any:
    return None if value is MISSING else value
