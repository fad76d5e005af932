"""The environment's own contract: determinism across processes, bad input, infos, pickling."""

from __future__ import annotations

import copy
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import cloudpickle
import numpy as np
import pytest

import mazesim
from mazesim.world import N_ACTIONS, Action

ROOT = Path(__file__).resolve().parents[2]

EPISODE_SCRIPT = """
import hashlib, json, sys
import numpy as np
import mazesim

scenario, seed = sys.argv[1], int(sys.argv[2])
env = mazesim.parallel_env(scenario=scenario, action_mode=sys.argv[3])
obs, infos = env.reset(seed=seed)
rng = np.random.default_rng(1234)
h = hashlib.sha256()
def feed(*parts):
    for p in parts:
        h.update(json.dumps(p, sort_keys=True, default=lambda o: np.asarray(o).tolist()).encode())
while env.agents:
    if sys.argv[3] == "discrete":
        actions = {a: int(rng.choice(np.flatnonzero(obs[a]["action_mask"]))) for a in env.agents}
    else:
        actions = {a: rng.dirichlet(np.ones(12)).astype(np.float32) for a in env.agents}
    obs, rew, term, trunc, infos = env.step(actions)
    for a in sorted(obs):
        h.update(obs[a]["observation"].tobytes()); h.update(obs[a]["action_mask"].tobytes())
    feed(rew, term, trunc, {a: {k: v for k, v in i.items() if k != "step"} for a, i in infos.items()})
    feed({a: i.get("step") for a, i in infos.items()})
h.update(env.state().tobytes())
print(env.world.step, h.hexdigest())
"""


def run_episode(scenario: str, seed: int, mode: str) -> str:
    out = subprocess.run(
        [sys.executable, "-c", EPISODE_SCRIPT, scenario, str(seed), mode],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
        timeout=300,
    )
    return out.stdout.strip()


@pytest.mark.parametrize(("scenario", "mode"), [("tutorial", "discrete"), ("mixed", "superposition")])
def test_full_episodes_are_identical_in_two_processes(scenario, mode):
    first = run_episode(scenario, 7, mode)
    second = run_episode(scenario, 7, mode)
    assert first == second
    assert int(first.split()[0]) > 1
    assert run_episode(scenario, 8, mode) != first


def snapshot(env) -> tuple:
    return (
        copy.deepcopy(env.world),
        json.dumps(env._rng.bit_generator.state, sort_keys=True),
        list(env.agents),
    )


def unchanged(env, snap) -> bool:
    world, rng_state, agents = snap
    return (
        env.world.equals(world)
        and json.dumps(env._rng.bit_generator.state, sort_keys=True) == rng_state
        and env.agents == agents
    )


@pytest.mark.parametrize(
    ("make_actions", "message"),
    [
        (lambda agents: {a: N_ACTIONS for a in agents}, "agent_0 is out of range"),
        (lambda agents: {a: -1 for a in agents}, "agent_0 is out of range"),
        (lambda agents: {a: 1.5 for a in agents}, "action for agent_0 must be an int"),
        (lambda agents: {a: "north" for a in agents}, "action for agent_0 must be an int"),
        (lambda agents: {**{a: 0 for a in agents}, "agent_99": 0}, "unknown agent 'agent_99'"),
        (lambda agents: {agents[0]: 0}, "missing actions for live agents \\['agent_1'\\]"),
    ],
)
def test_bad_discrete_actions_are_refused_and_leave_the_env_unchanged(make_actions, message):
    env = mazesim.parallel_env(scenario="tutorial")
    env.reset(seed=3)
    env.step({a: int(Action.STAY) for a in env.agents})
    snap = snapshot(env)
    with pytest.raises(ValueError, match=message):
        env.step(make_actions(env.agents))
    assert unchanged(env, snap)


@pytest.mark.parametrize(
    ("wave", "message"),
    [
        (np.full(N_ACTIONS, np.nan), "superposition for agent_0 contains NaN"),
        (np.ones(N_ACTIONS - 1), "superposition for agent_0 must have shape"),
        (-np.ones(N_ACTIONS), "superposition for agent_0 has negative weights"),
    ],
)
def test_bad_superpositions_are_refused(wave, message):
    env = mazesim.parallel_env(scenario="tutorial", action_mode="superposition")
    env.reset(seed=3)
    snap = snapshot(env)
    with pytest.raises(ValueError, match=message):
        env.step({a: wave for a in env.agents})
    assert unchanged(env, snap)


def expert_episode(env):
    from mazesim.expert import Expert

    obs, infos = env.reset(seed=0)
    expert = Expert(env.maze)
    history = []
    while env.agents:
        joint = expert.act(env.world)
        actions = {a: int(joint[env._index[a]]) for a in env.agents}
        obs, rewards, terms, truncs, infos = env.step(actions)
        history.append((actions, obs, rewards, terms, truncs, infos))
    return history


@pytest.mark.parametrize("scenario", ["tutorial", "levers", "boost"])
def test_expert_escapes_through_the_env_and_agents_leave(scenario):
    env = mazesim.parallel_env(scenario=scenario)
    history = expert_episode(env)
    assert not env.world.active.any(), "the expert team must escape within max_cycles"
    left = [a for step in history for a, t in step[3].items() if t]
    assert sorted(left) == sorted(env.possible_agents)
    final_rewards = history[-1][2]
    assert all(r > 0 for r in final_rewards.values())


def test_infos_carry_position_action_promise_outcome():
    env = mazesim.parallel_env(scenario="tutorial")
    history = expert_episode(env)
    for *_, infos in history:
        for info in infos.values():
            assert {"position", "action", "promise", "outcome"} <= set(info)
            assert len(info["position"]) == 3 and 0 <= info["action"] < N_ACTIONS
            assert info["outcome"] in ("kept", "withdrawn", "unbound")
            assert isinstance(info["promise"], str) and "agent" in info["promise"]
            json.dumps({k: v for k, v in info.items()})


def test_actions_for_agents_that_left_are_ignored():
    env = mazesim.parallel_env(scenario="tutorial")
    from mazesim.expert import Expert

    env.reset(seed=0)
    expert = Expert(env.maze)
    gone: set[str] = set()
    while env.agents:
        joint = expert.act(env.world)
        actions = {a: int(joint[env._index[a]]) for a in env.possible_agents}
        _, _, terms, _, _ = env.step(actions)
        gone |= {a for a, t in terms.items() if t}
    assert gone == set(env.possible_agents)


def test_once_an_agent_has_left_its_key_cannot_stand_in_for_a_live_agents_action():
    """The validation fast path counts actions: a dict of the right size that names a departed
    agent instead of a live one is still missing an action, and is refused without a change."""
    from mazesim.expert import Expert

    env = mazesim.parallel_env(scenario="tutorial")
    env.reset(seed=0)
    expert = Expert(env.maze)
    while len(env.agents) == len(env.possible_agents):
        joint = expert.act(env.world)
        env.step({a: int(joint[env._index[a]]) for a in env.agents})
    assert env.agents, "both agents left in the same step: pick another seed"
    (live,) = env.agents
    (gone,) = set(env.possible_agents) - {live}
    snap = snapshot(env)
    with pytest.raises(ValueError, match=f"missing actions for live agents \\['{live}'\\]"):
        env.step({gone: int(Action.STAY)})
    assert unchanged(env, snap)
    # numpy integers pass (converted), bools do not, on the same path
    env.step({live: np.int64(Action.STAY)})
    with pytest.raises(ValueError, match=f"action for {live} must be an int"):
        env.step({live: True})


def test_env_pickles_before_and_after_reset():
    env = mazesim.parallel_env(scenario="tutorial")
    clone = cloudpickle.loads(cloudpickle.dumps(env))
    assert clone.possible_agents == env.possible_agents
    obs, _ = env.reset(seed=5)
    clone = cloudpickle.loads(cloudpickle.dumps(env))
    actions = {a: int(Action.STAY) for a in env.agents}
    o1 = env.step(actions)[0]
    o2 = clone.step(actions)[0]
    for a in o1:
        assert np.array_equal(o1[a]["observation"], o2[a]["observation"])


def test_held_out_maze_seed_and_digest_are_reproducible():
    env = mazesim.parallel_env(scenario="tutorial")
    seed = env.scenario.heldout_seeds[0]
    env.reset(seed=1, options={"maze_seed": seed})
    first = hashlib.sha256(env.maze.to_bytes()).hexdigest()
    env.reset(seed=2, options={"maze_seed": seed})
    assert hashlib.sha256(env.maze.to_bytes()).hexdigest() == first
    assert env.maze_seed == seed


def test_reward_shaping_is_potential_based_and_telescopes():
    """With rewards.shaping = c the team return changes by exactly the potential difference
    c * (phi(end) - phi(start)) summed over agents, whatever happened in between."""
    from mazesim.maze_escape_v0 import _exit_distances

    def team_return(shaping: float) -> tuple[float, object]:
        env = mazesim.parallel_env(scenario="tutorial", rewards={"shaping": shaping})
        obs, _ = env.reset(seed=4)
        rng = np.random.default_rng(9)
        start = env.world.copy()
        total = 0.0
        for _ in range(40):
            if not env.agents:
                break
            actions = {a: int(rng.choice(np.flatnonzero(obs[a]["action_mask"]))) for a in env.agents}
            obs, rewards, *_ = env.step(actions)
            total += next(iter(rewards.values()))
        return total, (env, start)

    plain, _ = team_return(0.0)
    shaped, (env, start) = team_return(2.0)
    dist = _exit_distances(env.maze.layout)
    rules = env._frame.rules

    def phi(state) -> float:
        return -sum(
            dist[rules.cell_id(tuple(p))] for i, p in enumerate(state.pos.tolist()) if state.active[i]
        )

    scale = 2.0 / (env.scenario.rows + env.scenario.cols)
    assert shaped - plain == pytest.approx(scale * (phi(env.world) - phi(start)))
    assert shaped != plain
