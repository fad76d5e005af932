"""The results report, generated from real runs by one command, never typed by hand.

    python -m agents.report --out docs/RESULTS.md                 # sweeps/results.toml (long)
    python -m agents.report --out /tmp/RESULTS.md --quick         # sweeps/results_quick.toml (minutes)
    python -m agents.report --out docs/RESULTS.md --scenarios tutorial   # one scenario of the sweep

1. Runs the sweep (:mod:`agents.sweep`, resumable: finished trials are kept) — every training
   method on every scenario for every training seed, each evaluated on held-out mazes. In
   ``sweeps/results.toml`` the RL arms are warm starts (``init = "imitation"``): each fine-tunes
   the imitation member of its scenario and seed, the recipe of ``agents/pretrained/build.sh``.
2. Builds ensembles from the trained members (:func:`agents.make_ensemble.make_ensemble`):
   per scenario and training seed ``s``, the **mixed** ensemble of the four methods' seed-``s``
   members (with warm starts, three of them descend from the fourth: one run per seed, its
   members not independent of each other); and **same-size single-method** ensembles of
   ``--single-method``, **disjoint** groups of four seeds in order (``{0-3}, {4-7}, ...``), so
   that each group is an independent run and the bootstrap intervals over groups are honest. The
   sweep file gives that method four times as many seeds as the others (20 against 5): a few
   cheap imitation trials buy that, where overlapping windows over fewer seeds would share
   members between runs and make the intervals too narrow.
3. Evaluates the ensembles and the baselines — ``random`` (one run per seed of the acting RNG)
   and ``expert`` (the planner, deterministic) — on the same held-out mazes as the trials.
4. Aggregates over training seeds with :mod:`agents.stats`: IQM with 95 % stratified-bootstrap
   intervals, probability that the mixed ensemble beats each other policy.
5. Writes the markdown report and its plots (``<out dir>/images/results_*.png``): success with
   intervals per policy, learning curves (held-out success during training) and entropy curves
   from each run's ``metrics.jsonl``.

Everything lives under ``--sweep-dir`` (default ``runs/sweeps/<sweep name>``); rerunning the
command reuses finished trials, ensembles and evaluations, so an interrupted report resumes.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from agents import stats
from agents.sweep import Sweep, SweepError, load_sweep, run_sweep, trial_dir

REPO = Path(__file__).resolve().parents[1]
METHODS = ("imitation", "grpo", "dqn", "luffy")
ENSEMBLE_SIZE = len(METHODS)
#: Metrics reported as IQM over training seeds (success first: it gets the intervals and plots).
METRICS = ("success_rate", "path_efficiency", "promise_kept_rate", "entropy", "mean_steps")


class ReportError(RuntimeError):
    """The sweep does not hold what the report needs (a method missing, too few seeds)."""


# ---------------------------------------------------------------------------------------------
# Policies beyond the trials: ensembles and baselines


def _eval_job(policy: str, scenario: str, episodes: int, seed: int, act_seed: int, out: str) -> dict:
    """Evaluate ``policy`` (path, ``random`` or ``expert``) and cache the scalars as JSON in ``out``."""
    from agents.evaluate import evaluate, split_seeds
    from agents.policy import load_policy

    path = Path(out)
    if path.exists():
        return json.loads(path.read_text())
    import torch

    torch.set_num_threads(1)  # one process per core; small nets are fastest single-threaded
    result = evaluate(
        load_policy(policy, seed=act_seed), scenario, split_seeds(scenario, "heldout", episodes), seed=seed
    )
    metrics = {
        k: float(v) for k, v in result.items() if isinstance(v, (int, float)) and not isinstance(v, bool)
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({k: (v if math.isfinite(v) else None) for k, v in metrics.items()}))
    tmp.replace(path)
    return json.loads(path.read_text())


def build_ensembles(rows: list[dict], sweep_dir: Path, single: str) -> list[tuple[str, str, str]]:
    """``(scenario, policy name, checkpoint path)`` of every ensemble (made if missing): per
    scenario one mixed ensemble per seed that all of :data:`METHODS` finished, and one ensemble of
    ``single`` per disjoint group of :data:`ENSEMBLE_SIZE` of its finished seeds, in seed order."""
    from agents.make_ensemble import make_ensemble

    by_arm: dict[tuple[str, str], dict[int, Path]] = defaultdict(dict)
    for r in rows:
        by_arm[(r["scenario"], r["label"])][r["seed"]] = trial_dir(sweep_dir, r["trial_id"]) / "last.pt"
    out = []
    for scenario in sorted({r["scenario"] for r in rows}):
        missing = [m for m in METHODS if not by_arm.get((scenario, m))]
        if missing:
            raise ReportError(
                f"{scenario}: no finished trials of {missing}; the sweep file needs all of {METHODS}"
            )
        common = sorted(set.intersection(*(set(by_arm[(scenario, m)]) for m in METHODS)))
        folder = sweep_dir / "ensembles" / Path(scenario).stem
        for s in common:
            path = folder / f"mixed-s{s}.pt"
            if not path.exists():
                make_ensemble([by_arm[(scenario, m)][s] for m in METHODS], path)
            out.append((scenario, "ensemble: mixed 4", str(path)))
        seeds = sorted(by_arm[(scenario, single)])
        # disjoint groups: each same-size ensemble is an independent run (seeds left over are unused)
        groups = [
            seeds[k : k + ENSEMBLE_SIZE] for k in range(0, len(seeds) - ENSEMBLE_SIZE + 1, ENSEMBLE_SIZE)
        ]
        if not groups:
            raise ReportError(
                f"{scenario}: {single} has {len(seeds)} finished seeds; a same-size ensemble needs "
                f"{ENSEMBLE_SIZE} (disjoint groups): give {single} {ENSEMBLE_SIZE}x as many seeds as the "
                "other methods in the sweep file"
            )
        for g in groups:
            path = folder / f"{single}-s{'_'.join(map(str, g))}.pt"
            if not path.exists():
                make_ensemble([by_arm[(scenario, single)][s] for s in g], path)
            out.append((scenario, f"ensemble: {ENSEMBLE_SIZE}x {single}", str(path)))
    return out


def evaluate_extra(
    rows: list[dict], sweep_dir: Path, single: str, workers: int
) -> dict[tuple[str, str], list[dict]]:
    """Metrics of the ensembles and baselines per ``(scenario, policy)``, one dict per run."""
    ev = _evaluation(rows)
    seeds_per_arm = min(len({r["seed"] for r in rows if r["label"] == m}) for m in METHODS)
    jobs = []
    for scenario, name, path in build_ensembles(rows, sweep_dir, single):
        out = sweep_dir / "report" / "evals" / (Path(path).stem + f"-{Path(scenario).stem}.json")
        e = ev[scenario]
        jobs.append(((scenario, name), (path, scenario, e["episodes"], e["seed"], 0, str(out))))
    for scenario in sorted({r["scenario"] for r in rows}):
        stem, e = Path(scenario).stem, ev[scenario]
        for k in range(seeds_per_arm):
            out = sweep_dir / "report" / "evals" / f"random-{k}-{stem}.json"
            jobs.append(((scenario, "random"), ("random", scenario, e["episodes"], e["seed"], k, str(out))))
        out = sweep_dir / "report" / "evals" / f"expert-{stem}.json"
        jobs.append(((scenario, "expert"), ("expert", scenario, e["episodes"], e["seed"], 0, str(out))))
    results: dict[tuple[str, str], list[dict]] = defaultdict(list)
    if workers == 0:
        for key, args in jobs:
            results[key].append(_eval_job(*args))
        return results
    import multiprocessing

    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [(key, pool.submit(_eval_job, *args)) for key, args in jobs]
        for key, fut in futures:
            results[key].append(fut.result())
    return results


def _evaluation(rows: list[dict]) -> dict[str, dict]:
    """Per scenario, the held-out evaluation its trials used (episodes, seed); raises
    :class:`ReportError` if trials of one scenario were evaluated differently (the ensembles and
    baselines are evaluated like them, so that every row of a table is measured the same way)."""
    out: dict[str, dict] = {}
    for r in rows:
        e = {"episodes": r["eval"]["episodes"], "seed": r["eval"]["seed"]}
        if out.setdefault(r["scenario"], e) != e:
            raise ReportError(
                f"{r['scenario']}: trial {r['trial_id']} was evaluated on {e}, others on "
                f"{out[r['scenario']]}; give every arm of a scenario the same eval_episodes"
            )
    return out


# ---------------------------------------------------------------------------------------------
# Aggregation


def aggregate(
    runs: dict[tuple[str, str], list[dict]], rng: np.random.Generator
) -> dict[tuple[str, str], dict[str, Any]]:
    """Per ``(scenario, policy)``: number of runs, IQM and interval of each metric in
    :data:`METRICS` (runs where it is undefined left out), and the success rates themselves."""
    out = {}
    for key, metrics in runs.items():
        entry: dict[str, Any] = {"runs": len(metrics)}
        for name in METRICS:
            values = [m[name] for m in metrics if m.get(name) is not None and math.isfinite(m[name])]
            entry[name] = stats.iqm_interval(values, rng) if values else None
        entry["success"] = [float(m["success_rate"]) for m in metrics]
        out[key] = entry
    return out


def _order(policies: set[str], single: str) -> list[str]:
    first = ["random", "expert", *METHODS]
    last = ["ensemble: mixed 4", f"ensemble: {ENSEMBLE_SIZE}x {single}"]
    middle = sorted(policies - set(first) - set(last))
    return [p for p in [*first, *middle, *last] if p in policies]


# ---------------------------------------------------------------------------------------------
# Plots


def plot_success(agg: dict, order: dict[str, list[str]], path: Path) -> Path:
    """Bars of held-out success (IQM) with 95 % intervals, one panel per scenario, to ``path``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    scenarios = sorted(order)
    fig = Figure(figsize=(6.0 * len(scenarios), 0.45 * max(len(v) for v in order.values()) + 1.5), dpi=100)
    FigureCanvasAgg(fig)
    for k, scenario in enumerate(scenarios):
        ax = fig.add_subplot(1, len(scenarios), k + 1)
        names = order[scenario]
        cis = [agg[(scenario, n)]["success_rate"] for n in names]
        y = np.arange(len(names))[::-1]
        point = np.array([c.point for c in cis])
        err = np.array([[c.point - c.low for c in cis], [c.high - c.point for c in cis]])
        ax.barh(y, point, xerr=err, color="#4c72b0", alpha=0.8, capsize=3)
        ax.set_yticks(y, names)
        ax.set_xlim(0, 1.05)
        ax.set_xlabel("held-out success rate (IQM, 95% CI)")
        ax.set_title(scenario)
        ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    return path


def run_logs(rows: list[dict], sweep_dir: Path, scenario: str) -> dict[str, list[list[dict]]]:
    """Per method on ``scenario`` (the four methods first, then other arms by name): the logged
    rows of each of its runs, read once for the curves and the training summary."""
    from agents.runlog import RunLog

    logs: dict[str, list[list[dict]]] = defaultdict(list)
    for r in rows:
        if r["scenario"] == scenario:
            logs[r["label"]].append(RunLog(trial_dir(sweep_dir, r["trial_id"])).read())
    labels = [m for m in METHODS if m in logs] + sorted(set(logs) - set(METHODS))
    return {label: logs[label] for label in labels}


def plot_curves(logs: dict[str, list[list[dict]]], scenario: str, path: Path) -> Path:
    """Held-out success during training and policy entropy, per method (thin: seeds; thick: their
    mean, interpolated onto common steps where every seed has logged). ``logs``: :func:`run_logs`."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4.0 * len(logs), 6.0), dpi=100)
    FigureCanvasAgg(fig)
    for k, (label, runs) in enumerate(logs.items()):
        for row_i, key in enumerate(("eval_success_rate", "entropy")):
            ax = fig.add_subplot(2, len(logs), row_i * len(logs) + k + 1)
            curves = []
            for log in runs:
                # a resumed run logs the steps after its last checkpoint again: the later entry wins
                pts = dict((p["step"], p[key]) for p in log if isinstance(p.get(key), (int, float)))
                if pts:
                    xs, ys = map(np.asarray, zip(*sorted(pts.items()), strict=True))
                    ax.plot(xs, ys, lw=0.8, marker=".", alpha=0.4, color="#4c72b0")
                    curves.append((xs, ys))
            lo = max((c[0][0] for c in curves), default=0)
            hi = min((c[0][-1] for c in curves), default=0)
            if len(curves) > 1 and hi > lo:
                # runs log at different steps: their mean on a common grid, where every run has data
                grid = np.linspace(lo, hi, 40)
                mean = np.mean([np.interp(grid, xs, ys) for xs, ys in curves], axis=0)
                ax.plot(grid, mean, lw=2.0, color="#c44e52")
            ax.set_title(f"{label}: {key} ({len(runs)} seeds)")
            ax.set_xlabel("step (the script's --steps unit)")
            ax.grid(alpha=0.3)
    fig.suptitle(
        f"{scenario}: held-out success during training and policy entropy (thin: seeds, thick: mean)"
    )
    fig.tight_layout()
    fig.savefig(path)
    return path


def training_summary(logs: dict[str, list[list[dict]]]) -> dict[str, dict[str, float]]:
    """Per method: the median over its runs of the last logged ``step`` (the script's ``--steps``
    unit) and, where the script logs it, ``update`` (its counter of updates or logged iterations),
    so a reader sees how far each method trained within the sweep's budget. ``logs``:
    :func:`run_logs`."""
    out: dict[str, dict[str, float]] = {}
    for label, runs in logs.items():
        ends = [log[-1] for log in runs if log]
        found = {
            k: float(np.median([e[k] for e in ends]))
            for k in ("step", "update")
            if ends and all(k in e for e in ends)
        }
        if "step" in found:
            out[label] = found
    return out


# ---------------------------------------------------------------------------------------------
# The report


def _fmt(ci: stats.Interval | None) -> str:
    return "—" if ci is None else f"{ci.point:.3f} [{ci.low:.3f}, {ci.high:.3f}]"


def _shown(path: Path | None) -> str:
    """``path`` relative to the repository when it lies inside it (what a reader can open)."""
    if path is None:
        return "?"
    try:
        return str(Path(path).resolve().relative_to(REPO))
    except ValueError:
        return str(path)


def _git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
        )
    except OSError:
        return "unknown"
    return out.stdout.strip() or "unknown"


def render(
    sweep: Sweep, sweep_dir: Path, rows: list[dict], failed: list[dict], agg: dict, order: dict,
    images: dict[str, str], logs: dict[str, dict[str, list[list[dict]]]], command: str,
    rng: np.random.Generator,
) -> str:  # fmt: skip
    """The markdown report: provenance, settings, per scenario a table, probabilities of
    improvement, how far each method trained and the curves, then the success plot and any failed
    trials. ``logs``: per scenario, :func:`run_logs`."""
    ev = _evaluation(rows)
    seeds = defaultdict(set)
    for r in rows:
        seeds[r["label"]].add(r["seed"])
    lines = [
        "# Results",
        "",
        f"Generated by `{command}` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC at commit `{_git_commit()}`, "
        f"from the runs in `{sweep_dir}` (sweep file `{_shown(sweep.source)}`). "
        "Do not edit by hand: rerun the command.",
        "",
        "Every number is measured on the first held-out maze seeds of its scenario ("
        + ", ".join(f"{Path(k).stem}: {e['episodes']}" for k, e in sorted(ev.items()))
        + f"; evaluation seed {next(iter(ev.values()))['seed']}). "
        "Cells: interquartile mean over training seeds (runs) with its 95 % "
        "stratified-bootstrap confidence interval (Agarwal et al. 2021); `—` where undefined (no escapes, "
        "or no entropy for the planner and the random policy). Training seeds per method: "
        + ", ".join(f"{k} {len(v)}" for k, v in sorted(seeds.items()))
        + ". The random baseline has one run per acting seed (as many as the four methods have training "
        "seeds); the expert is deterministic (one run).",
        "",
        "Ensembles: `ensemble: mixed 4` has one run per training seed s, the four methods' seed-s members; "
        "where an arm is a warm start (below), its member was fine-tuned from the seed-s member of the arm "
        "it starts from, so the members of one mixed ensemble are not independent of each other. "
        f"`ensemble: {ENSEMBLE_SIZE}x <method>` has one run per disjoint group of {ENSEMBLE_SIZE} training "
        f"seeds of that method (its finished seeds in order, {ENSEMBLE_SIZE} at a time: 0-3, 4-7, ...): no "
        "member is shared between runs, so its runs are independent like those of the other rows.",
        "",
        "Trial settings (hyperparameters beyond each script's defaults):",
        "",
    ]
    label_of = {r["trial_id"]: r["label"] for r in [*rows, *failed]}
    for label in sorted({r["label"] for r in rows}):
        first = next(r for r in rows if r["label"] == label)
        start = (
            f", warm start from the `{label_of.get(first['init'], first['init'])}` member of the same "
            "scenario and seed"
            if first.get("init")
            else ""
        )
        lines.append(f"- `{label}`: `{json.dumps(first['params'], sort_keys=True)}`{start}")
    for scenario in sorted(order):
        lines += ["", f"## {scenario}", ""]
        lines.append("| policy | runs | success | path efficiency | promise kept | entropy (nats) | steps |")
        lines.append("|---|---|---|---|---|---|---|")
        for name in order[scenario]:
            e = agg[(scenario, name)]
            cells = [name, str(e["runs"]), *(_fmt(e[m]) for m in METRICS)]
            lines.append("| " + " | ".join(cells) + " |")
        mixed = agg.get((scenario, "ensemble: mixed 4"))
        if mixed is not None:
            lines += [
                "",
                "Probability that the mixed ensemble beats each policy on success, P(X > Y), 95 % CI:",
                "",
            ]
            lines += ["| Y | P(mixed > Y) |", "|---|---|"]
            for name in order[scenario]:
                if name != "ensemble: mixed 4":
                    poi = stats.probability_of_improvement_interval(
                        mixed["success"], agg[(scenario, name)]["success"], rng
                    )
                    lines.append(f"| {name} | {poi} |")
        done = training_summary(logs[scenario])
        if done:
            lines += [
                "",
                "Training as logged (median over runs of each run's last logged row: `step` in the "
                "script's `--steps` unit, `update` its counter of updates or iterations): "
                + "; ".join(
                    f"{label} step {v['step']:,.0f}"
                    + (f", update {v['update']:,.0f}" if "update" in v else "")
                    for label, v in done.items()
                )
                + ".",
            ]
        lines += ["", f"![learning and entropy curves, {scenario}]({images[scenario]})"]
    lines += ["", "## Success per policy", "", f"![success with confidence intervals]({images['success']})"]
    if failed:
        lines += ["", "## Failed trials (left out above)", ""]
        lines += [f"- `{r['trial_id']}`: {r['error']}" for r in failed]
    return "\n".join(lines) + "\n"


def make_report(
    sweep_file: Path,
    out: Path,
    *,
    sweep_dir: Path | None = None,
    workers: int = 1,
    backend: str = "local",
    address: str | None = None,
    single: str = "imitation",
    command: str = "python -m agents.report",
    seed: int = 0,
    on_row: Callable[[dict[str, Any]], None] | None = None,
    scenarios: Sequence[str] | None = None,
) -> Path:
    """Run the sweep, evaluate ensembles and baselines, aggregate, write ``out`` and its plots.

    ``scenarios``: only these of the sweep's scenarios (their trials, ensembles and baselines), e.g.
    to report one scenario while another's trials are still running."""
    sweep = load_sweep(sweep_file)
    if scenarios is not None:
        unknown = sorted(set(scenarios) - {t.scenario for t in sweep.trials})
        if unknown:
            known = sorted({t.scenario for t in sweep.trials})
            raise ReportError(f"--scenarios {unknown} are not in {sweep_file}; it has {known}")
        kept = tuple(t for t in sweep.trials if t.scenario in scenarios)
        sweep = Sweep(sweep.name, kept, sweep.source)
    sweep_dir = sweep_dir or Path("runs") / "sweeps" / sweep.name
    if single not in METHODS:
        raise ReportError(f"--single-method {single!r} is unknown; use one of {METHODS}")
    all_rows = run_sweep(sweep, sweep_dir, backend=backend, workers=workers, address=address, on_row=on_row)
    rows = [r for r in all_rows if r["status"] == "ok"]
    failed = [r for r in all_rows if r["status"] != "ok"]
    if not rows:
        raise ReportError(f"no trial of {sweep_file} finished; see {sweep_dir / 'results.md'}")
    if len(all_rows) < len(sweep.trials):
        raise ReportError(f"{len(sweep.trials) - len(all_rows)} trials did not finish; rerun the command")
    runs: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for r in rows:
        runs[(r["scenario"], r["label"])].append(r["metrics"])
    runs.update(evaluate_extra(rows, sweep_dir, single, workers))
    rng = np.random.default_rng(seed)
    agg = aggregate(runs, rng)
    order = {s: _order({p for (sc, p) in agg if sc == s}, single) for s in {sc for sc, _ in agg}}

    out = Path(out)
    image_dir = out.parent / "images"
    image_dir.mkdir(parents=True, exist_ok=True)
    images = {"success": plot_success(agg, order, image_dir / "results_success.png")}
    logs = {scenario: run_logs(rows, sweep_dir, scenario) for scenario in order}
    for scenario in order:
        images[scenario] = plot_curves(
            logs[scenario], scenario, image_dir / f"results_curves_{Path(scenario).stem}.png"
        )
    rel = {k: str(Path(v).relative_to(out.parent)) for k, v in images.items()}
    out.write_text(render(sweep, sweep_dir, rows, failed, agg, order, rel, logs, command, rng))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m agents.report", description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True, help="the markdown file to write (plots go beside it)")
    p.add_argument("--sweep", type=Path, default=None, help="sweep file (default: sweeps/results.toml)")
    p.add_argument("--quick", action="store_true", help="sweeps/results_quick.toml: 2 seeds, few steps")
    p.add_argument("--sweep-dir", type=Path, default=None, help="default: runs/sweeps/<sweep name>")
    p.add_argument("--workers", type=int, default=1, help="local processes for trials and evaluations")
    p.add_argument("--backend", default="local", choices=("local", "ray"))
    p.add_argument("--address", default=None, help="Ray head HOST:PORT (with --backend ray)")
    p.add_argument("--single-method", default="imitation", choices=METHODS, help="of the same-size ensemble")
    p.add_argument("--seed", type=int, default=0, help="seed of the bootstrap")
    p.add_argument("--scenarios", nargs="+", default=None, help="only these scenarios of the sweep")
    args = p.parse_args(argv)
    sweep_file = args.sweep or REPO / "sweeps" / ("results_quick.toml" if args.quick else "results.toml")
    command = "python -m agents.report " + " ".join(sys.argv[1:] if argv is None else argv)
    try:
        path = make_report(
            sweep_file, args.out, sweep_dir=args.sweep_dir, workers=args.workers, backend=args.backend,
            address=args.address, single=args.single_method, command=command.strip(), seed=args.seed,
            scenarios=args.scenarios,
            on_row=lambda r: print(f"{r['trial_id']}  {r['status']}  {r.get('error', '')}", flush=True),
        )  # fmt: skip
    except (SweepError, ReportError) as exc:
        print(f"agents.report: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    # the importable module's functions, so that worker processes can unpickle them
    from agents import report as _report

    sys.exit(_report.main())
