"""Groups of rollouts of one maze: the unit of group-relative policy gradients (GRPO, LUFFY).

:func:`collect_groups` plays ``G`` episodes of each requested maze seed at once with the vector
environment (worlds ``g*G … g*G+G-1`` all play maze ``maze_seeds[g]``, each with its own
sampling seed) and returns each world's *first* episode as a
:class:`~agents.rollout.Trajectory`; a world whose episode has ended is no longer recorded
(the vector env auto-resets it and it keeps stepping with ``stay`` until the slowest world of
the batch is done — the array contract has no per-world pause). :func:`expert_traces` plays the
expert on the same maze seeds with an ordinary environment.

An *actor* is ``act(obs (B, N, C, H, W) float32, mask (B, N, A) bool) -> (B, N) int``; it sees
every world at once, so one forward pass serves the whole batch.

>>> import numpy as np
>>> from mazesim.vector import SerialVecEnv
>>> venv = SerialVecEnv("tutorial", num_envs=2, max_cycles=5)
>>> stay = lambda obs, mask: np.zeros(mask.shape[:2], dtype=np.int64)
>>> trajs = collect_groups(venv, stay, [7], group_size=2, seed=0)
>>> [t.maze_seed for t in trajs], [t.length for t in trajs]
([7, 7], [5, 5])
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from agents.rollout import Trajectory, expert_policy, run_episode
from mazesim.world import Action

Actor = Callable[[np.ndarray, np.ndarray], np.ndarray]


def collect_groups(
    venv: Any, act: Actor, maze_seeds: Sequence[int], group_size: int, *, seed: int
) -> list[Trajectory]:
    """Play ``group_size`` rollouts of every maze seed; return ``len(maze_seeds) * group_size``
    trajectories, group by group (world ``b`` → trajectory ``b``).

    ``venv`` follows the :mod:`mazesim.vector` contract and must have exactly
    ``len(maze_seeds) * group_size`` worlds. World ``b`` is reset with sampling seed ``seed + b``.
    ``executed`` is filled with -1 (the vector contract does not report resolved actions).
    """
    worlds = np.repeat(np.asarray(maze_seeds, dtype=np.int64), group_size)
    if len(worlds) != venv.num_envs:
        raise ValueError(
            f"collect_groups: {len(maze_seeds)} maze seeds × group_size {group_size} = {len(worlds)} worlds, "
            f"but the vector env has {venv.num_envs}; build it with num_envs={len(worlds)}"
        )
    obs, mask = venv.reset(seed=seed, maze_seeds=worlds)
    mask = mask.astype(bool)
    n_worlds, n_agents = mask.shape[:2]
    active = np.ones((n_worlds, n_agents), dtype=bool)
    recording = np.ones(n_worlds, dtype=bool)
    lengths = np.zeros(n_worlds, dtype=np.int64)
    escaped = np.zeros(n_worlds, dtype=bool)
    steps: dict[str, list[np.ndarray]] = {
        k: [] for k in ("obs", "mask", "actions", "active", "rewards", "kept")
    }
    while recording.any():
        chosen = np.asarray(act(obs, mask), dtype=np.int64)
        actions = np.where(recording[:, None] & active, chosen, int(Action.STAY))
        next_obs, next_mask, rewards, _, _, info = venv.step(actions)
        for k, v in zip(steps, (obs, mask, actions, active, rewards, info["kept"]), strict=True):
            steps[k].append(v)
        lengths += recording
        ended = recording & info["done"]
        escaped[ended] = info["escaped"][ended]
        recording &= ~info["done"]
        obs, mask, active = next_obs, next_mask.astype(bool), info["active"]
    stacked = {k: np.stack(v, axis=1) for k, v in steps.items()}  # (B, T, N, ...)
    out = []
    for b in range(n_worlds):
        t = int(lengths[b])
        out.append(
            Trajectory(
                obs=stacked["obs"][b, :t],
                mask=stacked["mask"][b, :t],
                actions=stacked["actions"][b, :t],
                executed=np.full((t, n_agents), -1, dtype=np.int64),
                active=stacked["active"][b, :t],
                rewards=stacked["rewards"][b, :t].astype(np.float32),
                kept=stacked["kept"][b, :t],
                escaped=bool(escaped[b]),
                maze_seed=int(worlds[b]),
            )
        )
    return out


def expert_traces(env: Any, maze_seeds: Sequence[int], *, seed: int) -> list[Trajectory]:
    """One expert episode per maze seed on ``env`` (a mazesim parallel env of the same scenario);
    episode ``i`` is reset with seed ``seed + i``."""
    return [
        run_episode(env, expert_policy, seed=seed + i, maze_seed=int(k)) for i, k in enumerate(maze_seeds)
    ]
