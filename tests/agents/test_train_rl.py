"""Smoke tests of the RL training scripts: a few hundred env steps on the tutorial, the checkpoint
loads and plays, and a second invocation resumes from the saved step."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from agents import train_dqn, train_grpo, train_luffy
from agents.checkpoint import load_checkpoint
from agents.ensemble import Ensemble
from agents.evaluate import evaluate
from agents.runlog import RunLog

TINY = [
    "--scenario",
    "tutorial",
    "--max-cycles",
    "12",
    "--hidden",
    "16",
    "--no-progress",
    "--eval-episodes",
    "1",
]
GROUPS = ["--groups", "1", "--group-size", "3", "--checkpoint-every", "2", "--eval-every", "100"]
SCRIPTS = {
    "grpo": (train_grpo, GROUPS),
    "luffy": (train_luffy, GROUPS),
    "luffy-no-shaping": (train_luffy, [*GROUPS, "--no-shaping", "--loss-agg", "rollout"]),
    "luffy-no-mixing": (train_luffy, [*GROUPS, "--no-mixing"]),
    "dqn": (
        train_dqn,
        ["--num-envs", "2", "--iteration-steps", "8", "--learning-starts", "16", "--batch-size", "8"]
        + ["--checkpoint-every", "2", "--eval-every", "100"],
    ),
}
METHOD = {
    "grpo": "grpo",
    "luffy": "luffy",
    "luffy-no-shaping": "luffy",
    "luffy-no-mixing": "luffy",
    "dqn": "dqn",
}


def _run(name: str, run_dir: Path, steps: int, seed: int = 0) -> dict:
    module, extra = SCRIPTS[name]
    return module.main([*TINY, *extra, "--run-dir", str(run_dir), "--steps", str(steps), "--seed", str(seed)])


@pytest.mark.parametrize("name", list(SCRIPTS))
def test_script_trains_checkpoints_plays_and_resumes(name: str, tmp_path: Path) -> None:
    run = tmp_path / name
    first = _run(name, run, 100)
    rows = RunLog(run).read()
    assert rows and rows[-1]["step"] == first["step"] >= 100
    assert all(np.isfinite(r["entropy"]) and r["entropy"] > 0 for r in rows)
    assert "eval_success_rate" in rows[-1]  # the final update is always evaluated
    assert (run / "curves.png").stat().st_size > 0

    ck = load_checkpoint(run / "last.pt")
    assert [m.method for m in ck.members] == [METHOD[name]]
    assert ck.manifest["scenario"] == "tutorial" and ck.state["step"] == first["step"]
    result = evaluate(Ensemble(ck.members).policy(), "tutorial", [100000, 100001], seed=0)
    assert result["episodes"] == 2 and 0.0 <= result["success_rate"] <= 1.0

    second = _run(name, run, 200)
    rows2 = RunLog(run).read()
    steps = [r["step"] for r in rows2]
    updates = [r["update"] for r in rows2]
    assert steps == sorted(set(steps)), "metrics lines duplicated or out of order after resuming"
    assert updates == list(range(1, len(rows2) + 1))
    assert rows2[: len(rows)] == rows  # the first run's lines are kept as they were
    assert second["step"] >= 200 and load_checkpoint(run / "last.pt").state["step"] == second["step"]


def test_luffy_logs_expert_mixing_and_no_mixing_has_none(tmp_path: Path) -> None:
    mixed = _run("luffy", tmp_path / "mixed", 30)
    plain = _run("luffy-no-mixing", tmp_path / "plain", 30)
    assert 0.0 < mixed["expert_prob"] <= 1.0 and mixed["samples"] > plain["samples"] / 2
    assert "expert_prob" not in plain
    # only on-policy steps count: 2 (mixed) or 3 (plain) rollouts of 12 steps per update
    assert mixed["step"] == 2 * 2 * 12 and plain["step"] == 3 * 12


def test_grpo_resume_is_exactly_an_uninterrupted_run(tmp_path: Path) -> None:
    _run("grpo", tmp_path / "straight", 100, seed=3)
    _run("grpo", tmp_path / "split", 50, seed=3)
    _run("grpo", tmp_path / "split", 100, seed=3)
    a = load_checkpoint(tmp_path / "straight" / "last.pt")
    b = load_checkpoint(tmp_path / "split" / "last.pt")
    for k, v in a.members[0].net.state_dict().items():
        torch.testing.assert_close(b.members[0].net.state_dict()[k], v, rtol=0, atol=0)

    def training_rows(run: Path) -> list[dict]:  # evaluations and timings differ, the training must not
        return [
            {k: v for k, v in r.items() if not k.startswith("eval_") and k != "samples_per_s"}
            for r in RunLog(run).read()
        ]

    assert training_rows(tmp_path / "straight") == training_rows(tmp_path / "split")


def test_dqn_member_is_softmax_of_q_over_temperature(tmp_path: Path) -> None:
    _run("dqn", tmp_path / "dqn", 64)
    ck = load_checkpoint(tmp_path / "dqn" / "last.pt")
    member = ck.members[0]
    assert member.info["temperature"] == pytest.approx(0.1)
    q_net = train_dqn.make_net(
        member.net.obs_shape, member.net.n_actions, train_dqn.parse_args([*TINY, "--run-dir", "x"])
    )
    q_net.load_state_dict(ck.state["nets"]["q"])
    obs = torch.randint(0, 13, (5, *member.net.obs_shape), dtype=torch.uint8)
    mask = torch.ones(5, member.net.n_actions, dtype=torch.bool)
    mask[:, 5:] = False
    expected = torch.softmax((q_net(obs) / 0.1).masked_fill(~mask, float("-inf")), dim=-1)
    torch.testing.assert_close(member.net.probs(obs, mask), expected)
