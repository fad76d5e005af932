"""The certificate on tiny hand-built layouts, cross-checked against the real step rules."""

from __future__ import annotations

import numpy as np
import pytest

from mazesim.certificate import LayoutError, ZoneGraph, certify
from mazesim.world import GLYPH_TILES, Action, Layout, State, Tile, apply_joint_action


def build(floors: list[str], groups: dict[tuple[int, int, int], int] | None = None) -> Layout:
    """A layout from glyph rows (one string per floor); ``groups`` gives mechanism group ids."""
    grids = [f.strip().splitlines() for f in floors]
    tiles = np.array([[[GLYPH_TILES[ch] for ch in row] for row in g] for g in grids], dtype=np.uint8)
    group = np.full(tiles.shape, -1, dtype=np.int16)
    for cell, g in (groups or {}).items():
        group[cell] = g
    return Layout(tiles, group)


def door_layout(plate_col: int) -> Layout:
    """One corridor: plate at ``plate_col`` and at col 9, door at col 6, exit at col 11."""
    row = ["." for _ in range(11)]
    row[plate_col - 1], row[5], row[8], row[10] = "P", "D", "P", "E"
    floor = "#############\n#" + "".join(row) + "#\n#############"
    return build([floor], {(0, 1, plate_col): 0, (0, 1, 6): 0, (0, 1, 9): 0})


def test_door_needs_a_partner_on_each_side() -> None:
    layout = door_layout(plate_col=3)  # three steps from the doorway
    starts = np.array([[0, 1, 1], [0, 1, 2]])
    cert = certify(layout, starts)
    assert cert.team_escapes
    assert cert.solo_escapes == (False, False)
    assert cert.valid
    assert sum("door 0" in line for line in cert.plan) == 2
    assert sum(line.startswith("exit") for line in cert.plan) == 2


def test_plate_next_to_the_doorway_lets_one_agent_pass() -> None:
    layout = door_layout(plate_col=5)  # touches the doorway at col 6
    starts = np.array([[0, 1, 1], [0, 1, 2]])
    cert = certify(layout, starts)
    assert cert.solo_escapes == (True, True)
    assert not cert.valid
    # The real rules agree: one agent alone presses the plate, steps into the doorway, walks out.
    state = State.initial(layout, starts[:1])
    for action in [Action.EAST] * 4 + [Action.EAST] * 6:
        state, _ = apply_joint_action(layout, state, np.array([action]))
    assert not state.active[0]


def test_plate_two_steps_away_stops_a_lone_agent_in_the_real_rules() -> None:
    layout = door_layout(plate_col=4)  # Manhattan distance 2: the minimum the generator uses
    cert = certify(layout, np.array([[0, 1, 1], [0, 1, 2]]))
    assert cert.valid
    state = State.initial(layout, np.array([[0, 1, 4]]))  # on the plate
    for _ in range(5):
        state, _ = apply_joint_action(layout, state, np.array([Action.EAST]))
    assert tuple(state.pos[0]) == (0, 1, 5)  # stopped in front of the shut door


def test_without_a_far_plate_the_last_agent_is_stuck() -> None:
    floor = "###########\n#.P...D..E#\n###########"
    layout = build([floor], {(0, 1, 2): 0, (0, 1, 6): 0})
    cert = certify(layout, np.array([[0, 1, 1], [0, 1, 3]]))
    assert not cert.team_escapes
    assert cert.plan == ()


def test_no_mechanism_means_anyone_escapes_alone() -> None:
    layout = build(["#####\n#..E#\n#####"])
    cert = certify(layout, np.array([[0, 1, 1], [0, 1, 2]]))
    assert cert.team_escapes and cert.solo_escapes == (True, True)


def test_gate_needs_distinct_agents_on_all_levers() -> None:
    floor = "#########\n#L.L.G.E#\n#########"
    two_levers = build([floor], {(0, 1, 1): 0, (0, 1, 3): 0, (0, 1, 5): 0})
    cert = certify(two_levers, np.array([[0, 1, 2], [0, 1, 4]]))
    assert cert.team_escapes and cert.solo_escapes == (False, False)
    assert cert.plan[0].startswith("gate 0")
    one_lever = build(["#########\n#L...G.E#\n#########"], {(0, 1, 1): 0, (0, 1, 5): 0})
    assert certify(one_lever, np.array([[0, 1, 2], [0, 1, 4]])).solo_escapes == (True, True)


def test_boost_then_rope() -> None:
    floors = ["#####\n#.C.#\n#####", "#####\n#.T.E\n#####"]
    layout = build(floors, {(0, 1, 2): 0, (1, 1, 2): 0})
    cert = certify(layout, np.array([[0, 1, 1], [0, 1, 3]]))
    assert cert.team_escapes and cert.solo_escapes == (False, False)
    assert cert.plan[0].startswith("climb 0: an agent in zone")
    assert any("lowers the rope" in line for line in cert.plan)


def test_booster_must_stand_next_to_the_climb_spot() -> None:
    # The only cell beside the climb spot is a wall: nobody can boost, so nobody gets up.
    floors = ["#####\n#C#.#\n#####", "#####\n#T..E\n#####"]
    layout = build(floors, {(0, 1, 1): 0, (1, 1, 1): 0})
    assert not certify(layout, np.array([[0, 1, 1], [0, 1, 3]])).team_escapes


def test_stairs_join_floors_into_one_zone() -> None:
    floors = ["#####\n#..<#\n#####", "#####\n#E.>#\n#####"]
    zg = ZoneGraph(build(floors))
    assert zg.n_zones == 1
    assert zg.zone[0, 1, 1] == zg.zone[1, 1, 1]


def test_unpaired_stairs_are_refused() -> None:
    with pytest.raises(LayoutError, match="stairs up at"):
        ZoneGraph(build(["#####\n#..<#\n#####", "#####\n#E..#\n#####"]))


def test_start_on_a_wall_is_refused() -> None:
    with pytest.raises(LayoutError, match="start"):
        certify(build(["#####\n#..E#\n#####"]), np.array([[0, 0, 0]]))


def test_zone_kinds_and_regions_follow_the_latched_gate() -> None:
    floor = "#########\n#L.L.G.E#\n#########"
    layout = build([floor], {(0, 1, 1): 0, (0, 1, 3): 0, (0, 1, 5): 0})
    zg = ZoneGraph(layout)
    left, gate, right = (int(zg.zone[0, 1, c]) for c in (1, 5, 7))
    assert zg.kind[gate] == 2 and zg.kind[left] == 0
    assert len({zg.regions(0)[z] for z in (left, gate, right)}) == 3
    latched = zg.mech_bits(np.array([True]), np.zeros(0, dtype=bool))
    assert len({zg.regions(latched)[z] for z in (left, gate, right)}) == 1
    assert Tile(int(layout.tiles[0, 1, 5])) is Tile.GATE
