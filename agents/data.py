"""Expert data for imitation: (observation, expert action) pairs of live agents, as flat arrays.

:func:`collect_expert` plays the expert planner on maze seeds and keeps, for every step and
every agent still inside, what the agent saw and what the expert did. :func:`collect_dagger`
(DAgger, Ross et al. 2011) plays a *learner* instead and labels the states the learner visits
with the expert's action there (``Expert(maze).act(env.world)`` works from any state), so the
learner sees how to recover from its own mistakes. Pairs whose expert action the agent's mask
forbids cannot be learnt with masked logits and are dropped (counted in ``Dataset.dropped``).

>>> data = collect_expert("tutorial", range(2), seed=0)
>>> data.obs.shape[1:], data.obs.dtype, data.mask.shape[1], data.action.dtype
((9, 17, 17), dtype('uint8'), 12, dtype('int64'))
>>> bool(data.mask[np.arange(len(data)), data.action].all())
True
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import mazesim
from agents.rollout import Policy, act_many, expert_policy, run_episode, run_episodes


@dataclass
class Dataset:
    """``M`` labelled samples: ``obs`` ``(M, C, H, W)`` uint8 (the env's compact codes), ``mask``
    ``(M, A)`` bool, ``action`` ``(M,)`` int64 (the expert's), ``maze_seed`` ``(M,)`` int64 (its maze).
    ``episodes`` / ``escaped``: episodes played and how many the team escaped; ``dropped``:
    pairs left out because the expert's action was masked."""

    obs: np.ndarray
    mask: np.ndarray
    action: np.ndarray
    maze_seed: np.ndarray
    episodes: int = 0
    escaped: int = 0
    dropped: int = 0

    def __len__(self) -> int:
        return int(self.action.shape[0])

    def concat(self, *others: Dataset) -> Dataset:
        """All datasets' samples in one (DAgger aggregates every round's data)."""
        parts = (self, *others)
        return Dataset(
            *(np.concatenate([getattr(d, k) for d in parts]) for k in ("obs", "mask", "action", "maze_seed")),
            *(sum(getattr(d, k) for d in parts) for k in ("episodes", "escaped", "dropped")),
        )

    def save(self, path: str | Path, **extra: int) -> None:
        """Write to ``path`` (``.npz``) atomically; ``extra`` integers are stored alongside."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp.npz", dir=path.parent)
        os.close(fd)
        try:
            np.savez_compressed(
                tmp,
                obs=self.obs,
                mask=self.mask,
                action=self.action,
                maze_seed=self.maze_seed,
                counts=np.array([self.episodes, self.escaped, self.dropped], dtype=np.int64),
                **{k: np.int64(v) for k, v in extra.items()},
            )
            os.chmod(tmp, 0o644)  # mkstemp makes the file private
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @classmethod
    def load(cls, path: str | Path) -> tuple[Dataset, dict[str, int]]:
        """Read a file written by :meth:`save`: the dataset and its ``extra`` integers."""
        with np.load(path, allow_pickle=False) as z:
            episodes, escaped, dropped = (int(v) for v in z["counts"])
            data = cls(z["obs"], z["mask"], z["action"], z["maze_seed"], episodes, escaped, dropped)
            known = {"obs", "mask", "action", "maze_seed", "counts"}
            extra = {k: int(z[k]) for k in z.files if k not in known}
        return data, extra


def _empty(obs_shape: tuple[int, ...], n_actions: int) -> Dataset:
    return Dataset(
        np.zeros((0, *obs_shape), np.uint8),
        np.zeros((0, n_actions), bool),
        np.zeros(0, np.int64),
        np.zeros(0, np.int64),
    )


def _make_env(scenario: Any) -> Any:
    return mazesim.parallel_env(scenario) if not hasattr(scenario, "possible_agents") else scenario


def _pairs(obs: np.ndarray, mask: np.ndarray, action: np.ndarray, maze_seed: int) -> Dataset:
    legal = mask[np.arange(len(action)), action]
    keep = np.flatnonzero(legal)
    return Dataset(
        obs[keep],
        mask[keep],
        action[keep].astype(np.int64),
        np.full(len(keep), maze_seed, np.int64),
        dropped=int((~legal).sum()),
    )


def collect_expert(scenario: Any, maze_seeds: Iterable[int], *, seed: int = 0) -> Dataset:
    """Play the expert once on each maze seed; its live agents' (observation, action) pairs.

    ``scenario``: a preset name, scenario, or a mazesim parallel env (discrete mode). Episode
    ``k`` is reset with ``seed + k`` (the solver's noise). Failed episodes are kept too: every
    step is still the expert's choice in that state.
    """
    env = _make_env(scenario)
    shape = env.observation_space(env.possible_agents[0])["observation"].shape
    parts = [_empty(shape, env.action_space(env.possible_agents[0]).n)]
    for k, maze_seed in enumerate(maze_seeds):
        traj = run_episode(env, expert_policy, seed=seed + k, maze_seed=int(maze_seed))
        live = traj.active
        part = _pairs(traj.obs[live], traj.mask[live], traj.actions[live], int(maze_seed))
        part.episodes, part.escaped = 1, int(traj.escaped)
        parts.append(part)
    return parts[0].concat(*parts[1:])


def collect_dagger(
    scenario: Any,
    learner: Policy,
    maze_seeds: Iterable[int],
    *,
    seed: int = 0,
    beta: float = 0.0,
    rng: np.random.Generator | None = None,
    parallel: int = 25,
) -> Dataset:
    """Play ``learner`` on each maze seed and label every live agent's state with the expert.

    With probability ``beta`` per step (drawn from ``rng``) the expert's joint action is executed
    instead of the learner's (the DAgger mixture; ``beta=0`` is pure learner roll-outs). The
    learner acts in ``scenario``'s discrete mode, so a neural policy takes its most probable
    action. Episode ``k`` is reset with ``seed + k``; ``parallel`` episodes are played in lockstep
    (:func:`agents.rollout.run_episodes`: one forward pass of the learner for all of them).
    """
    if beta > 0 and rng is None:
        raise ValueError("collect_dagger(beta > 0) mixes in expert steps at random: pass rng=")
    if parallel < 1:
        raise ValueError(f"collect_dagger: parallel={parallel} must be >= 1")
    env = _make_env(scenario)
    n_actions = env.action_space(env.possible_agents[0]).n
    shape = env.observation_space(env.possible_agents[0])["observation"].shape
    seeds = [int(s) for s in maze_seeds]
    more = min(parallel, len(seeds)) - 1
    envs = [env] + [mazesim.parallel_env(env.scenario, action_mode=env.action_mode) for _ in range(more)]
    policy = learner if beta <= 0 else _Mixture(learner, beta, rng)  # type: ignore[arg-type]
    label = lambda e: expert_policy(None, None, e)  # noqa: E731  (cached per maze on the env)
    parts = [_empty(shape, n_actions)]
    trajs = run_episodes(envs, policy, [(seed + k, m) for k, m in enumerate(seeds)], label=label)
    for traj in trajs:
        live = traj.active
        part = _pairs(traj.obs[live], traj.mask[live], traj.labels[live], traj.maze_seed)
        part.episodes, part.escaped = 1, int(traj.escaped)
        parts.append(part)
    return parts[0].concat(*parts[1:])


class _Mixture:
    """The DAgger mixture as a policy: per env and step, the expert's joint action with probability
    ``beta`` (one draw from ``rng`` per env, in order), else the learner's."""

    def __init__(self, learner: Policy, beta: float, rng: np.random.Generator) -> None:
        self.learner, self.beta, self.rng = learner, beta, rng

    def act_many(self, obs: np.ndarray, mask: np.ndarray, envs: list) -> np.ndarray:
        chosen = np.asarray(act_many(self.learner, obs, mask, envs), dtype=np.int64)
        for k, env in enumerate(envs):
            if self.rng.random() < self.beta:
                chosen[k] = expert_policy(None, None, env)
        return chosen
