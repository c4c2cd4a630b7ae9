"""A rollback through the ``apply`` machine runs page by page: each page of the failed apply is rolled back by
``rollback_page`` (under its own role, IAM enforced) before the page machine runs what it set to be terminated, a
page with nothing to terminate starts no page execution, and the parent's history grows by page, not by particle."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from pcf_control_plane import wiring
from tests.control_plane.test_mass_failure import deny_run_instances
from tests.support.deployments import deployed


@pytest.fixture
def deployment(cloud: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    yield from deployed(cloud, monkeypatch.setenv, "rbpages", rules_off=True)


def definition(name: str, ami_id: str, workers: int) -> dict[str, Any]:
    """A volume (created) and ``workers`` instances on it (all refused): one page per level."""
    anchor = {"pcf_name": f"{name}-anchor", "flavor": "ebs_volume",
              "aws_resource": {"AvailabilityZone": "us-east-1a", "Size": 8,
                               "custom_config": {"volume_name": f"{name}-anchor"}}}
    return {"pcf_name": name, "flavor": "quasiparticle", "particles": [anchor, *[
        {"pcf_name": f"{name}-w{n:02d}", "flavor": "ec2_instance", "parents": [f"ebs_volume:{name}-anchor"],
         "aws_resource": {"ImageId": ami_id, "InstanceType": "t3.micro",
                          "custom_config": {"instance_name": f"{name}-w{n:02d}"}}} for n in range(workers)]]}


def entered(result: Any, state: str) -> int:
    return sum(1 for e in result.history if e["type"].endswith("StateEntered")
               and e["stateEnteredEventDetails"]["name"] == state)


def failed_and_rolled_back(deployment: Any, ami_id: str, name: str, workers: int) -> Any:
    result = deployment.run_execution("apply", {"definition": definition(name, ami_id, workers),
                                                "desired_state": "running", "wait_seconds": 0, "max_polls": 20,
                                                "rollback": True}, name=name, timeout_s=120)
    assert (result.status, result.output["error"]) == ("FAILED", "TransitionError")
    store = wiring.control_plane().store
    anchor = store.get_spec(f"ebs_volume:{name}-anchor")
    assert anchor is not None and anchor.desired_state == "terminated", "the rollback ran"
    assert store.get_observation(f"ebs_volume:{name}-anchor").state in ("terminated", "deleted")
    worker = store.get_spec(f"ec2_instance:{name}-w00")
    assert (worker.desired_state, worker.flags.rolled_back_by) == ("running", deployment.execution_arn("apply", name))
    return result


def test_a_rollback_runs_page_by_page_and_grows_the_parent_history_by_page_not_by_particle(
    deployment: Any, cloud: Any, ami_id: str
) -> None:
    deny_run_instances(cloud)

    few = failed_and_rolled_back(deployment, ami_id, "few", 2)
    many = failed_and_rolled_back(deployment, ami_id, "many", 40)

    for result in (few, many):
        assert entered(result, "RollbackPage") == 2, "one per page of the apply, both levels"
        assert entered(result, "RunPage") == 2 + 1, "the apply's two pages, then only the page that terminates"
        assert entered(result, "NothingToTerminate") == 1, "the workers' page: all failed, nothing created"
    assert len(many.history) == len(few.history), "20 times the particles, the same pages: the same history"
