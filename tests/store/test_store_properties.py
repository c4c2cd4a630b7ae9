"""Properties over random sequences, on both stores: newer observations win; generations count changes."""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pcf_control_plane.store import Observation, StateStore
from tests.store.store_support import spec

# few distinct times, so ties and duplicates are common; floats that are not exact in binary included
TIMES = st.sampled_from([0.0, 0.1, 0.2, 0.30000000000000004, 1.5, 1.7e9, 1.7e9 + 0.001, 1714564800.123456])
OBSERVATIONS = st.builds(
    Observation,
    state=st.sampled_from(["running", "stopped", "terminated", "pending"]),
    observed_at=TIMES,
    resource_id=st.sampled_from([None, "i-0aaa", "i-0bbb"]),
    snapshot=st.fixed_dictionaries({"instance_type": st.sampled_from(["t3.micro", "m5.large"])}),
    cause=st.text(alphabet="abcdef-0123456789", min_size=1, max_size=12),
)
PROPERTY_SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@PROPERTY_SETTINGS
@given(writes=st.lists(OBSERVATIONS, min_size=1, max_size=12))
def test_the_greatest_observed_at_wins(
    store: StateStore, unique: Callable[[str], str], writes: list[Observation]
) -> None:
    pcf_id = unique("obs")
    writes = [  # resource ids of this example only: examples share one store
        write.model_copy(update={"resource_id": write.resource_id and f"{write.resource_id}-{pcf_id}"})
        for write in writes
    ]
    accepted = [store.record_observation(pcf_id, write) for write in writes]

    newest = max(write.observed_at for write in writes)
    first_newest = next(write for write in writes if write.observed_at == newest)
    assert store.get_observation(pcf_id) == first_newest
    expected, best = [], float("-inf")
    for write in writes:
        expected.append(write.observed_at > best)
        best = max(best, write.observed_at)
    assert accepted == expected
    for resource_id in {write.resource_id for write in writes if write.resource_id}:
        expected_owner = pcf_id if resource_id == first_newest.resource_id else None
        assert store.find_by_resource_id(resource_id) == expected_owner


@PROPERTY_SETTINGS
@given(puts=st.lists(st.tuples(st.sampled_from(["running", "stopped"]), st.sampled_from(["t3.micro", "t3.large"])),
                     min_size=1, max_size=8))
def test_generation_counts_changes(
    store: StateStore, unique: Callable[[str], str], puts: list[tuple[str, str]]
) -> None:
    pcf_id = unique("gen")
    generations = [store.put_spec(spec(pcf_id, desired_state=state, instance_type=size)) for state, size in puts]
    changes = [n == 0 or puts[n] != puts[n - 1] for n in range(len(puts))]
    assert generations == [sum(changes[: n + 1]) for n in range(len(puts))]
    stored = store.get_spec(pcf_id)
    assert stored is not None and stored.generation == generations[-1]
