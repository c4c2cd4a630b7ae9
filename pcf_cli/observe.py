"""``plan --observe``: sync each particle (read-only calls) and show the action the apply would take next."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from pcf.core import State
from pcf.core.apply_engine import plan_levels
from pcf.core.decision import Decision, decide_for
from pcf.core.particle import Particle
from pcf.core.pcf_exceptions import PCFError
from pcf_cli.progress import resource_id
from pcf_cli.selection import Selection

OBSERVE_HEADER = ("level", "pcf_id", "id", "observed", "desired", "next")
# custom_config flags that make a flavor's sync_state act (EBSVolume attaches itself to its parent EC2).
ACTING_SYNC_FLAGS = ("attach",)


@contextmanager
def read_only(particle: Particle) -> Iterator[None]:
    """Turn off, for the block, the custom_config flags that let ``sync_state`` change the cloud."""
    config = particle.custom_config
    saved = {flag: config[flag] for flag in ACTING_SYNC_FLAGS if config.get(flag)}
    config.update(dict.fromkeys(saved, False))
    try:
        yield
    finally:
        config.update(saved)


def observe_plan(selection: Selection, cascade: bool) -> list[tuple[str, ...]]:
    """A row (``OBSERVE_HEADER``) per particle in apply order: observed state, desired state and the next action."""
    particles = selection.particles(cascade)
    by_id = {p.pcf_id: p for p in particles}
    rows: list[tuple[str, ...]] = []
    for level in plan_levels(particles):
        for pcf_id in level.pcf_ids:
            particle = by_id[pcf_id]
            decision = observe(particle)
            rows.append((
                f"{level.phase} {level.index + 1}",
                pcf_id,
                resource_id(particle),
                str(particle.observed_state),
                str(particle.desired_state),
                f"{decision.action} ({decision.reason})",
            ))
    return rows


def observe(particle: Particle) -> Decision:
    """Sync ``particle`` and decide its next action as the apply loop would (parents synced first)."""
    with read_only(particle):
        particle.sync_state()
    observed = particle.observed_state or State.terminated
    if particle.desired_state is State.running and particle.is_state_equivalent(observed, State.running):
        try:
            particle.prepare()
            if particle.inherit_references():
                particle.get_and_replace_parent_variables()
            return decide_for(particle, observed)
        except PCFError as error:
            uncompared = decide_for(particle, observed, compare_definition=False)
            return Decision(uncompared.action, f"definition not compared: {error}")
    return decide_for(particle, observed)
