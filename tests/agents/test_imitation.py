"""Imitation: expert data, a smoke run of the training script, resuming (also after a kill), DAgger."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import mazesim
from agents.checkpoint import load_checkpoint
from agents.data import Dataset, collect_dagger, collect_expert
from agents.ensemble import Ensemble
from agents.evaluate import evaluate
from agents.nets import ArchConfig, Classifier
from agents.policy import load_policy
from agents.train_imitation import main
from mazesim.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[2]
FAST = [
    "--episodes",
    "4",
    "--dagger-rounds",
    "0",
    "--eval-episodes",
    "2",
    "--batch-size",
    "64",
    "--hidden",
    "32",
    "--device",
    "cpu",
]


def _steps(run_dir: Path) -> list[int]:
    return [json.loads(line)["step"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_expert_data_pairs_live_agents_with_legal_expert_actions(tmp_path):
    data = collect_expert("tutorial", [0, 1, 2], seed=0)
    assert len(data) > 0 and data.episodes == 3
    assert data.obs.shape == (len(data), 9, 17, 17) and data.obs.dtype == np.uint8
    assert data.mask[np.arange(len(data)), data.action].all()
    assert set(np.unique(data.maze_seed)) <= {0, 1, 2}
    data.save(tmp_path / "d.npz", dagger_rounds=3)
    back, extra = Dataset.load(tmp_path / "d.npz")
    assert extra == {"dagger_rounds": 3} and back.episodes == 3
    np.testing.assert_array_equal(back.obs, data.obs)
    np.testing.assert_array_equal(back.action, data.action)


def test_dagger_labels_the_learners_states_with_the_expert():
    # a learner that only ever stays: DAgger records its (unchanging) states with expert labels
    def stay(obs, mask, env):
        return np.zeros(len(mask), dtype=np.int64)

    data = collect_dagger("tutorial", stay, [5], seed=0)
    assert data.episodes == 1 and data.escaped == 0
    sc = load_scenario("tutorial")
    assert len(data) == sc.agents * sc.max_cycles  # nobody ever leaves
    # the start state repeats, so its expert label is one of the (legal) moves the expert takes there
    assert data.mask[np.arange(len(data)), data.action].all()
    assert (data.action != 0).any()


def test_smoke_train_checkpoint_evaluate_and_resume(tmp_path):
    run = tmp_path / "run"
    row = main(["--run-dir", str(run), "--steps", "60", "--eval-every", "60", "--seed", "1", *FAST])
    assert row["step"] == 60 and "eval_success_rate" in row
    assert (run / "curves.png").exists() and (run / "data.npz").exists()
    ck = load_checkpoint(run / "last.pt")
    assert ck.state["step"] == 60 and ck.members[0].method == "imitation" and ck.members[0].seed == 1
    assert ck.manifest["method"] == "imitation" and ck.manifest["options"]["seed"] == 1
    assert _steps(run) == list(range(1, 61))

    main(["--run-dir", str(run), "--steps", "120", "--eval-every", "60", "--seed", "1", *FAST])
    assert load_checkpoint(run / "last.pt").state["step"] == 120
    assert _steps(run) == list(range(1, 121)), "resuming must continue the log without duplicates"

    # resumed 60 + 60 updates give the same weights as 120 in one go (optimiser and RNG restored)
    straight = tmp_path / "straight"
    main(["--run-dir", str(straight), "--steps", "120", "--eval-every", "60", "--seed", "1", *FAST])
    a = load_checkpoint(run / "last.pt").members[0].net.state_dict()
    b = load_checkpoint(straight / "last.pt").members[0].net.state_dict()
    for k in a:
        torch.testing.assert_close(a[k], b[k])

    result = evaluate(load_policy(run / "last.pt"), "tutorial", [100000, 100001], seed=0)
    assert result["episodes"] == 2 and 0.0 <= result["success_rate"] <= 1.0
    assert result["entropy"] > 0.0 and result["tv"] == 0.0  # one member: no disagreement


def test_dagger_rounds_grow_the_data_once(tmp_path):
    run = tmp_path / "dagger"
    argv = ["--run-dir", str(run), "--steps", "40", "--eval-every", "40", "--dagger-rounds", "1"]
    main([*FAST, *argv, "--dagger-episodes", "2"])  # after FAST: its --dagger-rounds 0 must not win
    data, extra = Dataset.load(run / "data.npz")
    assert extra["dagger_rounds"] == 1 and data.episodes == 4 + 2
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "dagger_round" in r] == [21]


def test_killed_run_resumes_from_its_last_checkpoint(tmp_path):
    run = tmp_path / "killed"
    cmd = [sys.executable, "-m", "agents.train_imitation", "--run-dir", str(run), "--steps", "100000"]
    cmd += ["--checkpoint-every", "25", "--eval-every", "100000", "--no-progress", *FAST]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline and proc.poll() is None:
            if (run / "last.pt").exists() and (run / "metrics.jsonl").exists() and len(_steps(run)) > 60:
                break
            time.sleep(0.2)
        assert proc.poll() is None, proc.stderr.read().decode()
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    saved = load_checkpoint(run / "last.pt").state["step"]
    assert saved % 25 == 0 and saved > 0
    assert max(_steps(run)) >= saved  # the log ran ahead of the checkpoint
    main(["--run-dir", str(run), "--steps", str(saved + 10), "--eval-every", "1000", *FAST])
    assert _steps(run) == list(range(1, saved + 11))
    assert load_checkpoint(run / "last.pt").state["step"] == saved + 10


def test_bad_options_are_refused(tmp_path):
    with pytest.raises(SystemExit):
        main(["--run-dir", str(tmp_path / "x"), "--steps", "0"])
    with pytest.raises(SystemExit, match="training"):
        main(["--run-dir", str(tmp_path / "y"), "--episodes", "5000"])


def test_a_classifier_that_labels_every_expert_state_replays_the_expert_episodes():
    """End-to-end alignment check: if a net reproduces the expert's label on every state of a few
    training mazes, acting with it must escape those mazes in both action modes. This fails on any
    observation/action misalignment in the data, an agent-index mix-up between observation rows
    and agents, or an evaluation that encodes observations differently from the data."""
    from agents.ensemble import Ensemble
    from agents.nets import ArchConfig, Classifier, masked_logits

    torch.manual_seed(0)
    seeds = [0, 1, 2]
    data = collect_expert("tutorial", seeds, seed=0)
    obs, mask, action = (torch.as_tensor(a) for a in (data.obs, data.mask, data.action))
    net = Classifier(data.obs.shape[1:], 12, ArchConfig(kind="mlp", hidden=(128,)))
    optimizer = torch.optim.Adam(net.parameters(), lr=3e-3)
    for _ in range(300):
        loss = torch.nn.functional.cross_entropy(masked_logits(net(obs), mask), action)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    net.eval()
    with torch.no_grad():
        assert bool((net.probs(obs, mask).argmax(-1) == action).all())
    policy = Ensemble([net]).policy()
    for mode in ("discrete", "superposition"):
        result = evaluate(policy, "tutorial", seeds, seed=0, action_mode=mode)
        assert result["success_rate"] == 1.0, (mode, result["per_episode"])


def test_dagger_in_lockstep_collects_what_one_at_a_time_collects():
    torch.manual_seed(0)
    shape = mazesim.parallel_env("tutorial").observation_space("agent_0")["observation"].shape
    net = Classifier(shape, 12, ArchConfig(kind="cnn", hidden=(16,), channels=(4,)))
    learner = Ensemble([net]).policy(act="greedy")
    env = mazesim.parallel_env("tutorial", max_cycles=20)
    one, many = (collect_dagger(env, learner, [3, 4, 5], seed=2, parallel=p) for p in (1, 3))
    for field in ("obs", "mask", "action", "maze_seed"):
        np.testing.assert_array_equal(getattr(one, field), getattr(many, field), err_msg=field)
    assert (one.episodes, one.escaped) == (many.episodes, many.escaped) == (3, one.escaped)
    # with beta = 1 every executed step is the expert's, so the expert's episode is what is labelled
    mixed = collect_dagger("tutorial", learner, [5], seed=0, beta=1.0, rng=np.random.default_rng(0))
    assert mixed.escaped == 1
