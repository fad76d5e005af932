"""Microseconds per joint-action resolution against team size (``python benchmarks/bench_resolver.py``).

Layouts: ``corridor`` puts the agents on every other cell of a one-wide corridor, so each free cell
is wanted by both neighbours and the whole team is one interaction cluster; ``spread`` puts them
four cells apart in an open room, so every agent is its own cluster. Waves: ``int``, a random legal
action per agent (collapsed waves); ``full``, a random distribution over the legal actions
(Dirichlet, sample mode). ``consistent`` resolves a joint action that is already consistent
(the pass-through fast path). Single process, one core; times are process CPU time, the best of
``REPS`` repetitions of the same waves (the least disturbed one: on a shared machine other processes
evict the caches and inflate single repetitions by up to 2x); ``--quick`` runs fewer repetitions.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from mazesim.resolver import resolve
from mazesim.world import N_ACTIONS, Layout, State, action_mask

SIZES = (2, 4, 8, 16, 32, 64)
COUNT, REPS = 200, 15  # resolutions per repetition, repetitions


def world(kind: str, n: int) -> tuple[Layout, State]:
    if kind == "corridor":
        tiles = np.zeros((1, 1, 2 * n + 1), np.uint8)
        starts = [[0, 0, 2 * k + 1] for k in range(n)]
    else:
        side = 4 * int(np.ceil(np.sqrt(n))) + 1
        tiles = np.zeros((1, side, side), np.uint8)
        starts = [[0, 4 * (k // (side // 4)) + 2, 4 * (k % (side // 4)) + 2] for k in range(n)]
    layout = Layout(tiles, np.full(tiles.shape, -1, np.int16))
    return layout, State.initial(layout, np.array(starts))


def make_waves(layout: Layout, state: State, kind: str, rng: np.random.Generator, count: int) -> list[list]:
    masks = [np.flatnonzero(action_mask(layout, state, i)) for i in range(state.n_agents)]
    out = []
    for _ in range(count):
        if kind == "int":
            out.append([int(rng.choice(m)) for m in masks])
        else:
            waves = []
            for m in masks:
                w = np.zeros(N_ACTIONS)
                w[m] = rng.dirichlet(np.ones(len(m)))
                waves.append(w)
            out.append(waves)
    return out


def bench(layout: Layout, state: State, batches: list[list], reps: int) -> tuple[float, float]:
    rng = np.random.default_rng(0)
    solved = 0
    best = float("inf")
    for _ in range(reps):
        t0 = time.process_time()
        for waves in batches:
            res = resolve(layout, state, waves, rng)
            solved += res.clusters > 0
        best = min(best, (time.process_time() - t0) / len(batches))
    return best * 1e6, solved / (reps * len(batches))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    args = parser.parse_args()
    count, reps = (50, 3) if args.quick else (COUNT, REPS)
    rng = np.random.default_rng(2024)
    print(f"{'layout':<9} {'waves':<11} " + " ".join(f"{n:>9}" for n in SIZES) + "   (µs per resolution)")
    for layout_kind in ("corridor", "spread"):
        for wave_kind in ("int", "full", "consistent"):
            cells, solved = [], []
            for n in SIZES:
                layout, state = world(layout_kind, n)
                if wave_kind == "consistent":
                    batches = [resolve(layout, state, w, rng).joint.tolist() for w in
                               make_waves(layout, state, "int", rng, count)]  # fmt: skip
                    batches = [[int(a) for a in b] for b in batches]
                else:
                    batches = make_waves(layout, state, wave_kind, rng, count)
                us, frac = bench(layout, state, batches, reps)
                cells.append(f"{us:9.1f}")
                solved.append(frac)
            print(f"{layout_kind:<9} {wave_kind:<11} " + " ".join(cells))
            print(f"{'':<9} {'(solved)':<11} " + " ".join(f"{f:9.0%}" for f in solved))


if __name__ == "__main__":
    main()
