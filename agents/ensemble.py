"""Ensembles: several classifiers, one action distribution per agent, and how much they disagree.

Each member maps an agent's observation to a distribution over the actions (zero on masked
actions). :class:`Ensemble` combines the ``K`` members' distributions ``(K, N, A)`` into one
``(N, A)`` per agent, by one of three rules (:func:`combine`):

* ``"soft"`` (default) — soft vote: the mean of the members' probabilities;
* ``"product"`` — product of experts: ``p(a) ∝ Π_k p_k(a)``, computed in log space;
* ``"majority"`` — majority vote: the fraction of members whose most probable action is ``a``.

Masked actions always get probability 0. :func:`disagreement` measures how much the members
differ, per agent: the mean total-variation distance over pairs of members
(``TV(p, q) = ½ Σ_a |p(a) − q(a)|``, in [0, 1]) and the vote entropy (entropy, in nats, of the
majority-vote fractions). Both are 0 when all members agree.

The combined distribution is the agent's *wave* in the environment's superposition mode
(``action_mode="superposition"``): the WFC solver collapses the most certain agent first, so a
confident ensemble acts first. :meth:`Ensemble.policy` wraps an ensemble as a ``run_episode``
policy that hands in waves in superposition mode and the most probable (or a sampled) action in
discrete mode.

>>> import numpy as np
>>> p = np.array([[[0.5, 0.5, 0.0]], [[0.9, 0.1, 0.0]]])      # K=2 members, N=1 agent, A=3
>>> mask = np.array([[True, True, False]])
>>> combine(p, mask, "soft").round(3).tolist()
[[0.7, 0.3, 0.0]]
>>> combine(p, mask, "product").round(3).tolist()
[[0.9, 0.1, 0.0]]
>>> tv, vote_entropy = disagreement(p)
>>> float(tv[0]), float(vote_entropy[0])
(0.4, 0.0)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from agents.checkpoint import Member
from agents.nets import Classifier
from mazesim.world import Action

COMBINE_RULES = ("soft", "product", "majority")
ACT_MODES = ("auto", "greedy", "sample")
_TINY = 1e-300


class EnsembleError(ValueError):
    """An ensemble that cannot be built or used: no members, mismatched shapes, an unknown rule."""


def _check_rule(how: str) -> None:
    if how not in COMBINE_RULES:
        raise EnsembleError(f"combine={how!r} is unknown; use one of {COMBINE_RULES}")


def combine(member_probs: np.ndarray, mask: np.ndarray, how: str = "soft") -> np.ndarray:
    """Combine members' distributions ``(K, N, A)`` into one ``(N, A)`` float64 per agent.

    ``mask`` ``(N, A)`` bool: masked actions get 0. Every row sums to 1; a row on which the rule
    leaves no weight on any legal action (all members put all their mass on masked actions, or
    the product underflows everywhere) falls back to uniform over the legal actions.

    >>> p = np.array([[[0.6, 0.4]], [[0.2, 0.8]], [[0.7, 0.3]]])
    >>> combine(p, np.ones((1, 2), bool), "majority").round(3).tolist()
    [[0.667, 0.333]]
    """
    _check_rule(how)
    p = np.asarray(member_probs, dtype=np.float64)
    mask = np.asarray(mask, dtype=bool)
    if p.ndim != 3 or p.shape[1:] != mask.shape:
        raise EnsembleError(
            f"member_probs must be (K, N, A) with mask (N, A); got {p.shape} and {mask.shape}"
        )
    if how == "soft":
        out = p.mean(axis=0)
    elif how == "product":
        # sum of logs, shifted by the row maximum before exp: no underflow of the whole product
        logp = np.log(np.maximum(p, _TINY)).sum(axis=0)
        logp = np.where(mask, logp, -np.inf)
        top = logp.max(axis=-1, keepdims=True)
        out = np.exp(logp - np.where(np.isfinite(top), top, 0.0))
    else:
        votes = np.where(mask[None], p, -np.inf).argmax(axis=-1)  # (K, N)
        out = (votes[..., None] == np.arange(p.shape[-1])).mean(axis=0)
    out = np.where(mask, out, 0.0)
    total = out.sum(axis=-1, keepdims=True)
    uniform = mask / np.maximum(mask.sum(axis=-1, keepdims=True), 1)
    return np.where(total > 0, out / np.where(total > 0, total, 1.0), uniform)


def disagreement(member_probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per agent: mean pairwise total-variation distance ``(N,)`` and vote entropy ``(N,)``.

    ``member_probs`` ``(K, N, A)``. With one member both are 0. The vote entropy is the entropy
    (nats) of the fraction of members whose argmax is each action: 0 when all pick the same
    action, ``log K`` at most.
    """
    p = np.asarray(member_probs, dtype=np.float64)
    k, n, a = p.shape
    if k < 2:
        return np.zeros(n), np.zeros(n)
    i, j = np.triu_indices(k, 1)
    tv = 0.5 * np.abs(p[i] - p[j]).sum(axis=-1).mean(axis=0)
    votes = p.argmax(axis=-1)
    frac = (votes[..., None] == np.arange(a)).mean(axis=0)
    return tv, entropy(frac)


def entropy(probs: np.ndarray) -> np.ndarray:
    """Entropy in nats of each row of ``probs`` ``(..., A)``."""
    p = np.asarray(probs, dtype=np.float64)
    # 0 log 0 = 0; the + 0.0 turns -0.0 into 0.0
    return -(p * np.log(np.where(p > 0, p, 1.0))).sum(axis=-1) + 0.0


class Ensemble:
    """``K`` classifiers (any methods, seeds, architectures) acting as one.

    ``members``: :class:`~agents.checkpoint.Member` objects or bare classifiers, all with the same
    observation shape and number of actions. ``combine``: ``"soft"``, ``"product"`` or
    ``"majority"``. ``device``: where inference runs.

    >>> from agents.nets import ArchConfig, Classifier
    >>> archs = [ArchConfig(kind="mlp", hidden=(16,)), ArchConfig(kind="cnn", hidden=(16,), channels=(4,))]
    >>> nets = [Classifier((9, 7, 7), 12, arch) for arch in archs]
    >>> ens = Ensemble(nets)
    >>> obs = np.zeros((2, 9, 7, 7), np.uint8); mask = np.ones((2, 12), bool)
    >>> ens.waves(obs, mask).shape, len(ens)
    ((2, 12), 2)
    """

    def __init__(
        self,
        members: Sequence[Member | Classifier],
        combine: str = "soft",
        device: str | torch.device = "cpu",
    ) -> None:
        _check_rule(combine)
        if len(members) == 0:
            raise EnsembleError("an ensemble needs at least one member")
        self.members = [m if isinstance(m, Member) else Member("?", m) for m in members]
        shapes = {(m.net.obs_shape, m.net.n_actions) for m in self.members}
        if len(shapes) != 1:
            raise EnsembleError(
                f"members disagree on observation shape / number of actions: {sorted(shapes)}; "
                "combine only members trained for the same scenario encoding"
            )
        ((self.obs_shape, self.n_actions),) = shapes
        self.combine = combine
        self.device = torch.device(device)
        for m in self.members:
            m.net.to(self.device).eval()

    def __len__(self) -> int:
        return len(self.members)

    @torch.no_grad()
    def member_probs(self, obs: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Members' distributions ``(K, N, A)`` float64 for ``obs`` ``(N, C, H, W)``, ``mask`` ``(N, A)``."""
        o = torch.as_tensor(np.asarray(obs), device=self.device)
        m = torch.as_tensor(np.asarray(mask, dtype=bool), device=self.device)
        out = torch.stack([member.net.probs(o, m) for member in self.members])
        return out.double().cpu().numpy()

    def step(self, obs: np.ndarray, mask: np.ndarray) -> dict[str, np.ndarray]:
        """Everything about one step, per agent: ``probs`` ``(N, A)`` (the combined distribution),
        ``member_probs`` ``(K, N, A)``, ``entropy``, ``tv`` and ``vote_entropy`` ``(N,)``."""
        mp = self.member_probs(obs, mask)
        probs = combine(mp, np.asarray(mask, dtype=bool), self.combine)
        tv, vote_entropy = disagreement(mp)
        return {
            "probs": probs,
            "member_probs": mp,
            "entropy": entropy(probs),
            "tv": tv,
            "vote_entropy": vote_entropy,
        }

    def waves(self, obs: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """The combined distribution ``(N, A)`` float32: each agent's wave for superposition mode."""
        return self.step(obs, mask)["probs"].astype(np.float32)

    def policy(self, act: str = "auto", rng: np.random.Generator | None = None) -> EnsemblePolicy:
        """This ensemble as a ``run_episode`` policy (see :class:`EnsemblePolicy`)."""
        return EnsemblePolicy(self, act=act, rng=rng)


class EnsemblePolicy:
    """An :class:`Ensemble` as a policy ``(obs (N, C, H, W), mask (N, A), env) -> actions``.

    In an env with ``action_mode="superposition"`` it returns the waves ``(N, A)``. In discrete
    mode, ``act="auto"`` or ``"greedy"`` returns each agent's most probable action and
    ``"sample"`` draws one from the combined distribution with ``rng``. Every call records the
    live agents' entropy and disagreement; :meth:`summary` averages them over all calls since
    :meth:`reset_stats`.

    ``action_mode`` (``"superposition"``) tells a caller which env mode suits this policy best.
    """

    action_mode = "superposition"

    def __init__(self, ensemble: Ensemble, act: str = "auto", rng: np.random.Generator | None = None) -> None:
        if act not in ACT_MODES:
            raise EnsembleError(f"act={act!r} is unknown; use one of {ACT_MODES}")
        if act == "sample" and rng is None:
            raise EnsembleError("act='sample' draws actions: pass rng=np.random.default_rng(seed)")
        self.ensemble = ensemble
        self.act = act
        self.rng = rng
        self.last: dict[str, np.ndarray] = {}
        self.reset_stats()

    def reset_stats(self) -> None:
        self._sums = {"entropy": 0.0, "tv": 0.0, "vote_entropy": 0.0}
        self._count = 0

    def summary(self) -> dict[str, float]:
        """Mean ``entropy``, ``tv`` and ``vote_entropy`` over live agent-steps (NaN if none)."""
        return {k: (v / self._count if self._count else float("nan")) for k, v in self._sums.items()}

    def __call__(self, obs: np.ndarray, mask: np.ndarray, env: Any) -> np.ndarray:
        return self.act_many(obs[None], mask[None], [env])[0]

    def act_many(self, obs: np.ndarray, mask: np.ndarray, envs: Sequence[Any]) -> np.ndarray:
        """Actions in ``K`` envs (same action mode) with one forward pass: ``obs`` ``(K, N, C, H, W)``,
        ``mask`` ``(K, N, A)`` → ``(K, N)`` actions or ``(K, N, A)`` waves (see
        :func:`agents.rollout.act_many`)."""
        k, n = mask.shape[:2]
        out = self.ensemble.step(obs.reshape(k * n, *obs.shape[2:]), mask.reshape(k * n, -1))
        self.last = out
        live = np.array([[a in e.agents for a in e.possible_agents] for e in envs], dtype=bool).reshape(-1)
        if live.any():
            for key in self._sums:
                self._sums[key] += float(out[key][live].sum())
            self._count += int(live.sum())
        probs = out["probs"]
        if envs[0].action_mode == "superposition":
            return probs.astype(np.float32).reshape(k, n, -1)
        if self.act == "sample":
            cum = probs.cumsum(axis=-1)
            u = self.rng.random(len(probs))[:, None] * cum[:, -1:]
            choice = np.minimum((cum <= u).sum(axis=-1), probs.shape[-1] - 1)
            # a draw can only land on a zero-weight action through rounding; fall back to stay
            bad = probs[np.arange(len(probs)), choice] <= 0
            return np.where(bad, int(Action.STAY), choice).astype(np.int64).reshape(k, n)
        return probs.argmax(axis=-1).astype(np.int64).reshape(k, n)
