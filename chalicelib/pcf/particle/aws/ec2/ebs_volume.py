"""The ``ebs_volume`` flavor: an EBS volume, found by its ``PCFName`` tag, optionally attached to a parent EC2.

EBS volumes have no stopped state: ``stopped`` is equivalent to ``terminated`` (``equivalent_states``), so a
volume desired stopped is deleted, as in the original PCF. ``persist_on_termination`` keeps it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import boto3
from botocore.exceptions import ClientError

from pcf.core import State
from pcf.core.aws_resource import AWSResource
from pcf.core.particle import Particle
from pcf.core.pcf_exceptions import (
    DependencyStateError,
    InvalidConfigException,
    NoResourceException,
    PCFError,
    TooManyResourceException,
    TransitionError,
)
from pcf.core.resource_table import Describe, EventKind, Permissions, ResourceTable, picked
from pcf.particle.aws.ec2 import ebs_config
from pcf.particle.aws.ec2.events import EC2_SOURCE, VOLUME_NOTIFICATION, VolumeEvent
from pcf.util import pcf_util
from pcf.util.aws.clients import ClientFactory
from pcf.util.aws.idempotency import client_token
from pcf.util.aws.ownership import ADOPT_KEY
from pcf.util.aws.tag_specifications import DEPLOYMENT_TAG, NAME_TAG, EBSTagSpecifications, managed_tags
from pcf.util.pcf_util import dict_to_tags, tags_to_dict

logger = logging.getLogger(__name__)

# Volume statuses a live volume can have; deleting/deleted ones are not this particle's volume any more.
LIVE_STATUSES = ["creating", "available", "in-use", "error"]
NOT_FOUND = "InvalidVolume.NotFound"
NOT_ATTACHED = frozenset({"InvalidAttachment.NotFound", "IncorrectState"})
STILL_ATTACHED = frozenset({"VolumeInUse", "IncorrectState"})


def _error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


@contextmanager
def _transition_errors(pcf_id: str, operation: str) -> Iterator[None]:
    """An AWS error in a transition as ``TransitionError`` naming the particle (the AWS error as its cause)."""
    try:
        yield
    except ClientError as error:
        raise TransitionError(pcf_id, f"{operation} failed: {error}") from error


SNAPSHOT_FIELDS = ("Size", "VolumeType", "Iops", "AvailabilityZone", "Tags")
VOLUME_TABLE = ResourceTable(
    id_key="VolumeId",
    name_key="volume_name",
    describe=Describe("describe_volumes", ("Volumes",), page_size=500, id_filter="volume-id"),
    status=lambda description: description["State"],
    gone=frozenset({"deleting", "deleted"}),
    snapshot_fields=SNAPSHOT_FIELDS,
    snapshot=lambda description: picked(description, SNAPSHOT_FIELDS),
    events=(EventKind(EC2_SOURCE, VOLUME_NOTIFICATION, VolumeEvent),),
    awaited=frozenset({"creating", "deleting"}),  # createVolume and deleteVolume are announced; an attach is not
    permissions=Permissions(
        describe=("ec2:DescribeVolumes", "ec2:DescribeVolumesModifications"),
        transitions={
            "sync": (),
            "start": ("ec2:AttachVolume",),  # to its parent instance (``attach``): the instance is tagged too
            "stop": ("ec2:DetachVolume", "ec2:DeleteVolume"),  # stopped is terminated for a volume
            "terminate": ("ec2:DetachVolume", "ec2:DeleteVolume"),
            "update": ("ec2:ModifyVolume", "ec2:CreateTags", "ec2:DeleteTags"),
        },
        create=("ec2:CreateVolume",),
        arns=("arn:aws:ec2:*:*:volume/*",),
        inputs={"ec2:CreateVolume": ("arn:aws:ec2:*::snapshot/*",)},  # a volume made from a snapshot
    ),
    unmanageable=frozenset({"error"}),
)
"""What the control plane knows of a volume (``pcf.core.resource_table``)."""


class EBSVolume(AWSResource):
    """This is the EBS Volume particle. This also contains functions to attach and detach to an ec2 volume.
    There is a custom config called attach, which when set to True will auto attach to a parent EC2.

    ``custom_config``: ``volume_name`` (required, the ``PCFName`` tag), ``tags`` (name -> value), ``attach``
    (bool), ``device`` (default ``/dev/sdf``) and ``adopt`` (bool, library mode only: take over a volume with
    the name but another deployment's ``PCFDeployment`` tag, or none, retagging it before changing it; without
    it such a volume raises ``ForeignResourceError`` and is left untouched, see ``pcf.util.aws.ownership``).
    The rest of ``aws_resource`` are ``create_volume`` parameters (``START_PARAM_FILTER``).
    """

    flavor = "ebs_volume"
    RESOURCE_TABLE = VOLUME_TABLE
    START_PARAM_FILTER = {
        "AvailabilityZone",
        "Encrypted",
        "Iops",
        "KmsKeyId",
        "Size",
        "SnapshotId",
        "TagSpecifications",
        "VolumeType",
    }
    UPDATE_PARAM_FILTER = {"Iops": "", "Size": "", "VolumeType": ""}
    UNIQUE_KEYS = ["aws_resource.custom_config.volume_name"]
    UNIQUE_KEYS_BIND_RESOURCE = True
    CREATE_OPERATION = "CreateVolume"
    CUSTOM_CONFIG_KEYS = frozenset({"volume_name", "tags", "attach", "device", ADOPT_KEY})
    STATE_SHAPE = ("ec2", "Volume")
    EXTRA_STATE_FIELDS = frozenset({"Tags", "custom_config", "Modification"})
    state_lookup = {
        "attaching": State.pending,
        "available": State.running,
        "creating": State.pending,
        "deleted": State.terminated,
        "deleting": State.pending,
        "detaching": State.terminated,
        "in-use": State.running,
    }
    equivalent_states = {State.running: 1, State.stopped: 0, State.terminated: 0}

    def __init__(
        self,
        particle_definition: Mapping[str, Any],
        session: boto3.Session | None = None,
        client_factory: ClientFactory | None = None,
    ) -> None:
        super().__init__(particle_definition, "ec2", session=session, client_factory=client_factory)
        self.volume_id: str | None = None
        self.volume_name: str = ""
        self.modification: dict[str, Any] | None = None
        self._recreations = 0
        self._auto_attach_suppressed = False
        self.state = None  # the original EBSVolume starts with a None state, not an unset one
        self._set_unique_keys()
        self._check_definition()

    @property
    def tags(self) -> list[dict[str, str]]:
        """The tags the volume should carry, as ``[{"Key": ..., "Value": ...}]``: the user's, ``PCFName`` and the
        deployment tag (the original's ``EBSVolume.tags``)."""
        return dict_to_tags(ebs_config.desired_tags(self.desired_state_definition, self.volume_name))

    def _set_unique_keys(self) -> None:
        """Logic that sets keys from state definition that are used to uniquely identify the EBS volume."""
        self.unique_keys = list(self.UNIQUE_KEYS)
        self.volume_name = str(self.custom_config["volume_name"])

    # -- identity and status ------------------------------------------------------------------------
    def get_identifier(self) -> str:
        """The volume id (found by name when not known yet); ``NoResourceException`` when there is none."""
        return self._require_volume_id()

    def get_label(self) -> str:
        return self.volume_name

    def get_status(self) -> dict[str, Any] | None:
        """Calls boto3 describe_volumes using VolumeId (found by the ``PCFName`` tag when not known yet).

        Returns:
            the volume's description, or ``None`` when the volume does not exist. One call normally; two
            when the cached volume has gone (its id is then forgotten and the name searched).
        """
        if self.volume_id:
            try:
                volumes = self.client.describe_volumes(VolumeIds=[self.volume_id])["Volumes"]
            except ClientError as error:
                if _error_code(error) != NOT_FOUND:
                    raise
                volumes = []
            if volumes and volumes[0].get("State") != "deleted":
                return self._owned_volumes(volumes[:1])[0]
            self._forget_volume()
        volume = self._find_by_name()
        self.volume_id = volume["VolumeId"] if volume else None
        return volume

    def _owned_volumes(self, volumes: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Ours of the volumes found (``AWSResource._owned``): ``ForeignResourceError`` when only foreign ones
        carry the name, unless ``custom_config.adopt`` takes the one over."""
        return self._owned(volumes, resource_id=lambda v: str(v["VolumeId"]), tags=lambda v: v.get("Tags"))

    def _find_by_name(self) -> dict[str, Any] | None:
        """The one live volume tagged ``PCFName=<volume_name>`` and our ``PCFDeployment``;
        ``TooManyResourceException`` for several, ``ForeignResourceError`` for another deployment's (or none's)."""
        volumes = self._owned_volumes(self.client.describe_volumes(
            Filters=[
                {"Name": f"tag:{NAME_TAG}", "Values": [self.volume_name]},
                {"Name": "status", "Values": LIVE_STATUSES},
            ]
        )["Volumes"])
        if len(volumes) > 1:
            ids = ", ".join(sorted(v["VolumeId"] for v in volumes))
            raise TooManyResourceException(
                f"{self.pcf_id}: {len(volumes)} volumes carry {NAME_TAG}={self.volume_name!r} ({ids}); "
                "delete or retag the extra ones"
            )
        return volumes[0] if volumes else None

    def _forget_volume(self) -> None:
        """The cached volume is gone: forget it; a later create is a new resource (a new ClientToken)."""
        if self.volume_id is not None:
            self.volume_id = None
            self._recreations += 1

    def _require_volume_id(self) -> str:
        if not self.volume_id:
            self.get_status()
        if not self.volume_id:
            raise NoResourceException(f"{self.pcf_id}: no volume tagged {NAME_TAG}={self.volume_name!r}")
        return self.volume_id

    def sync_state(self) -> None:
        """Updates the current_state_definition and the current state (through ``state_lookup``).

        Will attach to parent ec2 if parent exists and custom config flag is set (auto-attach): when
        ``custom_config.attach`` is true, the volume is ``available``, the particle is not desired stopped or
        terminated, and its one parent EC2 particle is running, the volume is attached to that instance at
        ``custom_config.device`` (default ``/dev/sdf``) and the state is reported ``pending`` until EC2 shows
        the attachment. Will detach on termination. If you do not want it terminated, set termination
        protection and call detach function.

        API calls: one ``describe_volumes``; a ``describe_volumes_modifications`` only while Size, VolumeType
        or Iops differ from the desired ones; the attach when it happens.
        """
        volume = self.get_status()
        self.modification = None
        if volume is None:
            self.current_state_definition = {}
            self.state = State.terminated
            return
        state = self._state_of(volume)
        if state is State.running and self._updatable_differ(volume):
            self.modification = self._latest_modification(volume["VolumeId"])
            if self.modification and self.modification.get("ModificationState") == "modifying":
                state = State.pending
        self.current_state_definition = self._current_definition(volume)
        self.state = state
        if state is State.running and self._should_auto_attach(volume):
            self.attach_volume(device=self.custom_config.get("device") or ebs_config.DEFAULT_DEVICE)
            self.state = State.pending
            self.state_dirty = True

    def _state_of(self, volume: Mapping[str, Any]) -> State:
        """The particle state of a described volume; an attachment on the move is ``pending``.

        (The seed table maps ``detaching`` to terminated; applied to an attachment that would end an apply
        with the volume still there, so a detaching attachment reads ``pending`` instead.)
        """
        attachment_states = {a.get("State") for a in volume.get("Attachments") or []}
        if "attaching" in attachment_states:
            return self.state_lookup["attaching"]
        if "detaching" in attachment_states:
            return State.pending
        status = volume.get("State", "")
        state = self.state_lookup.get(status)
        if state is None:
            raise PCFError(
                f"{self.pcf_id}: volume {volume.get('VolumeId')} is in status {status!r}, which the framework "
                "cannot act on; inspect it in EC2 and delete it if it is broken"
            )
        return state

    def _current_definition(self, volume: Mapping[str, Any]) -> dict[str, Any]:
        """The described volume as a JSON-friendly definition shaped like the desired one."""
        tags = tags_to_dict(volume.get("Tags"))
        user = {
            k: v
            for k, v in tags.items()
            if k not in (NAME_TAG, DEPLOYMENT_TAG) and not k.lower().startswith(ebs_config.RESERVED_TAG_PREFIX)
        }
        definition: dict[str, Any] = {
            key: volume[key]
            for key in (
                "VolumeId",
                "State",
                "AvailabilityZone",
                "Size",
                "VolumeType",
                "Iops",
                "Encrypted",
                "KmsKeyId",
                "SnapshotId",
                "Throughput",
            )
            if volume.get(key) not in (None, "")
        }
        definition["Attachments"] = [
            {k: a[k] for k in ("InstanceId", "Device", "State") if k in a} for a in volume.get("Attachments") or []
        ]
        definition["Tags"] = tags
        definition["custom_config"] = {"volume_name": tags.get(NAME_TAG, ""), "tags": user}
        if self.modification:
            definition["Modification"] = {
                k: v for k, v in self.modification.items() if k != "StartTime" and k != "EndTime"
            }
        return definition

    # -- relatives ------------------------------------------------------------------------------------
    def get_ec2_parent(self) -> Particle | None:
        """The parent EC2 particle (one with ``get_instance_id()``), ``None`` when there is none.

        Raises ``InvalidConfigException`` when there are several: a volume attaches to one instance.
        """
        parents = sorted(
            (p for p in self.parents if callable(getattr(p, "get_instance_id", None))), key=lambda p: p.pcf_id
        )
        if len(parents) > 1:
            raise InvalidConfigException(
                f"{self.pcf_id}.parents",
                f"an EBS volume attaches to one EC2 instance, but {len(parents)} parents are EC2 particles "
                f"({', '.join(p.pcf_id for p in parents)})",
            )
        return parents[0] if parents else None

    def _should_auto_attach(self, volume: Mapping[str, Any]) -> bool:
        if not self.custom_config.get("attach") or volume.get("State") != "available":
            return False
        if self._auto_attach_suppressed or self.desired_state in (State.stopped, State.terminated):
            return False
        parent = self.get_ec2_parent()
        if parent is None:
            return False
        state = getattr(parent, "observed_state", None)
        if state is None and callable(getattr(parent, "get_state", None)):
            state = parent.get_state()
        return state is State.running

    # -- attach / detach ------------------------------------------------------------------------------
    def attach_volume(self, device: str = ebs_config.DEFAULT_DEVICE, ec2_parent_id: str | None = None) -> Any:
        """Calls boto3 attach_volume().

        Args:
            device: ec2 device to attach to. Default: /dev/sdf
            ec2_parent_id: ec2 parent instance id. Default: Parent ec2 instanceId

        Returns:
            boto3 attach_volume() response
        """
        instance_id = ec2_parent_id or self._parent_instance_id()
        volume_id = self._require_volume_id()
        self._claim()
        logger.info("%s: attaching %s to %s at %s", self.pcf_id, volume_id, instance_id, device)
        with _transition_errors(self.pcf_id, "attach_volume"):
            return self.client.attach_volume(Device=device, InstanceId=instance_id, VolumeId=volume_id)

    def _parent_instance_id(self) -> str:
        parent = self.get_ec2_parent()
        if parent is None:
            raise DependencyStateError(f"{self.pcf_id}: no parent EC2 particle to attach to; pass ec2_parent_id")
        instance_id = getattr(parent, "get_instance_id")()  # noqa: B009 - get_ec2_parent() checked it has one
        if not instance_id:
            raise DependencyStateError(f"{self.pcf_id}: parent {parent.pcf_id} has no instance to attach to")
        return str(instance_id)

    def detach_volume(self) -> Any:
        """Calls boto3 detach_volume() (with the InstanceId of each attachment).

        Returns:
            boto3 detach_volume() response (the last one), ``None`` when the volume is not attached.
        """
        volume_id = self._require_volume_id()
        attachments = self.current_state_definition.get("Attachments")
        self._claim()
        if attachments is None or self.current_state_definition.get("VolumeId") != volume_id:
            attachments = (self.get_status() or {}).get("Attachments") or []
        response = None
        for attachment in attachments:
            if attachment.get("State") in ("detaching", "detached"):
                continue
            logger.info("%s: detaching %s from %s", self.pcf_id, volume_id, attachment.get("InstanceId"))
            try:
                response = self.client.detach_volume(
                    VolumeId=volume_id, InstanceId=attachment["InstanceId"], Device=attachment["Device"]
                )
            except ClientError as error:
                if _error_code(error) not in NOT_ATTACHED:
                    raise TransitionError(self.pcf_id, f"detach_volume({volume_id}) failed: {error}") from error
        return response

    # -- transitions ------------------------------------------------------------------------------------
    def stop(self, sync: bool = True, cascade: bool = False) -> Any:
        with self._no_auto_attach():
            return super().stop(sync, cascade)

    def terminate(self, sync: bool = True, cascade: bool = False) -> Any:
        with self._no_auto_attach():
            return super().terminate(sync, cascade)

    @contextmanager
    def _no_auto_attach(self) -> Iterator[None]:
        """No auto-attach in the sync that precedes a stop or terminate: the volume is about to go."""
        previous, self._auto_attach_suppressed = self._auto_attach_suppressed, True
        try:
            yield
        finally:
            self._auto_attach_suppressed = previous

    def create_params(self) -> dict[str, Any]:
        """The ``create_volume`` parameters (without ``ClientToken``): START_PARAM_FILTER and all tags."""
        params = pcf_util.param_filter(self.desired_state_definition, self.START_PARAM_FILTER)
        tags = ebs_config.user_tags(self.desired_state_definition)
        params["TagSpecifications"] = EBSTagSpecifications(**managed_tags(self.volume_name, tags)).render()
        return params

    def _token_scope(self) -> str:
        if not self._recreations:
            return self.idempotency_scope
        return f"{self.idempotency_scope}#recreate-{self._recreations}"

    def _start(self) -> Any:
        """Calls boto3 create_volume() with the ``PCFName``, deployment and custom tags and a ``ClientToken``.

        The token depends on the particle, the parameters and ``idempotency_scope``: a retry creates no
        second volume. A volume this particle saw disappear is re-created under a new token.

        Returns:
            boto3 create_volume() response
        """
        params = self.create_params()
        token = client_token(self.pcf_id, params, self._token_scope())
        with _transition_errors(self.pcf_id, "create_volume"):
            response = self.client.create_volume(ClientToken=token, **params)
        self.volume_id = response["VolumeId"]
        logger.info("%s: created %s (%s)", self.pcf_id, self.volume_id, response.get("State"))
        return response

    def _stop(self) -> Any:
        """Calls _terminate(): an EBS volume has no stopped state."""
        return self._terminate()

    def _terminate(self) -> Any:
        """Detaches the volume if it is attached (passing InstanceId), then calls boto3 delete_volume().

        Idempotent: no volume means nothing to do. If EC2 still reports it attached after the detach call,
        nothing is deleted yet: the next sync sees the detachment (``pending``) and terminating repeats.

        Returns:
            boto3 delete_volume() response, ``None`` when nothing was deleted.
        """
        if self.volume_id is None and self.observed_state is None:
            self.get_status()
        if self.volume_id is None:
            return None
        self._claim()
        detached = self.detach_volume() if self.current_state_definition.get("Attachments") else None
        try:
            response = self.client.delete_volume(VolumeId=self.volume_id)
        except ClientError as error:
            code = _error_code(error)
            if code == NOT_FOUND:
                self._forget_volume()
                return None
            if code in STILL_ATTACHED and detached is not None:
                logger.info("%s: %s still detaching; deleting on the next pass", self.pcf_id, self.volume_id)
                return None
            raise TransitionError(self.pcf_id, f"delete_volume({self.volume_id}) failed: {error}") from error
        logger.info("%s: deleted %s", self.pcf_id, self.volume_id)
        return response

    def _update(self) -> Any:
        """Calls boto3 modify_volume() for Size, VolumeType and Iops that differ. If tags are changed then also
        calls delete_tags() and then create_tags(), for the differing tags only.

        Returns:
            boto3 modify_volume() response, ``None`` when only tags changed.
        """
        volume_id = self._require_volume_id()
        current_tags = self.current_state_definition.get("Tags") or {}
        self._claim()
        to_delete, to_set = ebs_config.tag_changes(
            current_tags,
            ebs_config.desired_tags(self.desired_state_definition, self.volume_name),
            ebs_config.tags_managed_exactly(self.desired_state_definition),
        )
        with _transition_errors(self.pcf_id, "tagging"):
            if to_delete:
                self.client.delete_tags(Resources=[volume_id], Tags=[{"Key": key} for key in to_delete])
            if to_set:
                self.client.create_tags(Resources=[volume_id], Tags=pcf_util.dict_to_tags(to_set))
        changes = self._update_changes()
        if not changes:
            return None
        current_size = self.current_state_definition.get("Size")
        if "Size" in changes and isinstance(current_size, int) and changes["Size"] < current_size:
            raise InvalidConfigException(
                f"{self.pcf_id}.aws_resource.Size",
                f"an EBS volume cannot shrink: {volume_id} is {current_size} GiB, "
                f"the definition asks {changes['Size']}",
            )
        if changes.get("VolumeType") in ebs_config.IOPS_ALLOWED and self.desired_state_definition.get("Iops"):
            changes.setdefault("Iops", self.desired_state_definition["Iops"])
        logger.info("%s: modifying %s: %s", self.pcf_id, volume_id, changes)
        with _transition_errors(self.pcf_id, "modify_volume"):
            return self.client.modify_volume(VolumeId=volume_id, **changes)

    # -- equivalence ------------------------------------------------------------------------------------
    def _effective_current(self) -> dict[str, Any]:
        return ebs_config.effective_values(self.current_state_definition, self.modification)

    def _update_changes(self) -> dict[str, Any]:
        return ebs_config.update_changes(
            self.desired_state_definition, self._effective_current(), self.UPDATE_PARAM_FILTER
        )

    def _updatable_differ(self, volume: Mapping[str, Any]) -> bool:
        if self.desired_state in (State.stopped, State.terminated):
            return False
        current = ebs_config.effective_values(volume, None)
        return bool(ebs_config.update_changes(self.desired_state_definition, current, self.UPDATE_PARAM_FILTER))

    def _latest_modification(self, volume_id: str) -> dict[str, Any] | None:
        try:
            found = self.client.describe_volumes_modifications(VolumeIds=[volume_id])["VolumesModifications"]
        except ClientError as error:
            if _error_code(error) != NOT_FOUND:
                raise
            return None
        if not found:
            return None
        # EC2 answers the most recent one; moto lists them all, oldest first: take the latest, last on ties.
        return max(enumerate(found), key=lambda item: (str(item[1].get("StartTime", "")), item[0]))[1]

    def is_state_definition_equivalent(self) -> bool:
        """Determines if state definitions are equivalent including list of tags.

        Compares the Size, VolumeType and Iops the definition sets (unset ones are ignored; a modification
        already under way counts as done) and the tags: ``PCFName``, the deployment tag and the listed ones;
        when the definition lists tags, tags it does not list make a difference too.

        Returns:
            Bool
        """
        if not self.current_state_definition:
            return False
        return not ebs_config.volume_differences(
            self.desired_state_definition, self.volume_name, self._effective_current(),
            self.current_state_definition.get("Tags") or {}, self.UPDATE_PARAM_FILTER,
        )

    @classmethod
    def described_differences(cls, stored: Mapping[str, Any], volume: Mapping[str, Any]) -> dict[str, Any]:
        """Drift of a ``describe_volumes`` entry against a stored definition, ``{field: (desired, actual)}``: the
        comparison ``is_state_definition_equivalent`` makes (reconciliation)."""
        aws_resource = stored.get("aws_resource") or {}
        name = str((aws_resource.get("custom_config") or {}).get("volume_name", ""))
        return ebs_config.volume_differences(aws_resource, name, ebs_config.effective_values(volume, None),
                                             tags_to_dict(volume.get("Tags")), cls.UPDATE_PARAM_FILTER)

    def is_state_equivalent(self, state1: State | None, state2: State | None) -> bool:
        """Equal, or equivalent under ``equivalent_states`` (stopped and terminated are one for a volume).

        Args:
            state1: a state
            state2: another state

        Returns:
            bool
        """
        return super().is_state_equivalent(state1, state2)

    # -- configuration ------------------------------------------------------------------------------------
    def _check_definition(self) -> None:
        """The checks that need no AWS call and no relative, when the particle is built (what creating the volume
        needs, ``AvailabilityZone`` and ``Size``, is left to ``_validate_config`` and to the create call)."""
        prefix = f"{self.pcf_id}.aws_resource"
        ebs_config.validate_volume_config(
            self.desired_state_definition, self.START_PARAM_FILTER, prefix, require_create=False
        )

    def _validate_config(self) -> None:
        """Check the definition before acting: ``InvalidConfigException(field, reason)`` when it is wrong."""
        prefix = f"{self.pcf_id}.aws_resource"
        ebs_config.validate_volume_config(self.desired_state_definition, self.START_PARAM_FILTER, prefix)
        parent = self.get_ec2_parent()
        if self.custom_config.get("attach") and parent is None:
            raise InvalidConfigException(
                f"{prefix}.custom_config.attach", "is true, but the volume has no parent EC2 particle to attach to"
            )
