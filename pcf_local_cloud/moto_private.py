"""Every private moto (and botocore) name the local cloud replaces or reads, and why no public route exists.

Everything else the local cloud changes goes through moto's public backends and response handlers, its
configuration (``mock_aws(config=...)``) or botocore's event system. The hooks here are what neither offers:
each is listed in :data:`HOOKS` with the reason, the original's signature and, where the hook depends on what a
moto function does (not only on its name), a hash of that function's source. ``tests/local_cloud/
test_moto_private_hooks.py`` checks all of it against the installed moto and fails, naming the version and the
hook, when moto changed under one: upgrade moto only with that test green.
"""

from __future__ import annotations

import copy
import functools
import inspect
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore import endpoint as botocore_endpoint
from botocore import handlers as botocore_handlers
from botocore.exceptions import ClientError
from moto.awslambda.models import LambdaFunction
from moto.core.botocore_stubber import BotocoreStubber
from moto.core.models import botocore_stubber
from moto.dynamodb import models as dynamodb_models
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table
from moto.ec2.models.elastic_block_store import EBSBackend
from moto.ec2.models.instances import Instance, InstanceBackend, InstanceState
from moto.ec2.models.tags import TagBackend
from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import CustomErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.error_equals_decl import ErrorEqualsDecl
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import FailureEvent
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import StatesErrorNameType
from moto.stepfunctions.parser.asl.component.common.path import result_path as sfn_result_path
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from moto.stepfunctions.parser.asl.component.common.retry.retry_outcome import RetryOutcome
from moto.stepfunctions.parser.asl.component.common.timeouts.timeout import Timeout, TimeoutSeconds
from moto.stepfunctions.parser.asl.component.state.exec import execute_state
from moto.stepfunctions.parser.asl.component.state.exec.execute_state import ExecutionState
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import state_task_service_callback
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_callback import (
    StateTaskServiceCallback,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sfn import (
    StateTaskServiceSfn,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task_lambda import StateTaskLambda
from moto.stepfunctions.parser.asl.component.state.state import CommonStateField
from moto.stepfunctions.parser.asl.eval.callback import callback as sfn_callback
from moto.stepfunctions.parser.asl.eval.environment import Environment
from moto.stepfunctions.parser.asl.eval.program_state import ProgramEnded, ProgramError, ProgramStopped
from moto.stepfunctions.parser.asl.utils import boto_client
from moto.stepfunctions.parser.asl.utils import json_path as sfn_json_path
from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication

from pcf_local_cloud.patchset import PatchSet

RECORDED_MOTO = "5.2.5"
"""The moto version the signatures and hashes below were recorded on."""

_SFN = "moto.stepfunctions.parser.asl.component"
_MAP = f"{_SFN}.state.exec.state_map.iteration"
_CALLBACK = "moto.stepfunctions.parser.asl.eval.callback.callback"
_EXECUTE = f"{_SFN}.state.exec.execute_state"
_CALLBACK_TASK = f"{_SFN}.state.exec.state_task.service.state_task_service_callback.StateTaskServiceCallback"


@dataclass(frozen=True)
class PrivateHook:
    """One private attribute the local cloud replaces: its dotted name, why no public route exists, the
    original's signature (callables) and the source hashes of the moto functions whose body it relies on."""

    target: str
    why: str
    signature: str | None = None
    relies_on: Mapping[str, str] = field(default_factory=dict)
    replaced: bool = True
    """``False`` for a private attribute only read, never replaced."""


HOOKS: tuple[PrivateHook, ...] = (
    PrivateHook(
        "moto.awslambda.models.LambdaFunction._invoke_lambda",
        "moto runs a function's code only in Docker and offers no runtime hook; this is the one method every "
        "invocation path (Invoke, Step Functions tasks, event sources) ends in.",
        "(self, event: 'str | None' = None) -> 'tuple[str, bool, str]'",
    ),
    PrivateHook(
        "moto.ec2.models.instances.Instance._state",
        "moto keeps an instance's state in this attribute and every reader (responses, filters, its own "
        "checks) reads it directly: a timed phase can only be shown by making it a property.",
        relies_on={"moto.ec2.models.instances.Instance.__init__":
                   "4b6a3d3c0bf602a083f2e57ce61e45797fc4efa9cfdf657f43d56e0267d4b486",
                   "moto.ec2.models.instances.Instance.state":
                   "16a3ff6e5b627c4d81cf1b5cbbe4c84e26fd50317920b6f3c58c9c0de590df90"},
    ),
    PrivateHook(
        "moto.stepfunctions.parser.asl.utils.boto_client.boto_client_for",
        "the clients moto's interpreter makes for a state all carry the same fake keys, so neither a botocore "
        "session hook nor IAM can tell whose they are; wrapping the factory (a module global, also in every "
        "module that imported it) is the only place that sees the state's credentials.",
        "(region: str, service: str, state_credentials: Any = None) -> botocore.client.BaseClient",
    ),
    PrivateHook(
        f"{_SFN}.common.retry.retrier_decl.time",
        "moto sleeps between Retry attempts with the time module's sleep and has no setting for it: the module "
        "global is replaced so the wait runs on the cloud's clock.",
        relies_on={f"{_SFN}.common.retry.retrier_decl.RetrierDecl._eval_body":
                   "48463fff19cefa98cfb054311706ba47abfe813da0e65ce1a6376a9101f35f09"},
    ),
    PrivateHook(
        "botocore.endpoint.time",
        "botocore sleeps between a client's retries with the time module's sleep inside the endpoint; the "
        "needs-retry event only returns the delay, it cannot wait on another clock.",
        relies_on={"botocore.endpoint.Endpoint._needs_retry":
                   "9621767a04c7931a6766eaf3757c38169e35a9fa1bcf806909ab7030aeaa6715"},
    ),
    PrivateHook(
        f"{_SFN}.state.exec.state_task.service.state_task_service_callback.time",
        "moto polls a .sync child every 0.5 s of real time with the time module's sleep; the module global is "
        "replaced so the wait ends when an execution ends.",
        relies_on={f"{_SFN}.state.exec.state_task.service.state_task_service_callback.StateTaskServiceCallback"
                   "._eval_sync":
                   "b8f76de4d5142da1f92581bf7be77d96d3c3880d11b528d9594f0705f6dddd5e"},
    ),
    *(PrivateHook(
        f"{_SFN}.state.exec.state_task.service.state_task_service_sfn.StateTaskServiceSfn.{builder}",
        "moto follows a .sync child with a client it makes in this method (not in the resolver it returns) and "
        "nowhere else; the client factory cannot tell it from the client a Task's own call uses, so the method "
        "is wrapped to mark the clients made while it runs.",
        relies_on={f"{_SFN}.state.exec.state_task.service.state_task_service_sfn.StateTaskServiceSfn.{builder}":
                   digest},
    ) for builder, digest in (
        ("_build_sync_resolver", "0a833c2f9a9ce0aa1e4e447d0b8541ff284898214428b76ba5b947b9a28fe411"),
        ("_build_sync2_resolver", "fbbf50b684b90a7eecbd99f98eca558b98555a381dc0d6715d2b348a619378a3"))),
    PrivateHook(
        f"{_SFN}.state.exec.state_task.service.state_task_service_sfn.StateTaskServiceSfn._normalise_response",
        "moto's own .sync polling reads the camelCase answer it gets from boto3, so the PascalCase answer AWS "
        "gives the state can only be made after moto is done with it, in this method.",
        "(self, response: 'Any', boto_service_name: 'str | None' = None, service_action_name: 'str | None' = None)"
        " -> 'None'",
    ),
    PrivateHook(
        f"{_SFN}.common.error_name.error_equals_decl.ErrorEqualsDecl._eval_body",
        "moto matches every error against States.ALL in this method; there is no setting for the errors AWS "
        "keeps terminal.",
        "(self, env: moto.stepfunctions.parser.asl.eval.environment.Environment) -> None",
    ),
    PrivateHook(
        f"{_SFN}.state.state.CommonStateField._eval_body",
        "the only place every state passes through on entry, where the history's size can be checked.",
        "(self, env: 'Environment') -> 'None'",
    ),
    PrivateHook(
        "moto.stepfunctions.parser.asl.eval.event.event_manager.EventManager._history_event_list",
        "read, not replaced: the history's length; the public get_event_history() deep-copies every event, "
        "at each state entered.",
        relies_on={"moto.stepfunctions.parser.asl.eval.event.event_manager.EventManager.__init__":
                   "90d4e9d275078afd8481c43cbd9af2ee6d74b81a229eaa4f3f228908c8b1a38d"},
        replaced=False,
    ),
    PrivateHook(
        "moto.core.responses.BaseResponse._get_param",
        "read, not replaced: a request parameter as moto parsed it, in the EC2 response handlers the "
        "ClientToken and EBS-event patches wrap (moto names no public accessor).",
        "(self, param_name: 'str', if_none: 'Any' = None) -> 'Any'",
        replaced=False,
    ),
    PrivateHook(
        "moto.stepfunctions.parser.backend.execution.BaseExecutionWorkerCommunication._reflect_execution_status",
        "moto publishes an ended execution's status before its output, in this method; the wrapper publishes "
        "the outcome first (as the original then writes it again) and signals the end.",
        "(self)",
        relies_on={"moto.stepfunctions.parser.backend.execution.BaseExecutionWorkerCommunication"
                   "._reflect_execution_status":
                   "038a396107afe59b6db55d26f755d9b8358762e53f7fa67c1a78fd09fdd5218a"},
    ),
    PrivateHook(
        "moto.core.botocore_stubber.BotocoreStubber.__call__",
        "botocore calls every before-send handler (emit, not emit_until_response) and uses the first answer, so "
        "moto carries out a request another handler already answered (a throttle) and its answer is dropped; "
        "and a request moto does not answer goes to the network. moto offers neither a way to skip a request "
        "nor one to refuse an unmatched one: the wrapper does both.",
        "(self, event_name: str, request: botocore.awsrequest.AWSPreparedRequest, **kwargs: Any) "
        "-> botocore.awsrequest.AWSResponse | None",
        relies_on={"moto.core.botocore_stubber.BotocoreStubber.__call__":
                   "6cbb7bf98afec5c81cf89526ad9e696a26fcda45f3a0cb86ca9922f8b94df8a5"},
    ),
    PrivateHook(
        "moto.dynamodb.responses.DynamoHandler.serialized",
        "moto serializes an answer by walking the output shape value by value (a fifth of the local cloud's CPU "
        "in answers carrying items) and offers no other serializer; ``dynamodb_answers`` writes the item-bearing "
        "answers as plain JSON from the result DynamoResult already made plain.",
        "(self, action_result: 'ActionResult') -> 'TYPE_RESPONSE'",
        relies_on={"moto.core.responses.BaseResponse.serialized":
                   "af486a0ef132716231d3a6484c32ae91a54b40fbc1d24fff01c78c813d251110",
                   "moto.dynamodb.responses.DynamoResult.__init__":
                   "e2394775cd5ef6ad00a9de7afdea2b54f753ea2dfcb11ecabe1acc80497cda35",
                   "moto.dynamodb.models.utilities.dynamo_to_dict":
                   "80f600124c13ddcb132c02448abeefffd2b43b353c7fcedaa2fa7ca67b3107c4"},
    ),
    PrivateHook(
        "moto.stepfunctions.parser.asl.utils.json_path.parse",
        "moto parses a JSONPath again each time a state reads one, and jsonpath-ng's parse builds PLY's parser "
        "tables every time (a sixth of the local cloud's CPU with 40 particles at once); no setting caches it. "
        "The replacement keeps each parsed path (jsonpath-ng's expressions are reused, not changed, by find).",
        "(path: 'str', debug: 'bool | None' = None) -> 'JSONPath'",
        relies_on={"moto.stepfunctions.parser.asl.utils.json_path.extract_json":
                   "932245247973780c72287b75597e70031472f0cd764f35a199100d8a195987a4"},
    ),
    PrivateHook(
        "moto.stepfunctions.parser.asl.component.common.path.result_path.parse",
        "the same for a state's ResultPath (update_or_create changes the data, not the expression)",
        "(string: 'str') -> 'JSONPath'",
        relies_on={"moto.stepfunctions.parser.asl.component.common.path.result_path.ResultPath._eval_body":
                   "a6d93b4e5a332fadf256032411a32a39e24fdbf8080462c6c037bfe11c195081"},
    ),
    PrivateHook(
        "botocore.handlers.BUILTIN_HANDLERS",
        "IAM must judge every client in the process (a handler's, moto's interpreter's), and botocore has no "
        "public hook for sessions not yet made: the hooks join botocore's list of built-in handlers.",
    ),
    # --- issue 13: local-cloud scale (E8) ---
    PrivateHook(
        "moto.dynamodb.models.table.Table.query",
        "moto answers every Query by sorting and scanning every item of the table (all_items); no setting or "
        "public hook gives it fewer items. The wrapper runs moto's own query on a view of the table holding only "
        "the candidates (whose all_items is moto's, over them); it reads Table.items, moto's item store.",
        relies_on={"moto.dynamodb.models.table.Table.query":
                   "002b4d00be6df07cf37f6cbe0132e5eb89455ae12a8e79b23db3fb492450f21e",
                   "moto.dynamodb.models.table.Table.all_items":
                   "c80d2ee3c896acd0cab6ca35aaeae3ab3fb65858933f8a3403d4e027c240f31d",
                   "moto.dynamodb.models.table.Table.__init__":
                   "a56181a75aa270051d49daeb6a1f55b3eba543e6f58b4391e46d24a7cf8bbc74"},
    ),
    PrivateHook(
        "moto.dynamodb.models.table.Table.put_item",
        "every item moto stores goes through this method (PutItem, BatchWriteItem, transactions, PartiQL, an "
        "UpdateItem that creates); the wrapper re-indexes the item it returns (Item.hash_key/range_key/attrs).",
        "(self, item_attrs: dict[str, typing.Any], expected: dict[str, typing.Any] | None = None, "
        "condition_expression: str | None = None, expression_attribute_names: dict[str, str] | None = None, "
        "expression_attribute_values: dict[str, typing.Any] | None = None, overwrite: bool = False, "
        "return_values_on_condition_check_failure: str | None = None) -> moto.dynamodb.models.dynamo_type.Item",
        relies_on={"moto.dynamodb.models.table.Table.put_item":
                   "de23933013ef842639046c19bcf7e418bce0474d810f6719368be4cedce11d47"},
    ),
    PrivateHook(
        "moto.dynamodb.models.table.Table.delete_item",
        "every item moto removes goes through this method (DeleteItem, BatchWriteItem, transactions, PartiQL); "
        "the wrapper drops the key from the indexes.",
        "(self, hash_key: moto.dynamodb.models.dynamo_type.DynamoType, "
        "range_key: moto.dynamodb.models.dynamo_type.DynamoType | None) -> "
        "moto.dynamodb.models.dynamo_type.Item | None",
    ),
    PrivateHook(
        "moto.dynamodb.models.DynamoDBBackend.update_item",
        "UpdateItem (alone or in a transaction) changes the stored item in place, so no put or delete shows it; "
        "the wrapper re-indexes the key it reads the way this method does.",
        relies_on={"moto.dynamodb.models.DynamoDBBackend.update_item":
                   "218984588dd689a5de81678ce11e6a40d05c91e7b6c21b44c4ed4122fe74aa9f"},
    ),
    PrivateHook(
        "moto.ec2.models.instances.InstanceBackend.get_reservations_by_instance_ids",
        "DescribeInstances with InstanceIds copies and scans every reservation (all_reservations); the wrapper "
        "runs moto's own method on a view of the backend holding only the reservations of those ids (it reads "
        "InstanceBackend.reservations and Reservation.instances).",
        relies_on={"moto.ec2.models.instances.InstanceBackend.get_reservations_by_instance_ids":
                   "81d1b3b2ba0c63a41a0ded57b7096876debaf1b4c703a0ca522dc4b40887cbc1",
                   "moto.ec2.models.instances.InstanceBackend.all_reservations":
                   "7d79bae1f47734079aa73ab5eb276f100da67bfb6c8329d788924f50d1c9e55e",
                   "moto.ec2.models.instances.InstanceBackend.__init__":
                   "523ce94ccdb33f8f6ed852b2a3e7350e9abdb9cf0fc620518b90d838376ee54d"},
    ),
    PrivateHook(
        "moto.ec2.models.instances.InstanceBackend.get_multi_instances_by_id",
        "Start/Stop/Terminate/Reboot and the local cloud's state guards look instances up here, by a scan of "
        "every reservation; narrowed as above.",
        relies_on={"moto.ec2.models.instances.InstanceBackend.get_multi_instances_by_id":
                   "ed55e524031809bd2bb2c9393f49a5837b13fbc59d5ec335df3a6ab7e40289d0"},
    ),
    PrivateHook(
        "moto.ec2.models.instances.InstanceBackend.get_instance",
        "one instance by id (attribute calls, the drift helpers), by a scan of every instance (all_instances); "
        "narrowed as above.",
        relies_on={"moto.ec2.models.instances.InstanceBackend.get_instance":
                   "483df6579b0ce8c6ffce0b7fd5d465e4886330af75dbd15aee0b410821bffa0f",
                   "moto.ec2.models.instances.InstanceBackend.all_instances":
                   "2cb65d24d00eb54728848ab9b0c60ea29c15a56a2fbc8fc080d4c15cc54364f6"},
    ),
    PrivateHook(
        "moto.ec2.models.instances.InstanceBackend.describe_instances",
        "DescribeInstances with an instance-id filter scans every reservation; narrowed as above.",
        relies_on={"moto.ec2.models.instances.InstanceBackend.describe_instances":
                   "b0fd1607d57201d17ba8f90fb48dbb78f81e79a4abba3501811d39148873f7d2"},
    ),
    PrivateHook(
        "moto.ec2.models.tags.TagBackend.describe_tags",
        "every EC2 resource reads its own tags through this method, which scans every tag of the region (a tag "
        "filter over N instances costs N x all tags); for one exact resource id the wrapper runs moto's method "
        "on a view holding that resource's entry of TagBackend.tags.",
        relies_on={"moto.ec2.models.tags.TagBackend.describe_tags":
                   "2a65a6b5f69a78e99f5d99277578a75c3416c5db3ef28db20a869e03eff1a03b",
                   "moto.ec2.models.tags.TagBackend.__init__":
                   "b89ca82a1778dfb802c9b4fb9108176a641eaca305a8a0ff6bc8bfddc76c7f37",
                   "moto.ec2.models.core.TaggedEC2Resource.get_tags":
                   "73ba6daeb7cb331e12f50ef0808a3668d1744ddc368bc7fac962182903edbd5c"},
    ),
    # --- issue 13: distributed map runs (E1-E3) ---
    PrivateHook(
        f"{_MAP}.distributed_iteration_component.DistributedIterationComponent._map_run",
        "moto runs a map run's items here with no setting for who may start children, how many local threads "
        "run them, or the failure threshold: replaced by map_run_children, which keeps moto's job pool.",
        "(self, env: 'Environment', eval_input: 'DistributedIterationComponentEvalInput') -> 'None'",
        relies_on={f"{_MAP}.distributed_iteration_component.DistributedIterationComponent._map_run":
                   "e45cb604929ff3468863fd1b485b32f379489ef43e67b4718145de9ef4e160d8",
                   f"{_MAP}.distributed_iteration_component.DistributedIterationComponent._eval_body":
                   "5f5e01607eb064fb965df9bb1b0d53b047662ceecd9151bc476a821d726aa1a3"},
    ),
    PrivateHook(
        f"{_MAP}.itemprocessor.distributed_item_processor_worker.DistributedItemProcessorWorker._eval_job",
        "moto runs each item of a map run in the parent's history and records no child execution; this "
        "method is where one item runs, in its own job frame, so it is where a child execution is made.",
        "(self, env: moto.stepfunctions.parser.asl.eval.environment.Environment, job: "
        "moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.job.Job) -> None",
        relies_on={f"{_MAP}.itemprocessor.distributed_item_processor_worker.DistributedItemProcessorWorker"
                   "._eval_job": "c97e0ed4aba18b55041cf230e08702bac92d4aa7ad4f891330dd7a5fa906a72c",
                   f"{_MAP}.itemprocessor.distributed_item_processor_worker.DistributedItemProcessorWorker"
                   "._eval_pool": "8797235af229965ff2294510e693a602ece233165d80bc130a0dbd19bdd9963a"},
    ),
    PrivateHook(
        f"{_MAP}.itemprocessor.distributed_item_processor_worker.DistributedItemProcessorWorker._map_run_record",
        "read, not replaced: the map run a worker's items belong to (moto keeps it only on the worker).",
        relies_on={f"{_MAP}.itemprocessor.distributed_item_processor_worker.DistributedItemProcessorWorker"
                   ".__init__": "8b4738839a45c91a45f45405971020fea1363ea1eee3637c9e01c67c03f2c0bc"},
        replaced=False,
    ),
    PrivateHook(
        f"{_MAP}.itemprocessor.inline_item_processor_worker.InlineItemProcessorWorker._eval_input",
        "called, not replaced: applies the Map's ItemSelector (or Parameters) to an item, in the parent's "
        "context, as the replaced _eval_job must before the child starts.",
        "(self, env_frame: moto.stepfunctions.parser.asl.eval.environment.Environment) -> None",
        relies_on={f"{_MAP}.itemprocessor.inline_item_processor_worker.InlineItemProcessorWorker._eval_input":
                   "c8a62d1f4864ec80d774a77d4a582cdf50ad6a56c51499f0bc50e3a7102ad843"},
        replaced=False,
    ),
    PrivateHook(
        f"{_MAP}.inline_iteration_component.InlineIterationComponent._launch_worker",
        "called, not replaced: starts one worker thread of a map run on its job pool.",
        "(self, env: 'Environment', eval_input: 'InlineIterationComponentEvalInput', job_pool: 'JobPool') "
        "-> 'IterationWorker'",
        replaced=False,
    ),
    PrivateHook(
        f"{_MAP}.iteration_component.IterationComponent._get_iteration_program",
        "called, not replaced: the parsed program every item of a map run runs.",
        "(self) -> 'Program'",
        replaced=False,
    ),
    # --- issue 13: deadline settlement (E7), callback tasks (E4, E5), throttles in Step Functions (E6) ---
    PrivateHook(
        "moto.stepfunctions.parser.asl.eval.callback.callback.Event",
        "a callback task waits for its token, heartbeat and timeout on threading.Event objects this module makes "
        "(real time, no setting): the module global is replaced so their waits count on the cloud's clock.",
        relies_on={f"{_CALLBACK}.HeartbeatEndpoint.__init__":
                   "d981f6c6fcf38982f1b2c55487e92780098ac12bd441636fcb7052e812983aa8",
                   f"{_CALLBACK}.HeartbeatEndpoint.clear_and_wait":
                   "2037f07deefe18f0e6546b60bb12b69904900734346ad453720021d95fb7bc01",
                   f"{_CALLBACK}.CallbackEndpoint.__init__":
                   "7a550442a6a5e18dd93aa23f4d7eaa0c462e98237834100feadb7369097d8333",
                   f"{_CALLBACK}.CallbackEndpoint.wait":
                   "85d0fa6224f12b372121a350ed1cd3b9c8c01cdd7e71117d198969da859c8251"},
    ),
    PrivateHook(
        f"{_SFN}.state.exec.state_task.service.state_task_service_callback.StateTaskServiceCallback._from_error",
        "moto names a heartbeat's expiry States.Timeout in this method (HeartbeatTimeoutError is a TimeoutError); "
        "every service task without its own handling of that error comes here through super().",
        "(self, env: moto.stepfunctions.parser.asl.eval.environment.Environment, ex: Exception) -> "
        "moto.stepfunctions.parser.asl.component.common.error_name.failure_event.FailureEvent",
        relies_on={f"{_SFN}.state.exec.state_task.service.state_task_service_callback.StateTaskServiceCallback"
                   "._eval_integration_pattern":
                   "3b97ada1d4cb7280415bb9d160896565d4a520e56b5b85a0f42e42e6538c0ce9"},
    ),
    PrivateHook(
        f"{_SFN}.common.error_name.error_equals_decl.ErrorEqualsDecl._eval_body",
        "the same method as above, wrapped again: AWS lets States.Timeout match States.HeartbeatTimeout, moto "
        "compares the names only.",
        "(self, env: moto.stepfunctions.parser.asl.eval.environment.Environment) -> None",
    ),
    PrivateHook(
        f"{_CALLBACK}.CallbackEndpoint.interrupt_all",
        "the one call every end of a callback task makes (output, failure, timeout, stop); moto keeps no closed "
        "state, so a token of a finished task still answers SendTaskSuccess.",
        "(self) -> None",
        relies_on={f"{_SFN}.state.exec.state_task.service.state_task_service_callback.StateTaskServiceCallback"
                   "._eval_integration_pattern":
                   "3b97ada1d4cb7280415bb9d160896565d4a520e56b5b85a0f42e42e6538c0ce9"},
    ),
    PrivateHook(
        f"{_SFN}.state.exec.state_task.state_task_lambda.StateTaskLambda._from_error",
        "moto names every API error of a Task whose Resource is a Lambda function ARN 'Exception' in this method; "
        "AWS names it Lambda.<code> as for lambda:invoke (a throttle: Lambda.TooManyRequestsException).",
        "(self, env: moto.stepfunctions.parser.asl.eval.environment.Environment, ex: Exception) -> "
        "moto.stepfunctions.parser.asl.component.common.error_name.failure_event.FailureEvent",
        relies_on={f"{_SFN}.state.exec.state_task.state_task_lambda.StateTaskLambda._from_error":
                   "1a3cdc6f4b303bfe692e515f02bfdd8cea0cabcc2908ad1f5924096423b81a7f"},
    ),
    # --- issue 13: callback tasks, part 2 ---
    PrivateHook(
        f"{_EXECUTE}.ExecutionState.from_state_props",
        "moto gives a state with HeartbeatSeconds and no TimeoutSeconds a TimeoutSeconds of 60 in this method (AWS: "
        "99999999); every execution state's parsing passes through it (subclasses call super()).",
        "(self, state_props: moto.stepfunctions.parser.asl.component.state.state_props.StateProps) -> None",
        relies_on={f"{_EXECUTE}.ExecutionState.from_state_props":
                   "16c725c841c95f2c81f88fa3c488a8aed4a285ee5d303e7f038aedf0449c0ace"},
    ),
    PrivateHook(
        f"{_EXECUTE}.threading",
        "moto counts a state's TimeoutSeconds on a threading.Event this module global makes, in real time, with no "
        "setting: replaced by a namespace whose Event counts on the cloud's clock.",
        relies_on={f"{_EXECUTE}.ExecutionState._evaluate_with_timeout":
                   "c56deda08a42e98d3958bfb2ab95de74c7ec7a515085614a80e1ea4948722485"},
    ),
    PrivateHook(
        f"{_EXECUTE}.Thread",
        "the thread a state's work runs in, made from this module global right after the timeout's event: "
        "replaced so that the work (a callback task's wait) knows the timeout it runs under.",
        relies_on={f"{_EXECUTE}.ExecutionState._evaluate_with_timeout":
                   "c56deda08a42e98d3958bfb2ab95de74c7ec7a515085614a80e1ea4948722485"},
    ),
    PrivateHook(
        f"{_CALLBACK_TASK}._eval_wait_for_task_token",
        "the one place a .waitForTaskToken task waits for its answer, heartbeat and timeout; moto waits for the "
        "heartbeat here and leaves TimeoutSeconds to the per-state thread, so the two deadlines race.",
        "(self, env: moto.stepfunctions.parser.asl.eval.environment.Environment, timeout_seconds: int, "
        "callback_endpoint: moto.stepfunctions.parser.asl.eval.callback.callback.CallbackEndpoint, "
        "heartbeat_endpoint: moto.stepfunctions.parser.asl.eval.callback.callback.HeartbeatEndpoint | None) -> "
        "moto.stepfunctions.parser.asl.eval.callback.callback.CallbackOutcome",
        relies_on={f"{_CALLBACK_TASK}._eval_wait_for_task_token":
                   "061c4a80d1bdcb0af3cdb56fa544ddae349f8e11f0c2255620284424f195c148",
                   f"{_CALLBACK_TASK}._eval_integration_pattern":
                   "3b97ada1d4cb7280415bb9d160896565d4a520e56b5b85a0f42e42e6538c0ce9"},
    ),
    PrivateHook(
        f"{_CALLBACK}.CallbackEndpoint._notify_event",
        "read, not replaced: the event an answer (or interrupt_all) sets, to wait on it until a deadline.",
        relies_on={f"{_CALLBACK}.CallbackEndpoint.__init__":
                   "7a550442a6a5e18dd93aa23f4d7eaa0c462e98237834100feadb7369097d8333"},
        replaced=False,
    ),
    PrivateHook(
        f"{_CALLBACK}.HeartbeatEndpoint._next_heartbeat_event",
        "read, not replaced: the event a heartbeat, an answer or interrupt_all sets, to wait on it until the "
        "earlier of the heartbeat's and the timeout's deadlines.",
        relies_on={f"{_CALLBACK}.HeartbeatEndpoint.__init__":
                   "d981f6c6fcf38982f1b2c55487e92780098ac12bd441636fcb7052e812983aa8",
                   f"{_CALLBACK}.HeartbeatEndpoint.notify":
                   "3c7b61c1202c08b3e875c1f8ac70d900c8750b976430d9a8b62095647551d4e7"},
        replaced=False,
    ),
    PrivateHook(
        f"{_CALLBACK}.HeartbeatEndpoint._heartbeat_seconds",
        "read, not replaced: the task's HeartbeatSeconds as moto evaluated it.",
        relies_on={f"{_CALLBACK}.HeartbeatEndpoint.__init__":
                   "d981f6c6fcf38982f1b2c55487e92780098ac12bd441636fcb7052e812983aa8"},
        replaced=False,
    ),
    PrivateHook(
        f"{_CALLBACK}.CallbackPoolManager._pool",
        "read, not replaced: every callback endpoint of an execution (moto offers only a lookup by token), to end "
        "the waits of a stopped execution.",
        relies_on={f"{_CALLBACK}.CallbackPoolManager.__init__":
                   "072d647a2ea8040bd61bb0c312dca3f1437228f0024e693e1a19b9af9d939cf6"},
        replaced=False,
    ),
    PrivateHook(
        "moto.stepfunctions.parser.asl.eval.environment.Environment.set_error",
        "moto overwrites any program state with an error here, so a task that fails after StopExecution turns "
        "the ABORTED execution FAILED; every failure of a program or frame is recorded through it.",
        "(self, error: 'ExecutionFailedEventDetails') -> 'None'",
        relies_on={"moto.stepfunctions.parser.asl.eval.environment.Environment.set_error":
                   "6447409d405612c0e642e5e7d1942f8b48298485b7cb23630a18c78392f633d2"},
    ),
    PrivateHook(
        f"{_EXECUTE}.ExecutionState._handle_retry",
        "moto evaluates a state's Retry (and sleeps its interval) here even once the execution is stopped; "
        "_eval_state calls it for every failure.",
        "(self, env: moto.stepfunctions.parser.asl.eval.environment.Environment, failure_event: "
        "moto.stepfunctions.parser.asl.component.common.error_name.failure_event.FailureEvent) -> "
        "moto.stepfunctions.parser.asl.component.common.retry.retry_outcome.RetryOutcome",
        relies_on={f"{_EXECUTE}.ExecutionState._eval_state":
                   "88a5f8e4c72b10849ada6345c535c9eb30519136b9bb838952f2d9b5ce38ff0b"},
    ),
    PrivateHook(
        f"{_SFN}.state.exec.state_task.service.state_task_service_sfn.StateTaskServiceSfn._from_error",
        "moto names an API error of a states:startExecution task StepFunctions.<code>Exception in this method, "
        "doubling the suffix of a code that has one (ThrottlingException).",
        "(self, env: moto.stepfunctions.parser.asl.eval.environment.Environment, ex: Exception) -> "
        "moto.stepfunctions.parser.asl.component.common.error_name.failure_event.FailureEvent",
        relies_on={f"{_SFN}.state.exec.state_task.service.state_task_service_sfn.StateTaskServiceSfn._from_error":
                   "7cdee0936130a4c15a18b0bc03087d23215896a841429e6189a159c8ad13dd63"},
    ),
    # --- issue 13: atomic EC2 instance states (E7/E8 race) ---
    PrivateHook(
        "moto.ec2.models.instances.InstanceState",
        "read, not replaced: moto changes an instance's state by assigning name, then code, on the one object every "
        "reader holds (reached through Instance._state), and its serializer reads code then name from it; a "
        "reader between the two saw a name with another state's code. Changes go to a private copy (state_change) "
        "and readers only ever get objects that never change.",
        relies_on={"moto.ec2.models.instances.InstanceState.__init__":
                   "c4e4cfad519471e0cb78bf29f4950bee7ab5f8db0c8f7431325391a32f30b21d",
                   "moto.ec2.models.instances.Instance.start":
                   "59967ab3c8e7deb113a4705bb5c46e8ac142dd32c010ecfbf84b9cf9f7805fef",
                   "moto.ec2.models.instances.Instance.stop":
                   "e6e7da70fc8a49d46afe440e03a2866d2c20471596cca62363da5b15124f2f33",
                   "moto.ec2.models.instances.Instance.terminate":
                   "b5e4ee68c4147215c34a058aaa11b7386c1106044ee7a288b0d98d5821bf48b7",
                   "moto.ec2.models.instances.Instance.reboot":
                   "a158fe9cdcb73f0ece6b3eb6ecd6be04987d96525a9dfd532d925627d79acec0"},
        replaced=False,
    ),
    # --- issue 13: EC2 tag index (E8) ---
    PrivateHook(
        "moto.ec2.models.tags.TagBackend.create_tags",
        "every tag moto sets (CreateTags, TagSpecifications, add_tag/add_tags of any resource) is written here, "
        "into TagBackend.tags; the wrapper re-indexes the resources it names.",
        "(self, resource_ids: list[str], tags: dict[str, str]) -> bool",
        relies_on={"moto.ec2.models.tags.TagBackend.create_tags":
                   "e592167d384139b2d1cb0f7485b7663ffb2030056fcce977b7f0188d431b0058",
                   "moto.ec2.models.core.TaggedEC2Resource.add_tags":
                   "622c7ca5354f8a9a40461b45f65943e2c5245a2c854a3292ecc3540140826983"},
    ),
    PrivateHook(
        "moto.ec2.models.tags.TagBackend.delete_tags",
        "DeleteTags with values removes tags here; re-indexed as above.",
        "(self, resource_ids: list[str], tags: dict[str, str]) -> bool",
        relies_on={"moto.ec2.models.tags.TagBackend.delete_tags":
                   "ba6ed2f06defe9d98629baf72df28f3578c1e2da15e7eb7b138b290a60c5464c"},
    ),
    PrivateHook(
        "moto.ec2.models.tags.TagBackend.delete_tag_keys",
        "DeleteTags by key removes tags here; re-indexed as above.",
        "(self, resource_ids: list[str], tag_keys: list[str]) -> bool",
        relies_on={"moto.ec2.models.tags.TagBackend.delete_tag_keys":
                   "6e84870117228688994930d43b3bb0b0ff4d9797910608cee731d3ef4084c41c"},
    ),
    PrivateHook(
        "moto.ec2.models.instances.InstanceBackend.describe_instances",
        "wrapped again: a tag filter (tag:K with literal values) matches only instances whose tag K equals one of "
        "the values (tag_filter_matches: fnmatch pattern or equality), so the wrapper runs moto's method over "
        "the reservations of those instances only.",
        relies_on={"moto.ec2.models.instances.InstanceBackend.describe_instances":
                   "b0fd1607d57201d17ba8f90fb48dbb78f81e79a4abba3501811d39148873f7d2",
                   "moto.ec2.utils.tag_filter_matches":
                   "b6bde3c78233a12e1627b1865fde9963d0a707e5bfc328fddd8f487088594d5e",
                   "moto.ec2.utils.simple_aws_filter_to_re":
                   "8a0bbb54a066e6d50100db5c16bc57c0e0969c7c79e0bef0564180ca3b21258d"},
    ),
    PrivateHook(
        "moto.ec2.models.elastic_block_store.EBSBackend.describe_volumes",
        "DescribeVolumes filters every volume of the region, each reading its tags; a tag:K filter with literal "
        "values matches by fnmatch on the tag's value (is_filter_matching), so the wrapper runs moto's method on a "
        "view holding only the candidate volumes (it reads EBSBackend.volumes).",
        "(self, volume_ids: list[str] | None = None, filters: Any = None) -> "
        "list[moto.ec2.models.elastic_block_store.Volume]",
        relies_on={"moto.ec2.models.elastic_block_store.EBSBackend.describe_volumes":
                   "69316fdf20a80cc46d20daa22a7f92f92aa61fc75369a24c0d988b529d0c0bff",
                   "moto.ec2.models.elastic_block_store.EBSBackend.__init__":
                   "b75f1f6a4a84a271d19213231066eca8addb6c6c2dc2eb40425da0b98ce5fc2f",
                   "moto.ec2.utils.is_filter_matching":
                   "ee82879bee5740d99efd3f9d920a7922bf9e6597cc1bf81eaebcd0afbf2054dd",
                   "moto.ec2.models.core.TaggedEC2Resource.get_filter_value":
                   "d93e9241a7280929029944a63c5f1c7a94ba59a387558596f1475c39f8089918"},
    ),
    # --- issue 13: transactions ---
    PrivateHook(
        "moto.dynamodb.models.copy",
        "moto's TransactWriteItems deep-copies the table of every action (copy.deepcopy, this module global) before "
        "it writes, to put the copies back when it cancels: seconds at 80,000 items. The module global is replaced "
        "so that, inside a journaled transaction, a table's 'copy' is the table itself (moto's put-back is then a "
        "no-op) while the journal puts back the items the transaction touched; every other copy is copy's own.",
        relies_on={"moto.dynamodb.models.DynamoDBBackend.transact_write_items":
                   "81db2cb7d94e39c90b3a2077e1f4bb41a449c558ef9b1b1e2910fdaa39978ad4",
                   "moto.dynamodb.models.DynamoDBBackend.update_item":
                   "218984588dd689a5de81678ce11e6a40d05c91e7b6c21b44c4ed4122fe74aa9f"},
    ),
    PrivateHook(
        "moto.dynamodb.models.DynamoDBBackend.transact_write_items",
        "the one method every TransactWriteItems runs (the handler calls it after validating the request); the "
        "wrapper opens the transaction's journal around moto's own method and puts the touched items back when "
        "it raises.",
        "(self, transact_items: list[dict[str, typing.Any]]) -> None",
        relies_on={"moto.dynamodb.models.DynamoDBBackend.transact_write_items":
                   "81db2cb7d94e39c90b3a2077e1f4bb41a449c558ef9b1b1e2910fdaa39978ad4"},
    ),
    PrivateHook(
        "moto.dynamodb.models.DynamoDBBackend.get_item",
        "moto's transaction reads each action's item with this method before it checks and writes it (and writes "
        "no item it has not read: Put, Delete and Update write only the key they name, UpdateItem in place); the "
        "wrapper shows the journal the key and its item as they were. It reads Table.items (moto's item store: "
        "Table.get_item grows its defaultdict by an empty partition) and Table.stream_shard.items.",
        "(self, table_name: str, keys: dict[str, typing.Any], projection_expressions: list[list[str]] | None = None)"
        " -> moto.dynamodb.models.dynamo_type.Item | None",
        relies_on={"moto.dynamodb.models.DynamoDBBackend.get_item":
                   "290b95c46b38bc5ac8079668e9c449bba9b6b26f4a2872d80ca262115023e189",
                   "moto.dynamodb.models.DynamoDBBackend.get_keys_value":
                   "1f948797496ddc2cd4e4752e29e470d19ce757ca3406e07fed6bd90b331c1caa",
                   "moto.dynamodb.models.DynamoDBBackend.put_item":
                   "f5d9a5042c77b89e5f4c88b5884f7966b9dccd95b8b04090ee9e07afc5eea675",
                   "moto.dynamodb.models.DynamoDBBackend.delete_item":
                   "083a4bb1af18f6fd2feef40195a4c9c803da66cb2cacd14f87916c6e76930ea5",
                   "moto.dynamodb.models.table.Table.get_item":
                   "b08e98fe37b7e5836afe03b010d637ef50df5dea6cbecd9cf8816eef326a21cd",
                   "moto.dynamodb.models.table.Table.put_item":
                   "de23933013ef842639046c19bcf7e418bce0474d810f6719368be4cedce11d47",
                   "moto.dynamodb.models.table.Table.delete_item":
                   "1594f7b07616c8cb8cdf0fbf58d6f54eeac83f25d7ac7b14e832a08e10efd8f9",
                   "moto.dynamodb.models.table.StreamShard.add":
                   "357dc6da267e5dd7d46e18ee25d14b232a98679677906a2f02e4d454d1f11e03"},
    ),
)
"""Every private hook, in the order :mod:`pcf_local_cloud.patching` installs them."""


# -- Lambda ------------------------------------------------------------------------------------------------
def run_lambda_code(patches: PatchSet, invoke: Callable[[LambdaFunction, Any], tuple[str, bool, str]]) -> None:
    """Every Lambda invocation calls ``invoke(function, event)`` -> ``(payload JSON, is_error, log text)``."""

    def _invoke_lambda(function: LambdaFunction, event: Any = None) -> tuple[str, bool, str]:
        return invoke(function, event)

    patches.replace(LambdaFunction, "_invoke_lambda", _invoke_lambda)


# -- EC2 instance state --------------------------------------------------------------------------------------
_STATE = "_state"


def instance_state_property(patches: PatchSet, before_read: Callable[[Instance], None]) -> None:
    """Every read of ``instance._state`` (moto's ``InstanceState``) calls ``before_read(instance)`` first; writes
    store the value as moto does."""

    def read(instance: Instance) -> Any:
        before_read(instance)
        try:
            return stored_state(instance)
        except KeyError:
            raise AttributeError(_STATE) from None

    patches.replace(Instance, _STATE, property(read, _store_state))


def stored_state(instance: Instance) -> Any:
    """The ``InstanceState`` moto keeps for ``instance``, read without settling anything (``KeyError`` if none);
    inside :func:`state_change` of ``instance``, this thread's private copy."""
    return _current_state(instance)


def _store_state(instance: Instance, value: Any) -> None:
    _assign_state(instance, value)


# -- sleeps --------------------------------------------------------------------------------------------------
class _TimeWithSleep:
    """Looks like the ``time`` module to the module it replaces it in, but sleeps with ``sleep``."""

    def __init__(self, sleep: Callable[[float], None]) -> None:
        self.sleep = sleep

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


def retry_sleeps(patches: PatchSet, sleep: Callable[[float], None]) -> None:
    """moto's waits between a Task's Retry attempts and botocore's between a client's retries call ``sleep``."""
    patches.replace(retrier_decl, "time", _TimeWithSleep(sleep))
    patches.replace(botocore_endpoint, "time", _TimeWithSleep(sleep))


def sync_check_sleep(patches: PatchSet, sleep: Callable[[float], None]) -> None:
    """moto's waits between two checks of a ``.sync`` child execution call ``sleep``."""
    patches.replace(state_task_service_callback, "time", _TimeWithSleep(sleep))


# -- clients of the Step Functions interpreter -----------------------------------------------------------------
InterpreterClientObserver = Callable[[Any, Any], None]
"""``observer(client, state_credentials)``, called for each client moto's interpreter makes for a state."""


def observe_interpreter_clients(patches: PatchSet, observers: Iterable[InterpreterClientObserver]) -> None:
    """Each client moto's Step Functions interpreter makes is shown to every observer before it is used (they
    register botocore event handlers on it).

    moto makes a new client for every Task it runs (a tenth of the local cloud's CPU with 40 particles at once);
    here one client serves every Task with the same Region, service, role and kind (a ``.sync`` check's or
    not: observers treat those differently), as botocore clients are safe to share between threads."""
    original = boto_client.boto_client_for
    watching = tuple(observers)
    made: dict[tuple[str, str, str | None, bool, bool], Any] = {}
    lock = threading.Lock()

    def boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        key = (region, service, state_role_arn(state_credentials), making_sync_check_client(), botocore_stubber.enabled)
        with lock:
            client = made.get(key)
        if client is None:
            client = original(region=region, service=service, state_credentials=state_credentials)
            for observer in watching:
                observer(client, state_credentials)
            with lock:
                client = made.setdefault(key, client)
        return client

    patches.replace(boto_client, "boto_client_for", boto_client_for)  # modules imported later
    for name, module in list(sys.modules.items()):
        if name.startswith(_SFN) and getattr(module, "boto_client_for", None) is original:
            patches.replace(module, "boto_client_for", boto_client_for)


_SYNC_CHECKS = threading.local()


def sync_check_clients_marked(patches: PatchSet) -> None:
    """The clients moto's interpreter makes to follow a ``.sync`` child execution (its ``DescribeExecution``
    checks) are made while :func:`making_sync_check_client` answers ``True``."""
    for builder in ("_build_sync_resolver", "_build_sync2_resolver"):
        original = vars(StateTaskServiceSfn)[builder]

        def build(self: Any, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
            _SYNC_CHECKS.active = True
            try:
                return _original(self, *args, **kwargs)
            finally:
                _SYNC_CHECKS.active = False

        build.__doc__ = original.__doc__
        patches.replace(StateTaskServiceSfn, builder, build)


def making_sync_check_client() -> bool:
    """Whether the interpreter client being made now is one that follows a ``.sync`` child (see
    :func:`sync_check_clients_marked`)."""
    return bool(getattr(_SYNC_CHECKS, "active", False))


def state_role_arn(state_credentials: Any) -> str | None:
    """The role a state's credentials name (the machine's role), if any."""
    role_arn = getattr(state_credentials, "role_arn", None)
    return str(role_arn) if role_arn else None


# -- the Step Functions interpreter ---------------------------------------------------------------------------
def sfn_integration_answers(patches: PatchSet, convert: Callable[[dict[str, Any]], None]) -> None:
    """The answer of a Step Functions service-integration Task (``states:startExecution``, ``.sync``) is passed
    through ``convert`` (in place) after moto's own normalisation."""
    original = StateTaskServiceSfn._normalise_response

    def _normalise_response(self: Any, response: Any, boto_service_name: str | None = None,
                            service_action_name: str | None = None) -> None:
        original(self, response, boto_service_name, service_action_name)
        if isinstance(response, dict):
            convert(response)

    patches.replace(StateTaskServiceSfn, "_normalise_response", _normalise_response)


def unmatched_by_error_equals(patches: PatchSet, refuses: Callable[[ErrorEqualsDecl, Any], bool]) -> None:
    """A Retry or Catch clause does not match the error being handled when ``refuses(clause, error)``."""
    original = vars(ErrorEqualsDecl)["_eval_body"]

    def _eval_body(decl: ErrorEqualsDecl, env: Any) -> None:
        if refuses(decl, env.stack[-1]):
            env.stack.pop()
            env.stack.append(False)
            return
        original(decl, env)

    _eval_body.__doc__ = original.__doc__
    patches.replace(ErrorEqualsDecl, "_eval_body", _eval_body)


def before_each_state(patches: PatchSet, check: Callable[[Any], None]) -> None:
    """``check(env)`` runs as each state is entered; an exception it raises is the state's failure."""
    original = vars(CommonStateField)["_eval_body"]

    def _eval_body(state: CommonStateField, env: Any) -> None:
        check(env)
        original(state, env)

    _eval_body.__doc__ = original.__doc__
    patches.replace(CommonStateField, "_eval_body", _eval_body)


def history_size(env: Any) -> int:
    """How many events the execution's history holds (the event manager is shared by every Map iteration)."""
    return len(env.event_manager._history_event_list)


def on_execution_end(patches: PatchSet, ended: Callable[[], None]) -> None:
    """An ended execution's output (or error and cause) is visible before its status; ``ended()`` is called
    once both are. moto's method then runs unchanged: it writes the same values again, status first."""
    original = vars(BaseExecutionWorkerCommunication)["_reflect_execution_status"]

    def _reflect_execution_status(communication: Any) -> None:
        execution = communication.execution
        outcome = execution.exec_worker.env.program_state()
        if isinstance(outcome, ProgramEnded):
            execution.output = execution.exec_worker.env.states.get_input()
        elif isinstance(outcome, ProgramError):
            execution.error = outcome.error.get("error")
            execution.cause = outcome.error.get("cause")
        original(communication)
        ended()

    _reflect_execution_status.__doc__ = original.__doc__
    patches.replace(BaseExecutionWorkerCommunication, "_reflect_execution_status", _reflect_execution_status)


# -- JSONPath ----------------------------------------------------------------------------------------------------
PARSED_PATHS = 4096
"""JSONPath expressions kept parsed (a machine names a few dozen)."""


def jsonpaths_parsed_once(patches: PatchSet) -> None:
    """Each JSONPath moto's interpreter reads (a state's paths, ``ResultPath``) is parsed once, not per use."""
    for module in (sfn_json_path, sfn_result_path):
        patches.replace(module, "parse", functools.lru_cache(maxsize=PARSED_PATHS)(module.parse))


# -- the HTTP boundary -------------------------------------------------------------------------------------------
class RequestLeftLocalCloud(RuntimeError):
    """A request no handler of the local cloud answered: it would have gone to the network (to AWS)."""

    def __init__(self, method: str, url: str) -> None:
        super().__init__(f"{method} {url} was answered by nothing in the local cloud and would have left it "
                         "for the network: no request may leave the local cloud")
        self.url = url


def moto_answers_unanswered(patches: PatchSet, answered: Callable[[Any], bool]) -> None:
    """moto's stubber (a ``before-send`` handler of every session) leaves a request alone when
    ``answered(request)`` (another handler answered it, as a throttle does: AWS does not carry out a request it
    throttles), and a request it does not answer while mocking raises :class:`RequestLeftLocalCloud`."""
    original = vars(BotocoreStubber)["__call__"]

    def __call__(stubber: BotocoreStubber, event_name: str, request: Any, **kwargs: Any) -> Any:
        if not stubber.enabled or answered(request):
            return None
        response = original(stubber, event_name, request, **kwargs)
        if response is None:
            raise RequestLeftLocalCloud(str(request.method), str(request.url))
        return response

    __call__.__doc__ = original.__doc__
    patches.replace(BotocoreStubber, "__call__", __call__)


# -- botocore, process-wide -----------------------------------------------------------------------------------
BotocoreHook = tuple[str, Callable[..., Any]]
_sessions_with_hooks: list[boto3.Session] = []


def register_in_every_session(hooks: Iterable[BotocoreHook]) -> None:
    """Register ``hooks`` (event name, handler) in every botocore session made from now on, and in boto3's
    default session if there is one (once each)."""
    hooks = tuple(hooks)
    for hook in hooks:
        if hook not in botocore_handlers.BUILTIN_HANDLERS:
            botocore_handlers.BUILTIN_HANDLERS.append(hook)
    default = boto3.DEFAULT_SESSION
    if default is not None and not any(default is seen for seen in _sessions_with_hooks):
        for event, handler in hooks:
            default.events.register(event, handler)
        _sessions_with_hooks.append(default)


# -- response handlers ----------------------------------------------------------------------------------------
def request_param(response: Any, name: str) -> Any:
    """A request parameter as moto's EC2 response handler parsed it (moto's ``_get_param``)."""
    return response._get_param(name)



# --- issue 13: local-cloud scale (E8) ---

QueryCandidates = Callable[[Any, "str | None", Any, list[tuple[str, Any]]], "list[Any] | None"]
"""``candidates(table, index_name, hash_key, hash_conditions)``: the items a Query can only find among, or
``None`` for the whole table."""
ItemWritten = Callable[[Any, Any, Any], None]
"""``written(table, hash_key, range_key)``: the item at that key may have changed (put, deleted, updated)."""
ReservationsHolding = Callable[[Any, list[str]], "list[Any] | None"]
"""``holding(backend, instance_ids)``: the reservations that hold those instances, in moto's order, or ``None``
for every reservation."""


class _NarrowedTable:
    """A moto ``Table`` seen through only some of its items: moto's own ``all_items`` (its ordering) runs over
    them, every other attribute is the table's."""

    all_items = Table.all_items

    def __init__(self, table: Any, items: Iterable[Any]) -> None:
        self._table = table
        narrowed: dict[Any, Any] = {}
        for item in items:
            if table.range_key_attr is None:
                narrowed[item.hash_key] = item
            else:
                narrowed.setdefault(item.hash_key, {})[item.range_key] = item
        self.items = narrowed

    def __getattr__(self, name: str) -> Any:
        return getattr(self._table, name)


def dynamodb_query_candidates(patches: PatchSet, candidates: QueryCandidates) -> None:
    """moto's ``Table.query`` runs over the items ``candidates`` returns (a superset of the items the Query can
    match) instead of every item of the table; its key conditions, filters, ordering, paging and projection are
    moto's own code, unchanged."""
    original = vars(Table)["query"]
    signature = inspect.signature(original)

    def query(table: Any, *args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(table, *args, **kwargs).arguments
        found = candidates(table, bound.get("index_name"), bound.get("hash_key"),
                           list(bound.get("hash_key_conditions") or []))
        return original(table if found is None else _NarrowedTable(table, found), *args, **kwargs)

    query.__doc__ = original.__doc__
    patches.replace(Table, "query", query)


def dynamodb_writes_observed(patches: PatchSet, written: ItemWritten) -> None:
    """``written(table, hash_key, range_key)`` after every item moto puts, deletes or updates in place (every
    write path ends in one of these three: PutItem, UpdateItem, DeleteItem, BatchWriteItem, TransactWriteItems,
    PartiQL), whether the call succeeded or not."""
    put, delete = vars(Table)["put_item"], vars(Table)["delete_item"]
    update = vars(DynamoDBBackend)["update_item"]

    def put_item(table: Any, item_attrs: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        item = put(table, item_attrs, *args, **kwargs)
        written(table, item.hash_key, item.range_key)
        return item

    def delete_item(table: Any, hash_key: Any, range_key: Any) -> Any:
        try:
            return delete(table, hash_key, range_key)
        finally:
            written(table, hash_key, range_key)

    def update_item(backend: Any, table_name: str, key: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return update(backend, table_name, key, *args, **kwargs)
        finally:
            table = backend.tables.get(table_name)
            if table is not None:
                written(table, *_update_key(table, key))

    for name, function, original in (("put_item", put_item, put), ("delete_item", delete_item, delete)):
        function.__doc__ = original.__doc__
        patches.replace(Table, name, function)
    update_item.__doc__ = update.__doc__
    patches.replace(DynamoDBBackend, "update_item", update_item)


def _update_key(table: Any, key: Any) -> tuple[Any, Any]:
    """The item key ``DynamoDBBackend.update_item`` reads from ``key``, as it reads it."""
    if table.hash_key_attr in key and table.range_key_attr in key:
        return DynamoType(key[table.hash_key_attr]), DynamoType(key[table.range_key_attr])
    if table.hash_key_attr in key:
        return DynamoType(key[table.hash_key_attr]), None
    return DynamoType(key), None


def table_items(table: Any) -> list[Any]:
    """Every item moto holds in ``table`` (a snapshot, in no particular order)."""
    if table.range_key_attr is None:
        return list(table.items.values())
    return [item for by_range in list(table.items.values()) for item in list(by_range.values())]


def items_under(table: Any, hash_key: Any) -> list[Any]:
    """The items of ``table`` whose partition key is ``hash_key`` (moto keeps them together)."""
    found = dict.get(table.items, hash_key)  # not table.items[...]: a defaultdict would grow
    if found is None:
        return []
    return [found] if table.range_key_attr is None else list(found.values())


def stored_item(table: Any, hash_key: Any, range_key: Any) -> Any:
    """The item at that key in ``table`` now, or ``None``."""
    found = dict.get(table.items, hash_key)
    if found is None or table.range_key_attr is None:
        return found
    return found.get(range_key) if range_key is not None else None


def table_hash_attribute(table: Any) -> str:
    """The name of ``table``'s partition-key attribute."""
    return str(table.hash_key_attr)


def item_key(item: Any) -> tuple[Any, Any]:
    """``(hash_key, range_key)`` of a moto ``Item`` (range ``None`` without a sort key)."""
    return item.hash_key, item.range_key


def item_attribute(item: Any, name: str) -> Any:
    """The ``DynamoType`` value of attribute ``name`` of a moto ``Item``, or ``None``."""
    return item.attrs.get(name)


class _NarrowedReservations:
    """A moto EC2 backend seen through only some reservations: moto's own lookups run over them, every other
    attribute is the backend's."""

    all_reservations = InstanceBackend.all_reservations
    all_instances = InstanceBackend.all_instances

    def __init__(self, backend: Any, reservations: Iterable[Any]) -> None:
        self._backend = backend
        self.reservations = OrderedDict((reservation.id, reservation) for reservation in reservations)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._backend, name)


_INSTANCE_ID_FILTER = "instance-id"


def instance_lookups_narrowed(patches: PatchSet, holding: ReservationsHolding) -> None:
    """moto's lookups of instances by id (``DescribeInstances`` with ``InstanceIds`` or an ``instance-id`` filter,
    ``get_multi_instances_by_id`` behind Start/Stop/Terminate/Reboot, ``get_instance``) run over the reservations
    ``holding`` returns instead of every reservation; the answers and errors are moto's own code, unchanged."""
    by_ids = vars(InstanceBackend)["get_reservations_by_instance_ids"]
    multi = vars(InstanceBackend)["get_multi_instances_by_id"]
    one = vars(InstanceBackend)["get_instance"]
    describe = vars(InstanceBackend)["describe_instances"]

    def narrowed(backend: Any, instance_ids: Iterable[str]) -> Any:
        found = holding(backend, list(instance_ids))
        return backend if found is None else _NarrowedReservations(backend, found)

    def get_reservations_by_instance_ids(backend: Any, instance_ids: list[str], filters: Any = None) -> Any:
        return by_ids(narrowed(backend, instance_ids), instance_ids, filters)

    def get_multi_instances_by_id(backend: Any, instance_ids: list[str], filters: Any = None) -> Any:
        return multi(narrowed(backend, instance_ids), instance_ids, filters)

    def get_instance(backend: Any, instance_id: str) -> Any:
        return one(narrowed(backend, [instance_id]), instance_id)

    def describe_instances(backend: Any, filters: Any = None) -> Any:
        ids = filters.get(_INSTANCE_ID_FILTER) if isinstance(filters, dict) else None
        return describe(backend if ids is None else narrowed(backend, ids), filters)

    for function, original in ((get_reservations_by_instance_ids, by_ids), (get_multi_instances_by_id, multi),
                               (get_instance, one), (describe_instances, describe)):
        function.__doc__ = original.__doc__
        patches.replace(InstanceBackend, original.__name__, function)


def ec2_reservations(backend: Any) -> Any:
    """moto's ordered ``{reservation id: reservation}`` of an EC2 backend (the live mapping: read, never write)."""
    return backend.reservations


def reservation_instance_ids(reservation: Any) -> list[str]:
    """The ids of the instances a moto ``Reservation`` holds."""
    return [instance.id for instance in list(reservation.instances)]


class _NarrowedTags:
    """A moto EC2 tag backend seen through the tags of some resources only."""

    def __init__(self, backend: Any, tags: dict[str, dict[str, str]]) -> None:
        self._backend = backend
        self.tags = tags

    def __getattr__(self, name: str) -> Any:
        return getattr(self._backend, name)


_RESOURCE_ID_FILTER = "resource-id"
_GLOB = frozenset("*?[")


def tag_lookups_narrowed(patches: PatchSet, enabled: Callable[[], bool]) -> None:
    """moto's ``describe_tags`` filtered by one exact ``resource-id`` (what every resource's ``get_tags`` asks,
    for each instance a ``DescribeInstances`` answer or tag filter reads) runs over that resource's tags instead
    of every tag of the region, while ``enabled()``; any other filter runs as in moto."""
    original = vars(TagBackend)["describe_tags"]

    def describe_tags(backend: Any, filters: Any = None) -> Any:
        ids = filters.get(_RESOURCE_ID_FILTER) if isinstance(filters, dict) else None
        if not enabled() or not ids or len(ids) != 1 or not isinstance(ids[0], str) or _GLOB.intersection(ids[0]):
            return original(backend, filters)
        own = dict.get(backend.tags, ids[0])  # not tags[...]: a defaultdict would grow
        return original(_NarrowedTags(backend, {} if own is None else {ids[0]: own}), filters)

    describe_tags.__doc__ = original.__doc__
    patches.replace(TagBackend, "describe_tags", describe_tags)


# --- issue 13: distributed map runs (E1-E3) ---
class MapRunHandler:
    """What the local cloud does where moto runs a distributed map run (:mod:`pcf_local_cloud.map_runs` implements
    it). ``record`` is moto's ``MapRunRecord``, ``env`` an interpreter ``Environment``, ``job`` a map-run ``Job``."""

    def starting(self, env: Any, record: Any, items: int) -> None:
        """Before any of the ``items`` runs; an exception fails the map run (and the Map state)."""
        raise NotImplementedError

    def workers(self, max_concurrency: int, items: int) -> int:
        """How many local threads run the items."""
        raise NotImplementedError

    def run_item(self, env: Any, record: Any, job: Any, select_input: Callable[[], Any]) -> None:
        """Run one item as a child execution in its job frame ``env``, setting ``job.job_output``;
        ``select_input()`` applies the Map's ItemSelector in the parent's context and returns the child's input."""
        raise NotImplementedError

    def finished(self, env: Any, record: Any, items: int) -> None:
        """After every item has ended; an exception fails the map run."""
        raise NotImplementedError


def emulate_map_runs(patches: PatchSet, handler: MapRunHandler) -> None:
    """A distributed map run asks ``handler`` whether it may start and how many threads run it, runs each item
    through ``handler.run_item`` and lets ``handler.finished`` judge the outcome; moto's job pool, worker threads
    and map-run events stay as they are."""
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration import job as jobs
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.distributed_iteration_component import (
        DistributedIterationComponent,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.itemprocessor.distributed_item_processor_worker import (  # noqa: E501
        DistributedItemProcessorWorker,
    )
    from moto.stepfunctions.parser.asl.eval.states import ItemData, MapData

    def _map_run(component: Any, env: Any, eval_input: Any) -> None:
        items: list[Any] = env.stack.pop()
        record = eval_input.map_run_record
        handler.starting(env, record, len(items))
        pool = jobs.JobPool(job_program=component._get_iteration_program(), job_inputs=items)
        for _ in range(handler.workers(record.max_concurrency, len(items))):
            component._launch_worker(env=env, eval_input=eval_input, job_pool=pool)
        pool.await_jobs()
        failure = pool.get_worker_exception()
        if failure is not None:
            raise failure
        env.stack.append([closed.job_output for closed in pool.get_closed_jobs()])
        handler.finished(env, record, len(items))

    def _eval_job(worker: Any, env: Any, job: Any) -> None:
        def select_input() -> Any:
            env.states.context_object.context_object_data["Map"] = MapData(
                Item=ItemData(Index=job.job_index, Value=job.job_input))
            env.states.reset(job.job_input)
            env.stack.append(env.states.get_input())
            worker._eval_input(env_frame=env)
            return env.states.get_input()

        handler.run_item(env, worker._map_run_record, job, select_input)

    patches.replace(DistributedIterationComponent, "_map_run", _map_run)
    patches.replace(DistributedItemProcessorWorker, "_eval_job", _eval_job)


# --- issue 13: deadline settlement (E7), callback tasks (E4, E5), throttles in Step Functions (E6) ---
def callback_waits_on(patches: PatchSet, make_event: Callable[[], Any]) -> None:
    """The events a callback task waits on (its token, heartbeat and timeout) are made by ``make_event()``: an
    object with ``threading.Event``'s ``is_set``/``set``/``clear``/``wait``."""
    patches.replace(sfn_callback, "Event", make_event)


def heartbeat_expiry_named(patches: PatchSet, error: str) -> None:
    """A callback task whose heartbeat expired fails with the ``States.`` error ``error`` (event ``TaskTimedOut``
    with that error), where moto reports ``States.Timeout``."""
    original = vars(StateTaskServiceCallback)["_from_error"]
    typ = StatesErrorNameType.from_name(error)

    def _from_error(task: Any, env: Any, ex: Exception) -> Any:
        failure = original(task, env, ex)
        if not isinstance(ex, sfn_callback.HeartbeatTimeoutError):
            return failure
        details = dict(failure.event_details or {})
        timed_out = dict(details.get("taskTimedOutEventDetails") or {})
        timed_out["error"] = error
        details["taskTimedOutEventDetails"] = timed_out
        return FailureEvent(env=env, error_name=StatesErrorName(typ=typ), event_type=failure.event_type,
                            event_details=details)

    _from_error.__doc__ = original.__doc__
    patches.replace(StateTaskServiceCallback, "_from_error", _from_error)


def matched_by_error_equals(patches: PatchSet, matches: Callable[[list[str], str], bool]) -> None:
    """A Retry or Catch clause also matches the error being handled when ``matches(clause names, error name)``;
    otherwise moto's matching (and what :func:`unmatched_by_error_equals` refuses) applies."""
    original = vars(ErrorEqualsDecl)["_eval_body"]

    def _eval_body(decl: ErrorEqualsDecl, env: Any) -> None:
        error = getattr(env.stack[-1], "error_name", None)
        names = [str(getattr(name, "error_name", "")) for name in decl.error_names]
        if isinstance(error, str) and matches(names, error):
            env.stack.pop()
            env.stack.append(True)
            return
        original(decl, env)

    _eval_body.__doc__ = original.__doc__
    patches.replace(ErrorEqualsDecl, "_eval_body", _eval_body)


_CLOSED = "_pcf_closed"


def callback_closes_on_end(patches: PatchSet) -> None:
    """Each callback task's token is marked closed when the task ends (see :func:`callback_closed`)."""
    original = vars(sfn_callback.CallbackEndpoint)["interrupt_all"]

    def interrupt_all(endpoint: Any) -> None:
        endpoint.__dict__[_CLOSED] = True
        original(endpoint)

    interrupt_all.__doc__ = original.__doc__
    patches.replace(sfn_callback.CallbackEndpoint, "interrupt_all", interrupt_all)


def callback_endpoint(execution: Any, token: str) -> Any | None:
    """The callback endpoint of ``token`` in ``execution`` (moto's model), if the token is one of its tasks'."""
    worker = getattr(execution, "exec_worker", None)
    env = getattr(worker, "env", None)
    pool = getattr(env, "callback_pool_manager", None)
    return None if pool is None else pool.get(token)


def callback_closed(endpoint: Any) -> bool:
    """Whether the task of ``endpoint`` has ended, or was already answered (success or failure)."""
    return bool(endpoint.__dict__.get(_CLOSED)) or endpoint.get_outcome() is not None


def lambda_task_errors_named(patches: PatchSet, name: Callable[[str], str]) -> None:
    """A Task whose ``Resource`` is a Lambda function ARN and whose invocation the Lambda API refused fails with
    the error ``name(<API error code>)`` (moto: ``Exception``)."""
    _task_errors_named(patches, StateTaskLambda, "lambdaFunctionFailedEventDetails", name)


def _task_errors_named(patches: PatchSet, owner: type, details_key: str, name: Callable[[str], str]) -> None:
    """``owner``'s failures caused by an API refusal (a ``ClientError``) are named ``name(<API error code>)``, in
    the failure and in its history event's ``details_key``."""
    original = vars(owner)["_from_error"]

    def _from_error(task: Any, env: Any, ex: Exception) -> Any:
        failure = original(task, env, ex)
        if not isinstance(ex, ClientError):
            return failure
        error = name(str(ex.response.get("Error", {}).get("Code", "")))
        details = dict(failure.event_details or {})
        failed = dict(details.get(details_key) or {})
        failed["error"] = error
        details[details_key] = failed
        return FailureEvent(env=env, error_name=CustomErrorName(error), event_type=failure.event_type,
                            event_details=details)

    _from_error.__doc__ = original.__doc__
    patches.replace(owner, "_from_error", _from_error)


# --- issue 13: callback tasks, part 2 ---
def timeout_when_unset(patches: PatchSet, seconds: int) -> None:
    """An execution state without ``TimeoutSeconds``/``TimeoutSecondsPath`` times out after ``seconds``, also
    when it has ``HeartbeatSeconds`` (moto: 60)."""
    original = vars(ExecutionState)["from_state_props"]

    def from_state_props(state: Any, state_props: Any) -> None:
        original(state, state_props)
        if state_props.get(Timeout) is None:
            state.timeout = TimeoutSeconds(timeout_seconds=seconds)

    from_state_props.__doc__ = original.__doc__
    patches.replace(ExecutionState, "from_state_props", from_state_props)


class _ThreadingWith:
    """Looks like the ``threading`` module to the module it replaces it in, but makes its events with ``event``."""

    def __init__(self, event: Callable[[], Any]) -> None:
        self.Event = event

    def __getattr__(self, name: str) -> Any:
        return getattr(threading, name)


def state_timeouts_on(patches: PatchSet, event: Callable[[], Any], thread: Callable[..., threading.Thread]) -> None:
    """moto's per-state timeout (``TimeoutSeconds``) waits on ``event()`` (``threading.Event``'s ``set``/``wait``),
    made in the thread that evaluates the state just before ``thread(target=..., daemon=...)`` makes the thread
    that runs the state's work."""
    patches.replace(execute_state, "threading", _ThreadingWith(event))
    patches.replace(execute_state, "Thread", thread)


CallbackWait = Callable[[Any, int, Any, Any, Callable[[], Any]], Any]
"""``wait(env, timeout_seconds, callback_endpoint, heartbeat_endpoint or None, moto_wait)`` -> moto's outcome."""


def callback_waits_with(patches: PatchSet, wait: CallbackWait) -> None:
    """A ``.waitForTaskToken`` task waits for its answer with ``wait`` (``moto_wait()`` is moto's own wait)."""
    original = vars(StateTaskServiceCallback)["_eval_wait_for_task_token"]

    def _eval_wait_for_task_token(task: Any, env: Any, timeout_seconds: int, callback_endpoint: Any,
                                  heartbeat_endpoint: Any) -> Any:
        return wait(env, timeout_seconds, callback_endpoint, heartbeat_endpoint,
                    lambda: original(task, env, timeout_seconds, callback_endpoint, heartbeat_endpoint))

    _eval_wait_for_task_token.__doc__ = original.__doc__
    patches.replace(StateTaskServiceCallback, "_eval_wait_for_task_token", _eval_wait_for_task_token)


def answer_event(callback_endpoint: Any) -> Any:
    """The event an answer to the task (or the end of the task) sets."""
    return callback_endpoint._notify_event


def heartbeat_event(heartbeat_endpoint: Any) -> Any:
    """The event a heartbeat, an answer or the end of the task sets."""
    return heartbeat_endpoint._next_heartbeat_event


def heartbeat_seconds(heartbeat_endpoint: Any) -> float:
    """The task's ``HeartbeatSeconds``."""
    return float(heartbeat_endpoint._heartbeat_seconds)


def end_callback_tasks(env: Any) -> int:
    """End the wait of every callback task (task token) of the execution whose environment is ``env``, as the
    end of each task does (``interrupt_all``); how many tasks it had."""
    pool = getattr(env, "callback_pool_manager", None)
    endpoints = [] if pool is None else list(pool._pool.values())
    for endpoint in endpoints:
        endpoint.interrupt_all()
    return len(endpoints)


def stopped_stays_stopped(patches: PatchSet) -> None:
    """An error recorded after an execution (or a frame of it) was stopped leaves it stopped (moto: ``FAILED``)."""
    original = vars(Environment)["set_error"]

    def set_error(env: Any, error: Any) -> None:
        if isinstance(env.program_state(), ProgramStopped):
            return
        original(env, error)

    set_error.__doc__ = original.__doc__
    patches.replace(Environment, "set_error", set_error)


def no_retry_once_ended(patches: PatchSet) -> None:
    """A state whose execution is no longer running retries nothing (and sleeps no interval)."""
    original = vars(ExecutionState)["_handle_retry"]

    def _handle_retry(state: Any, env: Any, failure_event: Any) -> Any:
        if not env.is_running():
            return RetryOutcome.CannotRetry
        return original(state, env, failure_event)

    _handle_retry.__doc__ = original.__doc__
    patches.replace(ExecutionState, "_handle_retry", _handle_retry)


def sfn_task_errors_named(patches: PatchSet, name: Callable[[str], str]) -> None:
    """A ``states:startExecution`` task (any pattern) refused by the Step Functions API fails with the error
    ``name(<API error code>)``."""
    _task_errors_named(patches, StateTaskServiceSfn, "taskFailedEventDetails", name)


# --- issue 13: atomic EC2 instance states (E7/E8 race) ---
_changing = threading.local()
"""Per thread: ``states`` (id(instance) -> the private copy being changed), ``launch`` (the state new instances
are shown in, or ``None``)."""


class _ShownState(InstanceState):
    """An instance's state once readers may hold it: never changed in place, a change shows a new object."""

    def __init__(self, name: str, code: int) -> None:
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "code", code)

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(vars(Instance).get(_STATE), property):
            raise AttributeError(f"an instance state readers may hold is never changed in place (set {name!r} to "
                                 f"{value!r}): change it inside moto_private.state_change(instance)")
        object.__setattr__(self, name, value)  # the patches are gone: moto's own behaviour


def _current_state(instance: Instance) -> Any:
    drafts: dict[int, Any] | None = getattr(_changing, "states", None)
    if drafts:
        draft = drafts.get(id(instance))
        if draft is not None:
            return draft
    return instance.__dict__[_STATE]


def _assign_state(instance: Instance, value: Any) -> None:
    drafts: dict[int, Any] | None = getattr(_changing, "states", None)
    if drafts and id(instance) in drafts:
        drafts[id(instance)] = InstanceState(value.name, value.code)  # moto may go on writing into it
        return
    launch: tuple[str, int] | None = getattr(_changing, "launch", None)
    if launch is not None and _STATE not in instance.__dict__:
        value = _ShownState(*launch)  # a new instance: born in the state it is launched in
    instance.__dict__[_STATE] = value if isinstance(value, _ShownState) else _ShownState(value.name, value.code)


@contextmanager
def state_change(instance: Instance) -> Iterator[None]:
    """Make the state changes of the block, moto's in-place ``name``/``code`` assignments included, visible to
    other threads at once when it ends: inside, this thread reads and writes a private copy of ``instance``'s
    state; the copy is then shown with one assignment (also if the block raises, as moto's writes would have
    been). Re-entrant per instance."""
    drafts: dict[int, Any] | None = getattr(_changing, "states", None)
    if drafts is None:
        drafts = _changing.states = {}
    key = id(instance)
    if key in drafts:
        yield
        return
    shown = instance.__dict__[_STATE]
    drafts[key] = InstanceState(shown.name, shown.code)
    try:
        yield
    finally:
        draft = drafts.pop(key)
        if (draft.name, draft.code) != (shown.name, shown.code):
            instance.__dict__[_STATE] = _ShownState(draft.name, draft.code)


def store_state(instance: Instance, name: str, code: int) -> None:
    """Set ``instance``'s state to ``(name, code)`` as one change (inside :func:`state_change`: its copy)."""
    _assign_state(instance, _ShownState(name, code))


@contextmanager
def new_instances_shown_as(state: tuple[str, int] | None) -> Iterator[None]:
    """Instances this thread creates within the block start in ``state`` (``None``: moto's), so that no reader
    ever sees them in moto's initial state first."""
    previous = getattr(_changing, "launch", None)
    _changing.launch = state
    try:
        yield
    finally:
        _changing.launch = previous


# --- issue 13: EC2 tag index (E8) ---
TagsWritten = Callable[[Any, list[str]], None]
"""``written(backend, resource_ids)``: the tags of those resources of that EC2 backend may have changed."""
TagCandidates = Callable[[Any, Any], "list[Any] | None"]
"""``candidates(backend, filters)``: the resources (reservations, volumes) a tag-filtered describe can only find
among, in moto's order, or ``None`` for all of them."""

_TAG_WRITES = ("create_tags", "delete_tags", "delete_tag_keys")


def tag_writes_observed(patches: PatchSet, written: TagsWritten) -> None:
    """``written(backend, resource_ids)`` after every change moto makes to EC2 tags (``CreateTags``, ``DeleteTags``,
    the ``TagSpecifications`` of ``RunInstances``/``CreateVolume`` and every other ``add_tags``: all end in these
    three methods of ``TagBackend``, the only code that writes ``TagBackend.tags``), whether it succeeded or not."""
    for name in _TAG_WRITES:
        patches.replace(TagBackend, name, _tag_write_observed(vars(TagBackend)[name], written))


def _tag_write_observed(original: Callable[..., Any], written: TagsWritten) -> Callable[..., Any]:
    def write(backend: Any, resource_ids: list[str], tags: Any) -> Any:
        try:
            return original(backend, resource_ids, tags)
        finally:
            written(backend, list(resource_ids))

    write.__name__ = original.__name__
    write.__doc__ = original.__doc__
    return write


def resource_tags(backend: Any) -> Any:
    """moto's ``{resource id: {key: value}}`` of an EC2 backend (the live mapping: read, never write)."""
    return backend.tags


def instance_tag_filters_narrowed(patches: PatchSet, candidates: TagCandidates) -> None:
    """moto's ``DescribeInstances`` without ``InstanceIds`` runs over the reservations ``candidates(backend,
    filters)`` returns (a superset of those its tag filters can match) instead of every reservation; moto's own
    filter code still decides the answer. Installed over :func:`instance_lookups_narrowed`."""
    original = vars(InstanceBackend)["describe_instances"]

    def describe_instances(backend: Any, filters: Any = None) -> Any:
        found = candidates(backend, filters)
        return original(backend if found is None else _NarrowedReservations(backend, found), filters)

    describe_instances.__doc__ = original.__doc__
    patches.replace(InstanceBackend, "describe_instances", describe_instances)


class _NarrowedVolumes:
    """A moto EBS backend seen through only some volumes: moto's own ``describe_volumes`` runs over them."""

    def __init__(self, backend: Any, volumes: Iterable[Any]) -> None:
        self._backend = backend
        self.volumes = {volume.id: volume for volume in volumes}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._backend, name)


def volume_tag_filters_narrowed(patches: PatchSet, candidates: TagCandidates) -> None:
    """moto's ``DescribeVolumes`` without ``VolumeIds`` runs over the volumes ``candidates(backend, filters)``
    returns (a superset of those its tag filters can match) instead of every volume; moto's own filter code still
    decides the answer."""
    owner = EBSBackend
    original = vars(owner)["describe_volumes"]

    def describe_volumes(backend: Any, volume_ids: list[str] | None = None, filters: Any = None) -> Any:
        found = None if volume_ids else candidates(backend, filters)
        return original(backend if found is None else _NarrowedVolumes(backend, found), volume_ids, filters)

    describe_volumes.__doc__ = original.__doc__
    patches.replace(owner, "describe_volumes", describe_volumes)


def ebs_volumes(backend: Any) -> Any:
    """moto's ``{volume id: volume}`` of an EC2 backend, in creation order (the live mapping: read, never write)."""
    return backend.volumes


# --- issue 13: transactions ---
class TransactionJournal:
    """What the local cloud does where moto's ``TransactWriteItems`` copies whole tables
    (:mod:`pcf_local_cloud.dynamodb_transactions` implements it)."""

    def before(self, table: Any, hash_key: Any, range_key: Any) -> None:
        """The transaction is about to read the item at this key of ``table`` (a moto ``Table``; the keys are
        ``DynamoType`` values, ``range_key`` ``None`` without a sort key), and may then write it."""
        raise NotImplementedError

    def cancelled(self) -> None:
        """moto's transaction raised (cancelled, refused, or failed): put back everything :meth:`before` saw."""
        raise NotImplementedError


_transactions = threading.local()


class _CopyKeepingJournaledTables:
    """Looks like the ``copy`` module to moto's DynamoDB backend, but a ``Table`` deep-copied inside a journaled
    transaction is the table itself."""

    def deepcopy(self, value: Any, memo: dict[int, Any] | None = None) -> Any:
        if isinstance(value, Table) and getattr(_transactions, "journal", None) is not None:
            return value
        return copy.deepcopy(value, memo)

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)


def dynamodb_transactions_journaled(patches: PatchSet, journal: Callable[[], TransactionJournal | None]) -> None:
    """Each ``TransactWriteItems`` of moto's backend asks ``journal()`` for its journal. With one, moto's own method
    runs unchanged but copies no table (its put-back of the 'copies' is a no-op): ``journal.before(...)`` sees each
    key before moto reads, checks and may write its item, and ``journal.cancelled()`` runs if the method raises,
    whatever it raised. With ``None``, moto copies and puts back whole tables as it does unpatched."""
    transact = vars(DynamoDBBackend)["transact_write_items"]
    get_item = vars(DynamoDBBackend)["get_item"]

    def transact_write_items(backend: Any, transact_items: list[dict[str, Any]]) -> None:
        current = journal()
        outer = getattr(_transactions, "journal", None)
        _transactions.journal = current
        try:
            transact(backend, transact_items)
        except BaseException:
            if current is not None:
                current.cancelled()
            raise
        finally:
            _transactions.journal = outer

    def journaled_get_item(backend: Any, table_name: str, keys: dict[str, Any],
                           projection_expressions: list[list[str]] | None = None) -> Any:
        current = getattr(_transactions, "journal", None)
        if current is not None:
            found = _table_and_key(backend, table_name, keys)
            if found is not None:
                current.before(*found)
        return get_item(backend, table_name, keys, projection_expressions)

    transact_write_items.__doc__ = transact.__doc__
    journaled_get_item.__doc__ = get_item.__doc__
    patches.replace(dynamodb_models, "copy", _CopyKeepingJournaledTables())
    patches.replace(DynamoDBBackend, "transact_write_items", transact_write_items)
    patches.replace(DynamoDBBackend, "get_item", journaled_get_item)


def _table_and_key(backend: Any, table_name: str, keys: dict[str, Any]) -> tuple[Any, Any, Any] | None:
    """``(table, hash_key, range_key)`` as moto's ``get_item`` reads them, or ``None`` where it refuses them (it
    then raises the same refusal itself)."""
    try:
        table = backend.get_table(table_name)
        hash_key, range_key = backend.get_keys_value(table, keys)
    except Exception:  # whatever it is, moto's get_item (called next) raises it to the transaction
        return None
    return table, hash_key, range_key


@dataclass(frozen=True)
class ItemBefore:
    """An item of a table as it was before a transaction touched it: a copy, or ``None`` if there was none."""

    table: Any
    hash_key: Any
    range_key: Any
    item: Any


def item_before(table: Any, hash_key: Any, range_key: Any) -> ItemBefore:
    """A copy of the item at this key of ``table`` now (moto updates items in place), or its absence."""
    current = stored_item(table, hash_key, range_key)
    return ItemBefore(table, hash_key, range_key, None if current is None else copy.deepcopy(current))


def put_back(before: ItemBefore) -> None:
    """Store ``before.item`` at its key again, or remove the key's item if there was none."""
    table, hash_key, range_key, item = before.table, before.hash_key, before.range_key, before.item
    if table.range_key_attr is None:
        if item is None:
            dict.pop(table.items, hash_key, None)
        else:
            table.items[hash_key] = item
        return
    partition = dict.get(table.items, hash_key)  # not items[...]: the defaultdict would grow
    if item is not None:
        if partition is None:
            partition = dict.setdefault(table.items, hash_key, {})
        partition[range_key] = item
    elif partition is not None:
        partition.pop(range_key, None)


def partition_present(table: Any, hash_key: Any) -> bool:
    """Whether ``table`` holds an entry for this partition key (moto's ``Table.get_item`` adds an empty one to a
    table with a sort key)."""
    return dict.get(table.items, hash_key) is not None


def drop_partition_if_empty(table: Any, hash_key: Any) -> None:
    """Remove the entry of this partition key from ``table`` if it holds no item (a table with a sort key)."""
    partition = dict.get(table.items, hash_key)
    if table.range_key_attr is not None and partition is not None and not partition:
        dict.pop(table.items, hash_key, None)


@dataclass(frozen=True)
class StreamMark:
    """Where a table's stream stood: its shard, the shard's record list and its length."""

    table: Any
    shard: Any
    records: list[Any]
    length: int


def stream_mark(table: Any) -> StreamMark | None:
    """Where the stream of ``table`` stands now (``None``: no stream)."""
    shard = table.stream_shard
    return None if shard is None else StreamMark(table, shard, shard.items, len(shard.items))


def rewind_stream(mark: StreamMark) -> None:
    """Withdraw the records added since ``mark`` (also when moto handed them to an event source mapping and
    started a new list)."""
    del mark.records[mark.length:]
    mark.shard.items = mark.records
    mark.table.stream_shard = mark.shard
