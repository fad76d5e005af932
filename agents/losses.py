"""Loss formulas of the RL methods, as pure functions (no nets, no env, no global state).

Shapes: ``B`` rows (one row = one live agent at one step), ``A`` actions, ``G`` rollouts per group.

* :func:`group_advantages` — GRPO's group-relative advantage, ``A_i = R_i − mean_j R_j`` over the
  rollouts of one maze seed (optionally divided by the group's standard deviation).
* :func:`log_prob_entropy` — log π(a|s) and the entropy of the masked policy.
* :func:`policy_gradient_loss` — ``−mean(A · log π(a|s))`` or ``−mean(A · π/π_old)`` (GRPO, unclipped).
* :func:`policy_shaping` — LUFFY's ``f(p) = p / (p + γ)``.
* :func:`mixed_policy_loss` — LUFFY's mixed on/off-policy objective.
* :func:`double_q_targets` — ``y = r + γ (1 − done) Q_target(s', argmax_a' Q_online(s', a'))``.
* :func:`temperature_probs` — ``softmax(Q / τ)`` over legal actions.

>>> import numpy as np, torch
>>> group_advantages(np.array([[1.0, 3.0], [2.0, 2.0]])).tolist()
[[-1.0, 1.0], [0.0, 0.0]]
>>> round(float(policy_shaping(torch.tensor(0.1), 0.1)), 3)
0.5
"""

from __future__ import annotations

import numpy as np
import torch

from agents.nets import masked_logits


def group_advantages(returns: np.ndarray, *, scale_by_std: bool = False, eps: float = 1e-6) -> np.ndarray:
    """Group-relative advantages of ``returns`` ``(n_groups, G)``: each return minus its row mean.

    With ``scale_by_std`` the difference is divided by the row's standard deviation (+ ``eps``),
    as in the original GRPO; the default (no division) follows Dr. GRPO and LUFFY, which avoid
    amplifying tiny differences in groups whose returns are almost equal. A group whose
    rollouts all got the same return gets advantage 0 everywhere (no signal, no update).

    >>> group_advantages(np.array([[0.0, 2.0, 4.0]]), scale_by_std=True).round(3).tolist()
    [[-1.225, 0.0, 1.225]]
    """
    r = np.asarray(returns, dtype=np.float64)
    if r.ndim != 2 or r.shape[1] < 2:
        raise ValueError(f"group_advantages: returns must be (n_groups, G) with G >= 2, got shape {r.shape}")
    adv = r - r.mean(axis=1, keepdims=True)
    if scale_by_std:
        adv = adv / (r.std(axis=1, keepdims=True) + eps)
    return adv


def log_prob_entropy(
    logits: torch.Tensor, mask: torch.Tensor, actions: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """``log π(a|s)`` ``(B,)`` of ``actions`` ``(B,)`` and entropy ``(B,)`` of the masked policy.

    ``logits`` ``(B, A)``, ``mask`` ``(B, A)`` bool. Masked actions have probability 0 and
    contribute 0 to the entropy (not NaN).

    >>> lp, h = log_prob_entropy(torch.zeros(1, 4), torch.tensor([[True, True, False, False]]),
    ...                          torch.tensor([1]))
    >>> round(float(lp.exp()), 3), round(float(h), 3)
    (0.5, 0.693)
    """
    logp_all = torch.log_softmax(masked_logits(logits, mask), dim=-1)
    legal = mask.bool()
    safe = torch.where(legal, logp_all, torch.zeros_like(logp_all))
    entropy = -(safe.exp() * safe).where(legal, torch.zeros_like(safe)).sum(dim=-1)
    logp = logp_all.gather(-1, actions.long().unsqueeze(-1)).squeeze(-1)
    return logp, entropy


def row_weights(rollout: torch.Tensor, how: str = "token") -> torch.Tensor:
    """Weights ``(B,)`` summing to 1 that aggregate a loss over rows; ``rollout`` ``(B,)`` int
    names each row's rollout (or expert trace).

    ``"token"``: every row counts the same, ``1/B`` (DAPO, Dr. GRPO and LUFFY's token-level
    mean). ``"rollout"``: the mean over each rollout's rows, then over rollouts (the original
    GRPO's sample-level mean), so a short expert trace weighs as much as a long failed rollout.

    >>> row_weights(torch.tensor([0, 0, 0, 1]), "rollout").tolist()
    [0.1666666716337204, 0.1666666716337204, 0.1666666716337204, 0.5]
    """
    if how == "token":
        return torch.full(rollout.shape, 1.0 / max(len(rollout), 1), device=rollout.device)
    if how == "rollout":
        _, inverse, counts = torch.unique(rollout, return_inverse=True, return_counts=True)
        return 1.0 / (counts[inverse].float() * len(counts))
    raise ValueError(f"loss aggregation {how!r} is unknown; use 'token' or 'rollout'")


def _aggregate(values: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
    return values.mean() if weights is None else (weights * values).sum()


def policy_gradient_loss(
    logp: torch.Tensor,
    advantages: torch.Tensor,
    old_logp: torch.Tensor | None = None,
    weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """The on-policy group-relative policy gradient loss over rows.

    Without ``old_logp``: ``−mean(A · log π(a|s))``. With ``old_logp`` (log-probabilities of the
    policy that sampled the rows, no gradient): GRPO's unclipped surrogate
    ``−mean(A · π/π_old)``; at ``π = π_old`` (the first gradient step on a batch) both have the
    same gradient, ``∇(π/π_old) = ∇ log π`` there, and the ratio corrects later steps on the same
    batch (several minibatches). ``weights`` (see :func:`row_weights`) replace the plain mean.
    """
    return -_aggregate(advantages * _on_policy_term(logp, old_logp), weights)


def _on_policy_term(logp: torch.Tensor, old_logp: torch.Tensor | None) -> torch.Tensor:
    return logp if old_logp is None else torch.exp(logp - old_logp.detach())


def policy_shaping(p: torch.Tensor, gamma: float = 0.1) -> torch.Tensor:
    """LUFFY's policy shaping ``f(p) = p / (p + γ)`` (Yan et al. 2025, eq. 6).

    Its gradient ``f'(p)·∇p = γ / (p + γ)² · p ∇log p`` weights ``∇log p`` by ``p·γ/(p+γ)²``,
    which is largest at ``p = γ`` and, unlike the plain importance term ``p`` (weight ``p``),
    does not vanish as fast for rare actions: low-probability expert actions stay learnable.

    >>> [round(float(policy_shaping(torch.tensor(p))), 4) for p in (0.0, 0.1, 1.0)]
    [0.0, 0.5, 0.9091]
    """
    if gamma <= 0:
        raise ValueError(f"policy_shaping: gamma must be > 0 (LUFFY uses 0.1), got {gamma}")
    return p / (p + gamma)


def mixed_policy_loss(
    logp: torch.Tensor,
    advantages: torch.Tensor,
    off_policy: torch.Tensor,
    *,
    old_logp: torch.Tensor | None = None,
    weights: torch.Tensor | None = None,
    gamma: float = 0.1,
    shaping: bool = True,
) -> torch.Tensor:
    """LUFFY's mixed-policy objective, negated, over ``B`` rows of one batch.

    Implements (Yan et al. 2025, "Learning to Reason under Off-Policy Guidance", eq. 5-6, with
    their defaults: expert behaviour probability 1, no clipping, no KL)::

        loss = −( Σ_on A · π(a|s)/π_old(a|s)  +  Σ_off A · f(π(a|s)) ) / (n_on + n_off)

    ``logp`` ``(B,)`` is log π of the row's action under the current policy (with gradient),
    ``advantages`` ``(B,)``, ``off_policy`` ``(B,)`` bool marks rows from expert traces,
    ``old_logp`` ``(B,)`` the sampling policy's log-probabilities (only on-policy rows are
    read). Without ``old_logp`` the on-policy term is ``log π``, which has the ratio's gradient
    at ``π = π_old`` (see :func:`policy_gradient_loss`). The off-policy term is the importance
    ratio ``π/π_expert`` with ``π_expert = 1``, passed through the shaping ``f`` (``shaping=True``,
    ``f(p) = p/(p+γ)``) or left as the plain ratio ``f(p) = p`` (``shaping=False``, the paper's
    "no shaping" ablation). Both parts are averaged together over all rows (token-level mean,
    as in the paper), or with ``weights`` from :func:`row_weights`.

    >>> loss = mixed_policy_loss(torch.log(torch.tensor([0.5, 0.1])), torch.tensor([1.0, 2.0]),
    ...                          torch.tensor([False, True]))
    >>> round(float(loss), 4)   # -(1 * log 0.5 + 2 * 0.1/0.2) / 2
    -0.1534
    """
    off = off_policy.bool()
    on_term = torch.where(off, torch.zeros_like(logp), _on_policy_term(logp, old_logp))
    p = logp.exp()
    off_value = policy_shaping(p, gamma) if shaping else p
    off_term = torch.where(off, off_value, torch.zeros_like(logp))
    return -_aggregate(advantages * (on_term + off_term), weights)


def double_q_targets(
    rewards: torch.Tensor,
    dones: torch.Tensor,
    next_q_online: torch.Tensor,
    next_q_target: torch.Tensor,
    next_mask: torch.Tensor,
    gamma: float,
) -> torch.Tensor:
    """Double-Q learning targets ``(B,)`` (van Hasselt et al. 2016).

    ``y = r + γ (1 − done) · Q_target(s', a*)`` with ``a* = argmax_{a' legal} Q_online(s', a')``:
    the online net picks among the legal actions of ``next_mask`` ``(B, A)``, the target net
    evaluates. ``rewards``, ``dones`` ``(B,)``; ``next_q_*`` ``(B, A)``. No gradient flows.

    >>> y = double_q_targets(torch.tensor([1.0]), torch.tensor([0.0]), torch.tensor([[5.0, 9.0, 1.0]]),
    ...                      torch.tensor([[2.0, 3.0, 7.0]]), torch.tensor([[True, False, True]]), 0.5)
    >>> float(y)   # online argmax over legal {0, 2} is 0; target says 2.0 → 1 + 0.5 * 2
    2.0
    """
    with torch.no_grad():
        best = masked_logits(next_q_online, next_mask).argmax(dim=-1, keepdim=True)
        value = next_q_target.gather(-1, best).squeeze(-1)
        return rewards + gamma * (1.0 - dones.float()) * value


def temperature_probs(q: torch.Tensor, mask: torch.Tensor | None, temperature: float) -> torch.Tensor:
    """``softmax(Q / τ)`` over legal actions ``(B, A)``: how value learning becomes a wave.

    >>> temperature_probs(torch.tensor([[0.0, 1.0]]), None, 1e-3).tolist()
    [[0.0, 1.0]]
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    return torch.softmax(masked_logits(q / temperature, mask), dim=-1)
