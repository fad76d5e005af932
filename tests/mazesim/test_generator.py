"""The generator: every maze is certified, deterministic across processes, and bad requests fail fast."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import scenarios

from mazesim.certificate import ZoneGraph
from mazesim.generator import GenerationError, Maze, generate, max_door_gates
from mazesim.scenario import Mechanics, Scenario
from mazesim.text import parse_text
from mazesim.world import Tile

ROOT = Path(__file__).resolve().parents[2]


def check_structure(maze: Maze) -> None:
    sc, layout = maze.scenario, maze.layout
    assert layout.shape == (sc.levels, sc.rows, sc.cols)
    assert (layout.n_doors, layout.n_gates, layout.n_climbs) == (
        sc.mechanics.doors,
        sc.mechanics.gates,
        sc.mechanics.boosts,
    )
    tiles = layout.tiles
    assert (tiles[:, 0, :] == Tile.WALL).all() and (tiles[:, :, -1] == Tile.WALL).all()
    assert (tiles == Tile.EXIT).sum() == 1
    # Starts: distinct floor cells, all in one zone.
    starts = maze.starts
    assert starts.shape == (sc.agents, 3) and starts.dtype == np.int64
    assert len({tuple(p) for p in starts.tolist()}) == sc.agents
    assert all(tiles[tuple(p)] == Tile.FLOOR for p in starts)
    zg = ZoneGraph(layout)
    assert len({int(zg.zone[tuple(p)]) for p in starts}) == 1
    # Plates: one on each side of the door, never within one step of the doorway.
    for g in range(layout.n_doors):
        (door,) = layout.door_cells[g]
        plates = layout.plate_cells[g]
        assert len(plates) == 2
        assert all(abs(p[1] - door[1]) + abs(p[2] - door[2]) >= 2 for p in plates)
        assert {int(zg.zone[p]) for p in plates} == set(zg.door_sides[g])
    # Levers: two per gate, apart, on the same (near) side.
    for g in range(layout.n_gates):
        a, b = layout.lever_cells[g]
        assert abs(a[1] - b[1]) + abs(a[2] - b[2]) >= 3
        assert zg.zone[a] == zg.zone[b]


@settings(max_examples=30, deadline=None)
@given(sc=scenarios(), seed=st.integers(0, 2**31 - 1))
def test_every_generated_maze_is_certified(sc: Scenario, seed: int) -> None:
    maze = generate(sc, seed)
    cert = maze.certificate
    assert cert.team_escapes
    assert cert.solo_escapes == (False,) * sc.agents
    assert cert.valid and cert.plan and cert.team_states > 0
    check_structure(maze)


def test_same_seed_same_maze_and_a_generator_works_too() -> None:
    sc = Scenario(
        name="t", levels=3, rows=21, cols=21, agents=4, mechanics=Mechanics(doors=1, gates=1, boosts=1)
    )
    a, b = generate(sc, 12), generate(sc, 12)
    assert a.to_bytes() == b.to_bytes()
    assert generate(sc, 13).to_bytes() != a.to_bytes()
    rng_a, rng_b = np.random.default_rng(5), np.random.default_rng(5)
    from_rng = generate(sc, rng_a)
    assert from_rng.seed is None and from_rng.to_bytes() == generate(sc, rng_b).to_bytes()
    assert from_rng.certificate.valid


def test_same_seed_is_byte_identical_in_two_processes() -> None:
    code = (
        "import hashlib; from mazesim.generator import generate; "
        "from mazesim.scenario import Mechanics, Scenario; "
        "sc = Scenario(name='t', levels=3, rows=21, cols=21, agents=4, mechanics=Mechanics(1, 1, 1)); "
        "print(hashlib.sha256(b''.join(generate(sc, s).to_bytes() for s in (0, 1, 99))).hexdigest())"
    )
    digests = {
        subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        for _ in range(2)
    }
    sc = Scenario(name="t", levels=3, rows=21, cols=21, agents=4, mechanics=Mechanics(1, 1, 1))
    here = hashlib.sha256(b"".join(generate(sc, s).to_bytes() for s in (0, 1, 99))).hexdigest()
    assert digests == {here}


def test_str_is_the_text_rendering_and_parses_back() -> None:
    sc = Scenario(
        name="t", levels=2, rows=11, cols=13, agents=3, mechanics=Mechanics(doors=1, gates=1, boosts=1)
    )
    maze = generate(sc, 4)
    text = str(maze)
    assert text.startswith("level 0:")
    layout, starts = parse_text(text)
    assert layout.to_bytes() == maze.layout.to_bytes()
    assert np.array_equal(starts, maze.starts)


@pytest.mark.parametrize(
    ("changes", "needle"),
    [
        ({"levels": 2, "mechanics": Mechanics(boosts=3)}, "mechanics.boosts=3 needs levels >= 4"),
        ({"rows": 10}, "rows=10 must be odd"),
        ({"cols": 3}, "cols=3 must be odd and >= 5"),
        ({"agents": 1}, "agents=1"),
        ({"mechanics": Mechanics()}, "at least one mechanic"),
        ({"mechanics": Mechanics(doors=-1, gates=1)}, "mechanics.doors=-1"),
        ({"mechanics": Mechanics(doors=30, gates=30)}, "mechanics.doors + mechanics.gates = 60 do not fit"),
        ({"braid": 1.5}, "braid=1.5"),
    ],
)
def test_impossible_requests_fail_at_once_with_the_fix(changes: dict, needle: str) -> None:
    base = {"name": "bad", "levels": 1, "rows": 9, "cols": 9, "agents": 2, "mechanics": Mechanics(doors=1)}
    sc = Scenario(**{**base, **changes})
    with pytest.raises(GenerationError, match="scenario 'bad'") as info:
        generate(sc, 0)
    assert needle in str(info.value)
    assert isinstance(info.value, ValueError)


def test_the_fit_limit_is_reachable() -> None:
    limit = max_door_gates(1, 9, 9, 4)
    doors = limit // 2
    ok = Scenario(name="t", rows=9, cols=9, agents=4, mechanics=Mechanics(doors=doors, gates=limit - doors))
    assert all(generate(ok, s).certificate.valid for s in range(5))
    too_many = Scenario(
        name="t", rows=9, cols=9, agents=4, mechanics=Mechanics(doors=doors + 1, gates=limit - doors)
    )
    with pytest.raises(GenerationError, match="do not fit"):
        generate(too_many, 0)


def test_hand_drawn_layout_is_parsed_and_certified() -> None:
    floors = (
        "#########\n#0..#...#\n#.P.D.P<#\n#1..#...#\n#########",
        "#########\n#########\n#E.....>#\n#########\n#########",
    )
    sc = Scenario(name="drawn", layout=floors, agents=2, mechanics=Mechanics(doors=1))
    maze = generate(sc, 3)
    assert maze.certificate.valid
    assert maze.starts.tolist() == [[0, 1, 1], [0, 3, 1]]


def test_hand_drawn_layout_that_one_agent_escapes_names_the_file() -> None:
    floors = ("#######\n#0.1.E#\n#######",)
    sc = Scenario(name="drawn", layout=floors, agents=2, source=Path("scenarios/solo.toml"))
    with pytest.raises(GenerationError, match=r"scenarios/solo\.toml.*can escape alone"):
        generate(sc, 0)
