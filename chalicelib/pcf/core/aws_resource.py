"""``AWSResource``: a particle backed by an AWS resource, with its client, region, arn and lookups."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, TypeVar

import boto3
from boto3.exceptions import ResourceNotExistsError
from botocore.exceptions import ClientError

from pcf.core.particle import Particle
from pcf.core.pcf_exceptions import DefinitionError, TransitionError
from pcf.core.references import LookupRef, dotted, find_references
from pcf.util import pcf_util
from pcf.util.aws import ownership
from pcf.util.aws.aws_lookup import AWSLookup
from pcf.util.aws.clients import ClientFactory, get_default_factory
from pcf.util.aws.resource_checks import check_aws_resource

logger = logging.getLogger(__name__)
T = TypeVar("T")


class AWSResource(Particle):
    """A particle whose resource lives in AWS.

    Args:
        particle_definition: the definition; ``aws_resource`` holds the API parameters.
        resource_name: the boto3 service name (``"ec2"``).
        arn: the resource's ARN when already known.
        session: a boto3 session to build clients from.
        client_factory: the ``ClientFactory`` to use (wins over ``session``); the process default otherwise.
    """

    lookup: ClassVar[type[AWSLookup]] = AWSLookup
    START_PARAM_FILTER: ClassVar[set[str]] = set()
    """The ``aws_resource`` keys passed to the create call; with ``CREATE_OPERATION`` set, other keys are refused."""
    CREATE_OPERATION: ClassVar[str | None] = None
    """The API call (botocore's name, ``RunInstances``) whose parameters ``aws_resource`` holds, checked offline
    against AWS's model; ``None`` for a flavor that declares none (nothing is checked)."""
    CUSTOM_CONFIG_KEYS: ClassVar[frozenset[str] | None] = None
    """The ``custom_config`` keys the flavor reads; ``None`` accepts any."""
    STATE_SHAPE: ClassVar[tuple[str, str] | None] = None
    """The service and model shape of the described resource (``("ec2", "Instance")``): ``$inherit$`` paths into a
    particle of this flavor are checked against it."""
    EXTRA_STATE_FIELDS: ClassVar[frozenset[str]] = frozenset()
    """Top-level keys the flavor adds to its current state definition beside ``STATE_SHAPE``'s fields."""
    adoption_allowed: bool = True
    """May ``custom_config.adopt`` take over a foreign resource (``pcf.util.aws.ownership``)? The control plane's
    steps switch it off: only library mode (and ``pcf run --engine direct``) adopts."""

    def __init__(
        self,
        particle_definition: Mapping[str, Any],
        resource_name: str | None = None,
        arn: str | None = None,
        session: boto3.Session | None = None,
        client_factory: ClientFactory | None = None,
    ) -> None:
        super().__init__(particle_definition)
        aws_resource = self.normalized_definition.get("aws_resource")
        if aws_resource is None:
            raise DefinitionError("aws_resource", f"is required for {type(self).__name__}")
        self.resource_name = resource_name
        self._arn = arn
        self.adopting: str | None = None  # a foreign resource found with custom_config.adopt, not retagged yet
        self.adopted: str | None = None  # the resource this particle retagged as ours (adopted), if any
        self.desired_state_definition = aws_resource
        self.custom_config = aws_resource.setdefault("custom_config", {})
        if client_factory is None and session is not None:
            client_factory = ClientFactory(session)
        self._client_factory = client_factory
        self.inherit_references()
        check_aws_resource(type(self), resource_name, aws_resource, f"{self.pcf_id}.aws_resource")

    def _check_definition(self) -> None:
        """The flavor's own offline checks of its definition, run at the end of its constructor (before any AWS
        call); ``InvalidConfigException(field, reason)`` on the first problem. None by default."""

    @property
    def client_factory(self) -> ClientFactory:
        return self._client_factory or get_default_factory()

    @client_factory.setter
    def client_factory(self, factory: ClientFactory) -> None:
        self._client_factory = factory

    @property
    def region_name(self) -> str:
        return self.desired_state_definition.get("region_name") or self.client_factory.region_name

    @property
    def client(self) -> Any:
        """The boto3 client of this particle's service and region."""
        if not self.resource_name:
            raise TypeError(f"{type(self).__name__} has no resource_name (the boto3 service name)")
        return self.client_factory.client(self.resource_name, self.region_name)

    @property
    def resource(self) -> Any:
        """The boto3 resource of this particle's service and region (the original's ``resource``); ``None`` for a
        service boto3 has no resource interface for."""
        try:
            return self._get_resource(None, region_name=self.region_name)
        except ResourceNotExistsError:
            return None

    def _get_client(self, session: boto3.Session | None, **kwargs: Any) -> Any:
        return (session or self.client_factory.session).client(self.resource_name, **kwargs)

    def _get_resource(self, session: boto3.Session | None, **kwargs: Any) -> Any:
        return (session or self.client_factory.session).resource(self.resource_name, **kwargs)

    def get_region(self) -> str:
        return self.region_name

    def set_region(self, session: boto3.Session | None = None, region_name: str | None = None) -> None:
        """Move the particle to another region (and session)."""
        if region_name:
            self.desired_state_definition["region_name"] = region_name
        if session is not None:
            self._client_factory = ClientFactory(session)

    @property
    def arn(self) -> str:
        """The resource's ARN, found on first use."""
        if not self._arn:
            self._arn = self._get_arn()
        return self._arn

    def _get_arn(self) -> str:
        raise NotImplementedError(f"{type(self).__name__} must implement _get_arn()")

    def _owned(self, found: Sequence[T], *, resource_id: Callable[[T], str], tags: Callable[[T], Any]) -> list[T]:
        """Of the resources found by this particle's name, those the flavor may pick from: ours (tagged with this
        deployment); or, with ``custom_config.adopt``, the one foreign resource, remembered in ``adopting``
        until ``_claim()`` retags it. ``ForeignResourceError`` when only foreign ones exist (see
        ``pcf.util.aws.ownership``): a foreign resource is never changed nor taken for a missing one."""
        requested = ownership.adopt_requested(self.custom_config)
        hint = ownership.CONTROL_PLANE_HINT if requested and not self.adoption_allowed else ownership.ADOPT_HINT
        ours, adoptable = ownership.choose_owned(
            self.pcf_id, found, resource_id=resource_id, tags=tags, adopt=requested and self.adoption_allowed,
            hint=hint,
        )
        self.adopting = None if adoptable is None else resource_id(adoptable)
        return ours if adoptable is None else [adoptable]

    def _claim(self) -> None:
        """Before a transition changes an ``adopting`` resource: retag it with this deployment (EC2
        ``create_tags``; instances and volumes), so it is ours from now on."""
        if self.adopting is None:
            return
        resource_id, self.adopting = self.adopting, None
        try:
            ownership.claim(self.client, resource_id)
        except ClientError as error:
            raise TransitionError(self.pcf_id, f"adopting {resource_id} (create_tags) failed: {error}") from error
        logger.warning("%s: adopted %s (retagged %s)", self.pcf_id, resource_id, ownership.DEPLOYMENT_TAG)
        self.adopted = resource_id

    def get_label(self) -> str:
        return self.get_identifier()

    def get_identifier(self) -> str:
        return self.arn

    def prepare(self) -> None:
        """Resolve ``$lookup$`` references before any transition."""
        self.id_replace()

    def id_replace(self) -> None:
        """Replace every ``$lookup$`` value with the id found by name in this particle's region."""
        if not hasattr(self, "_lookup_refs"):
            self._lookup_refs = [
                (path, ref)
                for path, ref in find_references(self.desired_state_definition)
                if isinstance(ref, LookupRef)
            ]
        if not self._lookup_refs:
            return
        finder = self.lookup(self.client_factory, self.region_name)
        for path, ref in self._lookup_refs:
            value = finder.get_id(ref.kind, list(ref.names), field=f"{self.pcf_id}.aws_resource.{dotted(path)}")
            pcf_util.set_path(self.desired_state_definition, path, value)
        if any(path[:1] == ("custom_config",) for path, _ref in self._lookup_refs):
            self._set_unique_keys()  # a looked-up name (``$lookup$instance_name$``) is the resource's identity
