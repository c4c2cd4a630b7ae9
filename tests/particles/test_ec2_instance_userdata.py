"""EC2Instance: user data (template, explicit, bash, wait, $inherit$ params) and configuration checks."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from pcf.core import State
from pcf.core.pcf_exceptions import InvalidConfigException
from pcf.core.runtime import PollPolicy, Runtime
from pcf.particle.aws.ec2.ec2_definition import USERDATA_FINISHED_TAG
from pcf.particle.aws.ec2.ec2_instance import EC2Instance


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
    particle = make_particle(
        region_name="us-east-1", UserData="#cloud-config\nruncmd: []\n", custom={"userdata_wait": True}
    )
    with pytest.raises(InvalidConfigException) as caught:
        particle.render_desired_user_data()
    assert caught.value.field == "ec2_instance:web.aws_resource.custom_config.userdata_wait"


def test_a_missing_template_is_a_config_error_naming_the_field(tmp_path: Any) -> None:
    particle = make_particle(region_name="us-east-1", custom={"userdata_template_file": str(tmp_path / "nope.j2")})
    with pytest.raises(InvalidConfigException) as caught:
        particle.render_desired_user_data()
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
    particle = make_particle(ami_id, custom={"userdata_template_file": str(tmp_path / "absent.j2")})
    particle.set_desired_state("running")
    with pytest.raises(InvalidConfigException, match="userdata_template_file"):
        particle.apply(runtime=runtime)
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
    particle = make_particle(region_name="us-east-1", custom=custom, **resource)
    with pytest.raises(InvalidConfigException) as caught:
        particle._validate_config()
    assert caught.value.field == f"ec2_instance:web.{field}"
    assert caught.value.reason


def test_apply_with_validate_config_refuses_before_any_launch(cloud: Any, ec2: Any, ami_id: str, runtime: Any) -> None:
    particle = make_particle(ami_id, MaxCount=3)
    particle.set_desired_state("running")
    with pytest.raises(InvalidConfigException, match="MaxCount"):
        particle.apply(runtime=runtime, validate_config=True)
    assert live_count(ec2) == 0
