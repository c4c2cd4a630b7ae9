"""IAM in the local cloud: every AWS call a Lambda function or a state machine makes runs under its role.

On AWS a function's calls are signed with its execution role's credentials, and a state machine's service
integrations (Lambda tasks, ``.sync`` child executions, ``aws-sdk:*``) with the machine's role; an action the
role's policies do not allow is refused (``AccessDeniedException``, EC2's ``UnauthorizedOperation``). moto
evaluates none of that, so here:

- the *principal* of a call is the role of the Lambda function whose handler is running in this thread (set
  around each in-process invocation, from the function's configured ``Role``), or, for a client Step Functions
  creates for a state, the role its ``StateCredentials`` name (the machine's role);
- before every call (botocore's ``before-call``), the call is mapped to the IAM requests AWS authorizes
  (:mod:`pcf_local_cloud.iam_requests`: per-item actions of a transaction, request and resource tags, PassRole
  of an instance profile's role, KMS keys) and each is evaluated against the role's policies as stored in the
  local IAM (:mod:`pcf_local_cloud.iam_evaluator`); the first refused one answers the call with the error AWS
  returns, and the request never reaches moto;
- a call no principal makes (a test, the CLI: the account's administrator) is not checked.

A call the mapping does not know is refused too (a developer adds the operation to the mapping): the local cloud
never lets through what it cannot judge. Threads a handler starts itself must carry its context
(``contextvars.copy_context().run``), or their calls would pass unchecked.
"""

from __future__ import annotations

import contextvars
import json
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from botocore.awsrequest import AWSResponse
from moto.core import DEFAULT_ACCOUNT_ID

from pcf_local_cloud.iam_evaluator import AuthRequest, Decision, evaluate
from pcf_local_cloud.iam_requests import UnmappedOperation, requests_for
from pcf_local_cloud.moto_private import register_in_every_session, state_role_arn

ACCOUNT_HEADER = "x-moto-account-id"
_PARAMS_KEY = "pcf_iam_params"
_ROLE_KEY = "pcf_iam_role"
_principal: contextvars.ContextVar[str | None] = contextvars.ContextVar("pcf_iam_principal", default=None)
_enforcing: list[IamEnforcement] = []
"""The installed enforcement (at most one; the hooks below are registered once per process and read it)."""

_ERRORS: Mapping[str, tuple[str, int]] = {
    "ec2": ("UnauthorizedOperation", 403),
    "iam": ("AccessDenied", 403),
    "sts": ("AccessDenied", 403),
    "sqs": ("AccessDenied", 403),
    "lambda": ("AccessDeniedException", 403),
}
"""Service -> the error code and HTTP status AWS answers a refused call with (else ``AccessDeniedException``,
400, as DynamoDB, Step Functions, KMS, CloudWatch Logs and EventBridge do)."""


@dataclass(frozen=True)
class Refusal:
    """A refused call: the principal, the request refused and why."""

    role_arn: str
    request: AuthRequest
    decision: Decision

    def message(self) -> str:
        """AWS's wording: ``User: <assumed role> is not authorized to perform: <action> on resource: <arn> ...``."""
        role = self.role_arn.rsplit("/", 1)[-1]
        account = self.role_arn.split(":")[4]
        return (f"User: arn:aws:sts::{account}:assumed-role/{role}/pcf-local is not authorized to perform: "
                f"{self.request.action} on resource: {self.request.resource} because {self.decision.reason}")


@contextmanager
def acting_as(role_arn: str | None) -> Iterator[None]:
    """Make ``role_arn`` the principal of this thread's AWS calls inside the block (``None``: unchecked)."""
    token = _principal.set(role_arn)
    try:
        yield
    finally:
        _principal.reset(token)


def current_principal() -> str | None:
    """The role this thread's calls run under, if any."""
    return _principal.get()


class MotoFacts:
    """What the request mapping needs to know of existing resources, read from moto's backends."""

    def __init__(self, account: str, region: str) -> None:
        self.account, self.region = account, region

    def tags(self, arn: str) -> Mapping[str, str] | None:
        from moto.ec2.models import ec2_backends

        resource_id = arn.rsplit("/", 1)[-1]
        tags = ec2_backends[self.account][self.region].tags.get(resource_id)
        return dict(tags) if tags is not None else None

    def instance_profile_roles(self, profile: str) -> list[str]:
        from moto.iam.models import iam_backends

        backend = iam_backends[self.account]["global"]
        try:
            found = (backend.get_instance_profile_by_arn(profile) if profile.startswith("arn:")
                     else backend.get_instance_profile(profile))
        except Exception:  # an unknown profile: EC2 refuses the call itself
            return []
        return [role.arn for role in found.roles]

    def association_instance(self, association_id: str) -> str | None:
        from moto.ec2.models import ec2_backends

        associations = ec2_backends[self.account][self.region].iam_instance_profile_associations.values()
        return next((a.instance.id for a in associations if a.association_id == association_id and a.instance),
                    None)


def role_policies(role_arn: str) -> list[dict[str, Any]]:
    """The policy documents of ``role_arn`` in the local IAM: inline, then attached managed (default version).
    An unknown role has none (everything is refused, as for a deleted role on AWS)."""
    from moto.iam.models import iam_backends

    account = role_arn.split(":")[4]
    try:
        role = iam_backends[account]["global"].get_role_by_arn(role_arn)
    except Exception:
        return []
    documents = [_document(text) for text in role.policies.values()]
    for policy in role.managed_policies.values():
        version = next((v for v in policy.versions if v.version_id == policy.default_version_id), None)
        if version is not None:
            documents.append(_document(version.document))
    return documents


def _document(text: Any) -> dict[str, Any]:
    return json.loads(text) if isinstance(text, str) else dict(text)


class IamEnforcement:
    """Checks every call made under a principal (see the module docstring); ``refusals`` lists what it refused,
    ``checked`` counts the calls checked per role ARN."""

    def __init__(self, policies: Callable[[str], list[dict[str, Any]]] = role_policies) -> None:
        self.policies = policies
        self.refusals: list[Refusal] = []
        self.checked: Counter[str] = Counter()

    def install(self) -> None:
        """Check calls from now on. Each Lambda invocation runs under its function's role through
        ``LambdaDispatch(run_as=acting_as)``; :func:`bind_state_role` gives a Step Functions state's client its
        machine's role."""
        register_in_every_session(_HOOKS)
        _enforcing.append(self)

    def check(self, service: str, operation: str, params: Mapping[str, Any], *, role_arn: str, region: str,
              account: str) -> Refusal | None:
        """The first of the call's IAM requests ``role_arn`` may not make, or ``None``."""
        self.checked[role_arn] += 1
        try:
            requests = requests_for(service, operation, params, region=region, account=account,
                                    facts=MotoFacts(account, region))
        except UnmappedOperation as unmapped:
            request = AuthRequest(action=str(unmapped), resource="*")
            return self._refuse(role_arn, request, Decision(False, "the local cloud has no IAM mapping for "
                                                                  f"{unmapped} (add it to iam_requests)"))
        policies = self.policies(role_arn)
        for request in requests:
            decision = evaluate(policies, request)
            if not decision.allowed:
                return self._refuse(role_arn, request, decision)
        return None

    def _refuse(self, role_arn: str, request: AuthRequest, decision: Decision) -> Refusal:
        refusal = Refusal(role_arn, request, decision)
        self.refusals.append(refusal)
        return refusal

    def uninstall(self) -> None:
        """Stop checking (the hooks stay registered and do nothing)."""
        if self in _enforcing:
            _enforcing.remove(self)


def active() -> IamEnforcement | None:
    """The installed enforcement, if any."""
    return _enforcing[-1] if _enforcing else None


# -- botocore hooks -----------------------------------------------------------------------------------------
def _remember_params(params: Mapping[str, Any], context: dict[str, Any], **_: Any) -> None:
    context[_PARAMS_KEY] = params


def _check_call(model: Any, params: Mapping[str, Any], context: dict[str, Any], **_: Any) -> Any:
    enforcement = active()
    role_arn = context.get(_ROLE_KEY) or _principal.get()
    if enforcement is None or role_arn is None:
        return None
    service = model.service_model.service_name
    headers = params.get("headers") or {}
    account = headers.get(ACCOUNT_HEADER) or DEFAULT_ACCOUNT_ID
    region = context.get("client_region") or "us-east-1"
    refusal = enforcement.check(service, model.name, context.get(_PARAMS_KEY) or {}, role_arn=role_arn,
                                region=region, account=account)
    return None if refusal is None else _error_response(service, refusal)


def _error_response(service: str, refusal: Refusal) -> tuple[AWSResponse, dict[str, Any]]:
    code, status = _ERRORS.get(service, ("AccessDeniedException", 400))
    parsed = {"Error": {"Code": code, "Message": refusal.message()},
              "ResponseMetadata": {"HTTPStatusCode": status, "RequestId": "pcf-local-iam"}}
    return AWSResponse("https://local-iam.invalid/", status, {}, None), parsed


_HOOKS = (("before-parameter-build", _remember_params), ("before-call", _check_call))


def bind_state_role(client: Any, state_credentials: Any) -> None:
    """A client moto's Step Functions interpreter made for a state calls under the role of the state's
    credentials (the machine's role), through a ``before-parameter-build`` handler on that client."""
    role_arn = state_role_arn(state_credentials)
    if role_arn:
        def bind(context: dict[str, Any], **_: Any) -> None:
            context[_ROLE_KEY] = role_arn

        client.meta.events.register_first("before-parameter-build", bind)
