"""Tags of resources a test creates by hand: this deployment's, so the framework counts them as its own."""

from __future__ import annotations

from pcf.util.aws.tag_specifications import DEPLOYMENT_TAG, NAME_TAG, deployment_name
from pcf_local_cloud.control_plane import stage_environment


def named(name: str, *, stage: str | None = None) -> list[dict[str, str]]:
    """``PCFName`` = ``name`` and this deployment's ``PCFDeployment``: ``$PCF_DEPLOYMENT`` now, or the one the
    CLI gives ``stage``'s functions."""
    deployment = stage_environment(stage)["PCF_DEPLOYMENT"] if stage else deployment_name()
    return [{"Key": NAME_TAG, "Value": name}, {"Key": DEPLOYMENT_TAG, "Value": deployment}]
