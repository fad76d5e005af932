"""Training data containers: a replay ring buffer (value learning) and flat policy batches.

Both store one row per *live agent-step* (parameters are shared across agents, so every agent's
experience trains the one net). Everything is numpy on the host; :meth:`ReplayBatch.to` and
:meth:`PolicyBatch.to` move a batch to a torch device in one go.

>>> import numpy as np
>>> buf = ReplayBuffer(4, (9, 7, 7), 12, np.random.default_rng(0))
>>> obs = np.zeros((3, 9, 7, 7), np.uint8); mask = np.ones((3, 12), bool)
>>> buf.add(obs, mask, np.array([1, 2, 3]), np.ones(3), obs, mask, np.zeros(3, bool))
>>> len(buf), buf.sample(2).actions.shape
(3, (2,))
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np
import torch

from agents.rollout import Trajectory


@dataclass
class ReplayBatch:
    """``B`` sampled transitions: ``obs``/``next_obs`` ``(B, C, H, W)`` (the buffer's observation
    dtype, uint8 by default), ``mask``/``next_mask``
    ``(B, A)`` bool, ``actions`` ``(B,)`` int64, ``rewards`` ``(B,)`` float32, ``dones`` ``(B,)`` bool."""

    obs: np.ndarray
    mask: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    next_obs: np.ndarray
    next_mask: np.ndarray
    dones: np.ndarray

    def to(self, device: torch.device | str) -> dict[str, torch.Tensor]:
        """The batch as tensors on ``device`` (floats as float32, other dtypes kept)."""
        out = {}
        for f in fields(self):
            a = getattr(self, f.name)
            t = torch.from_numpy(np.ascontiguousarray(a))
            out[f.name] = t.float() if a.dtype.kind == "f" else t
        return {k: v.to(device) for k, v in out.items()}


class ReplayBuffer:
    """A fixed-capacity ring buffer of per-agent transitions ``(s, mask, a, r, s', mask', done)``.

    ``capacity`` rows; when full the oldest rows are overwritten. Observations are stored as
    ``obs_dtype``: uint8 by default, the environment's compact codes (see
    :mod:`mazesim.observation`; a float32 array of the same integers converts losslessly), about
    0.9 kB per transition for a 7×7 window. Sampling is uniform, with
    replacement, drawn from ``rng``. ``done`` means the agent's return ended at this step (it
    left the maze): the target then does not bootstrap.

    The buffer is not part of a checkpoint (it can be far larger than the weights); a resumed
    run refills it.
    """

    def __init__(
        self,
        capacity: int,
        obs_shape: Sequence[int],
        n_actions: int,
        rng: np.random.Generator,
        obs_dtype: np.dtype | type = np.uint8,
    ) -> None:
        if capacity < 1:
            raise ValueError(f"ReplayBuffer capacity must be >= 1, got {capacity}")
        self.capacity = int(capacity)
        self.rng = rng
        shape = tuple(int(s) for s in obs_shape)
        self.obs = np.zeros((self.capacity, *shape), dtype=obs_dtype)
        self.next_obs = np.zeros_like(self.obs)
        self.mask = np.zeros((self.capacity, n_actions), dtype=bool)
        self.next_mask = np.zeros_like(self.mask)
        self.actions = np.zeros(self.capacity, dtype=np.int64)
        self.rewards = np.zeros(self.capacity, dtype=np.float32)
        self.dones = np.zeros(self.capacity, dtype=bool)
        self._next = 0
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def add(
        self,
        obs: np.ndarray,
        mask: np.ndarray,
        actions: np.ndarray,
        rewards: np.ndarray,
        next_obs: np.ndarray,
        next_mask: np.ndarray,
        dones: np.ndarray,
    ) -> None:
        """Append ``K`` transitions (each argument has ``K`` rows; ``K`` may be 0)."""
        k = len(actions)
        if k == 0:
            return
        if k > self.capacity:
            raise ValueError(f"ReplayBuffer.add: {k} rows do not fit a buffer of capacity {self.capacity}")
        idx = (self._next + np.arange(k)) % self.capacity
        self.obs[idx] = obs
        self.mask[idx] = mask
        self.actions[idx] = actions
        self.rewards[idx] = rewards
        self.next_obs[idx] = next_obs
        self.next_mask[idx] = next_mask
        self.dones[idx] = dones
        self._next = int((self._next + k) % self.capacity)
        self._size = min(self._size + k, self.capacity)

    def sample(self, batch_size: int) -> ReplayBatch:
        """``batch_size`` transitions drawn uniformly (with replacement) from what is stored."""
        if self._size == 0:
            raise ValueError("ReplayBuffer.sample: the buffer is empty; add transitions first")
        idx = self.rng.integers(0, self._size, size=batch_size)
        return ReplayBatch(
            obs=self.obs[idx],
            mask=self.mask[idx],
            actions=self.actions[idx],
            rewards=self.rewards[idx],
            next_obs=self.next_obs[idx],
            next_mask=self.next_mask[idx],
            dones=self.dones[idx],
        )


@dataclass
class PolicyBatch:
    """Live agent-steps of several episodes, flattened for a policy-gradient update.

    ``obs`` ``(M, C, H, W)`` (the trajectories' dtype), ``mask`` ``(M, A)`` bool, ``actions`` ``(M,)`` int64,
    ``advantages`` ``(M,)`` float32 (the episode's advantage on every one of its rows),
    ``off_policy`` ``(M,)`` bool (row comes from an expert trace), ``rollout`` ``(M,)`` int64
    (index of the row's trajectory in the list it was built from).
    """

    obs: np.ndarray
    mask: np.ndarray
    actions: np.ndarray
    advantages: np.ndarray
    off_policy: np.ndarray
    rollout: np.ndarray

    @classmethod
    def from_trajectories(
        cls,
        trajectories: Sequence[Trajectory],
        advantages: Sequence[float],
        off_policy: Sequence[bool] | None = None,
    ) -> PolicyBatch:
        """Rows of every step ``t`` and agent ``i`` with ``active[t, i]``, episode by episode.

        >>> import numpy as np
        >>> t = Trajectory(np.zeros((2, 2, 1, 1, 1), np.float32), np.ones((2, 2, 12), bool),
        ...                np.ones((2, 2), np.int64), np.ones((2, 2), np.int64),
        ...                np.array([[True, True], [False, True]]), np.zeros((2, 2), np.float32),
        ...                np.ones((2, 2), bool), escaped=True, maze_seed=0)
        >>> b = PolicyBatch.from_trajectories([t], [0.5])
        >>> len(b), b.advantages.tolist()
        (3, [0.5, 0.5, 0.5])
        """
        if len(advantages) != len(trajectories):
            raise ValueError(
                f"PolicyBatch: {len(advantages)} advantages for {len(trajectories)} trajectories (one each)"
            )
        flags = [False] * len(trajectories) if off_policy is None else list(off_policy)
        cols: dict[str, list[np.ndarray]] = {k: [] for k in ("obs", "mask", "actions", "adv", "off", "id")}
        for k, (traj, adv, off) in enumerate(zip(trajectories, advantages, flags, strict=True)):
            live = traj.active.astype(bool)
            n = int(live.sum())
            cols["obs"].append(traj.obs[live])
            cols["mask"].append(traj.mask[live].astype(bool))
            cols["actions"].append(traj.actions[live].astype(np.int64))
            cols["adv"].append(np.full(n, adv, dtype=np.float32))
            cols["off"].append(np.full(n, bool(off)))
            cols["id"].append(np.full(n, k, dtype=np.int64))
        return cls(
            obs=np.concatenate(cols["obs"]),
            mask=np.concatenate(cols["mask"]),
            actions=np.concatenate(cols["actions"]),
            advantages=np.concatenate(cols["adv"]),
            off_policy=np.concatenate(cols["off"]),
            rollout=np.concatenate(cols["id"]),
        )

    def __len__(self) -> int:
        return int(self.actions.shape[0])

    def to(self, device: torch.device | str) -> dict[str, torch.Tensor]:
        """The batch as tensors on ``device`` (keys are the field names)."""
        return {f.name: torch.from_numpy(getattr(self, f.name)).to(device) for f in fields(self)}
