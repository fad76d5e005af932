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
TINY = {
    "steps": 3,
    "episodes": 2,
    "dagger_rounds": 0,
    "eval_episodes": 2,
    "eval_every": 3,
    "hidden": [16],
    "batch_size": 16,
}


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


def test_an_arm_can_set_its_own_evaluation_size_without_changing_trial_ids():
    base = {"eval_episodes": 100, "scenarios": ["tutorial", "three_floor"], "seeds": [0]}
    one = sw.parse_sweep({**base, "methods": [{"method": "imitation"}]})
    arms = [
        {"method": "imitation", "scenarios": ["tutorial"]},
        {"method": "imitation", "scenarios": ["three_floor"], "eval_episodes": 20},
    ]
    two = sw.parse_sweep({**base, "methods": arms})
    assert [t.trial_id for t in one.trials] == [t.trial_id for t in two.trials]
    assert [(t.scenario, t.eval_episodes) for t in two.trials] == [("tutorial", 100), ("three_floor", 20)]


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
        ('[[methods]]\nmethod = "grpo"\neval_episodes = 0\n', "eval_episodes = 0 must be >= 1"),
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


# ---------------------------------------------------------------------------------------------
# Warm-started arms (init = "<label>")

# One GRPO update of two rollouts, learning rate 0: the member it saves is its starting net, unchanged.
FROZEN_GRPO = {"steps": 1, "groups": 1, "group_size": 2, "lr": 0.0, "eval_every": 1, "eval_episodes": 1}


def warm_sweep(path: Path, init_label: str = "imitation", imitation: dict | None = None) -> Path:
    grpo = ", ".join(f"{k} = {json.dumps(v)}" for k, v in FROZEN_GRPO.items())
    return write_sweep(
        path,
        [0, 1],
        f'\n[[methods]]\nmethod = "grpo"\ninit = "{init_label}"\nparams = {{ {grpo} }}\n',
        params=imitation,
    )


def test_init_arm_starts_from_its_dependency_in_stages_and_resumes(tmp_path, capsys):
    import torch

    from agents.checkpoint import load_checkpoint

    path = warm_sweep(tmp_path / "s.toml")
    out = tmp_path / "out"
    sweep = sw.load_sweep(path)
    imitation = {t.seed: t for t in sweep.trials if t.label == "imitation"}
    grpo = {t.seed: t for t in sweep.trials if t.label == "grpo"}
    assert all(imitation[s].init is None and grpo[s].init == imitation[s].trial_id for s in (0, 1))
    assert [[t.label for t in stage] for stage in sweep.stages()] == [["imitation"] * 2, ["grpo"] * 2]
    # the dependency is part of the identity: another dependency, another trial
    same = sw.Trial.make("grpo", "tutorial", 0, FROZEN_GRPO, init=imitation[0].trial_id)
    other = sw.Trial.make("grpo", "tutorial", 0, FROZEN_GRPO, init=imitation[1].trial_id)
    assert same.trial_id == grpo[0].trial_id != other.trial_id
    assert sw.Trial.make("grpo", "tutorial", 0, FROZEN_GRPO).trial_id != grpo[0].trial_id

    assert sw.main([str(path), "--sweep-dir", str(out), "--dry-run"]) == 0
    listing = capsys.readouterr().out
    assert f"{grpo[1].trial_id}  todo    grpo" in listing and f"init={imitation[1].trial_id}" in listing

    # --max-trials takes earlier stages first: the two imitation trials, no grpo
    first = sw.run_sweep(sweep, out, workers=0, max_trials=2)
    assert sorted(r["label"] for r in first) == ["imitation", "imitation"]
    rows = sw.run_sweep(sweep, out, workers=0)
    assert [r["status"] for r in rows] == ["ok"] * 4, [r.get("error") for r in rows]
    for seed in (0, 1):
        dep_ckpt = sw.trial_dir(out, imitation[seed].trial_id) / "last.pt"
        ck = load_checkpoint(sw.trial_dir(out, grpo[seed].trial_id) / "last.pt")
        assert ck.manifest["options"]["init"] == str(dep_ckpt)
        start = load_checkpoint(dep_ckpt).members[0].net.state_dict()
        end = ck.members[0].net.state_dict()
        assert start.keys() == end.keys() and all(torch.equal(start[k], end[k]) for k in start)
    other_seed = load_checkpoint(sw.trial_dir(out, imitation[1].trial_id) / "last.pt").members[0].net
    grpo0 = load_checkpoint(sw.trial_dir(out, grpo[0].trial_id) / "last.pt").members[0].net
    assert any(
        not torch.equal(a, b) for a, b in zip(other_seed.parameters(), grpo0.parameters(), strict=True)
    )
    table = {r["trial_id"]: r for r in read_csv(out / "results.csv")}
    assert (
        table[grpo[0].trial_id]["init"] == imitation[0].trial_id
        and table[imitation[0].trial_id]["init"] == ""
    )

    # resume: nothing runs again
    mtimes = {
        t.trial_id: (sw.trial_dir(out, t.trial_id) / sw.RESULT).stat().st_mtime_ns for t in sweep.trials
    }
    assert len(sw.run_sweep(sweep, out, workers=0)) == 4
    for t in sweep.trials:
        assert attempts(out, t.trial_id) == 1
        assert (sw.trial_dir(out, t.trial_id) / sw.RESULT).stat().st_mtime_ns == mtimes[t.trial_id]


def test_failed_dependency_makes_a_failed_row_without_running(tmp_path):
    # 5000 expert episodes exceed the tutorial's 1000 training mazes: the imitation trials fail
    path = warm_sweep(tmp_path / "s.toml", imitation={"episodes": 5000})
    out = tmp_path / "out"
    sweep = sw.load_sweep(path)
    rows = {r["trial_id"]: r for r in sw.run_sweep(sweep, out, workers=0)}
    assert len(rows) == 4 and all(r["status"] == "failed" for r in rows.values())
    for t in sweep.trials:
        if t.label == "grpo":
            assert rows[t.trial_id]["error"] == f"dependency {t.init} failed"
            assert attempts(out, t.trial_id) == 0 and not (sw.trial_dir(out, t.trial_id) / "last.pt").exists()
        else:
            assert "exceed the 1000 training mazes" in rows[t.trial_id]["error"]
    assert "dependency " in (out / "results.md").read_text()
    # --retry-failed tries the dependency again and, since it fails again, still does not run its dependents
    assert sw.main([str(path), "--sweep-dir", str(out), "--workers", "0", "--retry-failed"]) == 1
    assert all(attempts(out, t.trial_id) == (2 if t.label == "imitation" else 0) for t in sweep.trials)


def _arms(*arms: dict, seeds: list[int] | None = None) -> dict:
    return {"seeds": seeds or [0], "methods": [{"params": {"steps": 3}, **a} for a in arms]}


@pytest.mark.parametrize(
    "raw, match",
    [
        (
            _arms({"method": "imitation"}, {"method": "grpo", "init": "imitaton"}),
            r"methods\[1\]: init = 'imitaton' is not the label of any \[\[methods\]\] entry; "
            r"use one of \['grpo', 'imitation'\]",
        ),
        (
            _arms({"method": "grpo", "init": "grpo"}),
            r"methods\[0\]: init = 'grpo' is this arm's own label; .*set init to another entry's label",
        ),
        (
            _arms(
                {"method": "imitation"}, {"method": "grpo", "init": "dqn"}, {"method": "dqn", "init": "grpo"}
            ),
            r"the init references form a cycle \('(grpo|dqn)' -> '(grpo|dqn)' -> '(grpo|dqn)'.*remove init",
        ),
        (
            _arms(
                {"method": "imitation", "grid": {"lr": [0.1, 0.01]}},
                {"method": "grpo", "init": "imitation"},
            ),
            r"methods\[1\]: arm 'grpo' warm-starts from arm 'imitation', which has 2 trials on tutorial with "
            r"seed 0 .*init needs exactly one",
        ),
        (
            _arms(
                {"method": "imitation", "seeds": [0]}, {"method": "grpo", "init": "imitation"}, seeds=[0, 1]
            ),
            r"methods\[1\]: arm 'grpo' .* no trial on tutorial with seed 1; give 'imitation' that scenario",
        ),
        (
            _arms({"method": "imitation"}, {"method": "grpo", "params": {"init": "runs/x/last.pt"}}),
            r"methods\[1\]: grpo: option 'init' cannot be a hyperparameter \(use init = \"<label",
        ),
        (
            _arms(
                {"method": "imitation"}, {"method": "grpo", "init": "imitation", "params": {"hidden": [8]}}
            ),
            r"methods\[1\]: 'hidden' has no effect with init = 'imitation' .*remove it",
        ),
        (_arms({"method": "imitation"}, {"method": "grpo", "init": 3}), "init = 3 must be the label"),
    ],
)
def test_bad_init_references_fail_at_load_time(raw, match):
    with pytest.raises(sw.SweepError, match=match):
        sw.parse_sweep(raw, "s.toml")


def test_a_trial_lost_with_its_node_after_rays_retries_is_submitted_again(tmp_path, monkeypatch):
    """Ray's own retries can all land on a node that just died; the sweep then submits the trial
    again (a bounded number of times). A task error is never resubmitted: it is the trial's row."""
    import types

    class RayError(Exception):
        pass

    class RayTaskError(RayError):
        pass

    class NodeDiedError(RayError):
        pass

    outcomes = {"lost": [NodeDiedError("node died"), None], "task": [RayTaskError("boom")]}
    outcomes["gone"] = [NodeDiedError("node died")] * (sw.RAY_RESUBMITS + 1)
    submitted: list[str] = []

    made: list[tuple] = []  # a ref is an index into this list

    class Task:
        def remote(self, trial, where):
            submitted.append(trial.label)
            made.append((trial, outcomes[trial.label].pop(0)))
            return len(made) - 1

    def get(ref):
        trial, error = made[ref]
        if error is not None:
            raise error
        return {**sw.base_row(trial), "status": "ok", "error": "", "metrics": {"success_rate": 1.0}}

    fake = types.SimpleNamespace(
        remote=lambda **_: lambda fn: Task(),
        wait=lambda pending, num_returns: (pending[:1], pending[1:]),
        get=get,
        exceptions=types.SimpleNamespace(RayError=RayError, RayTaskError=RayTaskError),
    )
    monkeypatch.setattr(sw, "RAY_RESUBMIT_WAIT_S", 0.0)
    ids = {"method": "imitation", "scenario": "tutorial", "seed": 0, "params": {}, "init": None}
    ids.update(eval_episodes=2, eval_seed=0)
    trials = [types.SimpleNamespace(trial_id=k, label=k, **ids) for k in ("lost", "task", "gone")]
    rows = {}
    sw._run_ray(fake, trials, tmp_path, lambda t, row: rows.setdefault(t.label, row))
    assert rows["lost"]["status"] == "ok"
    assert rows["task"]["status"] == "failed" and "RayTaskError: boom" in rows["task"]["error"]
    assert rows["gone"]["status"] == "failed" and "NodeDiedError" in rows["gone"]["error"]
    assert submitted.count("lost") == 2 and submitted.count("task") == 1
    assert submitted.count("gone") == sw.RAY_RESUBMITS + 1
