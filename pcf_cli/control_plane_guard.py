"""``--engine direct`` is refused where the stage's control plane runs (the shared local server, or a target holding
its state table): it would take a change made in this process for drift and undo it (``docs/cli.md``, "One member,
and --engine direct")."""

from __future__ import annotations

from botocore.exceptions import ClientError, NoCredentialsError

from pcf.core.pcf_exceptions import DefinitionError
from pcf_cli.stages import read_stage
from pcf_cli.targets import Target

NOT_FOUND = "ResourceNotFoundException"


def refuse_beside_control_plane(target: Target, stage: str) -> None:
    """``DefinitionError`` (exit 2, nothing done) when ``target`` holds the control plane of ``stage``."""
    if target.ephemeral:
        return
    if target.apply_arn:
        where = "the local server runs the control plane"
    else:
        try:
            table = read_stage(stage).table_name
        except DefinitionError:
            return  # no stage config here: no control plane this CLI could know of
        try:
            target.client_factory.client("dynamodb").describe_table(TableName=table)
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            if code == NOT_FOUND:
                return
            raise DefinitionError(
                "--engine", f"direct: whether stage {stage!r}'s control plane is deployed on {target.name} could not "
                            f"be checked (dynamodb:DescribeTable on {table}: {code}); the direct engine is refused "
                            "where that is unknown. Use --engine stepfunctions (the default), or allow "
                            "dynamodb:DescribeTable on the stage's table") from error
        except NoCredentialsError:
            return  # nothing can be read there, nor changed: the command fails on its own first AWS call
        where = f"stage {stage!r}'s control plane is deployed on {target.name} (table {table})"
    raise DefinitionError(
        "--engine", f"direct: {where}; it would take a change made in this process for drift and undo it. "
                    "Use --engine stepfunctions (the default): it records the desired state, and acts on one "
                    "member of a quasiparticle too (e.g. pcf stop worker-1 -f cluster.yml)")
