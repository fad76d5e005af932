"""Table-driven tests of the world rules on hand-built layouts."""

from __future__ import annotations

import numpy as np
import pytest

from mazesim.world import (
    Action,
    Layout,
    State,
    Tile,
    action_mask,
    apply_joint_action,
    doors_open,
)

A = Action
F, W, P, D, L, G, C, T, E = (
    Tile.FLOOR,
    Tile.WALL,
    Tile.PLATE,
    Tile.DOOR,
    Tile.LEVER,
    Tile.GATE,
    Tile.CLIMB,
    Tile.LEDGE,
    Tile.EXIT,
)


def make(floors: list[list[list[int]]], groups: dict[tuple[int, int, int], int] | None = None) -> Layout:
    tiles = np.array(floors, dtype=np.uint8)
    group = np.full(tiles.shape, -1, dtype=np.int16)
    for cell, g in (groups or {}).items():
        group[cell] = g
    return Layout(tiles, group)


# one corridor: plate . . door . exit
CORRIDOR = make([[[P, F, F, D, F, E]]], {(0, 0, 0): 0, (0, 0, 3): 0})


def state(layout: Layout, *cells: tuple[int, int, int]) -> State:
    return State.initial(layout, np.array(cells))


def step(layout: Layout, s: State, *acts: int, following: bool = False):
    return apply_joint_action(layout, s, np.array(acts), following=following)


def test_door_opens_only_while_plate_or_doorway_is_occupied():
    s = state(CORRIDOR, (0, 0, 2), (0, 0, 1))
    assert not doors_open(CORRIDOR, s.occupancy())[0]
    assert action_mask(CORRIDOR, s, 0)[A.EAST] == 0
    s2 = state(CORRIDOR, (0, 0, 2), (0, 0, 0))  # partner on the plate
    assert doors_open(CORRIDOR, s2.occupancy())[0]
    assert action_mask(CORRIDOR, s2, 0)[A.EAST] == 1
    s3, ev = step(CORRIDOR, s2, A.EAST, A.STAY)
    assert tuple(s3.pos[0]) == (0, 0, 3) and ev.executed[0] == A.EAST
    # in the doorway the door stays open even after the partner leaves the plate
    s4, _ = step(CORRIDOR, s3, A.EAST, A.EAST)
    assert tuple(s4.pos[0]) == (0, 0, 4)


def test_plate_two_steps_away_cannot_be_used_alone():
    s = state(CORRIDOR, (0, 0, 0), (0, 0, 5))  # agent 1 stands on the exit cell: leaves at once
    s, _ = step(CORRIDOR, s, A.EAST, A.STAY)
    s, _ = step(CORRIDOR, s, A.EAST, A.STAY)
    assert tuple(s.pos[0]) == (0, 0, 2)
    s, ev = step(CORRIDOR, s, A.EAST, A.STAY)
    assert tuple(s.pos[0]) == (0, 0, 2) and ev.executed[0] == A.STAY


def test_exit_removes_agent_and_frees_cell():
    s = state(CORRIDOR, (0, 0, 4), (0, 0, 0))
    s, ev = step(CORRIDOR, s, A.EAST, A.STAY)
    assert ev.exited == (0,) and not s.active[0] and s.active[1]
    assert (0, 0, 5) not in s.occupancy()
    assert action_mask(CORRIDOR, s, 0).tolist() == [1] + [0] * 11


@pytest.mark.parametrize(
    ("acts", "following", "expected"),
    [
        ((A.EAST, A.EAST), False, [(0, 0, 1), (0, 0, 3)]),  # entering an occupied cell is refused
        ((A.EAST, A.EAST), True, [(0, 0, 2), (0, 0, 3)]),  # following a leaving agent is allowed
        ((A.EAST, A.WEST), True, [(0, 0, 1), (0, 0, 2)]),  # a swap is always refused
        ((A.STAY, A.WEST), False, [(0, 0, 1), (0, 0, 2)]),
    ],
)
def test_occupancy_rules(acts, following, expected):
    layout = make([[[F, F, F, F, F, F]]])
    s = state(layout, (0, 0, 1), (0, 0, 2))
    s2, _ = step(layout, s, *acts, following=following)
    assert [tuple(p) for p in s2.pos.tolist()] == expected


def test_two_agents_into_one_cell_both_stay():
    layout = make([[[F, F, F]]])
    s = state(layout, (0, 0, 0), (0, 0, 2))
    s2, ev = step(layout, s, A.EAST, A.WEST)
    assert s2.pos.tolist() == s.pos.tolist() and ev.executed.tolist() == [0, 0]


LEVERS = make([[[L, F, L, G, E]]], {(0, 0, 0): 0, (0, 0, 2): 0, (0, 0, 3): 0})


@pytest.mark.parametrize(
    ("acts", "latched"),
    [((A.INTERACT, A.INTERACT), True), ((A.INTERACT, A.STAY), False), ((A.STAY, A.INTERACT), False)],
)
def test_gate_latches_only_when_all_levers_pulled_together(acts, latched):
    s = state(LEVERS, (0, 0, 0), (0, 0, 2))
    s2, ev = step(LEVERS, s, *acts)
    assert bool(s2.gates_open[0]) is latched
    assert ev.gates_latched == ((0,) if latched else ())
    if latched:  # latched for good: the lever is no longer interactable, the gate passable
        assert action_mask(LEVERS, s2, 1)[A.EAST] == 1
        assert action_mask(LEVERS, s2, 1)[A.INTERACT] == 0


# two floors: climb spot at (0,0,1), ledge above at (1,0,1), exit on floor 1
CLIFF = make([[[F, C, F]], [[W, T, E]]], {(0, 0, 1): 0, (1, 0, 1): 0})


@pytest.mark.parametrize(
    ("booster_act", "climbs"),
    [(A.BOOST_EAST, True), (A.STAY, False), (A.BOOST_WEST, False)],
)
def test_climb_needs_a_matching_boost(booster_act, climbs):
    s = state(CLIFF, (0, 0, 1), (0, 0, 0))
    mask = action_mask(CLIFF, s, 1)
    assert mask[A.BOOST_EAST] == 1 and mask[A.BOOST_WEST] == 0
    s2, ev = step(CLIFF, s, A.UP, booster_act)
    assert (tuple(s2.pos[0]) == (1, 0, 1)) is climbs
    assert ev.executed[1] == (A.BOOST_EAST if climbs else A.STAY)


def test_rope_lets_the_rest_follow_alone_and_down():
    s = state(CLIFF, (1, 0, 1), (0, 0, 0))
    assert action_mask(CLIFF, s, 0)[A.DOWN] == 0
    s, ev = step(CLIFF, s, A.INTERACT, A.STAY)
    assert s.ropes_down[0] and ev.ropes_lowered == (0,)
    s, _ = step(CLIFF, s, A.EAST, A.EAST)  # agent 0 leaves through the exit, 1 reaches the spot
    assert not s.active[0] and tuple(s.pos[1]) == (0, 0, 1)
    s, _ = step(CLIFF, s, A.STAY, A.UP)  # rope down: climbs alone
    assert tuple(s.pos[1]) == (1, 0, 1)
    assert action_mask(CLIFF, s, 1)[A.DOWN] == 1


def test_stairs_join_floors():
    layout = make([[[Tile.STAIRS_UP, F]], [[Tile.STAIRS_DOWN, F]]])
    s = state(layout, (0, 0, 0))
    assert action_mask(layout, s, 0)[A.UP] == 1 and action_mask(layout, s, 0)[A.DOWN] == 0
    s, _ = step(layout, s, A.UP)
    assert tuple(s.pos[0]) == (1, 0, 0)
    s, _ = step(layout, s, A.DOWN)
    assert tuple(s.pos[0]) == (0, 0, 0)


def test_apply_does_not_modify_input_state():
    s = state(CORRIDOR, (0, 0, 4), (0, 0, 0))
    before = s.copy()
    step(CORRIDOR, s, A.EAST, A.EAST)
    assert s.equals(before)


@pytest.mark.parametrize(
    ("tiles", "groups", "message"),
    [
        ([[[D, F]]], {(0, 0, 0): 0}, "door group 0 needs at least one door and one plate"),
        ([[[C, F]]], {(0, 0, 0): 0}, "climb 0 needs exactly one climb spot and one ledge"),
        ([[[P, F]]], {}, "has no group id"),
    ],
)
def test_bad_layouts_are_refused(tiles, groups, message):
    with pytest.raises(ValueError, match=message):
        make(tiles, groups)
