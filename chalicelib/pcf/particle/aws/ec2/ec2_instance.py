"""``EC2Instance``: the EC2 instance particle (flavor ``ec2_instance``)."""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar

import boto3
from botocore.exceptions import ClientError

from pcf.core import State
from pcf.core.aws_resource import AWSResource
from pcf.core.pcf_exceptions import (
    InvalidConfigException,
    NoResourceException,
    TooManyResourceException,
    TransitionError,
)
from pcf.core.resource_table import Describe, EventKind, Permissions, ResourceTable, picked
from pcf.particle.aws.ec2 import ec2_definition as definition
from pcf.particle.aws.ec2.ec2_definition import Difference
from pcf.particle.aws.ec2.ec2_update import InstanceModifier, UpdatePlan, UpdateResult
from pcf.particle.aws.ec2.events import EC2_SOURCE, INSTANCE_STATE_CHANGE, InstanceStateEvent
from pcf.util import pcf_util, templates
from pcf.util.aws.clients import ClientFactory
from pcf.util.aws.idempotency import client_token
from pcf.util.aws.ownership import ADOPT_KEY, Ownership, ownership
from pcf.util.aws.tag_specifications import DEPLOYMENT_TAG, NAME_TAG

logger = logging.getLogger(__name__)

MISSING_STATE = "missing"
LIVE_STATES = ("pending", "running", "shutting-down", "stopping", "stopped")
STABLE_STATES = frozenset({"running", "stopped"})
GONE_STATES = frozenset({MISSING_STATE, "shutting-down", "terminated"})
MAX_TOKEN_RENEWALS = 3
LAUNCH_VISIBILITY_SECONDS = 120.0  # how long a new instance may be missing from tag queries (eventual consistency)
MAX_TAG_KEY = 128
MAX_TAG_VALUE = 256
SHUTDOWN_BEHAVIORS = ("stop", "terminate")
# describe_instance_attribute names of the fields describe_instances does not return
ATTRIBUTE_NAMES = {"UserData": "userData", "InstanceInitiatedShutdownBehavior": "instanceInitiatedShutdownBehavior"}


Found = list[tuple[dict[str, Any], str]]
NAMES_PER_CALL = 200


def _instances_of(reservations: Iterable[Mapping[str, Any]]) -> Found:
    return [
        (instance, str(reservation.get("OwnerId", "")))
        for reservation in reservations
        for instance in reservation.get("Instances", [])
    ]


def _describe_all(client: Any, **kwargs: Any) -> Found:
    found: Found = []
    for page in client.get_paginator("describe_instances").paginate(**kwargs):
        found += _instances_of(page.get("Reservations", []))
    return found


def _by_ids(particles: list[EC2Instance]) -> list[tuple[EC2Instance, Found | None]]:
    """Each particle with its instance, described by id in one call; ``None`` (sync alone) when unsure."""
    if not particles:
        return []
    ids = {p._instance_id(): p for p in particles}
    try:
        found = _describe_all(particles[0].client, InstanceIds=sorted(ids))
    except ClientError as error:
        if _error_code(error) != "InvalidInstanceID.NotFound":
            raise
        return [(p, None) for p in particles]
    live = {i["InstanceId"]: (i, owner) for i, owner in found if i["State"]["Name"] in LIVE_STATES}
    return [(p, [live[i]] if i in live else None) for i, p in ids.items()]


def _by_names(particles: list[EC2Instance]) -> list[tuple[EC2Instance, Found | None]]:
    """Each particle with the live instances tagged with its name, 200 names a call."""
    result: list[tuple[EC2Instance, Found | None]] = []
    for start in range(0, len(particles), NAMES_PER_CALL):
        chunk = particles[start : start + NAMES_PER_CALL]
        found = _describe_all(chunk[0].client, Filters=[
            {"Name": f"tag:{NAME_TAG}", "Values": sorted({p.instance_name for p in chunk})},
            {"Name": "instance-state-name", "Values": list(LIVE_STATES)},
        ])
        by_name: dict[str, Found] = {}
        for instance, owner in found:
            name = pcf_util.tags_to_dict(instance.get("Tags")).get(NAME_TAG, "")
            by_name.setdefault(name, []).append((instance, owner))
        result += [(p, by_name.get(p.instance_name, [])) for p in chunk]
    return result


def _is_ours(item: tuple[dict[str, Any], str]) -> bool:
    return ownership(item[0].get("Tags")) is Ownership.ours


def _construct_arn(owner_id: str, region_name: str, instance_id: str) -> str:
    """The instance's ARN, ``arn:aws:ec2:{region}:{owner}:instance/instance-id/{instance_id}``."""
    return f"arn:aws:ec2:{region_name}:{owner_id}:instance/instance-id/{instance_id}"


def _get_instance_id_from_arn(arn: str) -> str:
    """The instance id at the end of an ARN made by ``_construct_arn``."""
    return arn.rsplit("/", 1)[-1]


def _error_code(error: BaseException | None) -> str:
    """The AWS error code of a botocore ``ClientError`` (``""`` for anything else)."""
    if isinstance(error, ClientError):
        return str(error.response.get("Error", {}).get("Code", ""))
    return ""


_MODIFY_IN_PLACE = ("ec2:ModifyInstanceAttribute", "ec2:AssociateIamInstanceProfile",
                    "ec2:ReplaceIamInstanceProfileAssociation", "ec2:CreateTags", "ec2:DeleteTags")
SNAPSHOT_FIELDS = ("InstanceType", "SecurityGroupIds", "ImageId", "SubnetId", "PrivateIpAddress", "AvailabilityZone",
                   "Tags")


def instance_snapshot(description: Mapping[str, Any]) -> dict[str, Any]:
    """What an observation keeps of an instance: ``SNAPSHOT_FIELDS``, groups as sorted ids, the zone of its
    placement, from a ``describe_instances`` item or the particle's current definition alike."""
    found = picked(description, SNAPSHOT_FIELDS)
    groups = description.get("SecurityGroupIds")
    if groups is None and "SecurityGroups" in description:
        groups = [group["GroupId"] for group in description["SecurityGroups"]]
    if groups is not None:
        found["SecurityGroupIds"] = sorted(groups)
    zone = (description.get("Placement") or {}).get("AvailabilityZone")
    if zone:
        found["AvailabilityZone"] = zone
    return found


INSTANCE_TABLE = ResourceTable(
    id_key="InstanceId",
    name_key="instance_name",
    describe=Describe("describe_instances", ("Reservations", "Instances"), page_size=1000, id_filter="instance-id"),
    status=lambda description: description["State"]["Name"],
    gone=frozenset({"shutting-down", "terminated"}),
    snapshot_fields=SNAPSHOT_FIELDS,
    snapshot=instance_snapshot,
    events=(EventKind(EC2_SOURCE, INSTANCE_STATE_CHANGE, InstanceStateEvent,
                      detail={"state": ("running", "stopped", "terminated")}),),  # the states that end a transition
    awaited=frozenset({"pending", "stopping", "shutting-down"}),  # every state change is announced
    permissions=Permissions(
        describe=("ec2:DescribeInstances", "ec2:DescribeIamInstanceProfileAssociations"),
        transitions={
            "sync": ("ec2:DescribeInstanceAttribute",),  # user data, shutdown behaviour
            "start": ("ec2:StartInstances", *_MODIFY_IN_PLACE),  # a stopped instance's changes go first
            "stop": ("ec2:StopInstances",),
            "terminate": ("ec2:TerminateInstances",),
            # a new type or user data stops it; a new image, subnet or key pair replaces it
            "update": (*_MODIFY_IN_PLACE, "ec2:StopInstances", "ec2:TerminateInstances"),
        },
        create=("ec2:RunInstances",),
        arns=("arn:aws:ec2:*:*:instance/*",),
        inputs={
            "ec2:RunInstances": tuple(f"arn:aws:ec2:*:{account}:{kind}/*" for account, kind in (
                ("", "image"), ("", "snapshot"), ("*", "volume"), ("*", "network-interface"), ("*", "subnet"),
                ("*", "security-group"), ("*", "key-pair"), ("*", "launch-template"), ("*", "placement-group"))),
            "ec2:ModifyInstanceAttribute": ("arn:aws:ec2:*:*:security-group/*",),  # setting an instance's groups
        },
    ),
)
"""What the control plane knows of an instance (``pcf.core.resource_table``)."""


@dataclass
class _KnownAttribute:
    """An instance attribute value, the instance's ``LaunchTime`` when it was known, and when (particle clock)."""

    value: Any
    launch_time: Any
    at: float


class EC2Instance(AWSResource):
    """This is the EC2 particle. There are a variety of possible states for this particle which can be seen in the
    state lookup dictionary. There are also specific input requirements for the various commands which can be seen
    in the different PARAM_CONVERSIONS.

    Identity: the instance tagged ``PCFName`` = ``custom_config.instance_name`` (any non-terminated state) and
    ``PCFDeployment`` = this deployment. The ARN is cached; when no such instance exists any more it is
    forgotten, so the next start creates a new one. Two live instances with the name raise
    ``TooManyResourceException``; one with the name but another deployment's tag, or none, raises
    ``ForeignResourceError`` before anything is changed, unless ``custom_config.adopt`` is true (library mode
    only): the first transition then retags it with this deployment before changing it (``pcf.util.aws.ownership``).

    ``aws_resource`` holds ``run_instances`` parameters (only those in ``START_PARAM_FILTER`` are sent);
    ``custom_config`` holds ``instance_name``, ``tags`` (name → value; a ``None`` value means "remove this tag"),
    a Jinja2 user data template, as text (``userdata_template``) or as a file (``userdata_template_file``,
    relative to the definition file's folder, and under it; see ``pcf.util.definition_files``), with
    ``userdata_params`` (JSON data), ``userdata_bash`` (prepend ``#!/bin/bash``) and ``userdata_wait`` (report
    ``pending`` until the instance has tagged itself ``UserdataFinished``; the tagging command is appended to the
    user data and the instance needs ``ec2:CreateTags`` and the AWS CLI). The file is read once, when the particle
    is built, into ``userdata_template``; templates render in Jinja2's sandbox, in a child process with CPU,
    memory and output limits (``pcf.util.templates``), and are checked then (``$inherit$`` values standing as
    their reference text) and at each launch. An explicit ``UserData`` wins over the template.

    Start: creates the instance when there is none, with a ``ClientToken`` derived from the particle, the
    launch parameters and ``idempotency_scope`` (a retried start never launches twice); starts it when stopped,
    first applying every difference EC2 allows on a stopped instance (unless ``persist_on_update``).

    Update (only what the desired definition specifies is compared, over ``STATE_PARAM_FILTER``):

    - tags, security groups, shutdown behavior and instance profile change in place;
    - instance type and user data need a stopped instance: a running one is stopped, and the following start
      (which the apply loop decides when it sees the instance stopped) applies them before starting it;
    - image, subnet and key pair cannot change: the instance is terminated, and the following start creates
      it anew. With ``persist_on_update`` nothing is changed.

    Terminate: ``terminate_instances`` only; the ``PCFName`` tag stays on the terminated instance (so events about
    it still name the particle). Terminating a missing or terminating instance does nothing.

    API calls: ``sync_state`` is one ``describe_instances``, plus ``describe_instance_attribute`` for user data or
    shutdown behavior only when the definition specifies them, the instance is running or stopped and the value
    is not already known (values the particle wrote itself are remembered).
    """

    flavor = "ec2_instance"
    RESOURCE_TABLE: ClassVar[ResourceTable | None] = INSTANCE_TABLE
    state_lookup: ClassVar[dict[str, State]] = {
        "missing": State.terminated,
        "pending": State.pending,
        "running": State.running,
        "shutting-down": State.pending,
        "stopped": State.stopped,
        "stopping": State.pending,
        "terminated": State.terminated,
    }
    equivalent_states: ClassVar[dict[State, int]] = {}
    START_PARAM_FILTER: ClassVar[set[str]] = {
        "BlockDeviceMappings",
        "IamInstanceProfile",
        "ImageId",
        "InstanceInitiatedShutdownBehavior",
        "InstanceType",
        "KeyName",
        "MaxCount",
        "MinCount",
        "SecurityGroupIds",
        "SubnetId",
        "TagSpecifications",
        "UserData",
    }
    STATE_PARAM_FILTER: ClassVar[set[str]] = {
        "IamInstanceProfile",
        "ImageId",
        "InstanceInitiatedShutdownBehavior",
        "InstanceType",
        "KeyName",
        "SecurityGroupIds",
        "SubnetId",
        "TagSpecifications",
        "UserData",
    }
    EBS_PARAM_CONVERSIONS: ClassVar[dict[str, str]] = {
        "DeleteOnTermination": "",
        "Iops": "",
        "SnapshotId": "",
        "VolumeSize": "Size",
        "VolumeType": "",
    }
    UNIQUE_KEYS: ClassVar[list[str]] = ["aws_resource.custom_config.instance_name"]
    UNIQUE_KEYS_BIND_RESOURCE = True
    CREATE_OPERATION: ClassVar[str | None] = "RunInstances"
    CUSTOM_CONFIG_KEYS: ClassVar[frozenset[str] | None] = frozenset({
        "instance_name", "tags", "userdata_template_file", "userdata_template", "userdata_params",
        "userdata_bash", "userdata_wait", ADOPT_KEY,
    })
    STATE_SHAPE: ClassVar[tuple[str, str] | None] = ("ec2", "Instance")
    EXTRA_STATE_FIELDS: ClassVar[frozenset[str]] = frozenset(
        {"SecurityGroupIds", "TagSpecifications", "UserData", "InstanceInitiatedShutdownBehavior"}
    )

    def __init__(
        self,
        particle_definition: Mapping[str, Any],
        session: boto3.Session | None = None,
        client_factory: ClientFactory | None = None,
    ) -> None:
        super().__init__(particle_definition, "ec2", session=session, client_factory=client_factory)
        self.instance_name: str = ""
        self.ec2_state_name: str | None = None  # EC2's own state name, or "missing"; None before the first sync
        self._known: dict[tuple[str, str], _KnownAttribute] = {}
        self._retired: set[str] = set()  # instances of this particle seen gone (or terminated by it)
        self._recent_launch: tuple[str, str, float] | None = None  # (instance id, owner id, launched at)
        self._set_unique_keys()
        self._check_definition()

    # -- identity -------------------------------------------------------------------------------
    def _validate_definition(self, particle_definition: Mapping[str, Any]) -> dict[str, Any]:
        """As for any particle, then ``aws_resource.tags`` (the original PCF's quickstart wrote instance tags there,
        and silently ignored them) become instance tags: merged under ``custom_config.tags``, which wins."""
        definition = super()._validate_definition(particle_definition)
        aws_resource = definition.get("aws_resource") or {}
        if "tags" in aws_resource:
            tags = aws_resource.pop("tags")
            if not isinstance(tags, Mapping):
                raise InvalidConfigException(f"{self.flavor}:{definition['pcf_name']}.aws_resource.tags",
                                             "must be a mapping of tag name to value")
            custom_config = aws_resource.setdefault("custom_config", {})
            custom_config["tags"] = {**tags, **(custom_config.get("tags") or {})}
        return definition

    def _set_unique_keys(self) -> None:
        """Logic that sets keys from state definition that are used to uniquely identify the EC2 instance."""
        self.unique_keys = list(self.UNIQUE_KEYS)
        self.instance_name = str(self.custom_config.get("instance_name", ""))

    def get_label(self) -> str:
        """The ``instance_name``."""
        return self.instance_name

    def _get_instance_reservations(self) -> dict[str, Any]:
        """``describe_instances`` of the non-terminated instances tagged ``PCFName`` = ``instance_name``."""
        filters = [
            {"Name": f"tag:{NAME_TAG}", "Values": [self.instance_name]},
            {"Name": "instance-state-name", "Values": list(LIVE_STATES)},
        ]
        response = self.client.describe_instances(Filters=filters)
        reservations = list(response.get("Reservations", []))
        next_token = response.get("NextToken")
        while next_token:
            page = self.client.describe_instances(Filters=filters, NextToken=next_token)
            reservations += page.get("Reservations", [])
            next_token = page.get("NextToken")
        response["Reservations"] = reservations
        return response

    def _find_instance(self) -> tuple[dict[str, Any] | None, str]:
        """The one live instance with this name and its owner id; one shutting down yields to any other."""
        return self._pick(_instances_of(self._get_instance_reservations()["Reservations"]))

    def _pick(self, found: list[tuple[dict[str, Any], str]]) -> tuple[dict[str, Any] | None, str]:
        """Of the live instances carrying this particle's name, the one that is it (or none). Only those with our
        deployment tag count (``AWSResource._owned``): foreign ones alone raise ``ForeignResourceError`` (unless
        adopted on purpose); a foreign one shutting down is going and is passed over."""
        found = self._owned(
            [item for item in found if item[0]["State"]["Name"] != "shutting-down" or _is_ours(item)],
            resource_id=lambda item: str(item[0]["InstanceId"]),
            tags=lambda item: item[0].get("Tags"),
        )
        if not found:
            return None, ""
        staying = [item for item in found if item[0]["State"]["Name"] != "shutting-down"]
        if len(staying) > 1:
            ids = ", ".join(sorted(item[0]["InstanceId"] for item in staying))
            raise TooManyResourceException(
                f"{self.pcf_id}: {len(staying)} instances are tagged {NAME_TAG}={self.instance_name!r} ({ids}); "
                "terminate the extra ones or rename them"
            )
        return (staying or found)[0]

    def _get_arn(self) -> str:
        """The ARN of the instance named ``instance_name``; ``NoResourceException`` when there is none."""
        instance, owner_id = self._find_instance()
        if instance is None:
            raise NoResourceException(f"{self.pcf_id}: no instance is tagged {NAME_TAG}={self.instance_name!r}")
        return _construct_arn(owner_id, self.region_name, instance["InstanceId"])

    def get_identifier(self) -> str:
        """The instance id (from the ARN)."""
        return _get_instance_id_from_arn(self.arn)

    def get_instance_id(self) -> str:
        """The instance id, see ``get_identifier``."""
        return self.get_identifier()

    def _remember(self, instance_id: str, owner_id: str, state_name: str) -> None:
        if self._arn and _get_instance_id_from_arn(self._arn) != instance_id:
            self._known.clear()
        self._arn = _construct_arn(owner_id, self.region_name, instance_id)
        self.ec2_state_name = state_name
        if state_name in ("stopping", "stopped"):
            # user data can be changed while stopped, by anyone: read it again
            self._known.pop((instance_id, "UserData"), None)

    def _forget(self) -> None:
        if self._arn:
            self._retired.add(_get_instance_id_from_arn(self._arn))
        self._arn = None
        self._known.clear()
        self.ec2_state_name = MISSING_STATE

    def _instance_id(self) -> str:
        return str(self.current_state_definition.get("InstanceId") or self.get_instance_id())

    # -- desired definition ---------------------------------------------------------------------
    def render_desired_user_data(self) -> str | None:
        """The user data to launch with: explicit ``UserData``, or the template (``userdata_template``, the
        text of ``userdata_template_file`` read when the particle was built) rendered with ``userdata_params``,
        with ``userdata_bash`` and ``userdata_wait`` applied; ``None`` when the definition asks for none."""
        return definition.compose_user_data(
            self.desired_state_definition, self.custom_config, self.region_name, self.pcf_id
        )

    def get_desired_state_definition(self) -> dict[str, Any]:
        """The ``run_instances`` parameters: ``START_PARAM_FILTER`` of ``aws_resource``, ``MinCount``/``MaxCount``
        1 by default, the rendered ``UserData`` and the ``TagSpecifications`` (PCFName, deployment, user tags)."""
        desired = copy.deepcopy(pcf_util.param_filter(self.desired_state_definition, self.START_PARAM_FILTER))
        desired.setdefault("MinCount", 1)
        desired.setdefault("MaxCount", 1)
        user_data = self.render_desired_user_data()
        if user_data is None:
            desired.pop("UserData", None)
        else:
            desired["UserData"] = user_data
        desired["TagSpecifications"] = definition.tag_specifications(
            self.instance_name, self.desired_state_definition, self.custom_config
        )
        return desired

    # -- current definition and state -----------------------------------------------------------
    def get_current_definition(self) -> dict[str, Any]:
        """The instance as ``describe_instances`` shows it, plus ``SecurityGroupIds``, ``TagSpecifications`` and,
        when the desired definition specifies them and the instance is running or stopped, ``UserData``
        (decoded) and ``InstanceInitiatedShutdownBehavior``. ``{}`` when there is no instance."""
        return self._current_from(*self._find_instance())

    def _current_from(self, instance: dict[str, Any] | None, owner_id: str) -> dict[str, Any]:
        """``get_current_definition`` for the instance found (``None``: none found by name)."""
        if instance is None:
            instance, owner_id = self._find_recent_launch()
        else:
            self._recent_launch = None
        if instance is None:
            self._forget()
            return {}
        state_name = instance["State"]["Name"]
        self._remember(instance["InstanceId"], owner_id, state_name)
        current = definition.described_view(instance)
        if state_name in STABLE_STATES:
            self._add_attributes(current)
        return current

    def _find_recent_launch(self) -> tuple[dict[str, Any] | None, str]:
        """The instance this particle launched moments ago, by id: EC2 may not list it by tag yet."""
        if self._recent_launch is None:
            return None, ""
        instance_id, owner_id, launched_at = self._recent_launch
        if self.clock() - launched_at > LAUNCH_VISIBILITY_SECONDS:
            self._recent_launch = None
            return None, ""
        try:
            response = self.client.describe_instances(InstanceIds=[instance_id])
        except ClientError as error:
            if _error_code(error) != "InvalidInstanceID.NotFound":
                raise
            return {"InstanceId": instance_id, "State": {"Name": "pending"}}, owner_id  # not visible yet
        for reservation in response.get("Reservations", []):
            for instance in reservation.get("Instances", []):
                if instance["InstanceId"] == instance_id and instance["State"]["Name"] in LIVE_STATES:
                    return instance, str(reservation.get("OwnerId", owner_id))
        self._recent_launch = None
        return None, ""

    def _wanted_attributes(self) -> list[str]:
        wanted = []
        if definition.specifies_user_data(self.desired_state_definition, self.custom_config):
            wanted.append("UserData")
        if self.desired_state_definition.get("InstanceInitiatedShutdownBehavior") is not None:
            wanted.append("InstanceInitiatedShutdownBehavior")
        return wanted

    def _add_attributes(self, current: dict[str, Any]) -> None:
        instance_id = current["InstanceId"]
        for key in self._wanted_attributes():
            known = self._known.get((instance_id, key))
            if known is not None and self._still_valid(key, known, current):
                current[key] = known.value
                continue
            response = self.client.describe_instance_attribute(InstanceId=instance_id, Attribute=ATTRIBUTE_NAMES[key])
            value = response.get(key, {}).get("Value")
            if key == "UserData":
                value = definition.decode_user_data(value)
            self._know(instance_id, key, value, current.get("LaunchTime"))
            current[key] = value

    def _still_valid(self, key: str, known: _KnownAttribute, current: Mapping[str, Any]) -> bool:
        if known.launch_time != current.get("LaunchTime"):
            return False
        if key == "UserData":
            return True  # changing it needs a stop, which drops it (see _remember) and, on AWS, a new LaunchTime
        return self.clock() - known.at <= self.state_cache_ttl

    def _know(self, instance_id: str, key: str, value: Any, launch_time: Any) -> None:
        self._known[(instance_id, key)] = _KnownAttribute(value, launch_time, self.clock())

    def sync_state(self) -> None:
        """Calls ``get_current_definition()`` and updates ``current_state_definition`` and ``state``.

        With ``userdata_wait`` (and a desired state that is not stopped/terminated) a running instance without
        the ``UserdataFinished`` tag is ``pending``."""
        self._set_current(self.get_current_definition())

    def _set_current(self, current: dict[str, Any]) -> None:
        self.current_state_definition = current
        if not current:
            self.state = self.state_lookup[MISSING_STATE]
            return
        state = self.state_lookup.get(current["State"]["Name"], State.pending)
        if state is State.running and self._waiting_for_user_data(current):
            state = State.pending
        self.state = state

    @classmethod
    def sync_states(cls, particles: Sequence[EC2Instance]) -> dict[str, BaseException]:
        """Sync many instances with few calls: one ``describe_instances`` for those whose instance is known
        (by id) and one for the rest (by ``PCFName`` tag, up to 200 names a call), per client. Returns the
        errors by pcf_id; a particle the batch cannot settle is synced on its own."""
        errors: dict[str, BaseException] = {}
        by_client: dict[int, list[EC2Instance]] = {}
        for particle in particles:
            by_client.setdefault(id(particle.client), []).append(particle)
        for group in by_client.values():
            known = [p for p in group if p._arn and p.ec2_state_name not in GONE_STATES]
            unknown = [p for p in group if p not in known]
            for particle, found in [*_by_ids(known), *_by_names(unknown)]:
                try:
                    if found is None:
                        particle.sync_state()
                    else:
                        particle._set_current(particle._current_from(*particle._pick(found)))
                except Exception as error:  # reported per particle, as a single sync would raise it
                    errors[particle.pcf_id] = error
        return errors

    def _waiting_for_user_data(self, current: Mapping[str, Any]) -> bool:
        if not self.custom_config.get("userdata_wait"):
            return False
        if self.desired_state in (State.stopped, State.terminated):
            return False
        return definition.USERDATA_FINISHED_TAG not in pcf_util.tags_to_dict(current.get("Tags"))

    # -- equivalence ----------------------------------------------------------------------------
    def definition_differences(self) -> dict[str, Difference]:
        """The ``STATE_PARAM_FILTER`` fields the desired definition specifies that the instance does not match."""
        _, absent = definition.instance_tags(self.instance_name, self.desired_state_definition, self.custom_config)
        return definition.definition_differences(
            self.current_state_definition, self.get_desired_state_definition(), self.STATE_PARAM_FILTER, absent
        )

    @classmethod
    def described_differences(cls, stored: Mapping[str, Any], instance: Mapping[str, Any]) -> dict[str, Any]:
        """Drift of an instance description against a stored definition, ``{field: (desired, actual)}``: the
        comparison of ``definition_differences`` over the fields a description shows (reconciliation)."""
        return definition.reported(definition.described_differences(stored, instance))

    def is_state_definition_equivalent(self) -> bool:
        """Does the last synced instance match the desired definition (see ``definition_differences``)?"""
        differences = self.definition_differences()
        if differences:
            logger.info("%s differs from its definition in %s", self.pcf_id, ", ".join(differences))
        return not differences

    # -- transitions ----------------------------------------------------------------------------
    @contextmanager
    def _aws_errors(self, operation: str) -> Iterator[None]:
        try:
            yield
        except ClientError as error:
            details = error.response.get("Error", {})
            raise TransitionError(
                self.pcf_id, f"{operation} failed: {details.get('Code', '')}: {details.get('Message', '')}"
            ) from error

    def _ensure_synced(self) -> str:
        if self.ec2_state_name is None:
            self.sync_state()
        return self.ec2_state_name or MISSING_STATE

    def create(self) -> dict[str, Any]:
        """Calls boto3 ``run_instances()`` with a ``ClientToken``. This is called for the terminated to running
        transition.

        Returns:
            the ``run_instances()`` response
        """
        params = self.get_desired_state_definition()
        scope = self.idempotency_scope
        with self._aws_errors("run_instances"):
            response = self.client.run_instances(ClientToken=client_token(self.pcf_id, params, scope), **params)
            for _ in range(MAX_TOKEN_RENEWALS):
                instance = response["Instances"][0]
                if instance["State"]["Name"] not in GONE_STATES and instance["InstanceId"] not in self._retired:
                    break
                # The token already launched an instance that is gone since: this is a deliberate new launch.
                scope = f"{scope}|after:{instance['InstanceId']}"
                response = self.client.run_instances(ClientToken=client_token(self.pcf_id, params, scope), **params)
        instance = response["Instances"][0]
        instance_id = instance["InstanceId"]
        logger.info("%s: launched %s", self.pcf_id, instance_id)
        owner_id = str(response.get("OwnerId", ""))
        self._remember(instance_id, owner_id, instance["State"]["Name"])
        self._recent_launch = (instance_id, owner_id, self.clock())
        launch_time = instance.get("LaunchTime")
        self._know(instance_id, "UserData", params.get("UserData", ""), launch_time)
        self._know(
            instance_id,
            "InstanceInitiatedShutdownBehavior",
            params.get("InstanceInitiatedShutdownBehavior", "stop"),
            launch_time,
        )
        return response

    def _start(self) -> Any:
        """Creates the instance when there is none; calls boto3 ``start_instances()`` when it is stopped (after
        applying the differences a stopped instance allows).

        Returns:
            the ``run_instances()`` or ``start_instances()`` response; ``None`` when there was nothing to do
        """
        state_name = self._ensure_synced()
        if state_name == MISSING_STATE:
            return self.create()
        self._claim()
        if state_name != "stopped":
            logger.info("%s is %s: nothing to start", self.pcf_id, state_name)
            return None
        instance_id = self._instance_id()
        if not self.persist_on_update and self.current_state_definition:
            self._apply_changes(instance_id, stopped=True)
        with self._aws_errors("start_instances"):
            response = self.client.start_instances(InstanceIds=[instance_id])
        self.ec2_state_name = "pending"
        return response

    def _stop(self) -> Any:
        """Calls boto3 ``stop_instances()`` when the instance is running (or pending).

        Returns:
            the ``stop_instances()`` response; ``None`` when there was nothing to do
        """
        state_name = self._ensure_synced()
        if state_name not in ("running", "pending"):
            logger.info("%s is %s: nothing to stop", self.pcf_id, state_name)
            return None
        self._claim()
        with self._aws_errors("stop_instances"):
            response = self.client.stop_instances(InstanceIds=[self._instance_id()])
        self.ec2_state_name = "stopping"
        return response

    def _terminate(self) -> Any:
        """Calls boto3 ``terminate_instances()``; the ``PCFName`` tag is kept. Nothing to do when the instance
        is missing or already shutting down.

        Returns:
            the ``terminate_instances()`` response; ``None`` when there was nothing to do
        """
        state_name = self._ensure_synced()
        if state_name in GONE_STATES:
            return None
        self._claim()
        try:
            with self._aws_errors("terminate_instances"):
                response = self.client.terminate_instances(InstanceIds=[self._instance_id()])
        except TransitionError as error:
            if _error_code(error.__cause__) == "InvalidInstanceID.NotFound":
                self._forget()
                return None
            raise
        self.ec2_state_name = "shutting-down"
        self._retired.add(self._instance_id())
        return response

    def _update(self) -> UpdateResult:
        """Brings the instance to the desired definition (see the class docstring): in-place changes now; a stop
        when instance type or user data differ; a termination (to be recreated) when image, subnet or key pair
        differ. Does nothing under ``persist_on_update`` or while a transition is under way.

        Returns:
            an ``UpdateResult`` naming what was applied, and what the instance was stopped or replaced for
        """
        result = UpdateResult()
        state_name = self._ensure_synced()
        if self.persist_on_update:
            logger.info("%s: persist_on_update, not updated", self.pcf_id)
            return result
        if state_name not in STABLE_STATES:
            logger.info("%s is %s: not updated now", self.pcf_id, state_name)
            return result
        self._claim()
        return self._apply_changes(self._instance_id(), stopped=state_name == "stopped", replace=True)

    def _apply_changes(self, instance_id: str, *, stopped: bool, replace: bool = False) -> UpdateResult:
        result = UpdateResult()
        differences = self.definition_differences()
        plan = UpdatePlan.of(differences)
        if plan.replace and replace:
            logger.info("%s: %s cannot change in place; replacing %s", self.pcf_id, plan.replace, instance_id)
            with self._aws_errors("terminate_instances"):
                self.client.terminate_instances(InstanceIds=[instance_id])
            self.ec2_state_name = "shutting-down"
            self._retired.add(instance_id)
            result.replaced_for = plan.replace
            return result
        modifier = InstanceModifier(self.client, instance_id)
        names = plan.in_place + (plan.when_stopped if stopped else [])
        with self._aws_errors("updating " + ", ".join(names)):
            result.applied = modifier.apply(differences, names)
        launch_time = self.current_state_definition.get("LaunchTime")
        for name in result.applied:
            if name in ATTRIBUTE_NAMES:
                self._know(instance_id, name, differences[name].desired, launch_time)
        if plan.when_stopped and not stopped:
            logger.info("%s: stopping %s to change %s", self.pcf_id, instance_id, plan.when_stopped)
            with self._aws_errors("stop_instances"):
                self.client.stop_instances(InstanceIds=[instance_id])
            self.ec2_state_name = "stopping"
            result.stopped_for = plan.when_stopped
        if result.applied:
            logger.info("%s: changed %s of %s", self.pcf_id, result.applied, instance_id)
        return result

    # -- validation -----------------------------------------------------------------------------
    def _validate_config(self) -> None:
        """``apply(validate_config=True)``: the construction-time checks, and what a launch needs (``ImageId``);
        raises ``InvalidConfigException(field, reason)``."""
        self._check_definition()
        if not self.desired_state_definition.get("ImageId"):
            raise InvalidConfigException(f"{self.pcf_id}.aws_resource.ImageId", "is required to launch an instance")

    def _check_definition(self) -> None:
        """Checks the definition without AWS calls, when the particle is built (parameter names, types and enums
        are checked against AWS's model before this, by ``AWSResource``)."""
        prefix = f"{self.pcf_id}.aws_resource"
        resource = self.desired_state_definition
        config = self.custom_config
        for key in ("MinCount", "MaxCount"):
            if resource.get(key, 1) != 1:
                raise InvalidConfigException(
                    f"{prefix}.{key}", "must be 1: a particle is one instance (use multiplier for several)"
                )
        for key in ("ImageId", "InstanceType", "KeyName", "SubnetId"):
            if key in resource and not (isinstance(resource[key], str) and resource[key]):
                raise InvalidConfigException(f"{prefix}.{key}", "must be a non-empty string")
        groups = resource.get("SecurityGroupIds")
        if groups is not None and not (isinstance(groups, list) and all(isinstance(g, str) and g for g in groups)):
            raise InvalidConfigException(f"{prefix}.SecurityGroupIds", "must be a list of security group ids")
        behavior = resource.get("InstanceInitiatedShutdownBehavior")
        if behavior is not None and behavior not in SHUTDOWN_BEHAVIORS:
            raise InvalidConfigException(
                f"{prefix}.InstanceInitiatedShutdownBehavior", f"{behavior!r} is not one of {SHUTDOWN_BEHAVIORS}"
            )
        profile = resource.get("IamInstanceProfile")
        if profile is not None and not (isinstance(profile, Mapping) and (profile.get("Arn") or profile.get("Name"))):
            raise InvalidConfigException(f"{prefix}.IamInstanceProfile", "must be a mapping with 'Arn' or 'Name'")
        mappings = resource.get("BlockDeviceMappings")
        if mappings is not None and not (
            isinstance(mappings, list) and all(isinstance(m, Mapping) and m.get("DeviceName") for m in mappings)
        ):
            raise InvalidConfigException(f"{prefix}.BlockDeviceMappings", "must be a list of mappings with DeviceName")
        self._validate_custom_config(prefix, config)

    def _validate_custom_config(self, prefix: str, config: Mapping[str, Any]) -> None:
        field = f"{prefix}.custom_config"
        if len(self.instance_name) > MAX_TAG_VALUE:
            raise InvalidConfigException(f"{field}.instance_name", f"is longer than {MAX_TAG_VALUE} characters")
        for flag in ("userdata_bash", "userdata_wait", ADOPT_KEY):
            if flag in config and not isinstance(config[flag], bool):
                raise InvalidConfigException(f"{field}.{flag}", "must be true or false")
        params = config.get("userdata_params")
        if params is not None and not isinstance(params, Mapping):
            raise InvalidConfigException(f"{field}.userdata_params", "must be a mapping of template parameters")
        tags = config.get("tags")
        if tags is not None and not isinstance(tags, Mapping | list):
            raise InvalidConfigException(f"{field}.tags", "must be a mapping of tag name to value")
        for key, value in definition.requested_tags(self.desired_state_definition, config).items():
            if key in (NAME_TAG, DEPLOYMENT_TAG):
                raise InvalidConfigException(f"{field}.tags.{key}", "is set by PCF and cannot be given")
            if not key or len(key) > MAX_TAG_KEY or key.lower().startswith("aws:"):
                raise InvalidConfigException(
                    f"{field}.tags.{key}", f"tag keys must be 1-{MAX_TAG_KEY} characters, not starting with 'aws:'"
                )
            if value is not None and len(str(value)) > MAX_TAG_VALUE:
                raise InvalidConfigException(f"{field}.tags.{key}", f"is longer than {MAX_TAG_VALUE} characters")
        has_template = config.get("userdata_template_file") or config.get("userdata_template") is not None
        if has_template and self.desired_state_definition.get("UserData") is not None:
            logger.warning("%s: both UserData and a user data template are set; UserData wins", self.pcf_id)
        # The template file is read now, once; the user data is composed with the params as they are ($inherit$
        # values stand as their reference text until the parent is known), inside templates.render_batch() in
        # one child process with the other particles built there: an unrenderable template, or user data over
        # EC2's 16 KB, is refused before any AWS call.
        resource, custom = self.desired_state_definition, self.custom_config
        templates.check_later(
            definition.user_data_jobs(resource, custom, self.pcf_id),
            lambda: definition.check_user_data(resource, custom, self.region_name, self.pcf_id),
        )
