"""One test per row of ``docs/compatibility.md``'s table of deliberate differences: what the original PCF did
there, and what this project does instead. ``test_every_row_has_its_test`` keeps the table and the tests in step."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any, ClassVar

import pytest

import pcf
from pcf.core import State
from pcf.core.apply_engine import ApplyResult
from pcf.core.builder import build
from pcf.core.definition import ParticleDefinitionModel
from pcf.core.definition_file import parse_definition_text
from pcf.core.particle import Particle
from pcf.core.pcf_exceptions import (
    ApplyFailed,
    ApplyTimedOut,
    DefinitionError,
    ForeignResourceError,
    InvalidUniqueKeysException,
    InvalidValueReplaceException,
    MaxTimeoutException,
    NoCallbackFunctionException,
    ResourceLookupNotDefinedException,
    TransitionError,
)
from pcf.core.quasiparticle import Quasiparticle
from pcf.core.runtime import PollPolicy, Runtime
from pcf.particle.aws.ec2.ec2_instance import EC2Instance
from pcf.util.aws.aws_lookup import AWSLookup
from pcf.util.aws.tag_specifications import TagSpecifications
from pcf_cli.environment import CliEnvironment
from pcf_cli.main import run_cli
from pcf_cli.selection import build_definitions
from pcf_local_cloud.clock import VirtualClock

TABLE = Path(__file__).resolve().parents[2] / "docs" / "compatibility.md"


def table_ids() -> list[str]:
    return [i for i in re.findall(r"^\| ([a-z][a-z-]+) \|", TABLE.read_text(encoding="utf-8"), re.M) if i != "id"]


def test_every_row_has_its_test() -> None:
    ids = table_ids()
    assert len(ids) >= 20
    tests = {name for name in globals() if name.startswith("test_")}
    assert [i for i in ids if f"test_{i.replace('-', '_')}" not in tests] == []


@pytest.fixture
def virtual() -> Runtime:
    clock = VirtualClock()
    return Runtime(clock=clock.now, sleep=clock.sleep, poll=PollPolicy(1.0, 1.0, 1.0))


def instance(name: str, **custom: Any) -> dict[str, Any]:
    return {"pcf_name": name, "flavor": "ec2_instance",
            "aws_resource": {"ImageId": "ami-12345678", "InstanceType": "t3.micro",
                             "custom_config": {"instance_name": f"pcf-{name}", **custom}}}


class Mover(Particle):
    """Moves at once; ``stuck`` in the name: never moves; ``fail``: ``_start`` raises."""

    flavor = "table_mover"

    def sync_state(self) -> None:
        if "_state" not in self.__dict__:
            self.state = State.terminated

    def _start(self) -> None:
        if "fail" in self.name:
            raise ValueError(f"{self.name} failed")
        if "stuck" not in self.name:
            self.state = State.running

    def _terminate(self) -> None:
        self.state = State.terminated


class OpenSpec(ParticleDefinitionModel):
    strict_keys: ClassVar[bool] = False


class OwnKeys(Mover):
    flavor = "table_own_keys"
    definition_model = OpenSpec


def group(*members: dict[str, Any]) -> Quasiparticle:
    return Quasiparticle({"pcf_name": "g", "flavor": "quasiparticle", "particles": list(members)})


def mover(name: str, **extra: Any) -> dict[str, Any]:
    return {"pcf_name": name, "flavor": "table_mover", **extra}


def test_unknown_keys() -> None:
    with pytest.raises(DefinitionError, match=r"did you mean 'parents'.*declares them in its definition_model"):
        Mover(mover("m", parent=["table_mover:x"]))
    assert OwnKeys({"pcf_name": "k", "flavor": "table_own_keys", "setting": 1}).particle_definition["setting"] == 1


def test_checked_when_built() -> None:
    with pytest.raises(DefinitionError, match="InstanceTyp"):
        build({**instance("web"), "aws_resource": {"ImageId": "ami-12345678", "InstanceTyp": "t3.micro",
                                                    "custom_config": {"instance_name": "web"}}})
    with pytest.raises(ResourceLookupNotDefinedException, match="malformed reference"):
        build(instance("web", tags={"Owner": "$lookup$no-kind"}))


def test_userdata_template(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DefinitionError, match="lies outside"):
        build(instance("web", userdata_template_file="/etc/passwd"))


def test_callbacks_by_name() -> None:
    with pytest.raises(NoCallbackFunctionException):
        Mover(mover("m", callbacks={"start": {"function": "os:system"}}))


def test_top_level_multiplier() -> None:
    with pytest.raises(DefinitionError, match="members of a quasiparticle only"):
        build({**instance("web"), "multiplier": 2})


def test_top_level_parents() -> None:
    with pytest.raises(DefinitionError, match="names no other top-level definition"):
        build_definitions([{**instance("web"), "parents": ["ec2_instance:ghost"]}])


def test_resource_names_unique() -> None:
    with pytest.raises(InvalidUniqueKeysException):
        build_definitions([instance("web"), instance("other", instance_name="pcf-web")])

    class Shared(Mover):
        flavor = "table_shared"
        UNIQUE_KEYS: ClassVar[list[str]] = ["aws_resource.custom_config.name"]

    same = {"custom_config": {"name": "one"}}
    quasi = group({"pcf_name": "a", "flavor": "table_shared", "aws_resource": same},
                  {"pcf_name": "b", "flavor": "table_shared", "aws_resource": same})
    assert len(quasi.members()) == 2


def test_file_limits() -> None:
    with pytest.raises(DefinitionError, match="duplicate key"):
        parse_definition_text('{"pcf_name": "a", "pcf_name": "b"}', "json", "x.json")
    with pytest.raises(DefinitionError):
        parse_definition_text("yes: 1\n", "yaml", "x.yml")


def test_pcf_name_characters() -> None:
    with pytest.raises(DefinitionError, match="pcf_name"):
        Mover(mover("a:b"))


def test_ownership(cloud: Any, ec2: Any, ami_id: str, runtime: Runtime) -> None:
    ec2.run_instances(ImageId=ami_id, MinCount=1, MaxCount=1, TagSpecifications=[{"ResourceType": "instance", "Tags": [
        {"Key": "PCFName", "Value": "pcf-web"}, {"Key": "PCFDeployment", "Value": "another-stage"}]}])
    particle = EC2Instance(instance("web"))
    particle.set_desired_state(State.terminated)
    with pytest.raises(ForeignResourceError, match="another deployment"):
        particle.apply(runtime=runtime)
    states = [i["State"]["Name"] for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]]
    assert states == ["running"]


def test_instance_tags() -> None:
    particle = EC2Instance({"pcf_name": "web", "flavor": "ec2_instance", "aws_resource": {
        "ImageId": "ami-12345678", "tags": {"Team": "top", "Test": "Tag"},
        "custom_config": {"instance_name": "web", "tags": {"Team": "custom"}}}})
    assert particle.normalized_definition["aws_resource"]["custom_config"]["tags"] == {"Team": "custom", "Test": "Tag"}
    assert "tags" not in particle.desired_state_definition
    assert particle.particle_definition["aws_resource"]["tags"] == {"Team": "top", "Test": "Tag"}


def test_rollback(virtual: Runtime) -> None:
    quasi = group(mover("kept", persist_on_termination=True), mover("made"),
                  mover("zfail", parents=["table_mover:made"]))
    kept = quasi.get_particle("table_mover", "kept")
    assert kept is not None
    kept.state = State.running  # pre-existing: not created by this apply
    quasi.set_desired_state(State.running)
    with pytest.raises(ValueError, match="zfail failed"):
        quasi.apply(rollback=True, runtime=virtual)
    assert {p.name: p.state for p in quasi.members()} == {
        "kept": State.running, "made": State.terminated, "zfail": State.terminated}


def test_no_progress(virtual: Runtime) -> None:
    stuck = Mover(mover("stuck"))
    stuck.set_desired_state(State.running)
    with pytest.raises(TransitionError, match="after 8 transitions"):
        stuck.apply(runtime=virtual)
    with pytest.raises(MaxTimeoutException):
        stuck.apply(max_timeout=60, runtime=virtual)


def test_inherit_checked_first(virtual: Runtime) -> None:
    class Exporter(OwnKeys):
        flavor = "table_exporter"

        def __init__(self, particle_definition: Any) -> None:
            super().__init__(particle_definition)
            self.desired_state_definition = self.particle_definition

        def sync_state(self) -> None:
            super().sync_state()
            self.current_state_definition = {"item": "value"}

    parent = {"pcf_name": "p", "flavor": "table_exporter"}
    child = {"pcf_name": "c", "flavor": "table_exporter", "parents": ["table_exporter:p"],
             "good": "$inherit$table_exporter:p$item", "bad": "$inherit$table_exporter:elsewhere$item"}
    quasi = group(parent, child)
    quasi.set_desired_state(State.running)
    with pytest.raises(InvalidValueReplaceException, match="not a parent"):
        quasi.apply(runtime=virtual)
    filled = quasi.get_particle("table_exporter", "c")
    assert filled is not None and filled.particle_definition["good"] == "$inherit$table_exporter:p$item"


def test_several_failures(virtual: Runtime) -> None:
    failing = group(mover("fail-a"), mover("fail-b"))
    failing.set_desired_state(State.running)
    with pytest.raises(ApplyFailed) as caught:
        failing.apply(runtime=virtual)
    assert sorted(caught.value.errors) == ["table_mover:fail-a", "table_mover:fail-b"]
    stuck = group(mover("stuck-a"), mover("stuck-b"))
    stuck.set_desired_state(State.running)
    with pytest.raises(ApplyTimedOut):
        stuck.apply(max_timeout=30, runtime=virtual)


def test_apply_result(virtual: Runtime) -> None:
    particle = Mover(mover("m"))
    particle.set_desired_state(State.running)
    result = particle.apply(runtime=virtual)
    assert isinstance(result, ApplyResult)
    assert result.outcomes["table_mover:m"].transitions == ["start"]
    assert result.outcomes["table_mover:m"].created


def test_polling(virtual: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    def never(self: Particle) -> None:
        raise AssertionError("wait() is not the apply loop's pause")

    monkeypatch.setattr(Particle, "wait", never)
    particle = Mover(mover("m"))
    particle.set_desired_state(State.running)
    particle.apply(src_cascade="parent", runtime=virtual)
    assert particle.state is State.running


def test_ami_lookup(cloud: Any) -> None:
    owners: list[Any] = []
    cloud.client_factory.add_hook(lambda service, client: client.meta.events.register(
        "before-parameter-build.ec2.DescribeImages", lambda params, **_: owners.append(params.get("Owners"))))
    assert AWSLookup(cloud.client_factory).ami(["no-such-image"]) is None
    assert owners == [["self", "amazon"]]


def test_tags_render() -> None:
    rendered = TagSpecifications("instance", b=2, a="1").render()
    assert rendered == [{"ResourceType": "instance", "Tags": [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}]}]


def test_cli(tmp_path: Path) -> None:
    def pcf_command(*argv: str) -> tuple[int, str]:
        out, err = io.StringIO(), io.StringIO()
        code = run_cli(list(argv), CliEnvironment(stdout=out, stderr=err, cwd=tmp_path))
        return code, out.getvalue() + err.getvalue()

    assert pcf_command("apple") == (2, "pcf: error: 'apple' is not a pcf command; did you mean 'apply'?\n")
    code, shown = pcf_command("--version")
    assert (code, shown.splitlines()[-1]) == (0, f"v{pcf.VERSION}")
    code, shown = pcf_command("-v")
    assert code == 2 and "v" + pcf.VERSION not in shown


def test_version() -> None:
    assert pcf.VERSION == pcf.__version__ != "0.4.6"
