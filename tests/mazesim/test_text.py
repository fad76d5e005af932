"""Text rendering and parsing of mazes: exact renders, round trips, the linking rule, errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mazesim.scenario import load_scenario
from mazesim.text import LEGEND, TextMazeError, parse_text, render_text
from mazesim.world import Layout, State, Tile

W, F, U, D = Tile.WALL, Tile.FLOOR, Tile.STAIRS_UP, Tile.STAIRS_DOWN
DR, P, LV, G, C, T, E = Tile.DOOR, Tile.PLATE, Tile.LEVER, Tile.GATE, Tile.CLIMB, Tile.LEDGE, Tile.EXIT


def two_floor_layout() -> Layout:
    """A hand-built 2-floor layout with one door, one gate (two levers), one climb and stairs."""
    floor0 = [
        [W, W, W, W, W, W, W, W, W],
        [W, F, F, P, F, DR, F, P, W],
        [W, LV, F, F, F, F, F, LV, W],
        [W, F, G, F, F, F, C, U, W],
        [W, W, W, W, W, W, W, W, W],
    ]
    floor1 = [
        [W, W, W, W, W, W, W, W, W],
        [W, E, F, F, F, F, F, F, W],
        [W, F, F, F, F, F, F, F, W],
        [W, F, F, F, F, F, T, D, W],
        [W, W, W, W, W, W, W, W, W],
    ]
    tiles = np.array([floor0, floor1], dtype=np.uint8)
    group = np.full(tiles.shape, -1, dtype=np.int16)
    for cell in [(0, 1, 3), (0, 1, 5), (0, 1, 7), (0, 3, 2), (0, 2, 1), (0, 2, 7), (0, 3, 6), (1, 3, 6)]:
        group[cell] = 0
    return Layout(tiles, group)


def test_render_two_floors_with_state_exactly() -> None:
    layout = two_floor_layout()
    state = State.initial(layout, np.array([[0, 1, 3], [1, 1, 2], [1, 1, 1]]))
    state.active[2] = False  # agent 2 has left through the exit: not drawn
    state.gates_open[0] = True
    state.ropes_down[0] = True
    expected = "\n".join(
        [
            "level 0:",
            "#########",
            "#..0.d.P#",  # agent 0 on the west plate: the door is open this step
            "#L.....L#",
            "#.g...C<#",
            "#########",
            "level 1:",
            "#########",
            "#E1.....#",
            "#.......#",
            "#.....t>#",
            "#########",
            LEGEND,
        ]
    )
    assert render_text(layout, state) == expected


def test_render_without_state_and_with_starts() -> None:
    layout = two_floor_layout()
    plain = render_text(layout).splitlines()
    assert plain[1:6] == ["#########", "#..P.D.P#", "#L.....L#", "#.G...C<#", "#########"]
    assert plain[-1] == LEGEND and not any(line.startswith("links") for line in plain)
    with_starts = render_text(layout, starts=np.array([[0, 3, 1], [1, 2, 4]])).splitlines()
    assert with_starts[4] == "#0G...C<#" and with_starts[9] == "#...1...#"
    with pytest.raises(ValueError, match="either a state or starts"):
        render_text(layout, State.initial(layout, np.zeros((1, 3), dtype=np.int64)), starts=np.zeros((1, 3)))


def test_closed_door_shut_gate_and_rope_up_render_upper_case() -> None:
    layout = two_floor_layout()
    state = State.initial(layout, np.array([[0, 2, 3], [0, 2, 4]]))
    text = render_text(layout, state)
    assert "#..P.D.P#" in text and "#.G...C<#" in text and "#.....T>#" in text
    # An agent in the doorway keeps the door open.
    state.pos[0] = (0, 1, 5)
    assert "#..P.0.P#" in render_text(layout, state)
    state.pos[0] = (0, 1, 7)
    assert "#..P.d.0#" in render_text(layout, state)


def assert_same(a: Layout, b: Layout) -> None:
    assert a.to_bytes() == b.to_bytes()


def test_round_trip_hand_built_layout() -> None:
    layout = two_floor_layout()
    starts = np.array([[0, 1, 1], [0, 3, 1], [1, 2, 2]], dtype=np.int64)
    back, back_starts = parse_text(render_text(layout, starts=starts))
    assert_same(back, layout)
    np.testing.assert_array_equal(back_starts, starts)
    assert back_starts.dtype == np.int64 and back_starts.shape == (3, 3)


def test_round_trip_of_a_rendered_state_keeps_the_layout() -> None:
    layout = two_floor_layout()
    state = State.initial(layout, np.array([[0, 1, 3], [1, 1, 2]]))
    state.gates_open[0] = True
    state.ropes_down[0] = True
    back, starts = parse_text(render_text(layout, state))  # 'd', 'g', 't' read as D, G, T
    # Agent 0 stood on a plate, which the digit hides: the plate reads back as floor.
    assert back.tiles[0, 1, 3] == Tile.FLOOR
    tiles = layout.tiles.copy()
    tiles[0, 1, 3] = Tile.FLOOR
    np.testing.assert_array_equal(back.tiles, tiles)
    np.testing.assert_array_equal(starts, [[0, 1, 3], [1, 1, 2]])


def test_round_trip_handdrawn_preset() -> None:
    sc = load_scenario("handdrawn_tutorial")
    layout, starts = parse_text(sc.layout)
    assert layout.n_doors == 1 and layout.plate_cells[0] == ((0, 2, 2), (0, 2, 6))
    np.testing.assert_array_equal(starts, [[0, 1, 1], [0, 3, 1]])
    back, back_starts = parse_text(render_text(layout, starts=starts))
    assert_same(back, layout)
    np.testing.assert_array_equal(back_starts, starts)


def test_linking_rule_nearest_door_and_reading_order() -> None:
    layout, _ = parse_text(["#############\n#0P.D.P.P.D.P\n#1...........\n#############"])
    assert layout.n_doors == 2
    assert layout.door_cells == (((0, 1, 4),), ((0, 1, 10),))
    assert layout.plate_cells == (((0, 1, 2), (0, 1, 6)), ((0, 1, 8), (0, 1, 12)))
    # Walking distance, not straight-line distance: a wall makes the far door nearer.
    # The plate at (1, 3) is 2 steps from door 0 as the crow flies but 6 on foot, 3 from door 1.
    layout, _ = parse_text(["########\n#D#P..D#\n#.#.####\n#...####\n#0P1####"])
    assert layout.door_cells == (((0, 1, 1),), ((0, 1, 6),))
    assert layout.plate_cells == (((0, 4, 2),), ((0, 1, 3),))


def test_lowercase_state_glyphs_and_levers_climbs() -> None:
    layout, starts = parse_text(["#L..G..L#\n#0.....1#\n#...C...#", "#########\n#.......#\n#E..t...#"])
    assert (layout.n_gates, layout.n_climbs) == (1, 1)
    assert layout.lever_cells == (((0, 0, 1), (0, 0, 7)),)
    assert layout.climb_cells == ((0, 2, 4),) and layout.tiles[1, 2, 4] == Tile.LEDGE
    layout2, _ = parse_text(["#L..g..L#\n#0.....1#\n#...C...#", "#########\n#.......#\n#E..T...#"])
    assert_same(layout, layout2)


def test_floors_may_carry_headers_and_indentation() -> None:
    floors = ["\n    level 0:\n    #0P.D.P1<\n", "\n    ########>\n"]
    layout, starts = parse_text(floors)
    assert layout.shape == (2, 1, 9)
    np.testing.assert_array_equal(starts, [[0, 0, 1], [0, 0, 7]])


def test_links_lines_make_any_grouping_round_trip() -> None:
    layout, starts = parse_text(["#############\n#0P.D.P.P.D.P\n#1...........\n#############"])
    swapped = layout.group.copy()
    door_kind = np.isin(layout.tiles, [Tile.DOOR, Tile.PLATE])
    swapped[door_kind] = 1 - swapped[door_kind]
    # Also give the far plate of door 0 to door 1, against the nearest-door rule.
    swapped[0, 1, 6] = 0
    odd = Layout(layout.tiles, swapped)
    text = render_text(odd, starts=starts)
    assert "links door 0: 0,1,6 0,1,8 0,1,10 0,1,12" in text
    assert "links door 1: 0,1,2 0,1,4" in text
    assert "links gate" not in text and "links climb" not in text
    back, back_starts = parse_text(text)
    assert_same(back, odd)
    np.testing.assert_array_equal(back_starts, starts)


@pytest.mark.parametrize(
    ("floors", "message"),
    [
        (["#0P.D.P1x"], "floor 0, row 0, col 8: unknown glyph 'x'"),
        (["#0P.D.P1", "#.##"], "floor 1, row 0 has 4 columns but row 0 of floor 0 has 8"),
        (["#0P.D.P1\n########", "########"], "floor 1 has 1 rows but floor 0 has 2"),
        (["#0P.D.P0"], "floor 0, row 0, col 7: agent '0' appears twice (also at floor 0, row 0, col 1)"),
        (["#0P.D.P2"], "missing [1]"),
        (["#0P.D.P1<"], "floor 0, row 0, col 8: glyph '<' (stairs up) needs '>' directly above"),
        (["#0P.D.P1.", "........<"], "floor 1, row 0, col 8: glyph '<' (stairs up) needs '>'"),
        (["#0P.D.P1>"], "floor 0, row 0, col 8: glyph '>' (stairs down) needs '<' directly below"),
        (["#0P.D.P1T"], "floor 0, row 0, col 8: glyph 'T' (ledge) needs 'C' directly below"),
        (
            ["#0P.D.P1C", "........."],
            "floor 0, row 0, col 8: glyph 'C' (climb spot) needs 'T' directly above",
        ),
        (["#0P.D.#P1"], "floor 0, row 0, col 7: glyph 'P' can reach no door ('D')"),
        (["#0..D..1"], "floor 0, row 0, col 4: door 'D' has no plate 'P'"),
        (["#0..G..1"], "floor 0, row 0, col 4: gate 'G' has no lever 'L'"),
        (
            ["#0P.D.P1\nlinks door 0: 0,0,4 0,0,2"],
            "floor 0, row 0, col 6: glyph 'P' is in no 'links door K:' line",
        ),
        (["#0P.D.P1\nlinks door 0: 0,0,4 0,0,3 0,0,2"], "floor 0, row 0, col 3 is not a door cell"),
        (["#0P.D.P1\nlinks door 0: 0,0,4 0,0,2 0,0,2 0,0,6"], "floor 0, row 0, col 2 is listed twice"),
        (["#0P.D.P1\nlinks door 1: 0,0,4 0,0,2 0,0,6"], "door 0 is missing"),
        (["#0P.D.P1\nlinks door 0: 0,0,4 a,b 0,0,6"], "'a,b' is not a cell"),
        ([], "no floors"),
    ],
)
def test_parse_errors_name_floor_row_col_and_glyph(floors: list[str], message: str) -> None:
    with pytest.raises(TextMazeError) as info:
        parse_text(floors)
    assert message in str(info.value)


def test_rows_before_header_in_a_rendering() -> None:
    with pytest.raises(TextMazeError, match="before the first 'level L:' header"):
        parse_text("#0P.D.P1\nlevel 0:\n#0P.D.P1")


@st.composite
def random_maze(draw: st.DrawFn) -> tuple[Layout, np.ndarray]:
    """Random walls and floors on 1-3 floors, stair pairs, climbs, doors, gates, agents on floor cells."""
    levels = draw(st.integers(1, 3))
    rows, cols = draw(st.integers(1, 9)), draw(st.integers(2, 9))
    size = levels * rows * cols
    cells = draw(st.lists(st.sampled_from([F, W, E]), min_size=size, max_size=size))
    tiles = np.array(cells, dtype=np.uint8).reshape(levels, rows, cols)
    group = np.full(tiles.shape, -1, dtype=np.int16)
    n_climbs = 0
    for _ in range(draw(st.integers(0, 3)) if levels > 1 else 0):
        lv = draw(st.integers(0, levels - 2))
        r, c = draw(st.integers(0, rows - 1)), draw(st.integers(0, cols - 1))
        if tiles[lv, r, c] in (F, W, E) and tiles[lv + 1, r, c] in (F, W, E):
            if draw(st.booleans()):
                tiles[lv, r, c], tiles[lv + 1, r, c] = U, D
            else:
                tiles[lv, r, c], tiles[lv + 1, r, c] = C, T
                group[lv, r, c] = group[lv + 1, r, c] = n_climbs
                n_climbs += 1
    # Doors and gates with random members and ids: where the linking rule would group them
    # differently, render_text must write 'links' lines for the round trip to hold.
    for anchor, member in ((DR, P), (G, LV)):
        for g in range(draw(st.integers(0, 2))):
            for tile in (anchor, member, *([member] * draw(st.integers(0, 1)))):
                plain = np.argwhere(np.isin(tiles, [F, W, E]))
                if len(plain):
                    cell = tuple(plain[draw(st.integers(0, len(plain) - 1))])
                    tiles[cell], group[cell] = tile, g
            kind = (tiles == anchor) | (tiles == member)
            if not ((tiles == anchor) & (group == g)).any() or not ((tiles == member) & (group == g)).any():
                tiles[kind & (group == g)], group[kind & (group == g)] = F, -1
    floor_cells = np.argwhere(tiles == F)
    n_agents = draw(st.integers(0, min(10, len(floor_cells))))
    picks = draw(st.permutations(range(len(floor_cells))))[:n_agents]
    # Random climb numbering exercises the 'links climb' lines.
    perm = draw(st.permutations(range(n_climbs)))
    climb_kind = np.isin(tiles, [C, T])
    group[climb_kind] = np.array(perm, dtype=np.int16)[group[climb_kind]] if n_climbs else group[climb_kind]
    return Layout(tiles, group), floor_cells[list(picks)].astype(np.int64).reshape(-1, 3)


@settings(max_examples=40, deadline=None)
@given(maze=random_maze())
def test_round_trip_random_layouts(maze: tuple[Layout, np.ndarray]) -> None:
    layout, starts = maze
    back, back_starts = parse_text(render_text(layout, starts=starts))
    assert_same(back, layout)
    np.testing.assert_array_equal(back_starts, starts)


def test_climbs_numbered_against_reading_order_round_trip() -> None:
    layout, starts = parse_text(["#C0.1C#", "#T...T#"])
    assert layout.climb_cells == ((0, 0, 1), (0, 0, 5))
    group = layout.group.copy()
    kind = np.isin(layout.tiles, [Tile.CLIMB, Tile.LEDGE])
    group[kind] = 1 - group[kind]
    reversed_ids = Layout(layout.tiles, group)
    text = render_text(reversed_ids, starts=starts)
    assert "links climb 0: 0,0,5 1,0,5" in text and "links climb 1: 0,0,1 1,0,1" in text
    back, _ = parse_text(text)
    assert back.climb_cells == ((0, 0, 5), (0, 0, 1))
    assert back.to_bytes() == reversed_ids.to_bytes()
