"""agents.sweep, local backend: trial ids, validation, resume after an interruption, failed trials."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agents import sweep as sw

REPO = Path(__file__).resolve().parents[2]
# A trial of a few seconds: 3 imitation updates on 2 expert episodes, 2 held-out mazes.
TINY = {"steps": 3, "episodes": 2, "eval_episodes": 2, "eval_every": 3, "hidden": [16], "batch_size": 16}


def write_sweep(path: Path, seeds: list[int], extra: str = "", params: dict | None = None) -> Path:
    p = {**TINY, **(params or {})}
    body = ", ".join(f"{k} = {json.dumps(v)}" for k, v in p.items())
    path.write_text(
        f'name = "t"\nscenarios = ["tutorial"]\nseeds = {seeds}\neval_episodes = 2\n\n'
        f'[[methods]]\nmethod = "imitation"\nparams = {{ {body} }}\n{extra}'
    )
    return path


def attempts(sweep_dir: Path, trial_id: str) -> int:
    path = sw.trial_dir(sweep_dir, trial_id) / sw.ATTEMPTS
    return len(path.read_text().splitlines()) if path.exists() else 0


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open() as f:
        return list(csv.DictReader(f))


def test_trial_ids_are_deterministic():
    a = sw.Trial.make("imitation", "tutorial", 0, {"steps": 3, "eval-every": 3})
    b = sw.Trial.make("imitation", "tutorial", 0, {"eval_every": 3, "steps": 3}, label="other name")
    assert a.trial_id == b.trial_id
    assert a.trial_id != sw.Trial.make("imitation", "tutorial", 1, {"steps": 3, "eval_every": 3}).trial_id
    assert a.trial_id != sw.Trial.make("imitation", "tutorial", 0, {"steps": 4, "eval_every": 3}).trial_id
    assert a.trial_id != sw.Trial.make("grpo", "tutorial", 0, {"steps": 3, "eval_every": 3}).trial_id


def test_grid_and_lists_expand(tmp_path):
    path = write_sweep(
        tmp_path / "s.toml",
        [0, 1],
        '[methods.grid]\nlr = [0.01, 0.001]\n\n[[methods]]\nmethod = "luffy"\nlabel = "luffy-noshaping"\n'
        "seeds = [7]\nparams = { steps = 16, no_shaping = true }\n",
    )
    sweep = sw.load_sweep(path)
    labels = [(t.label, t.seed, t.params.get("lr")) for t in sweep.trials]
    assert labels == [
        ("imitation", 0, 0.01),
        ("imitation", 1, 0.01),
        ("imitation", 0, 0.001),
        ("imitation", 1, 0.001),
        ("luffy-noshaping", 7, None),
    ]
    argv = sweep.trials[-1].argv(Path("d"))
    assert "--no-shaping" in argv and "True" not in argv and argv[-1] == "--no-progress"


def test_dry_run_lists_trials_and_runs_nothing(tmp_path, capsys):
    path = write_sweep(tmp_path / "s.toml", [0, 1, 2])
    assert sw.main([str(path), "--sweep-dir", str(tmp_path / "out"), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.count(" todo ") == 3 and "3 trials" in out
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "params, match",
    [
        (
            {"stepz": 3},
            r"unrecognized arguments: --stepz 3 \(the options of agents.train_imitation are: .*steps",
        ),
        ({"steps": "many"}, "argument --steps: invalid int value: 'many'"),
        ({"steps": 1.5}, "invalid int value: '1.5'"),
        ({"lr": False}, "false cannot turn off an option that is not a flag"),
        ({"seed": 3}, "'seed' cannot be a hyperparameter"),
        ({"hidden": {"a": 1}}, "has type dict"),
    ],
)
def test_bad_hyperparameters_fail_before_anything_runs(params, match):
    raw = {"seeds": [0], "methods": [{"method": "imitation", "params": {**TINY, **params}}]}
    with pytest.raises(sw.SweepError, match="^s.toml: methods\\[0\\]: .*" + match):
        sw.parse_sweep(raw, "s.toml")


@pytest.mark.parametrize(
    "text, match",
    [
        (
            '[[methods]]\nmethod = "ppo"\n',
            r"unknown method 'ppo'; use one of \['dqn', 'grpo', 'imitation', 'luffy'\]",
        ),
        ('seedz = [1]\n[[methods]]\nmethod = "grpo"\n', "unknown key 'seedz'"),
        ('seeds = [0, 0]\n[[methods]]\nmethod = "grpo"\n', "listed twice"),
        ('seeds = ["a"]\n[[methods]]\nmethod = "grpo"\n', "list of integers"),
        ('scenarios = ["atlantis"]\n[[methods]]\nmethod = "grpo"\n', "scenario 'atlantis'"),
        ("seeds = [0]\n", r"no \[\[methods\]\]"),
        ("seeds = [0\n", "not valid TOML"),
    ],
)
def test_bad_sweep_files(tmp_path, capsys, text, match):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(sw.SweepError, match=match):
        sw.load_sweep(path)
    assert sw.main([str(path), "--sweep-dir", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("agents.sweep: ") and str(path) in err and len(err.strip().splitlines()) == 1


def test_unreachable_ray_address_fails_fast(tmp_path, capsys):
    import socket

    with socket.socket() as s:  # a port that nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    path = write_sweep(tmp_path / "s.toml", [0])
    start = time.monotonic()
    address = f"127.0.0.1:{port}"
    code = sw.main(
        [str(path), "--sweep-dir", str(tmp_path / "out"), "--backend", "ray", "--address", address,
         "--connect-timeout", "2"]
    )  # fmt: skip
    assert code == 2 and time.monotonic() - start < 15
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert f"cannot reach the Ray cluster at 127.0.0.1:{port}" in err and "ray start --head" in err
    assert not (tmp_path / "out" / "trials").exists()
    with pytest.raises(sw.SweepError, match="not HOST:PORT"):
        sw.split_address("localhost")


def test_crashing_trial_becomes_a_failed_row_and_others_are_kept(tmp_path):
    # 5000 expert episodes exceed the tutorial's 1000 training mazes: the script exits with an error
    path = write_sweep(
        tmp_path / "s.toml",
        [0],
        '\n[[methods]]\nmethod = "imitation"\nlabel = "broken"\nparams = { steps = 3, episodes = 5000 }\n',
    )
    out = tmp_path / "out"
    sweep = sw.load_sweep(path)
    rows = sw.run_sweep(sweep, out, workers=0)
    by_label = {r["label"]: r for r in rows}
    assert by_label["imitation"]["status"] == "ok"
    assert 0.0 <= by_label["imitation"]["metrics"]["success_rate"] <= 1.0
    broken = by_label["broken"]
    assert broken["status"] == "failed" and "exceed the 1000 training mazes" in broken["error"]
    assert "SystemExit" in (sw.trial_dir(out, broken["trial_id"]) / "error.txt").read_text()
    table = read_csv(out / "results.csv")
    assert sorted(r["status"] for r in table) == ["failed", "ok"]
    assert "exceed the 1000 training mazes" in (out / "results.md").read_text()
    # failed trials are kept on a plain rerun, and run again with --retry-failed
    assert sw.main([str(path), "--sweep-dir", str(out), "--workers", "0"]) == 1
    assert attempts(out, broken["trial_id"]) == 1
    assert sw.main([str(path), "--sweep-dir", str(out), "--workers", "0", "--retry-failed"]) == 1
    assert attempts(out, broken["trial_id"]) == 2
    assert attempts(out, by_label["imitation"]["trial_id"]) == 1


def test_max_trials_then_resume_runs_only_what_is_missing(tmp_path):
    path = write_sweep(tmp_path / "s.toml", [0, 1, 2])
    out = tmp_path / "out"
    sweep = sw.load_sweep(path)
    first = sw.run_sweep(sweep, out, workers=0, max_trials=1)
    assert len(first) == 1 and len(read_csv(out / "results.csv")) == 1
    done = sw.trial_dir(out, first[0]["trial_id"]) / sw.RESULT
    mtime = done.stat().st_mtime_ns
    rows = sw.run_sweep(sweep, out, workers=0)
    assert [r["trial_id"] for r in rows] == [t.trial_id for t in sweep.trials]
    assert all(r["status"] == "ok" for r in rows)
    assert done.stat().st_mtime_ns == mtime and attempts(out, first[0]["trial_id"]) == 1
    assert [r["trial_id"] for r in read_csv(out / "results.csv")] == [t.trial_id for t in sweep.trials]


def test_killed_sweep_resumes_without_rerunning_finished_trials(tmp_path):
    """A sweep process (local pool of one worker) killed after its first result keeps that trial;
    the rerun does the rest."""
    path = write_sweep(tmp_path / "s.toml", [0, 1, 2])
    out = tmp_path / "out"
    sweep = sw.load_sweep(path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "agents.sweep", str(path), "--sweep-dir", str(out), "--workers", "1"],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not list(out.glob("trials/*/result.json")) and time.monotonic() < deadline:
            assert proc.poll() is None, "the sweep ended before it was interrupted"
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)  # the driver and its worker process, mid-sweep
    finally:
        proc.wait(timeout=30)
    finished = {p.parent.name: p.stat().st_mtime_ns for p in out.glob("trials/*/result.json")}
    assert 1 <= len(finished) < len(sweep.trials)

    rows = sw.run_sweep(sweep, out, workers=0)
    assert len(rows) == len(sweep.trials) and all(r["status"] == "ok" for r in rows)
    for trial_id, mtime in finished.items():
        assert (sw.trial_dir(out, trial_id) / sw.RESULT).stat().st_mtime_ns == mtime
        assert attempts(out, trial_id) == 1
    assert len(read_csv(out / "results.csv")) == len(sweep.trials)
