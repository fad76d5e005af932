"""Episodes as arrays: the data every training method and the evaluation share.

A :class:`Trajectory` is one episode of one maze, stored per step and per agent. Policies are
plain callables ``policy(obs, mask, env) -> actions`` where ``obs`` is ``(N, C, H, W)`` uint8,
``mask`` ``(N, A)`` bool (rows of agents that have left allow only ``stay``) and ``actions`` is
``(N,)`` int (or ``(N, A)`` waves when the env is in superposition mode). :func:`expert_policy`
wraps the centralised expert planner the same way.

>>> import mazesim
>>> env = mazesim.parallel_env("tutorial")
>>> traj = run_episode(env, expert_policy, seed=0, maze_seed=5)
>>> traj.escaped, traj.obs.shape[1:3] == (2, 9), traj.length == len(traj.actions)
(True, True, True)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from mazesim.world import N_ACTIONS, Action

Policy = Callable[[np.ndarray, np.ndarray, Any], np.ndarray]


@dataclass
class Trajectory:
    """One episode. ``T`` steps, ``N`` agents.

    ``obs`` ``(T, N, C, H, W)`` uint8 and ``mask`` ``(T, N, A)`` bool: what each agent saw
    before acting at step ``t``; ``actions`` ``(T, N)`` int64: what it chose (its promise);
    ``executed`` ``(T, N)`` int64: what the solver let it do; ``active`` ``(T, N)`` bool: the
    agent was still inside at step ``t``; ``rewards`` ``(T, N)`` float32; ``kept`` ``(T, N)``
    bool: its promise was kept. ``escaped``: the whole team got out; ``maze_seed``: the maze.
    """

    obs: np.ndarray
    mask: np.ndarray
    actions: np.ndarray
    executed: np.ndarray
    active: np.ndarray
    rewards: np.ndarray
    kept: np.ndarray
    escaped: bool
    maze_seed: int

    @property
    def length(self) -> int:
        return int(self.actions.shape[0])

    @property
    def team_return(self) -> float:
        """Return of the team: the per-step team reward summed (with a team reward every live agent
        gets the same value; agents that have left hold 0 and are not counted)."""
        if not self.rewards.size:
            return 0.0
        per_step = np.max(self.rewards, axis=1, where=self.active.astype(bool), initial=-np.inf)
        return float(np.where(np.isfinite(per_step), per_step, 0.0).sum())


def stack_observations(env: Any, observations: dict) -> tuple[np.ndarray, np.ndarray]:
    """Dict observations of a parallel env → ``(N, C, H, W)`` uint8 and ``(N, A)`` bool."""
    shape = env.observation_space(env.possible_agents[0])["observation"].shape
    n = len(env.possible_agents)
    obs = np.zeros((n, *shape), dtype=np.uint8)
    mask = np.zeros((n, N_ACTIONS), dtype=bool)
    mask[:, Action.STAY] = True
    for a, o in observations.items():
        i = env._index[a]
        obs[i] = o["observation"]
        mask[i] = o["action_mask"].astype(bool)
    return obs, mask


def expert_policy(obs: np.ndarray, mask: np.ndarray, env: Any) -> np.ndarray:
    """The centralised expert as a policy (it reads the env's true state, not ``obs``)."""
    from mazesim.expert import Expert

    maze = env.maze
    expert = getattr(env, "_rollout_expert", None)
    if expert is None or expert.maze is not maze:
        expert = Expert(maze)
        env._rollout_expert = expert
    return np.asarray(expert.act(env.world), dtype=np.int64)


def random_policy(rng: np.random.Generator) -> Policy:
    """Uniformly random legal actions, drawn from ``rng``."""

    def act(obs: np.ndarray, mask: np.ndarray, env: Any) -> np.ndarray:
        return np.array([rng.choice(np.flatnonzero(m)) for m in mask], dtype=np.int64)

    return act


def run_episode(
    env: Any, policy: Policy, *, seed: int | None = None, maze_seed: int | None = None
) -> Trajectory:
    """Play one episode of ``env`` (a mazesim parallel env) with ``policy`` and record it."""
    options = {"maze_seed": int(maze_seed)} if maze_seed is not None else None
    observations, _ = env.reset(seed=seed, options=options)
    n = len(env.possible_agents)
    cols: dict[str, list] = {
        k: [] for k in ("obs", "mask", "actions", "executed", "active", "rewards", "kept")
    }
    while env.agents:
        obs, mask = stack_observations(env, observations)
        active = np.array([a in env.agents for a in env.possible_agents])
        chosen = np.asarray(policy(obs, mask, env))
        if env.action_mode == "discrete":
            actions = {a: int(chosen[env._index[a]]) for a in env.agents}
        else:
            actions = {a: chosen[env._index[a]] for a in env.agents}
        observations, rewards, _, _, infos = env.step(actions)
        executed = np.zeros(n, dtype=np.int64)
        rew = np.zeros(n, dtype=np.float32)
        kept = np.zeros(n, dtype=bool)
        for a, info in infos.items():
            i = env._index[a]
            executed[i] = info["action"]
            rew[i] = rewards[a]
            kept[i] = info["outcome"] == "kept"
        # with waves (superposition mode) the solver's collapse is the agent's effective choice
        promised = chosen.astype(np.int64) if chosen.ndim == 1 else executed.copy()
        for k, v in zip(cols, (obs, mask, promised, executed, active, rew, kept), strict=True):
            cols[k].append(v)
    arrays = {k: np.stack(v) if v else np.zeros((0, n)) for k, v in cols.items()}
    return Trajectory(
        **arrays,
        escaped=not bool(env.world.active.any()),
        maze_seed=int(env.maze_seed),
    )
