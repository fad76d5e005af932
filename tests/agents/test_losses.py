"""Loss formulas of the RL methods on hand-computed numbers, plus a few invariants."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from agents.losses import (
    double_q_targets,
    group_advantages,
    log_prob_entropy,
    mixed_policy_loss,
    policy_gradient_loss,
    policy_shaping,
    row_weights,
    temperature_probs,
)


def test_group_advantages_subtract_the_group_mean() -> None:
    adv = group_advantages(np.array([[1.0, 2.0, 3.0, 6.0], [5.0, 5.0, 5.0, 5.0]]))
    np.testing.assert_allclose(adv, [[-2.0, -1.0, 0.0, 3.0], [0.0, 0.0, 0.0, 0.0]])


def test_group_advantages_std_division_is_optional() -> None:
    adv = group_advantages(np.array([[1.0, 2.0, 3.0, 6.0]]), scale_by_std=True)
    std = math.sqrt(3.5)  # population std of (1, 2, 3, 6)
    np.testing.assert_allclose(adv, [[-2 / std, -1 / std, 0.0, 3 / std]], rtol=1e-5)
    # a group of equal returns has zero advantage, not 0/0
    assert np.all(group_advantages(np.array([[2.0, 2.0]]), scale_by_std=True) == 0.0)


@pytest.mark.parametrize("shape", [(4,), (3, 1), (1, 2, 2)])
def test_group_advantages_reject_bad_shapes(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="n_groups, G"):
        group_advantages(np.zeros(shape))


@settings(max_examples=30, deadline=None)
@given(
    arrays(np.float64, st.tuples(st.integers(1, 4), st.integers(2, 8)), elements=st.floats(-50, 50)),
    st.floats(-100, 100),
)
def test_group_advantages_sum_to_zero_and_ignore_offsets(returns: np.ndarray, offset: float) -> None:
    adv = group_advantages(returns)
    np.testing.assert_allclose(adv.sum(axis=1), 0.0, atol=1e-9)
    np.testing.assert_allclose(group_advantages(returns + offset), adv, atol=1e-9)


def test_log_prob_entropy_on_a_masked_uniform_policy() -> None:
    logits = torch.zeros(2, 5, requires_grad=True)
    mask = torch.tensor([[True, True, True, False, False], [True, False, False, False, False]])
    logp, h = log_prob_entropy(logits, mask, torch.tensor([2, 0]))
    np.testing.assert_allclose(logp.detach(), [math.log(1 / 3), 0.0], atol=1e-6)
    np.testing.assert_allclose(h.detach(), [math.log(3), 0.0], atol=1e-6)
    (logp.sum() + h.sum()).backward()
    assert torch.isfinite(logits.grad).all()
    assert (logits.grad[:, 3:] == 0).all()  # masked actions get no gradient


def test_policy_gradient_loss_is_minus_mean_advantage_times_log_prob() -> None:
    logp = torch.tensor([math.log(0.5), math.log(0.25)], requires_grad=True)
    loss = policy_gradient_loss(logp, torch.tensor([2.0, -1.0]))
    assert loss.item() == pytest.approx(-(2 * math.log(0.5) - math.log(0.25)) / 2)
    loss.backward()
    np.testing.assert_allclose(logp.grad, [-1.0, 0.5])


def test_policy_shaping_values() -> None:
    p = torch.tensor([0.0, 0.1, 0.9, 1.0])
    np.testing.assert_allclose(policy_shaping(p, 0.1), [0.0, 0.5, 0.9, 1 / 1.1], rtol=1e-6)
    with pytest.raises(ValueError, match="gamma must be > 0"):
        policy_shaping(p, 0.0)


@pytest.mark.parametrize("p", [0.001, 0.01, 0.1, 0.5, 0.9])
def test_policy_shaping_gradient_weights_log_prob_by_p_gamma_over_p_plus_gamma_squared(p: float) -> None:
    gamma = 0.1
    logp = torch.tensor(math.log(p), dtype=torch.float64, requires_grad=True)
    policy_shaping(logp.exp(), gamma).backward()
    assert float(logp.grad) == pytest.approx(p * gamma / (p + gamma) ** 2, rel=1e-9)


def test_shaping_keeps_rare_actions_learnable() -> None:
    # weight on ∇log p: shaped p·γ/(p+γ)², plain importance ratio p; shaped is larger below √γ − γ
    gamma = 0.1
    p = np.linspace(1e-4, 1.0, 10_001)
    shaped = p * gamma / (p + gamma) ** 2
    assert p[shaped.argmax()] == pytest.approx(gamma, abs=1e-3)
    boundary = math.sqrt(gamma) - gamma
    assert np.all(shaped[p < boundary - 1e-3] > p[p < boundary - 1e-3])
    assert np.all(shaped[p > boundary + 1e-3] < p[p > boundary + 1e-3])


def test_mixed_policy_loss_on_hand_numbers() -> None:
    logp = torch.log(torch.tensor([0.5, 0.1], dtype=torch.float64)).requires_grad_()
    adv = torch.tensor([1.0, 2.0], dtype=torch.float64)
    off = torch.tensor([False, True])
    loss = mixed_policy_loss(logp, adv, off, gamma=0.1)
    assert loss.item() == pytest.approx(-(1 * math.log(0.5) + 2 * 0.1 / 0.2) / 2)
    loss.backward()
    # on row: −A/n; off row: −A·p·γ/(p+γ)²/n = −2·0.25/2
    np.testing.assert_allclose(logp.grad, [-0.5, -0.25])

    logp2 = logp.detach().clone().requires_grad_()
    plain = mixed_policy_loss(logp2, adv, off, shaping=False)
    assert plain.item() == pytest.approx(-(math.log(0.5) + 2 * 0.1) / 2)
    plain.backward()
    np.testing.assert_allclose(logp2.grad, [-0.5, -2 * 0.1 / 2])


def test_mixed_policy_loss_without_expert_rows_is_the_policy_gradient_loss() -> None:
    logp = torch.log(torch.tensor([0.2, 0.7, 0.4]))
    adv = torch.tensor([0.5, -1.5, 1.0])
    off = torch.zeros(3, dtype=torch.bool)
    assert float(mixed_policy_loss(logp, adv, off)) == pytest.approx(float(policy_gradient_loss(logp, adv)))


def test_double_q_targets_use_online_argmax_over_legal_actions_and_target_values() -> None:
    rewards = torch.tensor([1.0, 1.0, -0.5])
    dones = torch.tensor([0.0, 1.0, 0.0])
    online = torch.tensor([[5.0, 9.0, 1.0], [5.0, 9.0, 1.0], [0.0, 1.0, 2.0]], requires_grad=True)
    target = torch.tensor([[2.0, 3.0, 7.0], [2.0, 3.0, 7.0], [10.0, 20.0, 30.0]])
    mask = torch.tensor([[True, False, True], [True, True, True], [True, True, True]])
    y = double_q_targets(rewards, dones, online, target, mask, gamma=0.5)
    # row 0: online picks 0 (9 is masked), target says 2 → 1 + 0.5·2; row 1: done → r;
    # row 2: online picks 2, target 30 (not max over target rows: that would be plain DQN)
    np.testing.assert_allclose(y, [2.0, 1.0, -0.5 + 15.0])
    assert not y.requires_grad


def test_temperature_probs() -> None:
    q = torch.tensor([[1.0, 2.0, 3.0]])
    mask = torch.tensor([[True, True, False]])
    p = temperature_probs(q, mask, 0.5)
    e = np.exp(np.array([1.0, 2.0]) / 0.5)
    np.testing.assert_allclose(p[0, :2], e / e.sum(), rtol=1e-6)
    assert float(p[0, 2]) == 0.0
    np.testing.assert_allclose(temperature_probs(q, mask, 1e6)[0, :2], [0.5, 0.5], atol=1e-5)
    with pytest.raises(ValueError, match="temperature"):
        temperature_probs(q, mask, 0.0)


def test_ratio_form_has_the_log_form_gradient_at_the_sampling_policy_and_corrects_after() -> None:
    adv = torch.tensor([1.5, -0.5, 2.0], dtype=torch.float64)
    off = torch.tensor([False, False, True])
    old = torch.log(torch.tensor([0.2, 0.6, 0.3], dtype=torch.float64))
    grads = []
    for old_logp in (None, old):
        logp = old.clone().requires_grad_()
        mixed_policy_loss(logp, adv, off, old_logp=old_logp).backward()
        grads.append(logp.grad)
    torch.testing.assert_close(grads[0], grads[1])
    # after the policy moved: on-policy rows are weighted by π/π_old, the expert row is unchanged
    new = torch.log(torch.tensor([0.4, 0.3, 0.3], dtype=torch.float64))
    loss = mixed_policy_loss(new, adv, off, old_logp=old)
    assert loss.item() == pytest.approx(-(1.5 * 2.0 - 0.5 * 0.5 + 2.0 * 0.3 / 0.4) / 3)
    assert policy_gradient_loss(new[:2], adv[:2], old[:2]).item() == pytest.approx(
        -(1.5 * 2.0 - 0.5 * 0.5) / 2
    )


@pytest.mark.parametrize("expert", [False, True])
def test_updates_move_the_policy_toward_the_better_rollout(expert: bool) -> None:
    """A few optimiser steps on the real losses raise π of the action of the group's best member
    (an on-policy rollout, or an expert trace through the shaped off-policy term)."""
    from agents.buffers import PolicyBatch
    from agents.nets import ArchConfig, Classifier
    from agents.rollout import Trajectory

    torch.manual_seed(0)
    net = Classifier((9, 3, 3), 12, ArchConfig(hidden=(16,)))
    obs = np.zeros((4, 1, 9, 3, 3), dtype=np.uint8)
    mask = np.zeros((4, 1, 12), dtype=bool)
    mask[..., :5] = True

    def traj(action: int) -> Trajectory:
        a = np.full((4, 1), action)
        return Trajectory(
            obs,
            mask,
            a,
            a,
            np.ones((4, 1), bool),
            np.zeros((4, 1), np.float32),
            np.ones((4, 1), bool),
            escaped=False,
            maze_seed=0,
        )

    trajs = [traj(1), traj(2), traj(3)]
    adv = group_advantages(np.array([[0.0, 0.0, 3.0]])).ravel()  # action 3's rollout is best
    batch = PolicyBatch.from_trajectories(trajs, adv, [False, False, expert]).to("cpu")
    opt = torch.optim.SGD(net.parameters(), lr=0.5)
    before = net.probs(batch["obs"][:1], batch["mask"][:1])[0, 3].item()
    for _ in range(5):
        logp, _ = log_prob_entropy(net(batch["obs"]), batch["mask"], batch["actions"])
        loss = mixed_policy_loss(logp, batch["advantages"], batch["off_policy"])
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = net.probs(batch["obs"][:1], batch["mask"][:1])[0]
    assert after[3].item() > before + 0.05
    assert after[3].item() > max(after[1].item(), after[2].item())


def test_row_weights_token_and_rollout_aggregation() -> None:
    rollout = torch.tensor([0, 0, 0, 2, 5, 5])
    np.testing.assert_allclose(row_weights(rollout, "token"), [1 / 6] * 6)
    np.testing.assert_allclose(row_weights(rollout, "rollout"), [1 / 9, 1 / 9, 1 / 9, 1 / 3, 1 / 6, 1 / 6])
    with pytest.raises(ValueError, match="token"):
        row_weights(rollout, "sequence")
    # rollout aggregation: a one-row expert trace weighs as much as a three-row rollout
    logp = torch.log(torch.tensor([0.5, 0.5, 0.5, 0.1]))
    adv = torch.tensor([-1.0, -1.0, -1.0, 1.0])
    off = torch.tensor([False, False, False, True])
    w = row_weights(torch.tensor([0, 0, 0, 1]), "rollout")
    expected = -(0.5 * (-1.0 * math.log(0.5)) + 0.5 * (1.0 * 0.5))
    assert mixed_policy_loss(logp, adv, off, weights=w).item() == pytest.approx(expected)
    assert policy_gradient_loss(logp[:3], adv[:3], weights=row_weights(torch.zeros(3), "rollout")).item() == (
        pytest.approx(math.log(0.5))
    )
