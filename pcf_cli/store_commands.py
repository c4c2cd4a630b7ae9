"""``pcf status`` and ``pcf history``: what the control plane's state table holds (no EC2 call), on a target that
keeps state: AWS, or a shared local cloud (``docs/cli.md``, "status and history")."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from pcf.core.pcf_exceptions import DefinitionError
from pcf.util.aws.tag_specifications import DEFAULT_DEPLOYMENT
from pcf_cli.environment import CliEnvironment
from pcf_cli.exit_codes import ExitCode
from pcf_cli.output import print_table
from pcf_cli.selection import build_definitions, definition_file, load_definitions, select
from pcf_cli.stages import read_stage
from pcf_cli.targets import Target, TargetSettings

STATUS_HEADER = ("pcf_id", "desired", "observed", "id", "observed at", "lease")
HISTORY_HEADER = ("at (UTC)", "kind", "execution", "detail")
EPHEMERAL_STORE = (
    "the in-process local cloud starts empty at every command, so it holds no stored state; "
    "`pcf local start` starts a shared local cloud that keeps it (or use --target aws)"
)


@dataclass(frozen=True)
class StoreView:
    """A state store to read, with the table and deployment it is for."""

    store: Any
    table_name: str
    deployment: str
    where: str


def lasting(target: Target) -> Target:
    """``target``, unless it is the in-process local cloud (it holds no deployment between commands)."""
    if target.ephemeral:
        raise DefinitionError("--target", f"{target.name}: {EPHEMERAL_STORE}")
    return target


@contextmanager
def open_store(args: SimpleNamespace, env: CliEnvironment) -> Iterator[StoreView]:
    """The state table of the stage (``--table``/``--deployment`` override it) on the target, for the block."""
    try:
        stage = read_stage(args.stage)
    except DefinitionError:
        if not args.table:
            raise
        stage = None
    table = args.table or (stage.table_name if stage else "")
    deployment = getattr(args, "deployment", None) or (stage.deployment if stage else DEFAULT_DEPLOYMENT)
    with env.open_target(TargetSettings.of(args)) as target:
        from pcf_control_plane.store import DynamoDBStateStore

        store = DynamoDBStateStore(lasting(target).client_factory.client("dynamodb"), table)
        with missing_table("--table", f"{no_table(table, target)}, or pass --stage/--table"):
            yield StoreView(store, table, deployment, f"table {table} ({target.name}, {target.region})")


def no_table(table: str, target: Target) -> str:
    """Why a missing state table is bad input, and what to do."""
    return f"no table {table!r} on {target.name} in {target.region}: deploy the stage (docs/deploying.md)"


@contextmanager
def missing_table(option: str, message: str) -> Iterator[None]:
    """A missing state table met in the block, as ``DefinitionError(option, message)``."""
    try:
        yield
    except Exception as error:
        if "ResourceNotFoundException" not in str(error):
            raise
        raise DefinitionError(option, message) from None


def status(args: SimpleNamespace, env: CliEnvironment) -> ExitCode:
    """One row per particle: desired and observed state, resource id, when observed, lease holder."""
    pcf_ids = _named_ids(args, env)
    with open_store(args, env) as view:
        if pcf_ids is None:
            records = [record for batch in view.store.list_particles(view.deployment) for record in batch]
            if not records:
                env.stdout.write(f"no particles of deployment {view.deployment} in {view.where}\n")
                return ExitCode.OK
        else:
            found = _expand(view.store, pcf_ids)
            records = list(view.store.get_many(found).values())
            if not records:
                raise DefinitionError("NAME", f"nothing is stored for {', '.join(pcf_ids)} in {view.where}")
        rows = status_rows(view.store, sorted(records, key=lambda r: r.pcf_id), time.time)
    print_table(env.out, STATUS_HEADER, rows)
    return ExitCode.OK


def status_rows(store: Any, records: list[Any], now: Callable[[], float]) -> list[tuple[str, ...]]:
    """The status table's rows for ``records`` (the store's ``ParticleRecord``: spec and observation)."""
    rows: list[tuple[str, ...]] = []
    at = now()
    for record in records:
        spec, seen = record.spec, record.observation
        lease = store.current_lease(record.pcf_id)
        rows.append((
            record.pcf_id,
            str(spec.desired_state) if spec else "-",
            str(seen.state) if seen else "-",
            (seen.resource_id or "-") if seen else "-",
            age(at - seen.observed_at) if seen else "never",
            name_in_arn(lease.owner) if lease else "-",
        ))
    return rows


def history(args: SimpleNamespace, env: CliEnvironment) -> ExitCode:
    """The particle's history, newest first."""
    with open_store(args, env) as view:
        items = view.store.list_history(args.pcf_id, limit=args.limit)
        if not items and view.store.get_particle(args.pcf_id) is None:
            raise DefinitionError("PCF_ID", f"no particle {args.pcf_id!r} in {view.where} (pcf status lists them)")
    print_table(env.out, HISTORY_HEADER, history_rows(items))
    return ExitCode.OK


def history_rows(items: list[Any]) -> list[tuple[str, ...]]:
    """The history table's rows for ``items`` (``HistoryItem``): time, kind, execution or cause, detail."""
    return [(_utc(item.at), str(item.kind), name_in_arn(item.cause), describe_detail(item.detail))
            for item in items]


def _named_ids(args: SimpleNamespace, env: CliEnvironment) -> list[str] | None:
    """The pcf_ids ``NAME``/``-f`` pick (``None``: the whole deployment); without ``-f``, a ``flavor:name`` NAME is
    a stored pcf_id."""
    name = args.name
    if name and ":" in name and not args.file:
        return [name]
    if not name and not args.file:
        return None
    path = definition_file(args.file, env.cwd)
    built = build_definitions(load_definitions(path), root=path.parent)
    return list(dict.fromkeys(p.pcf_id for selection in select(built, name) for p in selection.particles()))


def _expand(store: Any, pcf_ids: list[str]) -> list[str]:
    """``pcf_ids`` with a quasiparticle's pcf_id replaced by its members' (one given by NAME)."""
    if len(pcf_ids) != 1:
        return pcf_ids
    return store.members_of(pcf_ids[0]) or pcf_ids


def name_in_arn(cause: str) -> str:
    """An execution ARN's last ``:`` segment (its name); other causes as they are."""
    return cause.rsplit(":", 1)[-1] if cause.startswith("arn:") else cause


def age(seconds: float) -> str:
    """``12s ago``, ``3m ago``, ``2h ago``, ``4d ago``."""
    seconds = max(0.0, seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit} ago"
    return f"{int(seconds)}s ago"


def describe_detail(detail: dict[str, Any]) -> str:
    """``key=value`` pairs, in the detail's order."""
    return " ".join(f"{key}={value}" for key, value in detail.items())


def _utc(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S")
