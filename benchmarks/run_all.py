"""Every benchmark of the project and its peers, in one run: one table, JSON, markdown, plots.

    python benchmarks/run_all.py                 # full run (several minutes)
    python benchmarks/run_all.py --quick         # short windows, smaller sweeps (about a minute)
    taskset -c 0 python benchmarks/run_all.py    # pin to one core, as the targets are stated

Measured in the same process, one after another: maze generation + certificate, the joint-action
resolver, the single environment, the batched environment, rendering (2D and 3D), ensemble
inference, and training samples per second; and the peers Farama Minigrid DoorKey-8x8, mpe2
simple_spread_v3 and MAgent2 battle_v4 (the ``bench`` extra: ``pip install -e .[bench]``). Each
throughput is the median of timed windows. Ratios are mazesim / peer from this run only; the
single environment and its peers take their windows in turn (``bench_env.interleaved``: 40 rounds
of 0.25 s windows), and their ratios are the median over rounds of back-to-back windows. Writes
``benchmarks/results/latest.json`` and ``latest.md``, and scaling plots (cost against team size,
maze size and batch size) to ``benchmarks/results/scaling.png``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_batch  # noqa: E402
import bench_env  # noqa: E402
import bench_resolver  # noqa: E402

import mazesim  # noqa: E402
from mazesim.generator import generate  # noqa: E402
from mazesim.scenario import Mechanics, Scenario  # noqa: E402


def magent2_battle_stepper(seed: int = 0):
    """MAgent2 battle_v4 with random actions; returns (step, agents-per-step getter)."""
    from magent2.environments import battle_v4

    env = battle_v4.parallel_env(map_size=45)
    env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    n_actions = env.action_space(env.agents[0]).n
    live = {"n": len(env.agents)}

    def step():
        if not env.agents:
            env.reset()
        live["n"] = len(env.agents)
        actions = dict(zip(env.agents, rng.integers(n_actions, size=len(env.agents)).tolist(), strict=True))
        env.step(actions)

    return step, live


def section_generation(rows: list, quick: bool) -> dict:
    reps = 5 if quick else 30
    ref = Scenario(name="reference", levels=3, rows=21, cols=21, agents=4, mechanics=Mechanics(1, 1, 1))
    times = []
    for seed in range(reps):
        t0 = time.perf_counter()
        generate(ref, seed)
        times.append(time.perf_counter() - t0)
    rows.append(
        ("generate + certify 3x21x21, 4 agents, 3 mechanics", statistics.median(times) * 1e3, "ms", "≤ 20")
    )
    scaling = {}
    for side in (11, 21, 41) if quick else (11, 21, 41, 81):
        sc = Scenario(name=f"s{side}", levels=3, rows=side, cols=side, agents=4, mechanics=Mechanics(1, 1, 1))
        ts = []
        for seed in range(3 if quick else 10):
            t0 = time.perf_counter()
            generate(sc, seed)
            ts.append(time.perf_counter() - t0)
        scaling[side] = statistics.median(ts) * 1e3
    return scaling


def section_resolver(rows: list, quick: bool) -> dict:
    sizes = (2, 4, 16) if quick else bench_resolver.SIZES
    out: dict[str, dict[int, float]] = {"corridor": {}, "spread": {}}
    rng = np.random.default_rng(0)
    for kind in out:
        for n in sizes:
            layout, state = bench_resolver.world(kind, n)
            batches = bench_resolver.make_waves(layout, state, "int", rng, 20 if quick else 100)
            us, _ = bench_resolver.bench(layout, state, batches, 3 if quick else bench_resolver.REPS)
            out[kind][n] = us
    for n in (4, 16):  # probability-vector waves (superposition mode), the same corridor
        layout, state = bench_resolver.world("corridor", n)
        batches = bench_resolver.make_waves(layout, state, "full", rng, 20 if quick else bench_resolver.COUNT)
        out.setdefault("corridor full waves", {})[n], _ = bench_resolver.bench(
            layout, state, batches, 3 if quick else bench_resolver.REPS
        )
    for n, target in ((4, "≤ 60"), (16, "≤ 300")):
        rows.append((f"resolver, {n} agents, one corridor cluster", out["corridor"][n], "µs", target))
        full = out["corridor full waves"][n]
        rows.append((f"resolver, {n} agents, one corridor cluster, full waves", full, "µs", target))
    return out


def section_envs(rows: list, results: dict, quick: bool) -> None:
    step, env = bench_env.mazesim_stepper("three_floor")
    steppers, targets, missing = {"ours": step}, {}, []
    peers = {
        "Minigrid DoorKey-8x8": (bench_env.minigrid_stepper, 2.5),
        "mpe2 simple_spread_v3": (bench_env.simple_spread_stepper, 6.0),
    }
    for name, (make, target) in peers.items():
        try:
            steppers[name], targets[name] = make(), target
        except ImportError as exc:
            missing.append((f"{name}: steps/s", float("nan"), f"not installed ({exc.name})", ""))
    # many short windows in turn, ratios per round: see bench_env's docstring and interleaved
    seconds, rounds = (0.1, 6) if quick else (bench_env.WINDOW_S, bench_env.ROUNDS)
    rates = bench_env.interleaved(steppers, seconds, rounds, clock=time.process_time)
    ours = statistics.median(rates["ours"])
    results["env_steps_per_s"] = ours
    rows.append(("single env three_floor, 4 agents: env steps/s", ours, "steps/s", "≥ 20,000"))
    for name, target in targets.items():
        rate = statistics.median(rates[name])
        results[f"{name} steps/s"] = rate
        rows.append((f"{name}: steps/s (peer)", rate, "steps/s", ""))
        ratio = bench_env.ratio(rates["ours"], rates[name])
        rows.append((f"ratio single env / {name}", ratio, "×", f"≥ {target}"))
    rows.extend(missing)


def section_batch(rows: list, results: dict, quick: bool) -> dict:
    steps = 20 if quick else 60
    batch_sizes = (64, 256, 1024) if quick else (64, 256, 1024, 4096)
    by_batch = {}
    for b in batch_sizes:
        m = bench_batch.measure("three_floor", b, steps)
        by_batch[b] = m
    best = by_batch[1024]
    results["batch_agent_steps_per_s"] = best["agent_steps_per_s"]
    rows.append(
        (
            "batched env B=1024 three_floor: agent-steps/s",
            best["agent_steps_per_s"],
            "agent-steps/s",
            "≥ 1,000,000",
        )
    )
    rows.append(("batched env: array bytes per world", best["bytes_per_world"], "B", ""))
    if 4096 in by_batch:
        rows.append(("batched env B=4096: resident memory", by_batch[4096]["rss_total_mb"], "MB", "< 256"))
    by_team = {}
    for agents in (2, 4, 8):
        m = bench_batch.measure(mazesim.load_scenario("three_floor", agents=agents), 256, steps)
        by_team[agents] = m
    try:
        step, live = magent2_battle_stepper()
    except ImportError as exc:
        rows.append(("MAgent2 battle_v4: agent-steps/s", float("nan"), f"not installed ({exc.name})", ""))
        return {"batch": by_batch, "team": by_team}
    rates = []
    for _ in range(3 if quick else 5):
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < (0.5 if quick else 2.0):
            step()
            n += live["n"]
        rates.append(n / (time.perf_counter() - t0))
    magent = statistics.median(rates)
    rows.append(("MAgent2 battle_v4: agent-steps/s (peer)", magent, "agent-steps/s", ""))
    rows.append(("ratio batched env / MAgent2 battle", best["agent_steps_per_s"] / magent, "×", "≥ 2.5"))
    return {"batch": by_batch, "team": by_team}


def section_render(rows: list, seconds: float) -> None:
    try:
        import bench_render

        from mazesim.render2d import Renderer2D, scene_from_env
        from mazesim.render3d import Renderer3D
    except ImportError as exc:
        rows.append(("rendering", float("nan"), f"unavailable ({exc})", ""))
        return
    env = mazesim.parallel_env(scenario="mixed")
    env.reset(seed=0)
    scene = scene_from_env(env)
    layout, n = env.maze.layout, env.world.n_agents
    r2 = Renderer2D(layout, n, size=(512, 512))
    rows.append(
        (
            "render 2D 512x512 rgb_array",
            bench_render.frames_per_second(r2.rgb_array, scene, seconds),
            "frames/s",
            "≥ 500",
        )
    )
    try:
        r3 = Renderer3D(layout, n, size=(256, 256))
        fps = bench_render.frames_per_second(r3.rgb_array, scene, seconds)
        r3.close()
        rows.append(("render 3D 256x256 headless", fps, "frames/s", "≥ 200"))
    except Exception as exc:  # noqa: BLE001 - report any EGL failure as a row, keep benchmarking
        rows.append(("render 3D 256x256 headless", float("nan"), f"unavailable ({exc})", ""))


def section_agents(rows: list, quick: bool) -> None:
    try:
        import bench_training
        import torch

        m = bench_training.measure("tutorial", 64, 8, 1 if quick else 3, torch.device("cpu"))
        rows.append(
            ("on-policy training, tutorial: samples/s end to end", m["end_to_end"], "agent-steps/s", "")
        )
    except Exception as exc:  # noqa: BLE001 - one failing section must not hide the others
        rows.append(("on-policy training: samples/s", float("nan"), f"failed ({exc})", ""))


def plot(scaling: dict, path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(13, 3.6), dpi=110)
    FigureCanvasAgg(fig)

    def ticks(ax, xs) -> None:
        ax.set_xticks([float(x) for x in xs], [str(x) for x in xs])
        ax.minorticks_off()

    ax = fig.add_subplot(1, 4, 1)
    for kind, series in scaling["resolver"].items():
        ax.plot(list(series), list(series.values()), "o-", label=kind)
    ax.set(xscale="log", yscale="log", xlabel="team size", ylabel="µs per resolution", title="resolver")
    ticks(ax, list(next(iter(scaling["resolver"].values()))))
    ax.legend()
    ax = fig.add_subplot(1, 4, 2)
    team = scaling["batch"]["team"]
    ax.plot(list(team), [m["ms_per_step"] for m in team.values()], "o-")
    ax.set(xlabel="team size", ylabel="ms per batch step (B=256)", title="batched env vs team size")
    ax = fig.add_subplot(1, 4, 3)
    gen = scaling["generation"]
    ax.plot(list(gen), list(gen.values()), "o-")
    ticks_after = [(ax, list(gen))]
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="cells per side (3 floors)",
        ylabel="ms",
        title="generate + certify",
    )
    ax = fig.add_subplot(1, 4, 4)
    batch = scaling["batch"]["batch"]
    ax.plot(list(batch), [m["ms_per_step"] for m in batch.values()], "o-")
    ticks_after.append((ax, list(batch)))
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="batch size B",
        ylabel="ms per batch step",
        title="batched env vs B",
    )
    for a in fig.axes:
        a.grid(alpha=0.3, which="both")
    for a, xs in ticks_after:  # after the log scales are set, which would reset the ticks
        ticks(a, xs)
    fig.tight_layout()
    fig.savefig(path)


def _int_keys(d):
    """JSON turned the integer keys (team sizes, sides, batch sizes) into strings: turn them back."""
    if isinstance(d, dict):
        return {(int(k) if isinstance(k, str) and k.isdigit() else k): _int_keys(v) for k, v in d.items()}
    return d


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true")
    p.add_argument(
        "--seconds",
        type=float,
        default=2.0,
        help="timed window of the render benchmarks (the single env and its peers use bench_env's rounds)",
    )
    p.add_argument("--out", default=str(HERE / "results"))
    p.add_argument("--plot-only", action="store_true", help="redraw scaling.png from latest.json")
    args = p.parse_args(argv)
    if args.plot_only:
        saved = json.loads((Path(args.out) / "latest.json").read_text())
        plot(_int_keys(saved["scaling"]), Path(args.out) / "scaling.png")
        return saved
    if args.quick:
        args.seconds = 0.5
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows: list[tuple[str, float, str, str]] = []
    results: dict = {}
    scaling: dict = {}
    scaling["generation"] = section_generation(rows, args.quick)
    scaling["resolver"] = section_resolver(rows, args.quick)
    section_envs(rows, results, args.quick)
    scaling["batch"] = section_batch(rows, results, args.quick)
    section_render(rows, args.seconds)
    section_agents(rows, args.quick)
    meta = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpu_affinity": sorted(os.sched_getaffinity(0)),
        "load_average": os.getloadavg(),
        "quick": args.quick,
    }
    width = max(len(r[0]) for r in rows) + 2
    lines = [f"{'benchmark':<{width}}{'median':>16}  {'unit':<16}{'target':>12}"]
    for name, value, unit, target in rows:
        lines.append(f"{name:<{width}}{value:>16,.2f}  {unit:<16}{target:>12}")
    print("\n".join(lines))
    print(f"\nload average {meta['load_average']}, cpus {meta['cpu_affinity']}")
    md = ["| benchmark | median | unit | target |", "|---|---:|---|---:|"]
    md += [f"| {n} | {v:,.2f} | {u} | {t} |" for n, v, u, t in rows]
    command = "python benchmarks/run_all.py" + "".join(
        f" {a}" for a in (argv if argv is not None else sys.argv[1:])
    )
    meta["command"] = command
    md.append(
        f"\n`{command}`, {meta['date']}, "
        f"load average {tuple(round(x, 2) for x in meta['load_average'])}, cpus {meta['cpu_affinity']}"
    )
    (out / "latest.md").write_text("\n".join(md) + "\n")
    payload = {
        "meta": meta,
        "rows": [dict(zip(("name", "value", "unit", "target"), r, strict=True)) for r in rows],
    }
    payload["scaling"] = json.loads(json.dumps(scaling, default=str))
    (out / "latest.json").write_text(json.dumps(payload, indent=2, default=str))
    plot(scaling, out / "scaling.png")
    return payload


if __name__ == "__main__":
    main(sys.argv[1:])
