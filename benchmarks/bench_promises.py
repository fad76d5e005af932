"""Cost of the promise bookkeeping in the environment's per-step path, for 2, 4 and 8 agents.

The per-step path: assess every agent's promise from the solver's resolutions, update the trust
ledger in place (with forgetting), build the compact JSON info, and store the step in the log.
Steps are drawn from a realistic mix (mostly kept moves, some stays, withdrawn moves, bound and
unbound boosts and climbs), generated before timing. Target: about 5 µs per agent per step.

    python benchmarks/bench_promises.py [--quick]
"""

from __future__ import annotations

import argparse
import timeit

import numpy as np

from promises import ACTION_INDEX, PromiseLog, Resolution, assess_step, new_counts, to_info, update_trust

STAY, UP = ACTION_INDEX["stay"], ACTION_INDEX["up"]
MOVES = [ACTION_INDEX[m] for m in ("north", "south", "west", "east")]
BOOSTS = [ACTION_INDEX[b] for b in ("boost_north", "boost_south", "boost_west", "boost_east")]


def random_step(rng: np.random.Generator, n: int) -> list[Resolution]:
    """One step's resolutions: ``n`` agents, a realistic mix of outcomes."""
    out = []
    for i in range(n):
        u = rng.random()
        partner = int((i + 1) % n)
        if u < 0.15:
            out.append(Resolution(i, STAY, STAY))
        elif u < 0.75:
            a = int(rng.choice(MOVES))
            out.append(Resolution(i, a, a))
        elif u < 0.85:
            a = int(rng.choice(MOVES))
            out.append(Resolution(i, a, STAY, because_of=partner, constraint="one_per_cell"))
        elif u < 0.93:
            b = int(rng.choice(BOOSTS))
            bound = rng.random() < 0.5
            out.append(Resolution(i, b, b if bound else STAY, unbound=not bound, partner=partner))
        else:
            bound = rng.random() < 0.5
            out.append(
                Resolution(i, UP, UP if bound else STAY, unbound=not bound, partner=partner, climb=True)
            )
    return out


def bench(n: int, steps: int, rng: np.random.Generator, repeats: int) -> tuple[float, float]:
    """Best-of-``repeats`` mean µs per step of the whole path, and of assessment alone."""
    pool = [random_step(rng, n) for _ in range(256)]
    counts = new_counts(n)
    active = np.ones(n, dtype=bool)
    for resolutions in pool:  # warm the caches, as an episode's first steps do
        to_info(assess_step(resolutions))

    def full_path() -> None:
        log = PromiseLog()
        for t in range(steps):
            assessments = assess_step(pool[t & 255])
            update_trust(counts, assessments, active=active, forgetting=0.01, out=counts)
            to_info(assessments)
            log.record(assessments)

    def assess_only() -> None:
        for t in range(steps):
            assess_step(pool[t & 255])

    return tuple(  # type: ignore[return-value]
        min(timeit.repeat(f, number=1, repeat=repeats)) / steps * 1e6 for f in (full_path, assess_only)
    )


def calibration() -> float:
    """µs for one small numpy add (this machine's per-call overhead, to compare machines)."""
    a, b = np.ones((4, 4, 2)), np.zeros((4, 4, 2))
    return min(timeit.repeat(lambda: np.add(a, b, out=b), number=20_000, repeat=3)) / 20_000 * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps (a few seconds in all)")
    args = parser.parse_args()
    steps, repeats = (2_000, 3) if args.quick else (20_000, 5)
    rng = np.random.default_rng(0)
    print(f"one small numpy add on this machine: {calibration():.2f} µs")
    print(f"{'agents':>6} {'µs/step':>9} {'µs/agent/step':>14} {'assess µs/step':>15}")
    for n in (2, 4, 8):
        full, only_assess = bench(n, steps, rng, repeats)
        print(f"{n:>6} {full:>9.2f} {full / n:>14.2f} {only_assess:>15.2f}")


if __name__ == "__main__":
    main()
