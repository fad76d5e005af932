"""Single-environment throughput against peers measured in the same run (not a test).

    python benchmarks/bench_env.py     # mazesim three_floor vs Minigrid DoorKey-8x8 vs mpe2 simple_spread
    python benchmarks/bench_env.py --memory-steps 1000000   # also: resident memory over a long run

Random legal actions, no rendering, one process (pin it to one core with ``taskset -c 0``).
Prints environment steps per second (a step moves every agent once, episodes reset when they end,
new mazes generated), the median of ``--repeats`` timed windows, and the ratios mazesim / peer.
The windows of mazesim and its peers are taken in turn (one of each per round), and a ratio is the
median over rounds of the two windows of that round, so a shared machine whose speed drifts during
the run moves both sides of a ratio alike. The default is many short rounds (40 of 0.25 s per
stepper, :data:`WINDOW_S` and :data:`ROUNDS`): the speed of a shared VM moves on a scale of
seconds, so windows a quarter of a second apart see nearly the same machine. When this default
was chosen (commit 1e781ee, on the 2-core VM of development), three runs of 5 rounds of 2 s gave
ratios to Minigrid of 2.86, 2.73 and 2.31, and three runs of the 40 short rounds right after gave
2.63, 2.77 and 2.69; current numbers are in ``benchmarks/results/latest.md``.
Windows are timed in process CPU time (``--clock process``, the default), so time spent waiting
for a busy core does not count; ``--clock wall`` times them by the wall clock. Peers come from the
``bench`` extra (``pip install -e .[bench]``); a missing peer is reported, not faked.

The memory check (``--memory-steps N``) runs ``--memory-warmup`` steps first (caches fill), then
N more steps, and reports the growth of resident memory (VmRSS) over those N steps and its largest
value in between: it counts bytes, not time, so a busy machine does not change it.
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import statistics
import sys
import time

import numpy as np

CLOCKS = {"process": time.process_time, "wall": time.perf_counter}
#: one timed window (s) and the number of rounds of windows taken in turn (see the docstring)
WINDOW_S, ROUNDS = 0.25, 40


def window(step_fn, seconds: float, clock=time.perf_counter) -> float:
    """Steps/s of ``step_fn`` over one window of about ``seconds``, timed by ``clock``."""
    n, t0 = 0, clock()
    while True:
        for _ in range(100):
            step_fn()
        n += 100
        dt = clock() - t0
        if dt >= seconds:
            return n / dt


def time_windows(step_fn, seconds: float, repeats: int, clock=time.perf_counter) -> float:
    """Median steps/s over ``repeats`` windows of about ``seconds`` each, timed by ``clock``."""
    return statistics.median(window(step_fn, seconds, clock) for _ in range(repeats))


def interleaved(steppers: dict, seconds: float, repeats: int, clock=time.perf_counter) -> dict:
    """Steps/s of several steppers, their windows taken in turn: round ``k`` times one window of
    each, so a machine that speeds up or slows down during the run affects all of them alike.

    Returns ``{name: [steps/s of round 0, round 1, ...]}``; see :func:`ratio`.
    """
    rates: dict[str, list[float]] = {name: [] for name in steppers}
    for _ in range(repeats):
        for name, step_fn in steppers.items():
            rates[name].append(window(step_fn, seconds, clock))
    return rates


def ratio(ours: list[float], peer: list[float]) -> float:
    """The median over rounds of ours / peer, each round's windows taken back to back."""
    return statistics.median(a / b for a, b in zip(ours, peer, strict=True))


def mazesim_stepper(scenario: str, seed: int = 0):
    import mazesim

    env = mazesim.parallel_env(scenario=scenario)
    rng = np.random.default_rng(seed)
    state = {"obs": env.reset(seed=seed)[0]}
    legal_of: dict[bytes, list[int]] = {}  # action mask -> its legal actions (a few dozen masks exist)

    def step():
        obs = state["obs"]
        if not env.agents:
            obs, _ = env.reset()
        agents = env.agents
        actions = {}
        # one uniform draw per live agent, in a single generator call
        for a, u in zip(agents, rng.random(len(agents)).tolist(), strict=True):
            mask = obs[a]["action_mask"]
            key = mask.tobytes()
            legal = legal_of.get(key)
            if legal is None:
                legal = legal_of[key] = np.flatnonzero(mask).tolist()
            actions[a] = legal[int(u * len(legal))]
        state["obs"] = env.step(actions)[0]

    return step, env


def minigrid_stepper(seed: int = 0):
    import gymnasium
    import minigrid  # noqa: F401 - registers the environments

    env = gymnasium.make("MiniGrid-DoorKey-8x8-v0")
    env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    n = env.action_space.n

    def step():
        _, _, term, trunc, _ = env.step(int(rng.integers(n)))
        if term or trunc:
            env.reset()

    return step


def simple_spread_stepper(seed: int = 0):
    from mpe2 import simple_spread_v3

    env = simple_spread_v3.parallel_env()
    env.reset(seed=seed)
    rng = np.random.default_rng(seed)

    def step():
        if not env.agents:
            env.reset()
        env.step({a: int(rng.integers(env.action_space(a).n)) for a in env.agents})

    return step


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def memory_growth(step_fn, steps: int, warmup: int) -> dict:
    """Resident memory over ``steps`` calls of ``step_fn`` after ``warmup`` calls: growth and peak (MB)."""
    for _ in range(warmup):
        step_fn()
    gc.collect()
    before = peak = rss_mb()
    every = max(steps // 100, 1)
    for k in range(1, steps + 1):
        step_fn()
        if k % every == 0:
            peak = max(peak, rss_mb())
    gc.collect()
    after = rss_mb()
    return {
        "memory_steps": steps,
        "memory_warmup_steps": warmup,
        "rss_start_mb": before,
        "rss_end_mb": after,
        "rss_peak_mb": max(peak, after),
        "rss_growth_mb": after - before,
    }


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scenario", default="three_floor")
    p.add_argument("--seconds", type=float, default=WINDOW_S, help="length of one timed window")
    p.add_argument("--repeats", type=int, default=ROUNDS, help="rounds of windows taken in turn")
    p.add_argument("--memory-steps", type=int, default=0, help="steps of the memory-growth check (0: skip)")
    p.add_argument("--memory-warmup", type=int, default=20_000, help="steps before the memory baseline")
    p.add_argument("--clock", choices=sorted(CLOCKS), default="process", help="how windows are timed")
    p.add_argument("--no-peers", action="store_true", help="time mazesim only")
    p.add_argument("--json", default=None, help="write the results here")
    p.add_argument("--quick", action="store_true", help="short windows (smoke run)")
    args = p.parse_args(argv)
    if args.quick:
        args.seconds, args.repeats = 0.3, 1
    clock = CLOCKS[args.clock]
    step, env = mazesim_stepper(args.scenario)
    results: dict = {"scenario": args.scenario, "agents": len(env.possible_agents), "clock": args.clock}
    steppers = {"mazesim": step}
    peers = {"minigrid_doorkey_8x8": minigrid_stepper, "mpe2_simple_spread_v3": simple_spread_stepper}
    for name, make in {} if args.no_peers else peers.items():
        try:
            steppers[name] = make()
        except ImportError as exc:
            results[name] = f"not installed ({exc.name}); pip install -e .[bench]"
    rates = interleaved(steppers, args.seconds, args.repeats, clock)
    results["mazesim_steps_per_s"] = statistics.median(rates["mazesim"])
    results["mazesim_us_per_step"] = 1e6 / results["mazesim_steps_per_s"]
    for name in list(steppers)[1:]:
        results[f"{name}_steps_per_s"] = statistics.median(rates[name])
        results[f"ratio_vs_{name}"] = ratio(rates["mazesim"], rates[name])
    if args.memory_steps:
        results.update(memory_growth(step, args.memory_steps, args.memory_warmup))
    print(f"{'benchmark':<36}{'value':>14}")
    for k, v in results.items():
        shown = f"{v:,.2f}" if isinstance(v, float) else str(v)
        print(f"{k:<36}{shown:>14}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
