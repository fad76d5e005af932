"""Evaluation: metrics of built-in and neural policies, promise counting, the command line."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

import mazesim
from agents.checkpoint import Member, save_checkpoint
from agents.ensemble import Ensemble
from agents.evaluate import evaluate, main, promise_counts, split_seeds
from agents.nets import ArchConfig, Classifier
from agents.policy import ExpertPolicy, load_policy
from agents.rollout import Trajectory, run_episode, run_episodes
from mazesim.expert import solve
from mazesim.world import Action

#: the tutorial preset's observation shape (its view covers the whole floor)
TUTORIAL_OBS = mazesim.parallel_env("tutorial").observation_space("agent_0")["observation"].shape

SEEDS = [100000, 100001, 100002]


def test_expert_policy_matches_the_expert_planner_and_has_efficiency_one():
    result = evaluate(load_policy("expert"), "tutorial", SEEDS, seed=0)
    assert result["action_mode"] == "discrete" and "entropy" not in result
    env = mazesim.parallel_env("tutorial")
    for row in result["per_episode"]:
        env.reset(seed=0, options={"maze_seed": row["maze_seed"]})
        run = solve(env.maze, max_steps=env.max_cycles)
        assert (row["escaped"], row["expert_escaped"]) == (run.escaped, run.escaped)
        if run.escaped:
            assert row["steps"] == row["expert_steps"] == run.steps
    assert result["success_rate"] == result["expert_success_rate"]
    if result["success_rate"] > 0:
        assert result["path_efficiency"] == 1.0
    else:
        assert math.isnan(result["path_efficiency"]) and math.isnan(result["mean_steps"])


def test_expert_acts_in_superposition_mode_too():
    discrete = evaluate(ExpertPolicy(), "tutorial", SEEDS[:2], seed=0)
    waves = evaluate(ExpertPolicy(), "tutorial", SEEDS[:2], seed=0, action_mode="superposition")
    assert waves["action_mode"] == "superposition"
    assert [r["escaped"] for r in waves["per_episode"]] == [r["escaped"] for r in discrete["per_episode"]]


def test_random_policy_metrics_are_in_range():
    result = evaluate(load_policy("random", seed=3), "tutorial", SEEDS[:2], seed=0)
    assert result["episodes"] == 2 and 0 <= result["success_rate"] <= 1
    assert 0 <= result["promise_kept_rate"] <= 1 and "entropy" not in result


def test_neural_ensemble_reports_entropy_and_disagreement():
    nets = []
    for s, kind in enumerate(("mlp", "cnn")):
        torch.manual_seed(s)
        nets.append(Classifier(TUTORIAL_OBS, 12, ArchConfig(kind=kind, hidden=(16,), channels=(4,))))
    policy = Ensemble(nets).policy()
    result = evaluate(policy, "tutorial", SEEDS[:1], seed=0)
    assert result["action_mode"] == "superposition"
    assert 0 < result["entropy"] <= math.log(12) and 0 < result["tv"] <= 1 and result["vote_entropy"] >= 0


def _traj(kept, executed, active):
    t, n = np.shape(kept)
    zeros = np.zeros((t, n))
    return Trajectory(
        obs=np.zeros((t, n, 1, 1, 1), np.uint8),
        mask=np.ones((t, n, 12), bool),
        actions=np.asarray(executed),
        executed=np.asarray(executed),
        active=np.asarray(active, bool),
        rewards=zeros,
        kept=np.asarray(kept, bool),
        escaped=False,
        maze_seed=0,
    )


def test_promise_counts_leave_out_stays_and_agents_that_left():
    n, s = int(Action.NORTH), int(Action.STAY)
    traj = _traj(
        kept=[[True, False], [True, True], [False, True]],
        executed=[[n, s], [s, n], [s, n]],  # agent 1 step 0: a move withdrawn into a stay
        active=[[True, True], [True, True], [False, True]],
    )
    # made: (0,0) move kept, (0,1) withdrawn move, (1,1) move kept, (2,1) move kept; (1,0) is a stay
    # and (2,0) left already
    assert promise_counts(traj) == (3, 4)


def test_split_seeds():
    sc = mazesim.load_scenario("tutorial")
    assert split_seeds("tutorial", "heldout", 3) == list(sc.heldout_seeds)[:3]
    assert split_seeds("tutorial", "train", 2) == [0, 1]
    assert len(split_seeds("tutorial", "heldout")) == len(sc.heldout_seeds)
    with pytest.raises(ValueError, match="split"):
        split_seeds("tutorial", "test")


def test_command_line_prints_a_table_and_writes_json(tmp_path, capsys):
    torch.manual_seed(0)
    net = Classifier(TUTORIAL_OBS, 12, ArchConfig(hidden=(16,)))
    save_checkpoint(tmp_path / "m.pt", [Member("imitation", net, 0)], {"scenario": "tutorial"})
    out = tmp_path / "r.json"
    argv = ["--policy", str(tmp_path / "m.pt"), "--episodes", "1", "--json", str(out), "--no-progress"]
    assert main(argv) == 0
    table = capsys.readouterr().out
    assert "success_rate" in table and "path_efficiency" in table and "entropy" in table
    data = json.loads(out.read_text())
    assert data["episodes"] == 1 and data["split"] == "heldout" and len(data["per_episode"]) == 1


def test_command_line_refuses_bad_policies(tmp_path, capsys):
    bad = tmp_path / "bad.pt"
    bad.write_text("not a checkpoint")
    assert main(["--policy", str(bad), "--episodes", "1"]) == 2
    assert "not a readable mazesim checkpoint" in capsys.readouterr().err
    assert main(["--policy", "nobody", "--episodes", "1"]) == 2
    assert main(["--policy", "expert", "--episodes", "0"]) == 2


def test_run_episode_records_trajectories_the_evaluation_reads():
    env = mazesim.parallel_env("tutorial", max_cycles=5)
    traj = run_episode(env, load_policy("random", seed=0), seed=0, maze_seed=SEEDS[0])
    kept, made = promise_counts(traj)
    assert 0 <= kept <= made <= traj.active.sum()


def _untrained_team() -> Ensemble:
    torch.manual_seed(3)
    return Ensemble([Classifier(TUTORIAL_OBS, 12, ArchConfig(kind="cnn", hidden=(16,), channels=(4,)))])


@pytest.mark.parametrize("mode", ["superposition", "discrete"])
def test_lockstep_episodes_equal_one_at_a_time(mode):
    # a neural policy as a function of its observation: waves, or its most probable action
    policy = _untrained_team().policy(act="greedy")
    jobs = [(7 + k, s) for k, s in enumerate([100000, 100001, 100002, 100003, 100004])]
    envs = [mazesim.parallel_env("tutorial", action_mode=mode, max_cycles=30) for _ in range(3)]
    together = run_episodes(envs, policy, jobs)
    alone = [run_episode(envs[0], policy, seed=s, maze_seed=m) for s, m in jobs]
    assert [t.maze_seed for t in together] == [m for _, m in jobs]
    for a, b in zip(together, alone, strict=True):
        assert a.escaped == b.escaped and a.length == b.length
        for field in ("obs", "mask", "actions", "executed", "active", "rewards", "kept"):
            np.testing.assert_array_equal(getattr(a, field), getattr(b, field), err_msg=field)


def test_evaluate_gives_the_same_numbers_for_any_parallel():
    policy = _untrained_team().policy()
    one, many = (evaluate(policy, "tutorial", SEEDS, seed=0, parallel=p) for p in (1, 3))
    assert [r for r in one["per_episode"]] == [r for r in many["per_episode"]]
    assert one["promise_kept_rate"] == many["promise_kept_rate"]
    assert one["entropy"] == pytest.approx(many["entropy"], rel=1e-9)
    with pytest.raises(ValueError, match="parallel"):
        evaluate(policy, "tutorial", SEEDS, parallel=0)


def test_lockstep_records_labels_and_can_skip_observations():
    env = mazesim.parallel_env("tutorial", max_cycles=8)
    label = lambda e: np.full(len(e.possible_agents), 5)  # noqa: E731
    random = load_policy("random", seed=0)
    (traj,) = run_episodes([env], random, [(0, SEEDS[0])], record_obs=False, label=label)
    assert traj.obs.shape == (traj.length, 2, 0) and (traj.labels == 5).all()
    assert traj.labels.shape == (traj.length, 2)
