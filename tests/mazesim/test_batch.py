"""The batched environment against ``B`` single environments: identical arrays, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from mazesim.batch import BatchEnv, _LazyRules
from mazesim.maze_escape_v0 import _generate
from mazesim.scenario import load_scenario
from mazesim.vector import SerialVecEnv
from mazesim.world import N_ACTIONS, Action, rules_of

# cooperative and mechanism actions are drawn more often than moves, so that bindings (boost and
# climb), levers, ropes and conflicts between agents happen in a few hundred steps
_BIAS = np.ones(N_ACTIONS)
_BIAS[[Action.UP, Action.DOWN, Action.INTERACT]] = 4.0
_BIAS[Action.BOOST_NORTH :] = 6.0


def _random_legal(rng: np.random.Generator, mask: np.ndarray) -> np.ndarray:
    """``(B, N)`` actions drawn from the legal ones, weighted by ``_BIAS``."""
    w = mask * _BIAS
    cum = np.cumsum(w, axis=-1)
    u = rng.random(mask.shape[:-1] + (1,)) * cum[..., -1:]
    return (cum <= u).sum(axis=-1).astype(np.int64)


def _assert_same(batch_out: tuple, serial_out: tuple, step: int) -> None:
    names = ("obs", "mask", "rewards", "terminated", "truncated")
    for name, a, b in zip(names, batch_out[:5], serial_out[:5], strict=False):
        assert a.dtype == b.dtype and a.shape == b.shape, (step, name, a.dtype, b.dtype, a.shape, b.shape)
        np.testing.assert_array_equal(a, b, err_msg=f"step {step}: {name}")
    if len(batch_out) > 5:
        bi, si = batch_out[5], serial_out[5]
        assert sorted(bi) == sorted(si)
        for key in si:
            assert bi[key].shape == si[key].shape, (step, key)
            np.testing.assert_array_equal(bi[key], si[key], err_msg=f"step {step}: info[{key!r}]")


def _compare(
    scenario: str, num_envs: int, steps: int, seed: int, *, mode: str = "discrete", **overrides
) -> tuple[BatchEnv, dict[str, int]]:
    """Step a BatchEnv and a SerialVecEnv side by side and compare every array; returns the batch
    env and counts of what happened (episode ends, escapes, steps with a gate open / rope down)."""
    benv = BatchEnv(scenario, num_envs, action_mode=mode, **overrides)
    venv = SerialVecEnv(scenario, num_envs, action_mode=mode, **overrides)
    rng = np.random.default_rng(seed)
    out_b, out_s = benv.reset(seed=seed), venv.reset(seed=seed)
    _assert_same(out_b, out_s, -1)
    mask = out_s[1]
    seen = {"resets": 0, "escapes": 0, "gate_open": 0, "rope_down": 0}
    for t in range(steps):
        if mode == "discrete":
            actions = _random_legal(rng, mask)
        else:
            # random Dirichlet waves, some weight on illegal actions too
            actions = rng.dirichlet(np.full(N_ACTIONS, 0.3), size=mask.shape[:-1]).astype(np.float32)
        out_b, out_s = benv.step(actions), venv.step(actions)
        _assert_same(out_b, out_s, t)
        mask = out_s[1]
        seen["resets"] += int(out_s[5]["done"].sum())
        seen["escapes"] += int(out_s[5]["escaped"].sum())
        seen["gate_open"] += int(benv.gates.any())
        seen["rope_down"] += int(benv.ropes.any())
    return benv, seen


@pytest.mark.parametrize(
    ("scenario", "num_envs", "max_cycles"),
    [("tutorial", 8, 40), ("mixed", 6, 60), ("three_floor", 4, 80)],
)
def test_discrete_matches_serial_envs(scenario: str, num_envs: int, max_cycles: int) -> None:
    benv, seen = _compare(scenario, num_envs, 240, seed=11, max_cycles=max_cycles)
    assert seen["resets"] >= num_envs  # episodes ended and worlds were reset automatically
    # contests happened now and then and were settled without the scalar resolver (no climbs here)
    assert 0 < benv.fallback_count < 0.2 * benv.steps_taken * num_envs
    assert benv.scalar_count <= benv.fallback_count


def test_superposition_matches_serial_envs() -> None:
    benv, seen = _compare("mixed", 4, 150, seed=5, mode="superposition", max_cycles=50)
    assert seen["resets"] >= 4
    assert benv.fallback_count == 4 * 150


@pytest.mark.parametrize(
    "overrides",
    [
        {"following": True, "max_cycles": 30},
        {"rewards": {"team": False}, "max_cycles": 30},
        {"solver_mode": "greedy", "max_cycles": 30},
    ],
    ids=["following", "individual-rewards", "greedy"],
)
def test_rule_variants_match_serial_envs(overrides: dict) -> None:
    _compare("mixed", 5, 150, seed=3, **overrides)


# Random play on the generated presets rarely reaches a lever pair or a ledge. In these drawn labs the
# agents start beside two levers that latch the gate to a climb spot; the exit is on the ledge's floor.
LAB3 = (
    "#########\n#L0.1.2L#\n####G####\n#...C...#\n#########",
    "#########\n#########\n#########\n#E..T...#\n#########",
)
LAB2 = (
    "#######\n#L0.1L#\n###G###\n#..C..#\n#######",
    "#######\n#######\n#######\n#E.T..#\n#######",
)


def test_levers_boosts_ropes_and_exits_match_in_a_lab() -> None:
    benv, seen = _compare("handdrawn_tutorial", 8, 400, seed=11, layout=LAB3, max_cycles=150)
    assert seen["gate_open"] > 0 and seen["rope_down"] > 0
    assert benv.fallback_count > 0


def test_escapes_and_individual_rewards_match_in_a_lab() -> None:
    _, seen = _compare(
        "handdrawn_tutorial", 8, 300, seed=11, layout=LAB2, max_cycles=120, rewards={"team": False}
    )
    assert seen["escapes"] > 0 and seen["rope_down"] > 0


def test_superposition_matches_in_a_lab() -> None:
    _, seen = _compare("handdrawn_tutorial", 6, 200, seed=4, mode="superposition", layout=LAB2, max_cycles=60)
    assert seen["gate_open"] > 0


def test_given_maze_seeds_and_seedless_resets_match() -> None:
    benv = BatchEnv("tutorial", 4, max_cycles=10)
    venv = SerialVecEnv("tutorial", 4, max_cycles=10)
    seeds = [7, 7, 100_003, 9]
    out = venv.reset(seed=0, maze_seeds=seeds)
    _assert_same(benv.reset(seed=0, maze_seeds=seeds), out, -1)
    rng = np.random.default_rng(0)
    for t in range(25):
        actions = _random_legal(rng, out[1])
        out = venv.step(actions)
        _assert_same(benv.step(actions), out, t)
    # reset without a seed keeps each world's generator
    _assert_same(benv.reset(), venv.reset(), -1)
    assert list(benv.reset(seed=0, maze_seeds=seeds)[0].shape[:2]) == [4, 2]
    assert benv.maze_seed.tolist() == seeds


@pytest.mark.parametrize("scenario", ["tutorial", "mixed", "three_floor", "handdrawn_tutorial", "escape4"])
def test_lazy_rules_equal_compiled_rules(scenario: str) -> None:
    layout = _generate(load_scenario(scenario), 4).layout
    full, lazy = rules_of(layout), _LazyRules(layout)
    assert lazy.shape == full.shape
    assert sorted(map(sorted, lazy.door_cells)) == sorted(map(sorted, full.door_cells))
    for cell in range(len(full.opts)):
        assert lazy.opts[cell] == full.opts[cell]
        assert list(lazy.opts[cell]) == list(full.opts[cell])  # same action order
        assert lazy.climb[cell] == full.climb[cell]


@pytest.fixture
def stepped() -> BatchEnv:
    benv = BatchEnv("tutorial", 5, max_cycles=50)
    benv.reset(seed=0)
    benv.step(np.zeros((5, 2), dtype=np.int64))
    return benv


def _snapshot(benv: BatchEnv) -> list[np.ndarray]:
    return [a.copy() for a in (benv.cell, benv.active, benv.trust, benv.steps, benv.codes, benv.slot)]


@pytest.mark.parametrize(
    ("actions", "message"),
    [
        (np.zeros((5, 3), dtype=np.int64), r"shape \(5, 2\), got \(5, 3\)"),
        (np.zeros((5,), dtype=np.int64), r"shape \(5, 2\), got \(5,\)"),
        (np.full((5, 2), 1.0), r"world 0, agent_0: actions must be integers in \[0, 12\)"),
        (np.zeros((5, 2), dtype=bool), r"world 0, agent_0: actions must be integers"),
        (np.array([[0, 0]] * 3 + [[0, 17], [0, 0]]), r"world 3, agent_1: action 17 out of range \[0, 12\)"),
        (np.array([[0, 0]] * 2 + [[-1, 0]] + [[0, 0]] * 2), r"world 2, agent_0: action -1 out of range"),
    ],
)
def test_bad_discrete_actions_raise_and_leave_state_unchanged(
    stepped: BatchEnv, actions: np.ndarray, message: str
) -> None:
    before = _snapshot(stepped)
    with pytest.raises(ValueError, match=message):
        stepped.step(actions)
    for a, b in zip(before, _snapshot(stepped), strict=True):
        np.testing.assert_array_equal(a, b)
    stepped.step(np.zeros((5, 2), dtype=np.int64))  # still usable


def test_actions_of_agents_that_left_are_ignored(stepped: BatchEnv) -> None:
    stepped.active[2, 1] = False  # as if agent_1 of world 2 had exited
    actions = np.zeros((5, 2), dtype=np.int64)
    actions[2, 1] = 99
    stepped.step(actions)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda w: w.__setitem__((1, 0, 3), np.nan), r"world 1, agent_0: wave holds NaN"),
        (lambda w: w.__setitem__((4, 1, 2), -0.5), r"world 4, agent_1: wave holds a negative weight"),
        (lambda w: w.__setitem__((0, 1), 0.0), r"world 0, agent_1: wave is all zeros"),
    ],
)
def test_bad_waves_raise_and_leave_state_unchanged(change, message: str) -> None:
    benv = BatchEnv("tutorial", 5, action_mode="superposition")
    benv.reset(seed=1)
    before = _snapshot(benv)
    waves = np.full((5, 2, N_ACTIONS), 1.0 / N_ACTIONS)
    change(waves)
    with pytest.raises(ValueError, match=message):
        benv.step(waves)
    for a, b in zip(before, _snapshot(benv), strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match=r"shape \(5, 2, 12\)"):
        benv.step(np.zeros((5, 2), dtype=np.int64))


def test_step_before_reset_and_bad_construction() -> None:
    with pytest.raises(RuntimeError, match="before reset"):
        BatchEnv("tutorial", 2).step(np.zeros((2, 2), dtype=np.int64))
    with pytest.raises(ValueError, match="num_envs"):
        BatchEnv("tutorial", 0)
    with pytest.raises(ValueError, match="action_mode"):
        BatchEnv("tutorial", 2, action_mode="waves")
    with pytest.raises(ValueError, match="maze_seeds needs 2"):
        BatchEnv("tutorial", 2).reset(seed=0, maze_seeds=[1])


def test_maze_bank_is_bounded() -> None:
    benv = BatchEnv("tutorial", 3, maze_cache=2, max_cycles=2)
    benv.reset(seed=0)
    for _ in range(40):  # every second step each world draws a new maze
        benv.step(np.zeros((3, 2), dtype=np.int64))
    bank = benv.bank
    assert len(bank.slot_of) <= 3 + 2
    assert len(bank.tiles) <= 8  # slots are reused, not grown without end
    in_use = sorted(set(benv.slot.tolist()))
    assert all(bank.refs[s] > 0 for s in in_use)
    assert [bank.seed_of[s] for s in benv.slot.tolist()] == benv.maze_seed.tolist()


def test_two_boosters_for_one_climber_match() -> None:
    # agent 0 steps onto the climb spot, then climbs while agents 1 (east) and 2 (south) both boost:
    # the climb's partner is the first booster in the order south, north, east, west
    lab = ("#####\n#0C1#\n#.2.#\n#####", "#####\n#.TE#\n#...#\n#####")
    benv = BatchEnv("handdrawn_tutorial", 2, layout=lab, max_cycles=20)
    venv = SerialVecEnv("handdrawn_tutorial", 2, layout=lab, max_cycles=20)
    _assert_same(benv.reset(seed=0), venv.reset(seed=0), -1)
    script = [
        [Action.EAST, Action.STAY, Action.STAY],
        [Action.UP, Action.BOOST_WEST, Action.BOOST_NORTH],
        [Action.INTERACT, Action.UP, Action.BOOST_NORTH],
    ]
    for t, joint in enumerate(script):
        actions = np.array([joint, joint], dtype=np.int64)
        _assert_same(benv.step(actions), venv.step(actions), t)
    assert benv.ropes[:, 0].all()
    # agent 0's kept promises as assessed by agents 1 and 2: prior 1, the move and the rope (team
    # promises) +1 each, and the climb +1 for its partner, agent 2 (south) only
    assert benv.trust[0, 0, 1, 0] == 3.0 and benv.trust[0, 0, 2, 0] == 4.0
    np.testing.assert_array_equal(benv.trust, np.stack([env.world.trust for env in venv.envs]))
