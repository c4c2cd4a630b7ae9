"""From an AWS API call to the IAM requests AWS authorizes for it (the Service Authorization Reference).

``requests_for(service, operation, params, ...)`` answers every request that must be allowed for the call to
succeed: the action on each resource ARN the call touches, with the condition keys it brings
(``aws:ResourceTag/*`` of an existing instance or volume, ``aws:RequestTag/*`` and ``aws:TagKeys`` of tags
being set, ``ec2:CreateAction`` of tag-on-create, ``iam:PassedToService``, ``kms:ViaService``). What AWS checks
that is not the API's own action is here too: each item of ``TransactWriteItems`` is its own action (there is
no ``dynamodb:TransactWriteItems`` action), ``RunInstances`` also needs ``ec2:CreateTags`` on the new instance
when tags are requested, ``iam:PassRole`` of the instance profile's role, and the KMS key's actions for an
encrypted volume. A call of an operation not mapped here raises :class:`UnmappedOperation`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol

from pcf_local_cloud.iam_evaluator import AuthRequest

Context = dict[str, str | Sequence[str]]


class UnmappedOperation(Exception):
    """An operation this mapping does not know (``service:Operation``): add it here."""


class ResourceFacts(Protocol):
    """What the mapping must know of existing resources."""

    def tags(self, arn: str) -> Mapping[str, str] | None:
        """The tags of an existing EC2 resource, ``None`` if it is unknown."""
        ...

    def instance_profile_roles(self, profile: str) -> list[str]:
        """The role ARNs of an instance profile given by name or ARN."""
        ...

    def association_instance(self, association_id: str) -> str | None:
        """The instance id of an IAM instance profile association."""
        ...


class Call:
    """One call being mapped: where it goes and what it names."""

    def __init__(self, service: str, operation: str, params: Mapping[str, Any], region: str, account: str,
                 facts: ResourceFacts) -> None:
        self.service, self.operation, self.params = service, operation, params
        self.region, self.account, self.facts = region, account, facts

    def arn(self, service: str, resource: str, *, region: bool = True, account: bool = True) -> str:
        return (f"arn:aws:{service}:{self.region if region else ''}:{self.account if account else ''}:"
                f"{resource}")


Mapper = Callable[[Call], list[AuthRequest]]


def requests_for(service: str, operation: str, params: Mapping[str, Any], *, region: str, account: str,
                 facts: ResourceFacts) -> list[AuthRequest]:
    """The IAM requests the call needs allowed (see the module docstring)."""
    mapper = _MAPPERS.get((service, operation))
    if mapper is None:
        if service == "ec2" and operation.startswith("Describe"):
            mapper = _anywhere(f"ec2:{operation}")
        else:
            raise UnmappedOperation(f"{service}:{operation}")
    return mapper(Call(service, operation, params, region, account, facts))


# -- helpers ------------------------------------------------------------------------------------------------
def _anywhere(action: str) -> Mapper:
    """An action with no resource-level permissions: ``Resource: "*"``."""
    return lambda call: [AuthRequest(action, "*")]


def _none(call: Call) -> list[AuthRequest]:
    return []


def _resource_tags(call: Call, arn: str) -> Context:
    return {f"aws:ResourceTag/{key}": value for key, value in (call.facts.tags(arn) or {}).items()}


def _request_tags(tags: Iterable[Mapping[str, str]]) -> Context:
    listed = list(tags)
    context: Context = {f"aws:RequestTag/{tag['Key']}": tag.get("Value", "") for tag in listed}
    if listed:
        context["aws:TagKeys"] = [tag["Key"] for tag in listed]
    return context


def _spec_tags(params: Mapping[str, Any], resource_type: str) -> list[Mapping[str, str]]:
    return [tag for spec in params.get("TagSpecifications") or [] if spec.get("ResourceType") == resource_type
            for tag in spec.get("Tags") or []]


# -- DynamoDB -----------------------------------------------------------------------------------------------
def _table(call: Call, name: str) -> str:
    return name if name.startswith("arn:") else call.arn("dynamodb", f"table/{name}")


def _on_table(action: str) -> Mapper:
    def requests(call: Call) -> list[AuthRequest]:
        table = _table(call, call.params["TableName"])
        index = call.params.get("IndexName")
        return [AuthRequest(action, f"{table}/index/{index}" if index else table)]

    return requests


def _per_table(action: str, key: str) -> Mapper:
    """``BatchGetItem``/``BatchWriteItem``: their own action, on each table named."""
    return lambda call: [AuthRequest(action, _table(call, name)) for name in call.params.get(key) or {}]


_TRANSACT_ACTIONS = {"Put": "dynamodb:PutItem", "Update": "dynamodb:UpdateItem", "Delete": "dynamodb:DeleteItem",
                     "ConditionCheck": "dynamodb:ConditionCheckItem", "Get": "dynamodb:GetItem"}


def _transaction(call: Call) -> list[AuthRequest]:
    """Each item's own action on its table (AWS has no action for the transaction itself)."""
    requests = []
    for item in call.params.get("TransactItems") or []:
        for kind, body in item.items():
            requests.append(AuthRequest(_TRANSACT_ACTIONS[kind], _table(call, body["TableName"])))
    return requests


# -- EC2 ------------------------------------------------------------------------------------------------------
_EC2_PREFIXES = {"i-": "instance", "vol-": "volume", "sg-": "security-group", "subnet-": "subnet",
                 "snap-": "snapshot", "ami-": "image", "eni-": "network-interface"}
_GLOBAL_EC2 = {"image", "snapshot"}
"""Resource types whose ARN has no account (public images and snapshots are named without one)."""


def _ec2_arn(call: Call, resource_id: str) -> str:
    kind = next((kind for prefix, kind in _EC2_PREFIXES.items() if resource_id.startswith(prefix)), "resource")
    return call.arn("ec2", f"{kind}/{resource_id}", account=kind not in _GLOBAL_EC2)


def _existing(call: Call, action: str, resource_id: str, extra: Context | None = None) -> AuthRequest:
    arn = _ec2_arn(call, resource_id)
    return AuthRequest(action, arn, {**_resource_tags(call, arn), **(extra or {})})


def _on_instances(action: str) -> Mapper:
    def requests(call: Call) -> list[AuthRequest]:
        ids = call.params.get("InstanceIds") or [call.params["InstanceId"]]
        return [_existing(call, action, instance_id) for instance_id in ids]

    return requests


def _modify_instance_attribute(call: Call) -> list[AuthRequest]:
    requests = [_existing(call, "ec2:ModifyInstanceAttribute", call.params["InstanceId"])]
    requests += [AuthRequest("ec2:ModifyInstanceAttribute", _ec2_arn(call, group))
                 for group in call.params.get("Groups") or []]
    return requests


def _on_volume(action: str, *, with_instance: bool = False) -> Mapper:
    def requests(call: Call) -> list[AuthRequest]:
        found = [_existing(call, action, call.params["VolumeId"])]
        if with_instance and call.params.get("InstanceId"):
            found.append(_existing(call, action, call.params["InstanceId"]))
        return found

    return requests


def _tags(action: str) -> Mapper:
    """``CreateTags``/``DeleteTags`` on existing resources (no ``ec2:CreateAction``: not part of a create)."""
    def requests(call: Call) -> list[AuthRequest]:
        tags = call.params.get("Tags") or []
        context = _request_tags(tags) if action == "ec2:CreateTags" else (
            {"aws:TagKeys": [tag["Key"] for tag in tags]} if tags else {})
        return [_existing(call, action, resource_id, context) for resource_id in call.params.get("Resources") or []]

    return requests


def _pass_role(call: Call, profile: Mapping[str, str] | None) -> list[AuthRequest]:
    if not profile:
        return []
    roles = call.facts.instance_profile_roles(profile.get("Arn") or profile.get("Name") or "")
    return [AuthRequest("iam:PassRole", role, {"iam:PassedToService": "ec2.amazonaws.com"}) for role in roles]


_EBS_KEY_ACTIONS = ("kms:CreateGrant", "kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKeyWithoutPlaintext",
                    "kms:ReEncryptFrom", "kms:ReEncryptTo")
"""What EBS needs of a customer-managed key (Amazon EBS User Guide, "Requirements for Amazon EBS encryption")."""


def _kms_key(call: Call, key: str | None) -> list[AuthRequest]:
    """The key's actions, made by EC2 on the caller's behalf (``kms:ViaService``); grants for AWS resources."""
    if not key:
        return []
    arn = key if key.startswith("arn:") else call.arn("kms", key if key.startswith("alias/") else f"key/{key}")
    context: Context = {"kms:ViaService": f"ec2.{call.region}.amazonaws.com", "kms:GrantIsForAWSResource": "true"}
    return [AuthRequest(action, arn, context) for action in _EBS_KEY_ACTIONS]


def _tag_on_create(call: Call, create_action: str, kinds: Sequence[str]) -> list[AuthRequest]:
    """``ec2:CreateTags`` on each new resource whose tags the create call sets."""
    found = []
    for kind in kinds:
        tags = _spec_tags(call.params, kind)
        if tags:
            found.append(AuthRequest("ec2:CreateTags", call.arn("ec2", f"{kind}/*"),
                                     {"ec2:CreateAction": create_action, **_request_tags(tags)}))
    return found


def _run_instances(call: Call) -> list[AuthRequest]:
    params = call.params
    action = "ec2:RunInstances"
    found = [
        AuthRequest(action, call.arn("ec2", "instance/*"), _request_tags(_spec_tags(params, "instance"))),
        AuthRequest(action, call.arn("ec2", "volume/*"), _request_tags(_spec_tags(params, "volume"))),
        AuthRequest(action, call.arn("ec2", "network-interface/*")),
        AuthRequest(action, call.arn("ec2", f"image/{params['ImageId']}", account=False)),
    ]
    if params.get("SubnetId"):
        found.append(AuthRequest(action, _ec2_arn(call, params["SubnetId"])))
    found += [AuthRequest(action, _ec2_arn(call, group)) for group in params.get("SecurityGroupIds") or []]
    if params.get("KeyName"):
        found.append(AuthRequest(action, call.arn("ec2", f"key-pair/{params['KeyName']}")))
    found += _tag_on_create(call, "RunInstances", ("instance", "volume"))
    found += _pass_role(call, params.get("IamInstanceProfile"))
    for mapping in params.get("BlockDeviceMappings") or []:
        found += _kms_key(call, (mapping.get("Ebs") or {}).get("KmsKeyId"))
    return found


def _create_volume(call: Call) -> list[AuthRequest]:
    params = call.params
    found = [AuthRequest("ec2:CreateVolume", call.arn("ec2", "volume/*"), _request_tags(_spec_tags(params, "volume")))]
    if params.get("SnapshotId"):
        found.append(AuthRequest("ec2:CreateVolume", _ec2_arn(call, params["SnapshotId"])))
    return found + _tag_on_create(call, "CreateVolume", ("volume",)) + _kms_key(call, params.get("KmsKeyId"))


def _associate_profile(call: Call) -> list[AuthRequest]:
    found = [_existing(call, "ec2:AssociateIamInstanceProfile", call.params["InstanceId"])]
    return found + _pass_role(call, call.params.get("IamInstanceProfile"))


def _replace_profile(call: Call) -> list[AuthRequest]:
    instance_id = call.facts.association_instance(call.params["AssociationId"])
    action = "ec2:ReplaceIamInstanceProfileAssociation"
    if instance_id is None:  # an unknown association: EC2 refuses the call itself
        return [AuthRequest(action, call.arn("ec2", "instance/*"))]
    return [_existing(call, action, instance_id), *_pass_role(call, call.params.get("IamInstanceProfile"))]


# -- Step Functions, Lambda, IAM, and the rest -----------------------------------------------------------------
def _named_arn(action: str, key: str) -> Mapper:
    return lambda call: [AuthRequest(action, call.params[key])]


def _executions_listing(call: Call) -> list[AuthRequest]:
    """``states:ListExecutions`` on the state machine, or on the map run whose children are listed."""
    return [AuthRequest("states:ListExecutions", call.params.get("stateMachineArn") or call.params["mapRunArn"])]


def _function(call: Call) -> list[AuthRequest]:
    """``lambda:InvokeFunction`` on the function's unqualified ARN (a name, partial ARN or full ARN, maybe with
    a version or alias)."""
    name = call.params["FunctionName"]
    if name.startswith("arn:"):
        parts = name.split(":")
        arn = ":".join(parts[:7])
    else:
        parts = name.split(":")
        base = parts[2] if len(parts) >= 3 and parts[1] == "function" else parts[0]
        arn = call.arn("lambda", f"function:{base}")
    return [AuthRequest(f"lambda:{'InvokeFunction' if call.operation == 'Invoke' else call.operation}", arn)]


def _iam(action: str, kind: str, key: str) -> Mapper:
    return lambda call: [AuthRequest(action, f"arn:aws:iam::{call.account}:{kind}/{call.params[key]}")]


def _queue(action: str) -> Mapper:
    def requests(call: Call) -> list[AuthRequest]:
        url = call.params.get("QueueUrl") or ""
        name = call.params.get("QueueName") or url.rstrip("/").rsplit("/", 1)[-1]
        return [AuthRequest(action, call.arn("sqs", name))]

    return requests


def _log_group(action: str) -> Mapper:
    def requests(call: Call) -> list[AuthRequest]:
        group = call.arn("logs", f"log-group:{call.params['logGroupName']}")
        stream = call.params.get("logStreamName")
        return [AuthRequest(action, f"{group}:log-stream:{stream}" if stream else f"{group}:*")]

    return requests


_MAPPERS: dict[tuple[str, str], Mapper] = {
    **{("dynamodb", operation): _on_table(f"dynamodb:{operation}") for operation in (
        "GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan", "DescribeTable", "DescribeTimeToLive")},
    ("dynamodb", "BatchGetItem"): _per_table("dynamodb:BatchGetItem", "RequestItems"),
    ("dynamodb", "BatchWriteItem"): _per_table("dynamodb:BatchWriteItem", "RequestItems"),
    ("dynamodb", "TransactWriteItems"): _transaction,
    ("dynamodb", "TransactGetItems"): _transaction,
    **{("ec2", operation): _on_instances(f"ec2:{operation}") for operation in (
        "StartInstances", "StopInstances", "TerminateInstances", "RebootInstances", "DescribeInstanceAttribute")},
    ("ec2", "ModifyInstanceAttribute"): _modify_instance_attribute,
    ("ec2", "AttachVolume"): _on_volume("ec2:AttachVolume", with_instance=True),
    ("ec2", "DetachVolume"): _on_volume("ec2:DetachVolume", with_instance=True),
    ("ec2", "ModifyVolume"): _on_volume("ec2:ModifyVolume"),
    ("ec2", "DeleteVolume"): _on_volume("ec2:DeleteVolume"),
    ("ec2", "CreateTags"): _tags("ec2:CreateTags"),
    ("ec2", "DeleteTags"): _tags("ec2:DeleteTags"),
    ("ec2", "RunInstances"): _run_instances,
    ("ec2", "CreateVolume"): _create_volume,
    ("ec2", "AssociateIamInstanceProfile"): _associate_profile,
    ("ec2", "ReplaceIamInstanceProfileAssociation"): _replace_profile,
    **{("stepfunctions", operation): _named_arn(f"states:{operation}", "stateMachineArn") for operation in (
        "StartExecution", "StartSyncExecution", "DescribeStateMachine")},
    ("stepfunctions", "ListExecutions"): _executions_listing,
    **{("stepfunctions", operation): _named_arn(f"states:{operation}", "executionArn") for operation in (
        "DescribeExecution", "StopExecution", "GetExecutionHistory")},
    **{("stepfunctions", operation): _anywhere(f"states:{operation}") for operation in (
        "SendTaskSuccess", "SendTaskFailure", "SendTaskHeartbeat", "ListStateMachines")},
    ("lambda", "Invoke"): _function,
    ("lambda", "GetFunction"): _function,
    ("lambda", "ListFunctions"): _anywhere("lambda:ListFunctions"),
    ("iam", "GetInstanceProfile"): _iam("iam:GetInstanceProfile", "instance-profile", "InstanceProfileName"),
    ("iam", "GetRole"): _iam("iam:GetRole", "role", "RoleName"),
    ("sts", "GetCallerIdentity"): _none,
    **{("sqs", operation): _queue(f"sqs:{operation}") for operation in (
        "SendMessage", "ReceiveMessage", "DeleteMessage", "GetQueueAttributes", "GetQueueUrl")},
    ("logs", "CreateLogGroup"): _log_group("logs:CreateLogGroup"),
    ("logs", "CreateLogStream"): _log_group("logs:CreateLogStream"),
    ("logs", "PutLogEvents"): _log_group("logs:PutLogEvents"),
    ("events", "PutEvents"): _anywhere("events:PutEvents"),
    ("cloudwatch", "PutMetricData"): _anywhere("cloudwatch:PutMetricData"),
}
