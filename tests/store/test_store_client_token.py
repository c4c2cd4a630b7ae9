"""``ClientRequestToken`` on the converge commit, on both stores (TransactWriteItems: the same token with the same
request within 10 minutes has no second effect; with another request, ``IdempotentParameterMismatchException``).

On the DynamoDB store these FAIL until the local cloud honours the token: moto 5.2.5 ignores
``ClientRequestToken`` and runs every request again (reported to the lead; the emulation belongs in
``pcf_local_cloud``). Passing them by any other means would be a false green.
"""

from __future__ import annotations

import pytest

from pcf_control_plane.store import IdempotencyMismatchError, StateStore
from tests.store.test_store_converge import CHILD, RUN, _commit


def test_the_same_commit_again_has_no_second_effect(store: StateStore) -> None:
    """Fails on the local cloud until it honours ``ClientRequestToken`` (moto 5.2.5 ignores it)."""
    commit = _commit(20.0, created=True, converged=True, release_lease=True)
    first = store.commit_converge(commit)
    assert store.acquire_lease(CHILD, RUN, 600)  # the next step of the same execution leases it again

    again = store.commit_converge(commit)  # a retried call within 10 minutes

    assert again == first
    lease = store.current_lease(CHILD)
    assert lease is not None and lease.owner == RUN, "the replay released the lease a second time"
    assert len(store.list_history(CHILD)) == 2


def test_the_same_token_for_another_commit_is_a_mismatch(store: StateStore) -> None:
    """Fails on the local cloud until it honours ``ClientRequestToken`` (moto 5.2.5 ignores it)."""
    store.commit_converge(_commit(20.0))
    with pytest.raises(IdempotencyMismatchError):
        store.commit_converge(_commit(30.0))
    observed = store.get_observation(CHILD)
    assert observed is not None and observed.observed_at == 20.0
