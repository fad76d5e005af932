"""Vectorised access to many worlds at once, as arrays with a leading batch axis.

:class:`SerialVecEnv` steps ``B`` ordinary :class:`~mazesim.maze_escape_v0.raw_env` instances in
lockstep and stacks their outputs. It is the reference for any faster batched implementation:
same seeds and actions must give the same arrays.

Array contract (``B`` worlds, ``N`` agents, ``A = 12`` actions, observation ``(C, H, W)``):

* ``reset(seed) -> (obs, mask)``: ``obs`` ``(B, N, C, H, W)`` uint8, ``mask`` ``(B, N, A)`` int8.
  World ``b`` is reset with seed ``seed + b``; later automatic resets of that world draw from
  its own generator (no seed), exactly like calling ``env.reset()`` again.
* ``step(actions) -> (obs, mask, rewards, terminated, truncated, info)``: ``actions`` ``(B, N)``
  int (discrete mode) or ``(B, N, A)`` float (superposition mode); entries of agents that are
  not active are ignored. ``rewards`` ``(B, N)`` float32 (0 for agents not live this step),
  ``terminated`` / ``truncated`` ``(B, N)`` bool for this step. A world whose episode ends is
  reset automatically: the returned ``obs``/``mask`` are then the first of its next episode.
* ``info``: ``active`` ``(B, N)`` bool — agents live in the returned observations (an agent not
  active has zero observation and a mask allowing only ``stay``); ``done`` ``(B,)`` bool —
  episode ended this step; ``escaped`` ``(B,)`` bool — it ended with the whole team out;
  ``episode_return`` ``(B,)`` float — team return of the episode that just ended (0 elsewhere);
  ``episode_length`` ``(B,)`` int; ``maze_seed`` ``(B,)`` int — the maze seed of the
  *returned* observations; ``kept`` ``(B, N)`` bool — the agent's promise was kept this step.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mazesim.maze_escape_v0 import raw_env
from mazesim.world import N_ACTIONS, Action


class SerialVecEnv:
    """``B`` single environments behind the batched array contract (see the module docstring).

    >>> venv = SerialVecEnv("tutorial", num_envs=2)
    >>> obs, mask = venv.reset(seed=0)
    >>> obs.shape[:2], mask.shape
    ((2, 2), (2, 2, 12))
    >>> obs, mask, rew, term, trunc, info = venv.step(np.zeros((2, 2), dtype=np.int64))
    >>> rew.shape, info["active"].all()
    ((2, 2), np.True_)
    """

    def __init__(
        self,
        scenario: Any = "tutorial",
        num_envs: int = 8,
        *,
        action_mode: str = "discrete",
        **overrides: Any,
    ) -> None:
        if num_envs < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs}")
        self.envs = [raw_env(scenario, action_mode=action_mode, **overrides) for _ in range(num_envs)]
        first = self.envs[0]
        self.scenario = first.scenario
        self.action_mode = action_mode
        self.num_envs = num_envs
        self.n_agents = len(first.possible_agents)
        self.obs_shape = first.observation_space(first.possible_agents[0])["observation"].shape
        self.n_actions = N_ACTIONS
        self._returns = np.zeros(num_envs, dtype=np.float64)
        self._lengths = np.zeros(num_envs, dtype=np.int64)

    def _blank(self) -> tuple[np.ndarray, np.ndarray]:
        obs = np.zeros((self.num_envs, self.n_agents, *self.obs_shape), dtype=np.uint8)
        mask = np.zeros((self.num_envs, self.n_agents, N_ACTIONS), dtype=np.int8)
        mask[..., Action.STAY] = 1
        return obs, mask

    def _write(
        self, b: int, observations: dict, obs: np.ndarray, mask: np.ndarray, active: np.ndarray
    ) -> None:
        env = self.envs[b]
        for a in env.agents:
            i = env._index[a]
            obs[b, i] = observations[a]["observation"]
            mask[b, i] = observations[a]["action_mask"]
            active[b, i] = True

    def reset(
        self, seed: int | None = None, maze_seeds: np.ndarray | list[int] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Reset every world; ``maze_seeds`` ``(B,)`` picks each world's maze (e.g. groups of
        rollouts of one maze), otherwise each world draws one from the training seeds."""
        if maze_seeds is not None and len(maze_seeds) != self.num_envs:
            raise ValueError(f"reset(): maze_seeds needs {self.num_envs} entries, got {len(maze_seeds)}")
        obs, mask = self._blank()
        active = np.zeros((self.num_envs, self.n_agents), dtype=bool)
        for b, env in enumerate(self.envs):
            options = None if maze_seeds is None else {"maze_seed": int(maze_seeds[b])}
            observations, _ = env.reset(seed=None if seed is None else seed + b, options=options)
            self._write(b, observations, obs, mask, active)
        self._returns[:] = 0.0
        self._lengths[:] = 0
        return obs, mask

    def step(self, actions: np.ndarray):
        actions = np.asarray(actions)
        want = (self.num_envs, self.n_agents) + ((N_ACTIONS,) if self.action_mode == "superposition" else ())
        if actions.shape != want:
            raise ValueError(f"step(): actions must have shape {want}, got {actions.shape}")
        obs, mask = self._blank()
        B, N = self.num_envs, self.n_agents
        rewards = np.zeros((B, N), dtype=np.float32)
        terminated = np.zeros((B, N), dtype=bool)
        truncated = np.zeros((B, N), dtype=bool)
        active = np.zeros((B, N), dtype=bool)
        kept = np.zeros((B, N), dtype=bool)
        done = np.zeros(B, dtype=bool)
        escaped = np.zeros(B, dtype=bool)
        ep_return = np.zeros(B, dtype=np.float64)
        ep_length = np.zeros(B, dtype=np.int64)
        maze_seed = np.zeros(B, dtype=np.int64)
        for b, env in enumerate(self.envs):
            if self.action_mode == "discrete":
                act = {a: int(actions[b, env._index[a]]) for a in env.agents}
            else:
                act = {a: actions[b, env._index[a]] for a in env.agents}
            observations, rew, term, trunc, infos = env.step(act)
            team = 0.0
            for a, r in rew.items():
                i = env._index[a]
                rewards[b, i] = r
                terminated[b, i] = term[a]
                truncated[b, i] = trunc[a]
                kept[b, i] = infos[a]["outcome"] == "kept"
                team = r  # team reward: the same for every agent; else the sum below
            self._returns[b] += team if env.scenario.rewards.team else sum(rew.values())
            self._lengths[b] += 1
            if not env.agents:
                done[b] = True
                escaped[b] = not env.world.active.any()
                ep_return[b] = self._returns[b]
                ep_length[b] = self._lengths[b]
                self._returns[b] = 0.0
                self._lengths[b] = 0
                observations, _ = env.reset()
            self._write(b, observations, obs, mask, active)
            maze_seed[b] = env.maze_seed
        info = {
            "active": active,
            "done": done,
            "escaped": escaped,
            "episode_return": ep_return,
            "episode_length": ep_length,
            "maze_seed": maze_seed,
            "kept": kept,
        }
        return obs, mask, rewards, terminated, truncated, info

    def close(self) -> None:
        for env in self.envs:
            env.close()
