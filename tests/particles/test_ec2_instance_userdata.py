"""EC2Instance: user data (template, explicit, bash, wait, $inherit$ params) and configuration checks."""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from pcf.core import State
from pcf.core.pcf_exceptions import InvalidConfigException
from pcf.core.quasiparticle import Quasiparticle
from pcf.core.runtime import PollPolicy, Runtime
from pcf.particle.aws.ec2.ec2_definition import USERDATA_FINISHED_TAG
from pcf.particle.aws.ec2.ec2_instance import EC2Instance
from pcf.quasiparticle.aws.distributed_master_worker import DistributedMasterWorker
from pcf.util import templates
from pcf.util.definition_files import file_reads_disabled
from pcf_cli.execution_input import ExecutionSettings, execution_input, inline_templates
from tests.cli.cli_support import CliRunner

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(autouse=True)
def templates_under_tmp_path(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A dict definition reads its template files from under ``$PCF_TEMPLATE_ROOT`` (else the working directory):
    here, the test's own folder."""
    monkeypatch.setenv("PCF_TEMPLATE_ROOT", str(tmp_path))


def make_particle(
    image_id: str = "ami-12345678", name: str = "web", custom: dict[str, Any] | None = None, **resource: Any
) -> EC2Instance:
    config = {"instance_name": f"pcf-{name}", **(custom or {})}
    aws_resource = {"ImageId": image_id, "InstanceType": "t2.micro", **resource, "custom_config": config}
    return EC2Instance({"pcf_name": name, "flavor": "ec2_instance", "aws_resource": aws_resource})


def user_data_of(ec2: Any, instance_id: str) -> str:
    value = ec2.describe_instance_attribute(InstanceId=instance_id, Attribute="userData")["UserData"]["Value"]
    return base64.b64decode(value).decode()


def live_count(ec2: Any) -> int:
    response = ec2.describe_instances(
        Filters=[{"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]}]
    )
    return sum(len(r["Instances"]) for r in response["Reservations"])


# -- rendering (no AWS calls) -----------------------------------------------------------------------
def test_template_is_rendered_with_params(tmp_path: Any) -> None:
    template = tmp_path / "boot.j2"
    template.write_text("{% for p in ports %}open {{ p }}\n{% endfor %}")
    particle = make_particle(
        region_name="us-east-1",
        custom={"userdata_template_file": str(template), "userdata_params": {"ports": [22, 443]}},
    )
    assert particle.render_desired_user_data() == "open 22\nopen 443\n"
    assert particle.get_desired_state_definition()["UserData"] == "open 22\nopen 443\n"


def test_relative_template_paths_are_read_from_the_working_directory(tmp_path: Any, monkeypatch: Any) -> None:
    (tmp_path / "boot.j2").write_text("echo {{ x }}")
    monkeypatch.delenv("PCF_TEMPLATE_ROOT")
    monkeypatch.chdir(tmp_path)
    particle = make_particle(
        region_name="us-east-1", custom={"userdata_template_file": "boot.j2", "userdata_params": {"x": 1}}
    )
    assert particle.render_desired_user_data() == "echo 1"


def test_explicit_user_data_wins_over_the_template(tmp_path: Any) -> None:
    template = tmp_path / "boot.j2"
    template.write_text("echo template")
    particle = make_particle(
        region_name="us-east-1",
        UserData="echo explicit",
        custom={"userdata_template_file": str(template), "userdata_bash": True},
    )
    assert particle.render_desired_user_data() == "#!/bin/bash\necho explicit"


def test_userdata_bash_adds_no_second_shebang() -> None:
    particle = make_particle(region_name="us-east-1", UserData="#!/bin/sh\necho x", custom={"userdata_bash": True})
    assert particle.render_desired_user_data() == "#!/bin/sh\necho x"


def test_no_user_data_when_none_is_asked_for() -> None:
    particle = make_particle(region_name="us-east-1", custom={"userdata_bash": True})
    assert particle.render_desired_user_data() is None
    assert "UserData" not in particle.get_desired_state_definition()


def test_userdata_wait_appends_the_self_tagging_command() -> None:
    particle = make_particle(region_name="eu-west-1", UserData="#!/bin/bash\necho hi\n", custom={"userdata_wait": True})
    user_data = particle.render_desired_user_data()
    assert user_data is not None
    assert user_data.startswith("#!/bin/bash\necho hi\n")
    assert f"--tags Key={USERDATA_FINISHED_TAG},Value=true" in user_data
    assert "--region eu-west-1" in user_data


def test_userdata_wait_refuses_a_non_script() -> None:
    with pytest.raises(InvalidConfigException) as caught:  # refused when the particle is built
        make_particle(region_name="us-east-1", UserData="#cloud-config\nruncmd: []\n", custom={"userdata_wait": True})
    assert caught.value.field == "ec2_instance:web.aws_resource.custom_config.userdata_wait"


def test_a_missing_template_is_a_config_error_naming_the_field(tmp_path: Any) -> None:
    with pytest.raises(InvalidConfigException) as caught:  # refused when the particle is built
        make_particle(region_name="us-east-1", custom={"userdata_template_file": str(tmp_path / "nope.j2")})
    assert caught.value.field == "ec2_instance:web.aws_resource.custom_config.userdata_template_file"
    assert "nope.j2" in caught.value.reason


def test_template_syntax_errors_and_missing_params_are_config_errors(tmp_path: Any) -> None:
    broken = tmp_path / "broken.j2"
    broken.write_text("{% if %}")
    with pytest.raises(InvalidConfigException, match="userdata_template_file"):
        make_particle(
            region_name="us-east-1", custom={"userdata_template_file": str(broken)}
        ).render_desired_user_data()
    needs = tmp_path / "needs.j2"
    needs.write_text("echo {{ master_ip }}")
    with pytest.raises(InvalidConfigException, match=r"userdata_params.*master_ip"):
        make_particle(region_name="us-east-1", custom={"userdata_template_file": str(needs)}).render_desired_user_data()


# -- on the local cloud -------------------------------------------------------------------------------
def test_apply_with_a_missing_template_fails_clearly_and_creates_nothing(
    cloud: Any, ec2: Any, ami_id: str, runtime: Any, tmp_path: Any
) -> None:
    with pytest.raises(InvalidConfigException, match="userdata_template_file"):
        make_particle(ami_id, custom={"userdata_template_file": str(tmp_path / "absent.j2")})
    assert live_count(ec2) == 0


def test_inherited_params_reach_the_template(cloud: Any, ec2: Any, ami_id: str, runtime: Any, tmp_path: Any) -> None:
    template = tmp_path / "worker.j2"
    template.write_text("#!/bin/bash\njoin {{ master_ip }}\n")
    master = make_particle(ami_id, "master")
    worker = make_particle(
        ami_id,
        "worker",
        custom={
            "userdata_template_file": str(template),
            "userdata_params": {"master_ip": "$inherit$ec2_instance:master$PrivateIpAddress"},
        },
    )
    worker.parents.add(master)
    master.children.add(worker)
    worker.set_desired_state("running")

    result = worker.apply(runtime=runtime)

    assert result.levels == [["ec2_instance:master"], ["ec2_instance:worker"]]
    master_ip = master.current_state_definition["PrivateIpAddress"]
    assert user_data_of(ec2, worker.get_instance_id()) == f"#!/bin/bash\njoin {master_ip}\n"
    assert worker.is_state_definition_equivalent()


def test_userdata_wait_keeps_the_instance_pending_until_it_tags_itself(
    cloud: Any, ec2: Any, ami_id: str, clock: Any
) -> None:
    particle = make_particle(ami_id, UserData="#!/bin/bash\necho hi\n", custom={"userdata_wait": True})
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:  # the instance "finishes its user data" during the third poll
        sleeps.append(seconds)
        clock.sleep(seconds)
        if len(sleeps) == 3:
            ec2.create_tags(
                Resources=[particle.get_instance_id()], Tags=[{"Key": USERDATA_FINISHED_TAG, "Value": "true"}]
            )

    runtime = Runtime(clock=clock.now, sleep=sleep, poll=PollPolicy(0.5, 1.5, 4.0))
    particle.set_desired_state("running")

    outcome = particle.apply(runtime=runtime).outcomes[particle.pcf_id]

    assert outcome.polls == 3 and outcome.final_state is State.running
    assert clock.now() == pytest.approx(0.5 + 0.75 + 1.125)
    assert USERDATA_FINISHED_TAG in user_data_of(ec2, particle.get_instance_id())


def test_userdata_wait_does_not_hold_up_a_stop(cloud: Any, ec2: Any, ami_id: str, runtime: Any) -> None:
    particle = make_particle(ami_id, custom={"userdata_wait": True})
    particle.set_desired_state("running")
    particle.apply(runtime=runtime, sync=False)
    particle.sync_state()
    assert particle.state is State.pending  # running, but the tag is not there

    particle.set_desired_state("stopped")
    outcome = particle.apply(runtime=runtime).outcomes[particle.pcf_id]
    assert outcome.final_state is State.stopped


# -- _validate_config ---------------------------------------------------------------------------------
def test_a_good_configuration_validates(tmp_path: Any) -> None:
    template = tmp_path / "boot.j2"
    template.write_text("#!/bin/bash\necho {{ x }}\n")
    particle = make_particle(
        region_name="us-east-1",
        SecurityGroupIds=["sg-1"],
        InstanceInitiatedShutdownBehavior="terminate",
        IamInstanceProfile={"Name": "app"},
        BlockDeviceMappings=[{"DeviceName": "/dev/sdf", "Ebs": {"VolumeSize": 8}}],
        custom={
            "tags": {"Team": "a", "Gone": None},
            "userdata_template_file": str(template),
            "userdata_params": {"x": 1},
            "userdata_wait": True,
        },
    )
    particle._validate_config()


@pytest.mark.parametrize(
    ("resource", "custom", "field"),
    [
        ({"Placement": {"AvailabilityZone": "us-east-1a"}}, {}, "aws_resource.Placement"),
        ({"ImageId": ""}, {}, "aws_resource.ImageId"),
        ({"MaxCount": 2}, {}, "aws_resource.MaxCount"),
        ({"InstanceType": 3}, {}, "aws_resource.InstanceType"),
        ({"SecurityGroupIds": "sg-1"}, {}, "aws_resource.SecurityGroupIds"),
        ({"InstanceInitiatedShutdownBehavior": "hibernate"}, {}, "aws_resource.InstanceInitiatedShutdownBehavior"),
        ({"IamInstanceProfile": {}}, {}, "aws_resource.IamInstanceProfile"),
        ({"BlockDeviceMappings": [{"Ebs": {}}]}, {}, "aws_resource.BlockDeviceMappings"),
        ({"UserData": "x" * (16 * 1024 + 1)}, {}, "aws_resource.UserData"),
        ({}, {"tags": {"PCFName": "other"}}, "aws_resource.custom_config.tags.PCFName"),
        ({}, {"tags": {"aws:team": "a"}}, "aws_resource.custom_config.tags.aws:team"),
        ({}, {"tags": "Team=a"}, "aws_resource.custom_config.tags"),
        ({}, {"userdata_bash": "yes"}, "aws_resource.custom_config.userdata_bash"),
        ({}, {"userdata_params": ["x"]}, "aws_resource.custom_config.userdata_params"),
        ({}, {"userdata_template_file": "/nonexistent/boot.j2"}, "aws_resource.custom_config.userdata_template_file"),
        ({"UserData": "#cloud-config\n"}, {"userdata_wait": True}, "aws_resource.custom_config.userdata_wait"),
    ],
)
def test_bad_configurations_are_refused(resource: dict[str, Any], custom: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidConfigException) as caught:  # when built, or ImageId by validate_config
        make_particle(region_name="us-east-1", custom=custom, **resource)._validate_config()
    assert caught.value.field == f"ec2_instance:web.{field}"
    assert caught.value.reason


def test_apply_with_validate_config_refuses_before_any_launch(cloud: Any, ec2: Any, ami_id: str, runtime: Any) -> None:
    particle = make_particle(ami_id)
    del particle.desired_state_definition["ImageId"]  # a definition for stopping or terminating needs none
    particle.set_desired_state("running")
    with pytest.raises(InvalidConfigException, match="ImageId"):
        particle.apply(runtime=runtime, validate_config=True)
    assert live_count(ec2) == 0


# -- templates are data: read once from the definition's folder, rendered in the sandbox -------------------
TEMPLATE = "#!/bin/bash\necho {{ greeting }}\n"
FILE_FIELD = "ec2_instance:web.aws_resource.custom_config.userdata_template_file"


def web(image_id: str = "ami-12345678", **custom: Any) -> dict[str, Any]:
    config = {"instance_name": "pcf-web", "userdata_template_file": "userdata/boot.sh.j2",
              "userdata_params": {"greeting": "hello"}, **custom}
    return {"pcf_name": "web", "flavor": "ec2_instance",
            "aws_resource": {"ImageId": image_id, "InstanceType": "t2.micro", "custom_config": config}}


def definition_folder(tmp_path: Path, definition: dict[str, Any], name: str = "web.yml") -> Path:
    """``defs/<name>`` holding ``definition``, beside ``defs/userdata/boot.sh.j2``; the path of the file."""
    folder = tmp_path / "defs"
    (folder / "userdata").mkdir(parents=True, exist_ok=True)
    (folder / "userdata" / "boot.sh.j2").write_text(TEMPLATE)
    (folder / name).write_text(yaml.safe_dump(definition))
    return folder / name


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The working directory: another folder than the definition's, with no $PCF_TEMPLATE_ROOT."""
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    monkeypatch.chdir(folder)
    monkeypatch.delenv("PCF_TEMPLATE_ROOT")
    return folder


def test_from_file_reads_the_template_from_the_definition_file_s_folder(tmp_path: Path, elsewhere: Path) -> None:
    path = definition_folder(tmp_path, web())

    particle = EC2Instance.from_file(path)

    assert particle.custom_config["userdata_template"] == TEMPLATE, "read once, kept as text"
    assert particle.custom_config["userdata_template_file"] == "userdata/boot.sh.j2", "the name stays, for display"
    assert particle.render_desired_user_data() == "#!/bin/bash\necho hello\n"


@pytest.mark.parametrize("name", ["../secret.j2", "/proc/self/environ", "../../../../etc/passwd"])
def test_a_template_outside_the_definition_s_folder_is_refused_when_built(
    tmp_path: Path, elsewhere: Path, name: str
) -> None:
    (tmp_path / "secret.j2").write_text("secret")
    path = definition_folder(tmp_path, web(userdata_template_file=name))

    with pytest.raises(InvalidConfigException) as refused:
        EC2Instance.from_file(path)

    assert refused.value.field == FILE_FIELD
    assert "lies outside" in refused.value.reason and "definition file's folder" in refused.value.reason


def test_the_template_is_read_once_and_the_launch_renders_its_text(
    cloud: Any, ec2: Any, ami_id: str, runtime: Any, tmp_path: Path, elsewhere: Path
) -> None:
    path = definition_folder(tmp_path, web(ami_id))
    particle = EC2Instance.from_file(path)
    (path.parent / "userdata" / "boot.sh.j2").unlink()  # read when built: never again
    particle.set_desired_state("running")

    particle.apply(runtime=runtime)

    assert user_data_of(ec2, particle.get_instance_id()) == "#!/bin/bash\necho hello\n"


def test_user_data_over_16_kb_is_refused_when_built() -> None:
    with pytest.raises(InvalidConfigException) as explicit:
        make_particle(UserData="x" * 100_000)
    assert (explicit.value.field, explicit.value.reason) == (
        "ec2_instance:web.aws_resource.UserData", "is 100000 bytes; EC2 accepts at most 16 KB")
    with pytest.raises(InvalidConfigException) as rendered:
        make_particle(custom={"userdata_template": "{% for i in range(2000) %}echo {{ i }}\n{% endfor %}"})
    assert rendered.value.field == "ec2_instance:web.aws_resource.custom_config.userdata_template"
    assert rendered.value.reason == "renders to more than 16384 bytes; EC2 accepts at most 16 KB of user data"
    with pytest.raises(InvalidConfigException) as waiting:  # the template fits; with the wait command it does not
        make_particle(custom={"userdata_template": "#!/bin/bash\n{{ 'x' * 16300 }}", "userdata_wait": True})
    assert waiting.value.field == "ec2_instance:web.aws_resource.UserData"


def test_an_inherited_value_stands_as_its_reference_until_known_and_is_checked_again() -> None:
    reference = "$inherit$ec2_instance:master$PrivateIpAddress"
    particle = make_particle(custom={"userdata_template": "join {{ master_ip }}", "userdata_params":
                                     {"master_ip": reference}})
    assert particle.render_desired_user_data() == f"join {reference}"

    particle.custom_config["userdata_params"]["master_ip"] = "1" * 17_000  # the parent's value, once known
    with pytest.raises(InvalidConfigException, match="renders to more than 16384 bytes"):
        particle.render_desired_user_data()
    with pytest.raises(InvalidConfigException, match=r"standing as its reference text"):
        make_particle(custom={"userdata_template": "{{ port + 1 }}", "userdata_params": {"port": reference}})


def test_where_file_reads_are_off_only_the_template_s_text_builds(tmp_path: Path) -> None:
    (tmp_path / "boot.j2").write_text(TEMPLATE)
    with file_reads_disabled():
        with pytest.raises(InvalidConfigException) as refused:
            make_particle(custom={"userdata_template_file": "boot.j2", "userdata_params": {"greeting": "hi"}})
        particle = make_particle(custom={"userdata_template_file": "boot.j2", "userdata_template": TEMPLATE,
                                         "userdata_params": {"greeting": "hi"}})

    assert refused.value.field == "ec2_instance:web.aws_resource.custom_config.userdata_template_file"
    assert refused.value.reason == (
        "the control plane never reads files a definition names: send the template's text as "
        "custom_config.userdata_template (the pcf CLI does this)")
    assert particle.render_desired_user_data() == "#!/bin/bash\necho hi\n"


def test_a_quasiparticle_of_many_templated_workers_is_checked_in_one_child(
    tmp_path: Path, elsewhere: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    workers = [{**web(userdata_params={"greeting": f"worker {i}"}), "pcf_name": f"w{i}"} for i in range(40)]
    for index, worker in enumerate(workers):
        worker["aws_resource"]["custom_config"]["instance_name"] = f"pcf-w{index}"
    path = definition_folder(tmp_path, {"pcf_name": "farm", "flavor": "quasiparticle", "particles": workers})
    templates.clear_cache()
    children: list[Any] = []
    real_run = subprocess.run
    monkeypatch.setattr(templates.subprocess, "run", lambda *a, **k: children.append(a) or real_run(*a, **k))

    farm = Quasiparticle.from_file(path)

    assert len(children) == 1
    assert {m.render_desired_user_data() for m in farm.members()} == {
        f"#!/bin/bash\necho worker {i}\n" for i in range(40)}
    assert len(children) == 1, "the checks' renders are cached"


def test_the_cli_reads_templates_from_the_definition_file_s_folder(
    tmp_path: Path, elsewhere: Path, clock: Any
) -> None:
    path = definition_folder(tmp_path, web())
    definition_folder(tmp_path, web(userdata_template_file="../../secret.j2"), "bad.yml")
    (tmp_path / "secret.j2").write_text("secret")
    cli = CliRunner(elsewhere, clock)

    valid = cli("validate", "-f", str(path))
    relative = cli("validate", "-f", "../defs/web.yml")
    bad = cli("validate", "-f", str(path.parent / "bad.yml"))

    assert (valid.code, relative.code) == (0, 0), valid.err + relative.err
    assert valid.out.startswith("valid: web (ec2_instance)")
    assert bad.code == 2
    assert bad.err.startswith(f"pcf: error: {FILE_FIELD}: '../../secret.j2' lies outside {path.parent.resolve()}")


def test_the_example_cluster_validates_from_another_working_directory(elsewhere: Path, clock: Any) -> None:
    result = CliRunner(elsewhere, clock)("validate", "-f", str(EXAMPLES / "cluster.yml"))
    cluster = DistributedMasterWorker.from_file(EXAMPLES / "cluster.yml")

    assert result.code == 0, result.err
    assert result.out == "valid: cluster (distributed_master_worker): 7 particles, start order in 3 levels\n"
    text = (EXAMPLES / "userdata" / "worker.sh.j2").read_text()
    templated = [m for m in cluster.members() if m.custom_config.get("userdata_template_file")]
    assert len(templated) == 3 and all(m.custom_config["userdata_template"] == text for m in templated)


def test_the_execution_input_carries_each_template_s_text(tmp_path: Path) -> None:
    top = definition_folder(tmp_path, web())
    base = web()
    derived = {"pcf_name": "w2", "flavor": "ec2_instance", "base_particle_config": "web",
               "aws_resource": {"custom_config": {"instance_name": "pcf-w2"}}}
    explicit = web(userdata_template_file="userdata/absent.j2")
    explicit.update(pcf_name="x")
    explicit["aws_resource"].update(UserData="#!/bin/bash\necho explicit\n")
    explicit["aws_resource"]["custom_config"]["instance_name"] = "pcf-x"
    group = {"pcf_name": "g", "flavor": "quasiparticle", "particles": [base, derived, explicit]}

    single = inline_templates(yaml.safe_load(top.read_text()), top.parent)
    inlined = inline_templates(group, top.parent)
    sent = json.loads(execution_input(inlined, "running", ExecutionSettings()))["definition"]

    assert single["aws_resource"]["custom_config"]["userdata_template"] == TEMPLATE
    members = sent["particles"]
    assert members[0]["aws_resource"]["custom_config"]["userdata_template"] == TEMPLATE
    assert "userdata_template" not in members[1]["aws_resource"]["custom_config"], "inherited from its base"
    assert "userdata_template" not in members[2]["aws_resource"]["custom_config"], "explicit UserData wins"
    assert "userdata_template" not in base["aws_resource"]["custom_config"], "the definition given is not changed"


def test_the_stepfunctions_engine_sends_the_text_and_the_lambdas_render_it(
    cloud: Any, ec2: Any, ami_id: str, tmp_path: Path, elsewhere: Path, clock: Any
) -> None:
    path = definition_folder(tmp_path, web(ami_id))

    ran = CliRunner(elsewhere, clock, engine=None)("run", "-f", str(path), cloud=cloud)

    assert ran.code == 0, ran.err
    [instance] = [i for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]]
    assert user_data_of(ec2, instance["InstanceId"]) == "#!/bin/bash\necho hello\n"
    sfn = cloud.client("stepfunctions")
    [machine] = [m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"]
                 if m["name"].endswith("-apply")]
    [execution] = sfn.list_executions(stateMachineArn=machine)["executions"]
    sent = json.loads(sfn.describe_execution(executionArn=execution["executionArn"])["input"])
    assert sent["definition"]["aws_resource"]["custom_config"]["userdata_template"] == TEMPLATE
