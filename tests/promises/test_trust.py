"""The trust ledger: who assesses what, forgetting, in-place updates, errors, invariants."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from promises import (
    ACTION_INDEX,
    ACTION_TEMPLATES,
    Outcome,
    Resolution,
    TrustError,
    TrustLedger,
    assess_step,
    new_counts,
    trust_in,
    trust_matrix,
    update_trust,
)

STAY, EAST, UP, BN = (
    ACTION_INDEX["stay"],
    ACTION_INDEX["east"],
    ACTION_INDEX["up"],
    ACTION_INDEX["boost_north"],
)


def test_team_promise_is_assessed_by_every_other_active_agent():
    step = assess_step([Resolution(0, EAST, EAST), Resolution(1, STAY, STAY), Resolution(3, EAST, EAST)])
    active = np.array([True, True, False, True])  # agent 2 has left
    delta = update_trust(new_counts(4), step, active=active) - 1.0
    assert delta[0, :, 0].tolist() == [0, 1, 0, 1]  # not by itself, not by the agent that left
    assert delta[3, :, 0].tolist() == [1, 1, 0, 0]
    assert delta[1].sum() == 0  # staying is not evidence
    assert delta[..., 1].sum() == 0


def test_unbound_half_counts_against_partner_only_while_partner_is_active():
    step = assess_step([Resolution(0, UP, STAY, unbound=True, partner=1, climb=True)])
    delta = update_trust(new_counts(2), step) - 1.0
    assert delta[1, 0].tolist() == [0, 1] and delta[0].sum() == 0
    gone = update_trust(new_counts(2), step, active=[True, False]) - 1.0
    assert gone.sum() == 0


def test_forgetting_decays_toward_the_prior_then_adds_evidence():
    counts = new_counts(2)
    counts[0, 1] = (5.0, 3.0)
    quiet = update_trust(counts, [], forgetting=0.5)
    assert quiet[0, 1].tolist() == [3.0, 2.0]  # 1 + 0.5 * (5 - 1), 1 + 0.5 * (3 - 1)
    assert quiet[1, 0].tolist() == [1.0, 1.0]  # the prior is a fixed point
    step = assess_step([Resolution(0, EAST, EAST)])
    assert update_trust(counts, step, forgetting=0.5)[0, 1].tolist() == [4.0, 2.0]
    assert update_trust(counts, step, forgetting=1.0)[0, 1].tolist() == [2.0, 1.0]  # only this step


def test_in_place_update_and_out_array():
    counts = new_counts(2)
    step = assess_step([Resolution(0, EAST, EAST)])
    same = update_trust(counts, step, out=counts)
    assert same is counts and counts[0, 1, 0] == 2.0
    other = np.zeros((2, 2, 2))
    result = update_trust(counts, step, out=other)
    assert result is other and other[0, 1, 0] == 3.0 and counts[0, 1, 0] == 2.0


def test_ledger_wraps_the_state_array_in_place():
    trust = new_counts(3)
    ledger = TrustLedger(trust, forgetting=0.0)
    ledger.update(
        assess_step([Resolution(2, BN, BN, partner=0), Resolution(0, UP, UP, partner=2, climb=True)])
    )
    assert ledger.counts is trust
    assert trust[2, 0].tolist() == [2.0, 1.0] and trust[0, 2].tolist() == [2.0, 1.0]
    assert ledger.trust_in(0, [1, 2]).tolist() == [0.5, 2 / 3]
    np.testing.assert_array_equal(ledger.trust(), trust_matrix(trust))
    assert ledger.n_agents == 3


def test_trust_in_reads_column_of_the_observer():
    counts = new_counts(3)
    counts[1, 0] = (1.0, 3.0)  # agent 0 has seen agent 1 break promises
    counts[0, 1] = (9.0, 1.0)
    assert trust_in(counts, 0, [1, 2]).tolist() == [0.25, 0.5]
    assert trust_in(counts, 1, np.array([0])).tolist() == [0.9]
    assert trust_in(counts, 0, []).shape == (0,)


@pytest.mark.parametrize(
    ("counts", "kwargs", "pattern"),
    [
        (np.ones((2, 3, 2)), {}, r"shape \(n_agents, n_agents, 2\), got \(2, 3, 2\).*new_counts"),
        (np.ones((2, 2)), {}, "shape"),
        (np.ones((2, 2, 2)), {"forgetting": 1.5}, r"in \[0, 1\], got 1.5"),
        (np.ones((2, 2, 2)), {"forgetting": -0.1}, r"in \[0, 1\]"),
        (np.ones((2, 2, 2)), {"out": np.ones((2, 2, 2), dtype=np.float32)}, "C-contiguous float64"),
        (np.ones((2, 2, 2)), {"out": np.ones((2, 2, 2, 2))[..., 0]}, "C-contiguous float64"),
    ],
)
def test_bad_ledgers_are_rejected(counts, kwargs, pattern):
    with pytest.raises(TrustError, match=pattern):
        update_trust(counts, [], **kwargs)
    assert issubclass(TrustError, ValueError)


def test_active_mask_of_wrong_length_is_rejected():
    with pytest.raises(TrustError, match=r"one entry per agent \(3\), got 2"):
        update_trust(new_counts(3), [], active=[True, True])


def test_ledger_rejects_bad_forgetting():
    with pytest.raises(TrustError, match="forgetting"):
        TrustLedger(new_counts(2), forgetting=2.0)


@st.composite
def steps(draw):
    n = draw(st.integers(1, 6))
    active = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    resolutions = []
    for i in range(n):
        if not active[i]:
            continue
        requested = draw(st.integers(0, len(ACTION_TEMPLATES) - 1))
        executed = draw(st.sampled_from([requested, STAY]))
        others = [j for j in range(n) if j != i]
        partner = draw(st.none() | st.sampled_from(others)) if others else None
        resolutions.append(
            Resolution(
                i,
                requested,
                executed,
                draw(st.none() | st.sampled_from(others)) if others else None,
                draw(st.none() | st.just("one_per_cell")),
                draw(st.booleans()),
                partner,
                draw(st.booleans()),
            )
        )
    return n, active, resolutions


@settings(max_examples=50, deadline=None)
@given(steps(), st.floats(0.0, 1.0))
def test_update_invariants(step, forgetting):
    n, active, resolutions = step
    rng = np.random.default_rng(len(resolutions))
    counts = 1.0 + rng.integers(0, 5, size=(n, n, 2)).astype(np.float64)
    before = counts.copy()
    assessments = assess_step(resolutions)
    after = update_trust(counts, assessments, active=active, forgetting=forgetting)
    np.testing.assert_array_equal(counts, before)
    trust = trust_matrix(after)
    assert np.all((trust >= 0.0) & (trust <= 1.0))
    assert np.all(after >= 1.0 - 1e-12)  # never below the prior
    # Evidence totals, counted independently of the implementation's bookkeeping.
    decayed = 1.0 + (1.0 - forgetting) * (before - 1.0)
    live = sum(active)
    kept = 0
    broken = 0
    for a in assessments:
        p = a.promise
        if a.outcome is Outcome.KEPT and p.body.type != "stay":
            if p.promisee == "team" and not p.cooperative:
                kept += live - 1
            elif p.promisee != "team" and active[p.promisee]:
                kept += 1
        if a.outcome is Outcome.UNBOUND and p.promisee != "team" and active[p.promisee]:
            broken += 1
    np.testing.assert_allclose((after - decayed)[..., 0].sum(), kept, atol=1e-9)
    np.testing.assert_allclose((after - decayed)[..., 1].sum(), broken, atol=1e-9)
    np.testing.assert_allclose(np.diagonal(after - decayed, axis1=0, axis2=1), 0.0, atol=1e-9)
