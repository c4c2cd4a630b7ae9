"""``pcf replay``: run again the event and schedule invocations that failed after Lambda's retries, from the stage's
failed-events queue: a record replayed is deleted, one that fails again stays; only the stage's own functions are
invoked (``docs/cli.md``, "drift, reconcile, heal and replay", lists the permissions it needs)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from types import SimpleNamespace
from typing import Any

from pcf.core.pcf_exceptions import DefinitionError
from pcf.core.printable import escape_unprintable
from pcf_cli.environment import CliEnvironment
from pcf_cli.exit_codes import ExitCode
from pcf_cli.output import print_table
from pcf_cli.stages import Stage, read_stage
from pcf_cli.store_commands import lasting
from pcf_cli.targets import TargetSettings
from pcf_control_plane.outcome import lambda_error_text

RECEIVE_BATCH = 10
VISIBILITY_SECONDS = 300
"""How long a received record stays hidden from another replay while this one runs it."""
REPLAY_HEADER = ("received", "function", "event", "why it failed", "outcome")


@dataclass(frozen=True)
class Replayed:
    """One record: when Lambda gave up, the function, the event (detail-type and id), why, and what replaying did."""

    received: str
    function: str
    event: str
    failure: str
    outcome: str
    ok: bool

    def row(self) -> tuple[str, ...]:
        return tuple(escape_unprintable(cell) for cell in (self.received, self.function, self.event, self.failure,
                                                           self.outcome))


def replay(sqs: Any, lambda_client: Any, stage: Stage, *, dry_run: bool, limit: int) -> list[Replayed]:
    """Replay (or, with ``dry_run``, list) at most ``limit`` records of ``stage``'s failed-events queue."""
    try:
        queue_url = sqs.get_queue_url(QueueName=stage.failed_events_queue)["QueueUrl"]
    except sqs.exceptions.QueueDoesNotExist:
        raise DefinitionError("--stage", f"no queue {stage.failed_events_queue}: deploy the stage "
                                         "(docs/deploying.md), or pass --stage") from None
    done, kept = [], []
    for message in _messages(sqs, queue_url, limit):
        outcome = _one(lambda_client, stage, message, dry_run)
        if outcome.ok and not dry_run:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        else:
            kept.append(message["ReceiptHandle"])
        done.append(outcome)
    for handle in kept:  # hidden while this run received the others; visible again for the next replay
        sqs.change_message_visibility(QueueUrl=queue_url, ReceiptHandle=handle, VisibilityTimeout=0)
    return done


def _messages(sqs: Any, queue_url: str, limit: int) -> Iterator[dict[str, Any]]:
    """Received messages, each once, until ``limit`` or the queue shows no more."""
    seen = 0
    while seen < limit:
        batch = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=min(RECEIVE_BATCH, limit - seen),
                                    VisibilityTimeout=VISIBILITY_SECONDS).get("Messages", [])
        if not batch:
            return
        for message in batch:
            seen += 1
            yield message


def _one(lambda_client: Any, stage: Stage, message: dict[str, Any], dry_run: bool) -> Replayed:
    try:
        record = json.loads(message["Body"])
        context = record["requestContext"]
        function_arn = str(context["functionArn"]).split(":$LATEST")[0]
        payload = record["requestPayload"]
    except (ValueError, KeyError, TypeError):
        return Replayed("-", "-", "-", "-", "left: not a Lambda invocation record", False)
    function = function_arn.rsplit(":", 1)[-1]
    response = record.get("responsePayload")
    failure = (f"{response.get('errorType')}: {response.get('errorMessage')}" if isinstance(response, dict)
               else str(context.get("condition", "")))
    event = (f"{payload.get('detail-type', '?')} {payload.get('id', '')}".strip() if isinstance(payload, dict)
             else "?")
    seen = Replayed(str(record.get("timestamp", "-")), function, event, _short(failure), "", False)
    if not function.startswith(f"{stage.stack_name}-"):
        return replace(seen, outcome=f"left: not a function of stage {stage.name}")
    if dry_run:
        return replace(seen, outcome="would replay", ok=True)
    answer = lambda_client.invoke(FunctionName=function_arn, Payload=json.dumps(payload).encode())
    body = answer["Payload"].read()
    if answer.get("FunctionError"):
        return replace(seen, outcome=f"failed again, kept: {_short(lambda_error_text(body))}")
    return replace(seen, outcome="replayed, deleted", ok=True)


def _short(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def replay_command(args: SimpleNamespace, env: CliEnvironment) -> ExitCode:
    """``pcf replay``: OK when every record was replayed (or listed, or there was none), FAILED when one failed
    again or was left."""
    stage = read_stage(args.stage)
    with env.open_target(TargetSettings.of(args)) as target:
        factory = lasting(target).client_factory
        done = replay(factory.client("sqs"), factory.client("lambda"), stage, dry_run=args.dry_run,
                      limit=args.limit)
    if done:
        print_table(env.out, REPLAY_HEADER, [item.row() for item in done])
    verb = "listed" if args.dry_run else "replayed"
    good = sum(item.ok for item in done)
    env.stdout.write(f"{stage.failed_events_queue}: {len(done)} record(s), {good} {verb}"
                     f"{'; dry run, nothing invoked or deleted' if args.dry_run else ''}\n")
    return ExitCode.OK if good == len(done) else ExitCode.FAILED
