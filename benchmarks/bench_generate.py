"""Benchmark: time to generate and certify a maze, and to solve it with the expert.

Run ``python benchmarks/bench_generate.py`` (or ``--quick`` for fewer repetitions). Prints the median
time of :func:`mazesim.generator.generate` (which includes :func:`mazesim.certificate.certify`) for
the reference maze (3 floors, 21 x 21, 4 agents, one door, one gate, one boost; target <= 20 ms on
one core), then a table over maze sizes with the expert's steps and solve time.
"""

from __future__ import annotations

import argparse
import statistics
import time

from mazesim.expert import solve, step_budget
from mazesim.generator import generate
from mazesim.scenario import Mechanics, Scenario


def _time_generate(scenario: Scenario, seeds: range) -> tuple[float, list]:
    times, mazes = [], []
    for seed in seeds:
        start = time.perf_counter()
        mazes.append(generate(scenario, seed))
        times.append(time.perf_counter() - start)
    return statistics.median(times), mazes


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (a smoke run)")
    args = parser.parse_args(argv)
    reps = 5 if args.quick else 50

    reference = Scenario(
        name="reference",
        levels=3,
        rows=21,
        cols=21,
        agents=4,
        mechanics=Mechanics(doors=1, gates=1, boosts=1),
    )
    median, _ = _time_generate(reference, range(reps))
    print(
        f"reference 3 x 21 x 21, 4 agents, 3 mechanics: "
        f"median generate+certify {median * 1e3:.2f} ms ({reps} seeds)"
    )
    print()
    header = (
        f"{'size':>5} {'levels':>6} {'cells':>7} {'generate ms':>12} {'zones':>6} "
        f"{'expert steps':>13} {'budget':>7} {'solve ms':>9}"
    )
    print(header)
    print("-" * len(header))
    for size in (11, 21, 41, 81):
        sc = Scenario(
            name=f"s{size}",
            levels=3,
            rows=size,
            cols=size,
            agents=4,
            mechanics=Mechanics(doors=1, gates=1, boosts=1),
        )
        n = max(2, reps // (1 if size <= 21 else 4))
        median, mazes = _time_generate(sc, range(n))
        solved = mazes[: max(1, n // 5)]
        start = time.perf_counter()
        runs = [solve(m) for m in solved]
        solve_ms = (time.perf_counter() - start) / len(solved) * 1e3
        steps = statistics.median(r.steps for r in runs)
        zones = statistics.median(m.certificate.n_zones for m in mazes)
        escaped = all(r.escaped for r in runs)
        print(
            f"{size:>5} {3:>6} {3 * size * size:>7} {median * 1e3:>12.2f} {zones:>6.0f} "
            f"{steps:>13.0f} {step_budget(sc):>7} {solve_ms:>9.1f}"
            + ("" if escaped else "  (expert failed!)")
        )


if __name__ == "__main__":
    main()
