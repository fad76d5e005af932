"""Table-driven: every action type in every situation, its exact assessment and trust update.

Two agents: agent 0 acts, agent 1 is the (possible) partner. Situations: alone (agent 1 has left),
with a partner who binds (makes the matching half; for solitary actions it is just there), with a
partner who does not bind (does something else), and withdrawn by the solver. ``delta`` is the
exact change of the ``(2, 2, 2)`` Beta counts (``(i, j, k)``: promises by ``i`` assessed by ``j``,
``k`` = 0 kept / 1 not kept), starting from the prior.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from promises import (
    ACTION_INDEX,
    Outcome,
    Resolution,
    agent_info,
    assess_step,
    bindings,
    new_counts,
    to_info,
    trust_matrix,
    update_trust,
)

STAY, EAST, WEST = ACTION_INDEX["stay"], ACTION_INDEX["east"], ACTION_INDEX["west"]
UP, DOWN, INTERACT = ACTION_INDEX["up"], ACTION_INDEX["down"], ACTION_INDEX["interact"]
BN = ACTION_INDEX["boost_north"]
R = Resolution
K, W, U = Outcome.KEPT, Outcome.WITHDRAWN, Outcome.UNBOUND
ALONE, BOTH = (True, False), (True, True)

# (action, situation, active, resolutions, outcomes, actor arrow, bindings, delta)
TABLE = [
    ("stay", "alone", ALONE, [R(0, STAY, STAY)], [K], "agent_0 --(+stay)--> team", [], {}),
    ("stay", "binds", BOTH, [R(0, STAY, STAY), R(1, STAY, STAY)], [K, K],
     "agent_0 --(+stay)--> team", [], {}),
    ("stay", "no bind", BOTH, [R(0, STAY, STAY), R(1, EAST, EAST)], [K, K],
     "agent_0 --(+stay)--> team", [], {(1, 0, 0): 1}),
    ("stay", "withdrawn", BOTH, [R(0, STAY, STAY, 1, "one_per_cell"), R(1, STAY, STAY)], [K, K],
     "agent_0 --(+stay)--> team", [], {}),
    ("move", "alone", ALONE, [R(0, EAST, EAST)], [K], "agent_0 --(+move east)--> team", [], {}),
    ("move", "binds", BOTH, [R(0, EAST, EAST), R(1, STAY, STAY)], [K, K],
     "agent_0 --(+move east)--> team", [], {(0, 1, 0): 1}),
    ("move", "no bind", BOTH, [R(0, EAST, EAST), R(1, WEST, WEST)], [K, K],
     "agent_0 --(+move east)--> team", [], {(0, 1, 0): 1, (1, 0, 0): 1}),
    ("move", "withdrawn", BOTH, [R(0, EAST, STAY, 1, "one_per_cell"), R(1, WEST, WEST)], [W, K],
     "agent_0 --(+move east)--> team", [], {(1, 0, 0): 1}),
    ("up stairs", "alone", ALONE, [R(0, UP, UP)], [K], "agent_0 --(+climb)--> team", [], {}),
    ("up stairs", "binds", BOTH, [R(0, UP, UP), R(1, STAY, STAY)], [K, K],
     "agent_0 --(+climb)--> team", [], {(0, 1, 0): 1}),
    ("up stairs", "no bind", BOTH, [R(0, UP, UP), R(1, WEST, WEST)], [K, K],
     "agent_0 --(+climb)--> team", [], {(0, 1, 0): 1, (1, 0, 0): 1}),
    ("up stairs", "withdrawn", BOTH, [R(0, UP, STAY, 1, "one_per_cell"), R(1, STAY, STAY)], [W, K],
     "agent_0 --(+climb)--> team", [], {}),
    ("up climb", "alone", ALONE, [R(0, UP, STAY, unbound=True, climb=True)], [U],
     "agent_0 --(-boost)--> team", [], {}),
    ("up climb", "binds", BOTH,
     [R(0, UP, UP, partner=1, climb=True), R(1, BN, BN, partner=0)], [K, K],
     "agent_0 --(-boost)--> agent_1", [(1, 0)], {(0, 1, 0): 1, (1, 0, 0): 1}),
    ("up climb", "no bind", BOTH,
     [R(0, UP, STAY, unbound=True, partner=1, climb=True), R(1, EAST, EAST)], [U, K],
     "agent_0 --(-boost)--> agent_1", [], {(1, 0, 1): 1, (1, 0, 0): 1}),
    ("up climb", "withdrawn", BOTH,
     [R(0, UP, STAY, None, "ledge_blocked", partner=1, climb=True),
      R(1, BN, STAY, None, "ledge_blocked", partner=0)], [W, W],
     "agent_0 --(-boost)--> agent_1", [(1, 0)], {}),
    ("down", "alone", ALONE, [R(0, DOWN, DOWN)], [K], "agent_0 --(+descend)--> team", [], {}),
    ("down", "binds", BOTH, [R(0, DOWN, DOWN), R(1, STAY, STAY)], [K, K],
     "agent_0 --(+descend)--> team", [], {(0, 1, 0): 1}),
    ("down", "no bind", BOTH, [R(0, DOWN, DOWN), R(1, WEST, WEST)], [K, K],
     "agent_0 --(+descend)--> team", [], {(0, 1, 0): 1, (1, 0, 0): 1}),
    ("down", "withdrawn", BOTH, [R(0, DOWN, STAY, 1, "one_per_cell"), R(1, WEST, WEST)], [W, K],
     "agent_0 --(+descend)--> team", [], {(1, 0, 0): 1}),
    ("interact", "alone", ALONE, [R(0, INTERACT, INTERACT)], [K], "agent_0 --(+interact)--> team", [], {}),
    ("interact", "binds", BOTH, [R(0, INTERACT, INTERACT), R(1, STAY, STAY)], [K, K],
     "agent_0 --(+interact)--> team", [], {(0, 1, 0): 1}),
    ("interact", "no bind", BOTH, [R(0, INTERACT, INTERACT), R(1, EAST, EAST)], [K, K],
     "agent_0 --(+interact)--> team", [], {(0, 1, 0): 1, (1, 0, 0): 1}),
    ("interact", "withdrawn", BOTH,
     [R(0, INTERACT, STAY, None, "fallback"), R(1, EAST, STAY, None, "fallback")], [W, W],
     "agent_0 --(+interact)--> team", [], {}),
    ("boost", "alone", ALONE, [R(0, BN, STAY, unbound=True)], [U],
     "agent_0 --(+boost north)--> team", [], {}),
    ("boost", "binds", BOTH, [R(0, BN, BN, partner=1), R(1, UP, UP, partner=0, climb=True)], [K, K],
     "agent_0 --(+boost north)--> agent_1", [(0, 1)], {(0, 1, 0): 1, (1, 0, 0): 1}),
    ("boost", "no bind", BOTH, [R(0, BN, STAY, unbound=True, partner=1), R(1, STAY, STAY)], [U, K],
     "agent_0 --(+boost north)--> agent_1", [], {(1, 0, 1): 1}),
    ("boost", "withdrawn", BOTH,
     [R(0, BN, STAY, None, "ledge_blocked", partner=1),
      R(1, UP, STAY, None, "ledge_blocked", partner=0, climb=True)], [W, W],
     "agent_0 --(+boost north)--> agent_1", [(0, 1)], {}),
]  # fmt: skip


@pytest.mark.parametrize(
    ("action", "situation", "active", "resolutions", "outcomes", "arrow", "bound", "delta"),
    TABLE,
    ids=[f"{row[0]}-{row[1]}" for row in TABLE],
)
def test_assessment_and_trust_update(action, situation, active, resolutions, outcomes, arrow, bound, delta):
    assessments = assess_step(resolutions)
    assert [a.outcome for a in assessments] == outcomes
    actor = assessments[0]
    assert actor.promise.arrow == arrow
    if actor.outcome is Outcome.WITHDRAWN:
        assert (actor.because_of, actor.constraint) == (resolutions[0].because_of, resolutions[0].constraint)
    else:
        assert (actor.because_of, actor.constraint) == (None, None)
    assert bindings(assessments) == bound

    prior = new_counts(2)
    counts = update_trust(prior, assessments, active=np.array(active))
    expected = np.zeros((2, 2, 2))
    for index, amount in delta.items():
        expected[index] = amount
    np.testing.assert_array_equal(counts - prior, expected)
    np.testing.assert_array_equal(prior, new_counts(2))  # the input is not modified
    # Posterior mean of Beta(1 + kept, 1 + not kept): 2/3 after one kept, 1/3 after one broken.
    np.testing.assert_allclose(trust_matrix(counts), (1 + expected[..., 0]) / (2 + expected.sum(-1)))

    info = to_info(assessments)
    assert json.loads(json.dumps(info)) == info
    assert info["promises"][0] == {"agent": 0, **agent_info(actor)}
    assert info["promises"][0]["outcome"] == outcomes[0].value
    assert info["bindings"] == [list(b) for b in bound]


def test_table_covers_every_action_type_and_situation():
    actions = {"stay", "move", "up stairs", "up climb", "down", "interact", "boost"}
    situations = {"alone", "binds", "no bind", "withdrawn"}
    assert {(row[0], row[1]) for row in TABLE} == {(a, s) for a in actions for s in situations}


def test_withdrawn_info_names_constraint_and_agent():
    (a,) = assess_step([R(0, EAST, STAY, np.int64(1), "one_per_cell")])
    info = agent_info(a)
    assert info == {
        "promise": "agent_0 --(+move east)--> team",
        "outcome": "withdrawn",
        "because_of": 1,
        "constraint": "one_per_cell",
    }
    assert type(info["because_of"]) is int
    json.dumps(info)


def test_infos_are_fresh_dicts():
    step = assess_step([R(0, EAST, EAST)])
    first = to_info(step)
    first["promises"][0]["outcome"] = "tampered"
    agent_info(step[0])["promise"] = "tampered"
    assert to_info(step)["promises"][0]["outcome"] == "kept"
    assert agent_info(step[0])["promise"] == "agent_0 --(+move east)--> team"


def test_assessments_are_interned():
    assert assess_step([R(0, EAST, EAST)])[0] is assess_step([R(0, EAST, EAST)])[0]


def _climb_world():
    from mazesim.world import Layout, State, Tile

    tiles = np.full((2, 3, 3), Tile.WALL, dtype=np.uint8)
    group = np.full((2, 3, 3), -1, dtype=np.int16)
    tiles[0, 1, 1], tiles[0, 2, 1], tiles[1, 1, 1] = Tile.CLIMB, Tile.FLOOR, Tile.LEDGE
    group[0, 1, 1] = group[1, 1, 1] = 0
    layout = Layout(tiles, group)
    return layout, State.initial(layout, np.array([[0, 1, 1], [0, 2, 1]]))


@pytest.mark.parametrize(
    ("booster_action", "outcomes", "delta"),
    [
        (BN, [K, K], {(0, 1, 0): 1, (1, 0, 0): 1}),  # the binding holds: both kept
        (STAY, [U, K], {(1, 0, 1): 1}),  # no boost: the climb is unbound, agent 1 is blamed
    ],
)
def test_world_step_feeds_assessment(booster_action, outcomes, delta):
    """The world's executed actions, turned into resolutions as the environment does, assess as expected."""
    from mazesim.world import apply_joint_action, needs_boost

    layout, state = _climb_world()
    requested = [UP, booster_action]
    new, events = apply_joint_action(layout, state, np.array(requested))
    partners = [1, 0]
    resolutions = [
        R(
            i,
            requested[i],
            int(events.executed[i]),
            unbound=int(events.executed[i]) != requested[i],
            partner=partners[i],
            climb=needs_boost(layout, state, i, requested[i]),
        )
        for i in range(2)
    ]
    assessments = assess_step(resolutions)
    assert [a.outcome for a in assessments] == outcomes
    assert assessments[0].promise.arrow == "agent_0 --(-boost)--> agent_1"
    update_trust(new.trust, assessments, active=state.active, out=new.trust)
    expected = np.ones((2, 2, 2))
    for index, amount in delta.items():
        expected[index] += amount
    np.testing.assert_array_equal(new.trust, expected)
    assert (tuple(new.pos[0]) == (1, 1, 1)) is (booster_action == BN)
