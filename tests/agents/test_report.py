"""The results report end to end on a tiny tutorial sweep: trials, ensembles, baselines, table, plots."""

from __future__ import annotations

import re

import pytest

from agents import report
from agents import sweep as sw

# GRPO and LUFFY take the same tiny budget
GROUP = "{ steps = 40, groups = 1, group_size = 2, eval_every = 1, eval_episodes = 1 }"
SWEEP = f"""
name = "tiny_report"
scenarios = ["tutorial"]
seeds = [0]
eval_episodes = 2

[[methods]]
method = "imitation"
seeds = [0, 1, 2, 3]
[methods.params]
steps = 3
episodes = 2
dagger_rounds = 0
batch_size = 16
hidden = [16]
eval_every = 3
eval_episodes = 1

[[methods]]
method = "grpo"
init = "imitation"
params = {GROUP}

[[methods]]
method = "dqn"
init = "imitation"
[methods.params]
steps = 32
num_envs = 2
learning_starts = 8
iteration_steps = 8
buffer_size = 200
batch_size = 8
eval_every = 4
eval_episodes = 1

[[methods]]
method = "luffy"
init = "imitation"
params = {GROUP}
"""


def test_report_from_a_tiny_sweep_has_every_policy_and_reruns_without_training(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text(SWEEP)
    out = tmp_path / "docs" / "RESULTS.md"
    sweep_dir = tmp_path / "sweep"
    command = "python -m agents.report (test)"
    report.make_report(path, out, sweep_dir=sweep_dir, workers=0, command=command, scenarios=["tutorial"])
    text = out.read_text()
    assert "python -m agents.report (test)" in text and "tutorial: 2" in text
    rows = {m.group(1) for m in re.finditer(r"^\| ([^|]+?) \|", text, re.M)}
    expected = {"random", "expert", *report.METHODS, "ensemble: mixed 4", "ensemble: 4x imitation"}
    assert expected <= rows, rows
    # how far each method trained, from its logs: 3 imitation updates; DQN 32 steps, 2 iterations of 8x2
    logged = re.search(r"^Training as logged .*$", text, re.M).group(0)
    assert "imitation step 3;" in logged and "dqn step 32, update 2;" in logged
    assert all(f"{m} step" in logged for m in report.METHODS)
    for image in re.findall(r"!\[[^]]*\]\(([^)]+)\)", text):
        assert (out.parent / image).stat().st_size > 0
    # the second run reuses every trial, ensemble and evaluation
    trials = sw.load_sweep(path).trials
    before = {
        t.trial_id: (sw.trial_dir(sweep_dir, t.trial_id) / "result.json").stat().st_mtime for t in trials
    }
    report.make_report(path, out, sweep_dir=sweep_dir, workers=0)
    after = {
        t.trial_id: (sw.trial_dir(sweep_dir, t.trial_id) / "result.json").stat().st_mtime for t in trials
    }
    assert before == after


def test_report_refuses_a_scenario_evaluated_two_ways():
    rows = [
        {"scenario": "tutorial", "trial_id": "a", "eval": {"episodes": 100, "seed": 0}},
        {"scenario": "tutorial", "trial_id": "b", "eval": {"episodes": 20, "seed": 0}},
    ]
    with pytest.raises(report.ReportError, match="same eval_episodes"):
        report._evaluation(rows)
    assert report._evaluation(rows[:1]) == {"tutorial": {"episodes": 100, "seed": 0}}


def test_report_names_scenarios_the_sweep_does_not_have(tmp_path, capsys):
    path = tmp_path / "tiny.toml"
    path.write_text(SWEEP)
    argv = ["--sweep", str(path), "--out", str(tmp_path / "R.md"), "--scenarios", "atlantis"]
    assert report.main(argv) == 2
    err = capsys.readouterr().err
    assert "atlantis" in err and "tutorial" in err and not (tmp_path / "R.md").exists()
