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

from collections.abc import Callable, Sequence
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
    ``labels`` ``(T, N)`` int64: what :func:`run_episodes`' ``label`` said at each step, if asked.
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
    labels: np.ndarray | None = None

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


def act_many(policy: Policy, obs: np.ndarray, mask: np.ndarray, envs: Sequence[Any]) -> np.ndarray:
    """``policy``'s actions in ``K`` envs at once: ``obs`` ``(K, N, C, H, W)``, ``mask`` ``(K, N, A)``
    → ``(K, N)`` actions (or ``(K, N, A)`` waves). A policy with an ``act_many`` method of this
    signature (the neural ones: one forward pass for every env) answers in one call; any other
    policy is called once per env, in order."""
    many = getattr(policy, "act_many", None)
    if many is not None:
        return np.asarray(many(obs, mask, envs))
    return np.stack([np.asarray(policy(o, m, e)) for o, m, e in zip(obs, mask, envs, strict=True)])


def run_episode(
    env: Any, policy: Policy, *, seed: int | None = None, maze_seed: int | None = None
) -> Trajectory:
    """Play one episode of ``env`` (a mazesim parallel env) with ``policy`` and record it."""
    return run_episodes([env], policy, [(seed, maze_seed)])[0]


def run_episodes(
    envs: Sequence[Any],
    policy: Policy,
    jobs: Sequence[tuple[int | None, int | None]],
    *,
    record_obs: bool = True,
    label: Callable[[Any], np.ndarray] | None = None,
    on_done: Callable[[int, Any, Trajectory], None] | None = None,
) -> list[Trajectory]:
    """Play one episode per ``(seed, maze_seed)`` of ``jobs`` on the ``envs`` in lockstep.

    Each env plays the next unplayed job when its episode ends; every step, the policy acts for
    all envs still playing through :func:`act_many` (one forward pass of a neural policy for all
    of them, which is what makes many episodes of a long scenario affordable). Episode ``k`` is
    reset with ``jobs[k]``'s seeds, so a policy that is a function of its observation (a neural
    policy in superposition mode or acting greedily, the expert) plays each episode exactly as
    :func:`run_episode` would; a policy that draws random numbers draws them in another order.
    Returns the trajectories in job order. ``record_obs=False`` keeps ``obs`` and ``mask`` empty
    (``(T, N, 0)``), for callers that only need outcomes. ``label(env)``, if given, is called
    before every step and its ``(N,)`` result recorded in ``Trajectory.labels`` (e.g. the
    expert's joint action, for DAgger). ``on_done(k, env, trajectory)``, if given, is called when
    job ``k`` ends, while ``env`` still holds its maze.
    """
    envs = list(envs)
    n = len(envs[0].possible_agents)
    out: list[Trajectory | None] = [None] * len(jobs)
    queue = iter(range(len(jobs)))
    playing: list[tuple[int, Any, dict, dict[str, list]]] = []  # (job, env, observations, columns)

    def start(env: Any) -> None:
        k = next(queue, None)
        if k is None:
            return
        seed, maze_seed = jobs[k]
        options = {"maze_seed": int(maze_seed)} if maze_seed is not None else None
        observations, _ = env.reset(seed=seed, options=options)
        playing.append((k, env, observations, {c: [] for c in (*_COLUMNS, "labels")}))

    for env in envs:
        start(env)
    while playing:
        stacked = [stack_observations(env, observations) for _, env, observations, _ in playing]
        obs = np.stack([o for o, _ in stacked])
        mask = np.stack([m for _, m in stacked])
        chosen_all = act_many(policy, obs, mask, [env for _, env, _, _ in playing])
        still = []
        for slot, (k, env, _, cols) in enumerate(playing):
            if label is not None:
                cols["labels"].append(np.asarray(label(env), dtype=np.int64))
            chosen = chosen_all[slot]
            active = np.array([a in env.agents for a in env.possible_agents])
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
            o, m = (obs[slot], mask[slot]) if record_obs else (_NO_OBS[:n], _NO_MASK[:n])
            for c, v in zip(_COLUMNS, (o, m, promised, executed, active, rew, kept), strict=True):
                cols[c].append(v)
            if env.agents:
                still.append((k, env, observations, cols))
            else:
                out[k] = _trajectory(env, cols, n)
                if on_done is not None:
                    on_done(k, env, out[k])
        playing[:] = still
        for env in [env for env in envs if all(env is not e for _, e, _, _ in playing)]:
            start(env)
    return out  # type: ignore[return-value]


_NO_OBS, _NO_MASK = np.zeros((64, 0), np.uint8), np.zeros((64, 0), bool)  # rows when nothing is recorded
_COLUMNS = ("obs", "mask", "actions", "executed", "active", "rewards", "kept")


def _trajectory(env: Any, cols: dict[str, list], n: int) -> Trajectory:
    labels = cols.pop("labels")
    arrays = {k: np.stack(v) if v else np.zeros((0, n)) for k, v in cols.items()}
    return Trajectory(
        **arrays,
        escaped=not bool(env.world.active.any()),
        maze_seed=int(env.maze_seed),
        labels=np.stack(labels) if labels else None,
    )
