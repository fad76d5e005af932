"""What promise bookkeeping adds to an environment step (not a test).

    python benchmarks/bench_promise_overhead.py [--scenario three_floor] [--steps 500] [--rounds 100]
    python benchmarks/bench_promise_overhead.py --quick

Times ``env.step`` with random legal actions twice in the same process, alternating rounds:
with the real bookkeeping (promises instantiated, assessed, trust updated, infos built,
episode log recorded) and with it replaced by a stub that returns the same info keys with
constant values (trust then stays at its prior). Prints the median µs per step of each and the
overhead in percent (target: at most 15 % for 4 agents). Steps are timed in process CPU time,
so time spent waiting for the core on a busy machine does not count.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import mazesim
import mazesim.maze_escape_v0 as card

REAL = card.step_promises
STUB_AGENT = {"promise": "", "outcome": "kept", "reason": "kept"}


def stub(layout, before, after, report, log=None, forgetting=0.0, fr=None) -> tuple[dict, dict]:
    agents = {i: STUB_AGENT for i in range(before.n_agents) if before.active[i]}
    return agents, {"bindings": [], "solver": {}}


def time_round(env, rng: np.random.Generator, steps: int) -> float:
    obs, _ = env.reset(seed=int(rng.integers(1 << 30)))
    total = 0.0
    done = 0
    while done < steps:
        if not env.agents:
            obs, _ = env.reset()
        actions = {}
        for a in env.agents:
            legal = np.flatnonzero(obs[a]["action_mask"])
            actions[a] = int(legal[int(rng.random() * len(legal))])
        t0 = time.process_time()
        obs = env.step(actions)[0]
        total += time.process_time() - t0
        done += 1
    return total / steps * 1e6


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scenario", default="three_floor")
    p.add_argument("--steps", type=int, default=500, help="steps per round")
    p.add_argument(
        "--rounds", type=int, default=100, help="rounds of each, alternating (short rounds: load drifts less)"
    )
    p.add_argument("--quick", action="store_true", help="3 rounds of 500 steps (smoke run)")
    args = p.parse_args(argv)
    if args.quick:
        args.steps, args.rounds = 500, 3
    env = mazesim.parallel_env(scenario=args.scenario)
    rng = np.random.default_rng(0)
    for fn in (REAL, stub):  # untimed: fill the per-process caches both variants use
        card.step_promises = fn
        time_round(env, rng, args.steps)
    with_, without = [], []
    for _ in range(args.rounds):
        card.step_promises = REAL
        with_.append(time_round(env, rng, args.steps))
        card.step_promises = stub
        without.append(time_round(env, rng, args.steps))
    card.step_promises = REAL
    a, b = statistics.median(with_), statistics.median(without)
    result = {"with_us": a, "without_us": b, "overhead_percent": 100 * (a - b) / b}
    result["agents"] = env.scenario.agents
    print(f"{args.scenario}, {result['agents']} agents, {args.rounds} rounds of {args.steps} steps")
    print(f"env.step with promise bookkeeping     {a:8.1f} µs")
    print(f"env.step without (stub)               {b:8.1f} µs")
    print(f"overhead                              {result['overhead_percent']:8.1f} %   (target ≤ 15 %)")
    return result


if __name__ == "__main__":
    main()
