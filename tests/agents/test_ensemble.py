"""Ensembles: the three combine rules on hand-made member outputs, masks, disagreement, waves."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import mazesim
from agents.checkpoint import CheckpointError, Member, load_checkpoint, save_checkpoint
from agents.ensemble import Ensemble, EnsembleError, combine, disagreement, entropy
from agents.make_ensemble import make_ensemble
from agents.nets import ArchConfig, Classifier
from agents.rollout import run_episode, stack_observations
from mazesim.observation import N_OBS_CHANNELS
from mazesim.world import N_ACTIONS

#: the tutorial preset's observation shape (its view covers the whole floor)
TUTORIAL_OBS = mazesim.parallel_env("tutorial").observation_space("agent_0")["observation"].shape

# K=2 members, N=2 agents, A=4 actions; the last action is masked for agent 0, the last two for agent 1
P = np.array(
    [
        [[0.5, 0.3, 0.2, 0.0], [0.0, 0.0, 0.0, 1.0]],
        [[0.2, 0.6, 0.2, 0.0], [0.25, 0.25, 0.25, 0.25]],
    ]
)
MASK = np.array([[True, True, True, False], [True, True, False, False]])


def test_soft_vote_is_the_mean_renormalised_on_legal_actions():
    out = combine(P, MASK, "soft")
    np.testing.assert_allclose(out[0], [0.35, 0.45, 0.2, 0.0])
    # agent 1: mean (0.125, 0.125, 0.125, 0.625) keeps only the two legal actions
    np.testing.assert_allclose(out[1], [0.5, 0.5, 0.0, 0.0])


def test_product_of_experts_is_the_normalised_product():
    out = combine(P, MASK, "product")
    # (0.5*0.2, 0.3*0.6, 0.2*0.2) = (0.10, 0.18, 0.04) / 0.32
    np.testing.assert_allclose(out[0], [0.3125, 0.5625, 0.125, 0.0])
    np.testing.assert_allclose(out[1], [0.5, 0.5, 0.0, 0.0])


def test_majority_vote_counts_legal_argmaxes():
    out = combine(P, MASK, "majority")
    np.testing.assert_allclose(out[0], [0.5, 0.5, 0.0, 0.0])
    # member 0's favourite (action 3) is masked: its vote goes to its best legal action (a tie: the first)
    np.testing.assert_allclose(out[1], [1.0, 0.0, 0.0, 0.0])
    three = np.array([[[0.6, 0.4]], [[0.2, 0.8]], [[0.7, 0.3]]])
    np.testing.assert_allclose(combine(three, np.ones((1, 2), bool), "majority"), [[2 / 3, 1 / 3]])


def test_product_is_computed_in_log_space():
    # 2000 members: both products underflow in linear space (0.45**2000, 0.55**2000 < 1e-300)
    p = np.tile(np.array([0.45, 0.55]), (2000, 1, 1))
    out = combine(p, np.ones((1, 2), bool), "product")
    assert np.isfinite(out).all() and out[0, 1] > 0.999999 and out.sum() == pytest.approx(1.0)


def test_disagreement_exact_values():
    tv, vote_entropy = disagreement(P[:, :1])
    assert tv[0] == pytest.approx(0.3)  # ½ (|0.5-0.2| + |0.3-0.6|)
    assert vote_entropy[0] == pytest.approx(math.log(2))  # argmaxes 0 and 1: one vote each
    tv, vote_entropy = disagreement(np.stack([P[0], P[0], P[0]]))
    assert (tv == 0).all() and (vote_entropy == 0).all()
    tv, vote_entropy = disagreement(P[:1])  # one member: nothing to disagree with
    assert (tv == 0).all() and (vote_entropy == 0).all()


def test_unknown_rule_and_bad_shapes_are_refused():
    with pytest.raises(EnsembleError, match="combine='mean'"):
        combine(P, MASK, "mean")
    with pytest.raises(EnsembleError, match=r"\(K, N, A\)"):
        combine(P[0], MASK)


@st.composite
def members_and_mask(draw):
    k = draw(st.integers(1, 5))
    n = draw(st.integers(1, 4))
    a = draw(st.integers(2, 12))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    mask = rng.random((n, a)) < 0.5
    mask[np.arange(n), rng.integers(a, size=n)] = True
    probs = rng.dirichlet(np.full(a, 0.5), size=(k, n))
    return probs, mask


@settings(max_examples=40, deadline=None)
@given(members_and_mask(), st.sampled_from(["soft", "product", "majority"]))
def test_combined_rows_are_distributions_on_legal_actions(case, how):
    probs, mask = case
    out = combine(probs, mask, how)
    assert out.shape == mask.shape
    assert (out >= 0).all() and (out[~mask] == 0).all()
    np.testing.assert_allclose(out.sum(axis=1), 1.0)
    tv, vote_entropy = disagreement(probs)
    assert ((tv >= 0) & (tv <= 1 + 1e-12)).all()
    assert ((vote_entropy >= 0) & (vote_entropy <= math.log(len(probs)) + 1e-12)).all()


@settings(max_examples=30, deadline=None)
@given(members_and_mask())
def test_identical_members_agree_and_every_rule_returns_their_distribution(case):
    probs, mask = case
    member = np.where(mask, probs[0], 0.0)
    member /= member.sum(axis=1, keepdims=True)
    same = np.stack([member] * 3)
    tv, vote_entropy = disagreement(same)
    assert (tv == 0).all() and (vote_entropy == 0).all()
    np.testing.assert_allclose(combine(same, mask, "soft"), member, atol=1e-12)
    np.testing.assert_allclose(combine(same, mask, "product"), member**3 / (member**3).sum(1, keepdims=True))


def _nets(seeds, kinds=("mlp",)):
    out = []
    for s, kind in zip(seeds, kinds * len(seeds), strict=False):
        torch.manual_seed(s)
        out.append(Classifier(TUTORIAL_OBS, N_ACTIONS, ArchConfig(kind=kind, hidden=(32,), channels=(4,))))
    return out


def _obs():
    """Real observations and masks of both agents in two tutorial mazes: (4, C, H, W), (4, A)."""
    env = mazesim.parallel_env("tutorial")
    parts = [stack_observations(env, env.reset(seed=0, options={"maze_seed": k})[0]) for k in (3, 4)]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def test_ensemble_of_identical_nets_has_no_disagreement_and_different_nets_do():
    obs, mask = _obs()
    (net,) = _nets([0])
    out = Ensemble([net, net, net]).step(obs, mask)
    assert (out["tv"] == 0).all() and (out["vote_entropy"] == 0).all()
    np.testing.assert_allclose(out["probs"], out["member_probs"][0], atol=1e-6)
    out = Ensemble(_nets([0, 1, 2], kinds=("mlp", "cnn"))).step(obs, mask)
    assert (out["tv"] > 0).all()
    assert (out["probs"][~mask] == 0).all() and (out["member_probs"][:, ~mask] == 0).all()


def test_ensemble_refuses_mismatched_members_and_empty_lists():
    other = Classifier((N_OBS_CHANNELS, 5, 5), N_ACTIONS, ArchConfig(hidden=(8,)))
    with pytest.raises(EnsembleError, match="observation shape"):
        Ensemble([*_nets([0]), other])
    with pytest.raises(EnsembleError, match="at least one member"):
        Ensemble([])
    with pytest.raises(EnsembleError, match="combine="):
        Ensemble(_nets([0]), combine="median")


@pytest.mark.parametrize("how", ["soft", "product", "majority"])
def test_waves_are_accepted_by_the_superposition_env(how):
    env = mazesim.parallel_env("tutorial", action_mode="superposition", max_cycles=12)
    policy = Ensemble(_nets([0, 1], kinds=("mlp", "cnn")), combine=how).policy()
    traj = run_episode(env, policy, seed=0, maze_seed=3)
    assert traj.length == 12
    waves = policy.last["probs"]
    assert waves.shape == (2, N_ACTIONS)
    summary = policy.summary()
    assert 0 < summary["entropy"] <= math.log(N_ACTIONS) and summary["tv"] > 0
    # every executed action was legal where the agent stood
    assert traj.mask[np.arange(12)[:, None], np.arange(2)[None], traj.executed].all()


def test_discrete_policy_acts_greedily_or_samples_legal_actions():
    env = mazesim.parallel_env("tutorial", max_cycles=10)
    ens = Ensemble(_nets([0, 1]))
    greedy = run_episode(env, ens.policy(), seed=0, maze_seed=3)
    probs = ens.step(greedy.obs[0], greedy.mask[0])["probs"]
    np.testing.assert_array_equal(greedy.actions[0], probs.argmax(axis=1))
    sampled = run_episode(env, ens.policy(act="sample", rng=np.random.default_rng(0)), seed=0, maze_seed=3)
    assert sampled.mask[np.arange(10)[:, None], np.arange(2)[None], sampled.actions].all()
    with pytest.raises(EnsembleError, match="rng="):
        ens.policy(act="sample")


def test_entropy_of_uniform_and_one_hot():
    np.testing.assert_allclose(entropy(np.array([[0.25] * 4, [1.0, 0, 0, 0]])), [math.log(4), 0.0])


def test_make_ensemble_combines_any_member_checkpoints(tmp_path):
    nets = _nets([0, 1, 2], kinds=("mlp", "cnn"))
    save_checkpoint(tmp_path / "a.pt", [Member("imitation", nets[0], 0)], {"scenario": "tutorial"})
    save_checkpoint(
        tmp_path / "bc.pt",
        [Member("grpo", nets[1], 1), Member("dqn", nets[2], 2)],
        {"scenario": "tutorial", "command": "python -m agents.train_x --seed 1"},
    )
    make_ensemble([tmp_path / "a.pt", tmp_path / "bc.pt"], tmp_path / "ens.pt", combine="product")
    ck = load_checkpoint(tmp_path / "ens.pt")
    assert [m.method for m in ck.members] == ["imitation", "grpo", "dqn"]
    assert ck.manifest["combine"] == "product" and ck.manifest["scenario"] == "tutorial"
    assert ck.manifest["members"][1]["command"] == "python -m agents.train_x --seed 1"
    for m, net in zip(ck.members, nets, strict=True):
        for k, v in net.state_dict().items():
            torch.testing.assert_close(m.net.state_dict()[k], v)
    save_checkpoint(tmp_path / "other.pt", [Member("imitation", nets[0], 0)], {"scenario": "levers"})
    with pytest.raises(CheckpointError, match="different scenarios"):
        make_ensemble([tmp_path / "a.pt", tmp_path / "other.pt"], tmp_path / "bad.pt")
    assert not (tmp_path / "bad.pt").exists()
