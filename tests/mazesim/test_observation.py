"""The observation encoding against a cell-by-cell statement of its documented table."""

from __future__ import annotations

import numpy as np
import pytest

import mazesim
from mazesim.observation import N_CODES, N_OBS_CHANNELS, Code, Encoder, encode_state, one_hot, trust_code
from mazesim.world import Layout, State, Tile, doors_open


def reference_code(layout: Layout, state: State, cell) -> int:
    """The cell code of ``cell`` as the module docstring states it."""
    levels, rows, cols = layout.shape
    l, r, c = cell
    if not (0 <= l < levels and 0 <= r < rows and 0 <= c < cols):
        return Code.BLOCKED
    t = Tile(int(layout.tiles[cell]))
    g = int(layout.group[cell])
    if t == Tile.DOOR:
        return Code.DOOR_OPEN if doors_open(layout, state.occupancy())[g] else Code.DOOR_SHUT
    if t == Tile.GATE:
        return Code.FLOOR if state.gates_open[g] else Code.GATE_SHUT
    if t == Tile.LEVER:
        return Code.FLOOR if state.gates_open[g] else Code.LEVER
    if t == Tile.LEDGE:
        return Code.LEDGE_DOWN if state.ropes_down[g] else Code.LEDGE_UP
    return {
        Tile.FLOOR: Code.FLOOR,
        Tile.WALL: Code.BLOCKED,
        Tile.PLATE: Code.PLATE,
        Tile.CLIMB: Code.CLIMB,
        Tile.STAIRS_UP: Code.STAIRS_UP,
        Tile.STAIRS_DOWN: Code.STAIRS_DOWN,
        Tile.EXIT: Code.EXIT,
    }[t]


def reference_observation(layout: Layout, state: State, agent: int, v: int, max_cycles: int) -> np.ndarray:
    w = 2 * v + 1
    levels = layout.shape[0]
    out = np.zeros((N_OBS_CHANNELS, w, w), dtype=np.uint8)
    l, r, c = (int(x) for x in state.pos[agent])
    occ = state.occupancy()
    for k, dl in enumerate((-1, 0, 1)):
        for i in range(w):
            for j in range(w):
                cell = (l + dl, r - v + i, c - v + j)
                out[k, i, j] = reference_code(layout, state, cell)
                other = occ.get(cell)
                if other is not None and other != agent:
                    kept, broken = state.trust[other, agent]
                    out[3 + k, i, j] = trust_code(kept / (kept + broken))
    out[6] = round(255 * l / (levels - 1)) if levels > 1 else 0
    out[7] = round(255 * min(state.step / max_cycles, 1.0))
    out[8] = round(255 * state.active.sum() / state.n_agents)
    return out


@pytest.mark.parametrize("scenario", ["tutorial", "mixed", "three_floor"])
def test_observations_match_the_documented_encoding_along_an_episode(scenario):
    env = mazesim.parallel_env(scenario=scenario)
    obs, _ = env.reset(seed=11)
    rng = np.random.default_rng(0)
    for _ in range(25):
        for a, o in obs.items():
            i = env._index[a]
            want = reference_observation(
                env.maze.layout, env.world, i, env.scenario.view_radius, env.max_cycles
            )
            np.testing.assert_array_equal(
                o["observation"], want, err_msg=f"{scenario} {a} step {env.world.step}"
            )
        if not env.agents:
            break
        actions = {a: int(rng.choice(np.flatnonzero(obs[a]["action_mask"]))) for a in env.agents}
        obs = env.step(actions)[0]


def test_mechanism_changes_show_in_observations():
    """Hand-built: an agent on the plate opens the door the other one sees; a latched gate and a
    lowered rope change their codes; the partner shows with the prior trust."""
    tiles = np.array([[[Tile.PLATE, Tile.FLOOR, Tile.FLOOR, Tile.DOOR, Tile.LEVER, Tile.GATE, Tile.CLIMB]],
                      [[Tile.WALL] * 6 + [Tile.LEDGE]]], dtype=np.uint8)  # fmt: skip
    group = np.full(tiles.shape, -1, dtype=np.int16)
    group[0, 0, 0] = group[0, 0, 3] = 0
    group[0, 0, 4] = group[0, 0, 5] = 0
    group[0, 0, 6] = group[1, 0, 6] = 0
    layout = Layout(tiles, group)
    v = 4
    enc = Encoder(layout, view_radius=v, max_cycles=10)
    at = v - 2  # window column of map column c is c + at (the observer stands at column 2)
    state = State.initial(layout, np.array([[0, 0, 2], [0, 0, 1]]))
    assert enc.observe(state, 0)[1, v, 3 + at] == Code.DOOR_SHUT
    state.pos[1] = (0, 0, 0)
    state.gates_open[0] = True
    state.ropes_down[0] = True
    obs = enc.observe(state, 0)
    assert obs[1, v, 3 + at] == Code.DOOR_OPEN
    assert obs[1, v, 4 + at] == Code.FLOOR and obs[1, v, 5 + at] == Code.FLOOR
    assert obs[2, v, 6 + at] == Code.LEDGE_DOWN and obs[1, v, 6 + at] == Code.CLIMB
    assert obs[4, v, 0 + at] == trust_code(0.5) == 128 and obs[4, v, v] == 0
    features = one_hot(obs)
    assert (
        features[N_CODES + Code.DOOR_OPEN, v, 3 + at] == 1.0 and features[: N_CODES * 3, v, 3 + at].sum() == 3
    )


def test_state_encoding_marks_each_agent_by_index():
    env = mazesim.parallel_env(scenario="mixed")
    env.reset(seed=2)
    s = env.state()
    sc = env.scenario
    assert s.shape == env.state_space.shape == (2 * sc.levels + 2, sc.rows, sc.cols) and s.dtype == np.uint8
    for i, (l, r, c) in enumerate(env.world.pos.tolist()):
        assert s[2 * l + 1, r, c] == i + 1
        assert s[2 * l, r, c] == reference_code(env.maze.layout, env.world, (l, r, c))
    np.testing.assert_array_equal(s, encode_state(env.maze.layout, env.world, env._encoder))


def test_any_subset_and_order_of_observers_sees_the_same_observations():
    """Observers in any order, a subset of the team, an agent that has left among them, agents
    crowded on neighbouring floors and a ledger with uneven trust (also not C-ordered, or float32):
    every row equals the reference."""
    env = mazesim.parallel_env(scenario="three_floor")
    env.reset(seed=5)
    layout, v, cycles = env.maze.layout, env.scenario.view_radius, env.max_cycles
    enc = Encoder(layout, view_radius=v, max_cycles=cycles)
    rng = np.random.default_rng(3)
    open_cells = np.argwhere(layout.tiles != Tile.WALL)
    n = env.scenario.agents
    for trial in range(40):
        # cells close together on two floors, so that many pairs see each other
        centre = open_cells[rng.integers(len(open_cells))]
        near = open_cells[(np.abs(open_cells[:, 1:] - centre[1:]).max(axis=1) <= v + 1)]
        pos = near[rng.choice(len(near), size=n, replace=False)]
        state = State.initial(layout, pos)
        state.trust = rng.integers(1, 9, size=state.trust.shape).astype(np.float64)
        if trial % 4 == 1:  # a ledger of another layout or type reads the same
            state.trust = np.asfortranarray(state.trust) if trial % 8 == 1 else state.trust.astype(np.float32)
        state.step = int(rng.integers(cycles))
        if trial % 3 == 0:
            state.active[rng.integers(n)] = False
        observers = [int(i) for i in rng.permutation(n)[: rng.integers(1, n + 1)]]
        obs, masks = enc.observe_and_mask(state, observers)
        assert obs.shape == (len(observers), N_OBS_CHANNELS, 2 * v + 1, 2 * v + 1)
        for row, i in enumerate(observers):
            want = reference_observation(layout, state, i, v, cycles)
            np.testing.assert_array_equal(obs[row], want, err_msg=f"trial {trial} observer {i}")


@pytest.mark.parametrize(
    ("levels", "rows", "cols", "v"), [(3, 5, 7, 4), (2, 3, 3, 1), (4, 7, 5, 3), (2, 9, 9, 6)]
)
def test_padded_cell_differences_name_exactly_the_pairs_in_view(levels, rows, cols, v):
    """The table the encoder marks other agents with: a padded-index difference is in it exactly
    when the two cells see each other, and it gives both agents' bytes."""
    from mazesim.observation import _view_offsets

    view, w = _view_offsets(v, rows, cols), 2 * v + 1
    pcols, plane = cols + 2 * v, (rows + 2 * v) * (cols + 2 * v)
    cells = [(l, r, c) for l in range(levels) for r in range(rows) for c in range(cols)]
    for l, r, c in cells:
        for lj, rj, cj in cells:
            d = (lj - l) * plane + (rj - r) * pcols + cj - c
            in_view = abs(lj - l) <= 1 and abs(rj - r) <= v and abs(cj - c) <= v
            assert (d in view) == in_view
            if in_view:
                assert view[d] == (
                    (4 + lj - l) * w * w + (rj - r + v) * w + cj - c + v,
                    (4 + l - lj) * w * w + (r - rj + v) * w + c - cj + v,
                )
