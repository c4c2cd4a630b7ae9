"""The original PCF's core behaviours (particle, quasiparticle, flavor lookup, exceptions), written as its users
wrote them: flavors that subclass ``Particle`` directly, keep their state in ``self.state`` and raise the
original exceptions with no argument."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import pytest

import pcf
from pcf.core import State, particle_flavor_scanner, pcf_exceptions
from pcf.core.definition import ParticleDefinitionModel
from pcf.core.particle import Particle
from pcf.core.pcf_exceptions import (
    ApplyFailed,
    InvalidConfigException,
    InvalidState,
    InvalidUniqueKeysException,
    MaxTimeoutException,
    TransitionError,
)
from pcf.core.quasiparticle import Quasiparticle
from pcf.core.runtime import PollPolicy, Runtime
from pcf.particle.aws.ec2.ec2_instance import EC2Instance
from pcf_local_cloud.clock import VirtualClock


class OpenSpec(ParticleDefinitionModel):
    """Top-level keys of the flavor's own (the original read them from the definition as it was)."""

    strict_keys: ClassVar[bool] = False


class UnsetUntilSynced(Particle):
    """Syncs as the original's example flavors did: terminated when nothing has set the state yet."""

    def sync_state(self) -> None:
        try:
            self.state  # noqa: B018 - the original PCF flavors test whether the state is set this way
        except AttributeError:
            self.state = State.terminated


class NeverMoves(UnsetUntilSynced):
    """The original's plain particle: its state is unset until the first sync, and ``_start`` changes nothing."""

    flavor = "compat_never_moves"
    definition_model = OpenSpec

    def __init__(self, particle_definition: Any) -> None:
        super().__init__(particle_definition)
        self.desired_state_definition = self.particle_definition
        self.starts = 0

    def _start(self) -> None:
        self.starts += 1

    def _terminate(self) -> None:
        pass


class Passing(Particle):
    """Holds ``$inherit$`` values at the top level of its definition; a parent named ``parent`` exports some."""

    flavor = "compat_passing"
    definition_model = OpenSpec
    UNIQUE_KEYS: ClassVar[list[str]] = ["aws_resource.resource_name"]

    def __init__(self, particle_definition: Any) -> None:
        super().__init__(particle_definition)
        self.desired_state_definition = self.particle_definition

    def sync_state(self) -> None:
        if self.name == "parent":
            self.current_state_definition = {"item": "value", "nested": {"key": "deep"}, "tags": [{"a": "1"}]}
            self.desired_state_definition = self.current_state_definition
        self.state = State.running
        self.current_state_definition = self.desired_state_definition

    def _start(self) -> None:
        pass

    def _validate_config(self) -> None:
        raise InvalidConfigException()


class Counting(UnsetUntilSynced):
    """Starts and terminates at once; ``fail`` in its name makes ``_start`` raise."""

    flavor = "compat_counting"

    def _start(self) -> str:
        if "fail" in self.name:
            raise ValueError("error")
        self.state = State.running
        return "starting"

    def _terminate(self) -> str:
        self.state = State.terminated
        return "terminating"


@pytest.fixture
def runtime() -> Runtime:
    clock = VirtualClock()
    return Runtime(clock=clock.now, sleep=clock.sleep, poll=PollPolicy(1.0, 1.0, 1.0))


def plain(name: str, flavor: str = "compat_never_moves", **extra: Any) -> dict[str, Any]:
    return {"pcf_name": name, "flavor": flavor, **extra}


# -- particles ---------------------------------------------------------------------------------------------
def test_state_is_unset_until_the_first_sync_and_a_transition_that_never_moves_times_out(runtime: Runtime) -> None:
    particle = NeverMoves(plain("p", aws_resource={"resource_name": "svc"}))
    assert not hasattr(particle, "state")
    particle.set_desired_state(State.running)

    with pytest.raises(MaxTimeoutException):
        particle.apply(max_timeout=30, runtime=runtime)

    assert particle.state is State.terminated
    assert particle.starts > 8, "tried again until max_timeout, not given up after a fixed count"


def test_without_max_timeout_a_transition_that_never_moves_is_given_up(runtime: Runtime) -> None:
    particle = NeverMoves(plain("q"))
    particle.set_desired_state("running")
    with pytest.raises(TransitionError, match="no convergence"):
        particle.apply(runtime=runtime)


def test_set_desired_state_takes_names_and_refuses_others() -> None:
    particle = NeverMoves(plain("p"))
    for name in ("running", "terminated", "stopped"):
        particle.set_desired_state(name)
        assert particle.desired_state is State[name]
    with pytest.raises(InvalidState):
        particle.set_desired_state("paused")


def test_a_definition_file_with_comments_is_a_constructor_argument(tmp_path: Path) -> None:
    path = tmp_path / "particle.json"
    path.write_text('{\n  "pcf_name": "from_file",\n  // a comment\n  "flavor": "compat_never_moves",\n'
                    '  "aws_resource": {\n    "resource_name": "svc", # another kind\n'
                    '    "note": "http://keeps // and # inside strings"\n  }\n}\n')
    particle = NeverMoves(str(path))
    assert particle.desired_state_definition == {
        "pcf_name": "from_file",
        "flavor": "compat_never_moves",
        "aws_resource": {"resource_name": "svc", "note": "http://keeps // and # inside strings"},
    }


def test_particle_definition_is_kept_as_given() -> None:
    given = {"pcf_name": "web", "flavor": "ec2_instance",
             "aws_resource": {"ImageId": "ami-12345678", "custom_config": {"instance_name": "web"}}}
    particle = EC2Instance(given)
    assert particle.particle_definition is given
    assert given == {"pcf_name": "web", "flavor": "ec2_instance",
                     "aws_resource": {"ImageId": "ami-12345678", "custom_config": {"instance_name": "web"}}}
    assert particle.normalized_definition["persist_on_termination"] is False


def test_unique_keys_must_hold_a_value() -> None:
    Passing(plain("ok", "compat_passing", aws_resource={"resource_name": "svc"}))
    for aws_resource in ({"resource_name": ""}, {"resource_name": None}, {}, None):
        definition = plain("bad", "compat_passing")
        if aws_resource is not None:
            definition["aws_resource"] = aws_resource
        with pytest.raises(InvalidUniqueKeysException):
            Passing(definition)


def test_a_user_validate_config_raising_with_no_argument(runtime: Runtime) -> None:
    particle = Passing(plain("v", "compat_passing", aws_resource={"resource_name": "svc"}))
    particle.set_desired_state(State.running)
    with pytest.raises(InvalidConfigException, match="Particle config validation failed"):
        particle.apply(validate_config=True, runtime=runtime)


def test_callbacks_run_after_their_transition_with_the_particle(runtime: Runtime) -> None:
    seen: list[tuple[str, Any]] = []
    particle = Counting({"pcf_name": "cb", "flavor": "compat_counting", "callbacks": {
        "start": {"function": lambda: seen.append(("start", None))},
        "terminate": {"function": lambda particle, arg1: seen.append((particle.name, arg1)),
                      "kwargs": {"arg1": 4, "particle": True}},
    }})
    particle.set_desired_state(State.running)
    particle.apply(runtime=runtime)
    particle.set_desired_state(State.terminated)
    particle.apply(runtime=runtime)
    assert seen == [("start", None), ("cb", 4)]


# -- exceptions ---------------------------------------------------------------------------------------------
ORIGINAL_EXCEPTIONS = [
    "NoResourceException", "ParentRequiredException", "TooManyResourceException", "NoCodeException",
    "NoCallbackFunctionException", "InvalidUpdateParamException", "InvalidConfigException",
    "InvalidUniqueKeysException", "InvalidCacheTTLException", "ResourceLookupNotDefinedException",
    "FlavorMissingException", "InvalidTagsException", "InvalidValueReplaceException", "MissingException",
    "MaxTimeoutException", "InvalidState", "MissingInput",
]


@pytest.mark.parametrize("name", ORIGINAL_EXCEPTIONS)
def test_every_original_exception_is_raised_with_no_argument_or_one_message(name: str) -> None:
    error_class = getattr(pcf_exceptions, name)
    bare = error_class()
    assert str(bare), f"{name}() carries its default message"
    assert str(error_class("custom message")).endswith("custom message")
    with pytest.raises(error_class):
        raise error_class


# -- quasiparticles ----------------------------------------------------------------------------------------
def test_multiplier_names_and_keys_each_copy() -> None:
    member = plain("worker", "compat_passing", multiplier=3, aws_resource={"resource_name": "svc"})
    quasi = Quasiparticle({"pcf_name": "q", "flavor": "quasiparticle", "particles": [member]})
    assert sorted(quasi.pcf_field.particles["compat_passing"]) == ["worker-0", "worker-1", "worker-2"]
    first = quasi.get_particle("compat_passing", "worker-0")
    second = quasi.get_particle("compat_passing", "worker-1")
    assert first is not None and second is not None
    assert first.particle_definition["aws_resource"]["resource_name"] == "svc-0"
    assert len(pcf.util.pcf_util.diff_dict(first.particle_definition, second.particle_definition)) == 2


def test_base_particle_config_and_shared_unique_values_of_a_user_flavor() -> None:
    base = plain("first", "compat_passing", extra="kept", override="one", nested={"n": "old"},
                 aws_resource={"resource_name": "shared"})
    derived = plain("second", "compat_passing", base_particle_config="first", override="two",
                    nested={"n": "new"}, aws_resource={"resource_name": "shared"})
    quasi = Quasiparticle({"pcf_name": "q", "flavor": "quasiparticle", "particles": [dict(base), derived]})
    first = quasi.get_particle("compat_passing", "first")
    second = quasi.get_particle("compat_passing", "second")
    assert first is not None and second is not None
    assert first.particle_definition == base
    assert (second.particle_definition["override"], second.particle_definition["extra"]) == ("two", "kept")
    assert second.particle_definition["nested"] == {"n": "new"}


def test_inherit_fills_a_child_from_its_parent(runtime: Runtime) -> None:
    parent = plain("parent", "compat_passing", aws_resource={"resource_name": "svc"})
    child = plain("child", "compat_passing", parents=["compat_passing:parent"], aws_resource={
        "resource_name": "svc", "item": "$inherit$compat_passing:parent$item",  # the parent's unique value too
        "deep": "$inherit$compat_passing:parent$nested.key", "tags": "$inherit$compat_passing:parent$tags"})
    quasi = Quasiparticle({"pcf_name": "q", "flavor": "quasiparticle", "particles": [parent, child]})
    quasi.set_desired_state(State.running)
    quasi.apply(runtime=runtime)
    filled = quasi.get_particle("compat_passing", "child")
    assert filled is not None
    resource = filled.particle_definition["aws_resource"]
    assert (resource["item"], resource["deep"], resource["tags"]) == ("value", "deep", [{"a": "1"}])


def test_a_quasiparticle_whose_members_time_out_raises_max_timeout(runtime: Runtime) -> None:
    quasi = Quasiparticle({"pcf_name": "q", "flavor": "quasiparticle",
                           "particles": [plain("a"), plain("b")]})
    quasi.set_desired_state(State.running)
    with pytest.raises(MaxTimeoutException) as caught:
        quasi.apply(max_timeout=5, runtime=runtime)
    assert isinstance(caught.value, ApplyFailed)
    assert sorted(caught.value.errors) == ["compat_never_moves:a", "compat_never_moves:b"]


def test_rollback_terminates_what_started_then_the_error_is_raised(runtime: Runtime) -> None:
    quasi = Quasiparticle({"pcf_name": "q", "flavor": "quasiparticle",
                           "particles": [plain("good", "compat_counting"), plain("fail", "compat_counting")]})
    quasi.set_desired_state(State.running)
    with pytest.raises(ValueError, match="error"):
        quasi.apply(rollback=True, runtime=runtime)
    assert quasi.get_state() is State.terminated


# -- flavor lookup ------------------------------------------------------------------------------------------
def test_flavor_scanner_finds_built_in_and_user_flavors() -> None:
    registry = particle_flavor_scanner.get_particle_flavor_registry()
    assert registry["ec2_instance"] is EC2Instance
    assert Particle.registry["compat_counting"] is Counting  # type: ignore[attr-defined]
    for bad in (None, "", ["ABC"]):
        with pytest.raises(particle_flavor_scanner.InvalidInputException):
            particle_flavor_scanner.get_particle_flavor(bad)
    with pytest.raises(particle_flavor_scanner.ParticleFlavorNotFoundError):
        particle_flavor_scanner.get_particle_flavor("no_such_flavor")

    class Strange(Quasiparticle):
        flavor = "compat_strange"

    assert particle_flavor_scanner.get_particle_flavor("COMPAT_STRANGE") is Strange


def test_version_is_exported() -> None:
    assert pcf.__version__ == pcf.VERSION


# -- the rest of the original particle API ---------------------------------------------------------------------
def test_a_registered_transition_runs_instead_of_the_hook(runtime: Runtime) -> None:
    particle = Counting(plain("custom", "compat_counting"))
    calls: list[dict[str, Any]] = []

    def resume(**options: Any) -> str:
        calls.append(options)
        particle.state = State.running
        return "resumed"

    particle.register_state_transition(State.terminated, State.running, resume)
    assert particle.get_state_transition_function(State.terminated, State.running) is resume
    particle.set_desired_state(State.running)
    particle.apply(runtime=runtime)
    assert calls == [{"sync": True, "cascade": False}]
    particle.set_desired_state(State.terminated)
    particle.apply(runtime=runtime)
    assert particle.state is State.terminated, "moves without a registered function use the flavor's hooks"


def test_apply_cascade_brings_parents_up_first() -> None:
    quasi = Quasiparticle({"pcf_name": "q", "flavor": "quasiparticle", "particles": [
        plain("up", "compat_counting"), plain("down", "compat_counting", parents=["compat_counting:up"])]})
    child = quasi.get_particle("compat_counting", "down")
    parent = quasi.get_particle("compat_counting", "up")
    assert child is not None and parent is not None
    child.set_desired_state(State.running)
    assert child.apply_cascade("parent") is True
    assert parent.state is State.running and child.observed_state is None


def test_attribute_values_measure_and_unique_id() -> None:
    particle = Passing(plain("attrs", "compat_passing", aws_resource={"resource_name": "svc"}))
    particle.current_state_definition = {"a": "current"}
    assert particle.get_attribute_value("a") == "current"
    assert particle.get_attribute_value("pcf_name", "d") == "attrs"
    assert particle.get_attribute_value("missing", default=0) == 0
    assert particle.measure()["name"] == "attrs"
    particle.validate_unique_id()
    particle.normalized_definition["aws_resource"]["resource_name"] = ""
    with pytest.raises(InvalidUniqueKeysException):
        particle.validate_unique_id()


class NeverEquivalent(Particle):
    """Always running, its definition never equivalent: only ``persist_on_update`` keeps it from updating."""

    flavor = "compat_never_equivalent"

    def sync_state(self) -> None:
        self.current_state_definition = {"def": "blank"}
        self.state = State.running

    def is_state_definition_equivalent(self) -> bool:
        return False

    def _update(self) -> None:
        raise AssertionError("persist_on_update: no update")


def test_update_protection_keeps_a_running_particle_as_it_is(runtime: Runtime) -> None:
    particle = NeverEquivalent({"pcf_name": "u", "flavor": "compat_never_equivalent", "persist_on_update": True})
    particle.set_desired_state(State.running)
    particle.apply(sync=False, runtime=runtime)
    particle.desired_state_definition = {"diff": True}
    particle.apply(sync=False, runtime=runtime)
    assert particle.state is State.running
    assert particle.current_state_definition != particle.desired_state_definition
