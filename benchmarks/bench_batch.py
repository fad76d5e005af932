"""Throughput and memory of the batched environment (:class:`mazesim.batch.BatchEnv`); not a test.

    taskset -c 0 python benchmarks/bench_batch.py            # three_floor, B = 64, 256, 1024, 4096
    taskset -c 0 python benchmarks/bench_batch.py --quick    # B = 64, 256, fewer steps

Four agents (the ``three_floor`` preset), random legal actions drawn vectorised from the masks,
observations included (every step returns them). Prints agent-steps per second (worlds x agents x
steps / seconds, after a warm-up) by the wall clock and by the process's CPU time (steadier on a
shared machine), the latter also for ``step`` alone (without drawing the actions), the fractions of
world-steps whose resolution needed a choice (a contest for a cell) and that were handed to the
scalar resolver, the set-up time (maze generation, once per maze seed), bytes per world (the batch's
arrays, and the growth of the process's resident memory over set-up and stepping, divided by ``B``)
and the load average, since the machine may be shared.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from mazesim.batch import BatchEnv
from mazesim.world import N_ACTIONS

# per 12-bit pattern of legal actions: how many, and the legal actions first (in order)
_BITS = (np.arange(1 << N_ACTIONS)[:, None] >> np.arange(N_ACTIONS)) & 1
_COUNT = _BITS.sum(axis=1)
_LEGAL = np.argsort(1 - _BITS, axis=1, kind="stable").reshape(-1)


def _rss() -> int:
    """Resident memory of this process in bytes (Linux), 0 where unknown."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return 0


def random_legal(rng: np.random.Generator, mask: np.ndarray) -> np.ndarray:
    """``(B, N)`` uniform random legal actions from ``(B, N, 12)`` 0/1 int8 masks: the ``k``-th legal
    action, ``k = floor(u * n_legal)`` with ``u`` uniform in [0, 1), one draw per agent.

    The mask row is read as a 12-bit pattern, four bytes at a time (``0x01020408`` gathers four 0/1
    bytes of a little-endian word into its top byte), and the action is looked up, so that the
    sampler costs little next to the step it feeds.

    >>> random_legal(np.random.default_rng(0), np.eye(12, dtype=np.int8)[None, [3, 7]]).tolist()
    [[3, 7]]
    """
    words = np.ascontiguousarray(mask).view("<u4")  # (B, N, 3)
    nibbles = (words * np.uint32(0x01020408)) >> np.uint32(24)
    pattern = (nibbles[..., 0] | nibbles[..., 1] << 4 | nibbles[..., 2] << 8).astype(np.intp)
    k = (rng.random(mask.shape[:-1]) * np.take(_COUNT, pattern)).astype(np.intp)
    return np.take(_LEGAL, pattern * N_ACTIONS + k)


def measure(scenario: str, num_envs: int, steps: int, *, warmup: int = 5, seed: int = 0) -> dict:
    """Step ``num_envs`` worlds of ``scenario`` ``steps`` times with random legal actions.

    Returns ``agent_steps_per_s`` (wall clock), ``cpu_agent_steps_per_s`` (process time),
    ``env_cpu_agent_steps_per_s`` (process time inside ``step`` only, without the action sampler),
    ``ms_per_step``, ``fallback_fraction`` (world-steps whose resolution needed a choice),
    ``scalar_fraction`` (world-steps handed to the scalar resolver), ``setup_s``, ``bytes_per_world``
    (the batch's arrays), ``rss_per_world`` (growth of resident memory over set-up and stepping, per
    world), ``rss_total_mb`` and the configuration.

    >>> r = measure("tutorial", 8, 3, warmup=1)
    >>> r["num_envs"], r["agent_steps_per_s"] > 0
    (8, True)
    """
    rss0 = _rss()
    t0 = time.perf_counter()
    env = BatchEnv(scenario, num_envs)
    _, mask = env.reset(seed=seed)
    setup = time.perf_counter() - t0
    rng = np.random.default_rng(seed)
    for _ in range(warmup):
        _, mask, *_ = env.step(random_legal(rng, mask))
    fallbacks, scalars, taken = env.fallback_count, env.scalar_count, env.steps_taken
    t0, c0 = time.perf_counter(), time.process_time()
    env_cpu = 0.0
    for _ in range(steps):
        actions = random_legal(rng, mask)
        c1 = time.process_time()
        _, mask, *_ = env.step(actions)
        env_cpu += time.process_time() - c1
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    world_steps = num_envs * (env.steps_taken - taken)
    rss = _rss() - rss0
    result = {
        "scenario": scenario,
        "num_envs": num_envs,
        "agents": env.n_agents,
        "steps": steps,
        "agent_steps_per_s": num_envs * env.n_agents * steps / dt,
        "cpu_agent_steps_per_s": num_envs * env.n_agents * steps / cpu,
        "env_cpu_agent_steps_per_s": num_envs * env.n_agents * steps / env_cpu,
        "ms_per_step": 1e3 * dt / steps,
        "fallback_fraction": (env.fallback_count - fallbacks) / world_steps,
        "scalar_fraction": (env.scalar_count - scalars) / world_steps,
        "setup_s": setup,
        "bytes_per_world": env.nbytes() / num_envs,
        "rss_per_world": rss / num_envs,
        "rss_total_mb": rss / 2**20,
    }
    env.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scenario", default="three_floor")
    parser.add_argument("--quick", action="store_true", help="B = 64, 256 and 20 steps")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--sizes", type=int, nargs="*", default=None)
    args = parser.parse_args()
    sizes = args.sizes or ([64, 256] if args.quick else [64, 256, 1024, 4096])
    steps = 20 if args.quick else args.steps
    print(f"scenario {args.scenario}, {steps} timed steps, load average {os.getloadavg()[0]:.2f} (1 min)")
    head = f"{'B':>6} {'agent-steps/s':>14} {'CPU a-s/s':>11} {'env CPU a-s/s':>14} {'ms/step':>8}"
    head += f" {'choice':>7} {'scalar':>7}"
    print(head + f" {'setup s':>8} {'array B/world':>14} {'RSS B/world':>12} {'RSS MB':>8}")
    for b in sizes:
        r = measure(args.scenario, b, steps)
        print(
            f"{b:>6} {r['agent_steps_per_s']:>14,.0f} {r['cpu_agent_steps_per_s']:>11,.0f}"
            f" {r['env_cpu_agent_steps_per_s']:>14,.0f}"
            f" {r['ms_per_step']:>8.2f} {r['fallback_fraction']:>7.4f} {r['scalar_fraction']:>7.4f}"
            f" {r['setup_s']:>8.1f} {r['bytes_per_world']:>14,.0f} {r['rss_per_world']:>12,.0f}"
            f" {r['rss_total_mb']:>8.1f}"
        )
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
