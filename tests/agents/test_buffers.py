"""Replay ring buffer, flat policy batches, groups of rollouts of one maze, team returns."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from agents.buffers import PolicyBatch, ReplayBuffer
from agents.groups import collect_groups, expert_traces
from agents.rollout import Trajectory
from agents.training import epsilon_greedy, temperature_folded
from mazesim.vector import SerialVecEnv

OBS = (9, 3, 3)
A = 12


def _rows(ids: np.ndarray) -> tuple:
    """Transitions whose every field encodes the row id, to check fields stay together."""
    k = len(ids)
    obs = np.broadcast_to(ids[:, None, None, None] % 200, (k, *OBS)).astype(np.uint8)
    mask = np.zeros((k, A), dtype=bool)
    mask[np.arange(k), ids % A] = True
    return obs, mask, ids, ids * 10.0, obs + 1, mask, ids % 2 == 0


def test_replay_buffer_keeps_transitions_together() -> None:
    buf = ReplayBuffer(100, OBS, A, np.random.default_rng(0))
    buf.add(*_rows(np.arange(30)))
    b = buf.sample(64)
    ids = b.actions
    np.testing.assert_array_equal(b.obs[:, 0, 0, 0], ids)
    np.testing.assert_array_equal(b.next_obs[:, 0, 0, 0], ids + 1)
    np.testing.assert_array_equal(b.rewards, ids * 10.0)
    np.testing.assert_array_equal(b.dones, ids % 2 == 0)
    np.testing.assert_array_equal(b.mask.argmax(1), ids % A)
    t = b.to("cpu")
    assert t["obs"].dtype == torch.uint8 and t["rewards"].dtype == torch.float32
    assert t["mask"].dtype == torch.bool and t["actions"].dtype == torch.int64


def test_replay_buffer_ring_overwrites_the_oldest() -> None:
    buf = ReplayBuffer(5, OBS, A, np.random.default_rng(1))
    buf.add(*_rows(np.arange(3)))
    buf.add(*_rows(np.arange(3, 7)))
    assert len(buf) == 5
    assert set(buf.actions.tolist()) == {2, 3, 4, 5, 6}
    assert set(buf.sample(200).actions.tolist()) == {2, 3, 4, 5, 6}


def test_replay_buffer_sampling_is_a_function_of_its_generator() -> None:
    draws = []
    for _ in range(2):
        buf = ReplayBuffer(50, OBS, A, np.random.default_rng(7))
        buf.add(*_rows(np.arange(40)))
        draws.append(buf.sample(16).actions)
    np.testing.assert_array_equal(*draws)


def test_replay_buffer_stores_float_codes_as_uint8_losslessly() -> None:
    buf = ReplayBuffer(10, OBS, A, np.random.default_rng(0))
    obs, mask, ids, rew, nxt, nmask, done = _rows(np.arange(10))
    buf.add(obs.astype(np.float32), mask, ids, rew, nxt.astype(np.float32), nmask, done)
    b = buf.sample(20)
    assert b.obs.dtype == np.uint8
    np.testing.assert_array_equal(b.obs[:, 0, 0, 0], b.actions)


def test_replay_buffer_errors_name_the_fix() -> None:
    buf = ReplayBuffer(3, OBS, A, np.random.default_rng(0))
    with pytest.raises(ValueError, match="empty"):
        buf.sample(1)
    with pytest.raises(ValueError, match="capacity 3"):
        buf.add(*_rows(np.arange(4)))
    with pytest.raises(ValueError, match="capacity"):
        ReplayBuffer(0, OBS, A, np.random.default_rng(0))


def _trajectory(active: np.ndarray, rewards: np.ndarray, actions: np.ndarray) -> Trajectory:
    t, n = active.shape
    return Trajectory(
        obs=np.arange(t * n, dtype=np.float32).reshape(t, n, 1, 1, 1),
        mask=np.ones((t, n, A), dtype=bool),
        actions=actions,
        executed=actions,
        active=active,
        rewards=rewards.astype(np.float32),
        kept=np.ones((t, n), dtype=bool),
        escaped=False,
        maze_seed=0,
    )


def test_policy_batch_takes_live_rows_and_repeats_advantages() -> None:
    a = _trajectory(np.array([[True, True], [False, True]]), np.zeros((2, 2)), np.array([[1, 2], [3, 4]]))
    b = _trajectory(np.array([[True, True]]), np.zeros((1, 2)), np.array([[5, 6]]))
    batch = PolicyBatch.from_trajectories([a, b], [0.5, -1.0], [False, True])
    assert len(batch) == 5
    np.testing.assert_array_equal(batch.actions, [1, 2, 4, 5, 6])
    np.testing.assert_array_equal(batch.obs[:, 0, 0, 0], [0, 1, 3, 0, 1])
    np.testing.assert_array_equal(batch.advantages, [0.5, 0.5, 0.5, -1.0, -1.0])
    np.testing.assert_array_equal(batch.off_policy, [False, False, False, True, True])
    np.testing.assert_array_equal(batch.rollout, [0, 0, 0, 1, 1])
    with pytest.raises(ValueError, match="one each"):
        PolicyBatch.from_trajectories([a, b], [0.5])


def test_team_return_ignores_agents_that_have_left() -> None:
    # agent 0 exits at step 0 (+1 exit reward to both); then only agent 1 pays the step cost
    t = _trajectory(
        np.array([[True, True], [False, True], [False, True]]),
        np.array([[1.0, 1.0], [0.0, -0.01], [0.0, -0.01]]),
        np.zeros((3, 2), dtype=np.int64),
    )
    assert t.team_return == pytest.approx(0.98)


def test_collect_groups_plays_each_maze_group_size_times() -> None:
    venv = SerialVecEnv("tutorial", num_envs=6, max_cycles=6)
    rng = np.random.default_rng(0)

    def act(obs: np.ndarray, mask: np.ndarray) -> np.ndarray:
        assert obs.shape[:2] == mask.shape[:2] == (6, 2) and mask.dtype == bool
        return epsilon_greedy(np.zeros(mask.shape), mask, 1.0, rng)

    trajs = collect_groups(venv, act, [11, 22], group_size=3, seed=5)
    assert [t.maze_seed for t in trajs] == [11, 11, 11, 22, 22, 22]
    for t in trajs:
        assert t.length == 6 and t.obs.shape == (6, 2, *venv.obs_shape)
        assert t.active.all() and not t.escaped
        assert np.all(t.mask[np.arange(6)[:, None], np.arange(2), t.actions])  # only legal actions
        assert t.team_return == pytest.approx(-0.01 * 2 * 6)  # step cost only: nobody escapes in 6 steps
    # the same maze: identical first observations inside a group, different between groups
    np.testing.assert_array_equal(trajs[0].obs[0], trajs[2].obs[0])
    assert not np.array_equal(trajs[0].obs[0], trajs[3].obs[0])
    with pytest.raises(ValueError, match="num_envs=4"):
        collect_groups(venv, act, [1, 2], group_size=2, seed=0)


def test_expert_traces_play_the_requested_mazes() -> None:
    import mazesim

    env = mazesim.parallel_env("tutorial", max_cycles=5)
    trajs = expert_traces(env, [3, 3, 4], seed=0)
    assert [t.maze_seed for t in trajs] == [3, 3, 4]
    assert all(0 < t.length <= 5 for t in trajs)


def test_epsilon_greedy_picks_only_legal_actions() -> None:
    rng = np.random.default_rng(0)
    q = rng.normal(size=(200, A))
    mask = rng.random((200, A)) < 0.3
    mask[:, 0] = True
    greedy = epsilon_greedy(q, mask, 0.0, rng)
    np.testing.assert_array_equal(greedy, np.where(mask, q, -np.inf).argmax(1))
    explore = epsilon_greedy(q, mask, 1.0, rng)
    assert mask[np.arange(200), explore].all()
    assert (explore != greedy).mean() > 0.3  # really random, not the greedy choice


def test_temperature_folded_net_gives_softmax_of_q_over_tau() -> None:
    from agents.nets import ArchConfig, Classifier

    torch.manual_seed(0)
    net = Classifier(OBS, A, ArchConfig(hidden=(8,)))
    obs = torch.randint(0, 13, (4, *OBS), dtype=torch.uint8)
    mask = torch.rand(4, A) < 0.5
    mask[:, 0] = True
    q = net(obs).detach()
    folded = temperature_folded(net, 0.25)
    expected = torch.softmax((q / 0.25).masked_fill(~mask, float("-inf")), dim=-1)
    torch.testing.assert_close(folded.probs(obs, mask), expected)
    torch.testing.assert_close(net(obs), q)  # the original is untouched
    assert folded is not net
