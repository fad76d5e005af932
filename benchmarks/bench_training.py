"""Throughput of on-policy training (GRPO) with the vector env: agent-steps per second.

For each number of worlds ``B`` (= groups × group size), runs a few GRPO updates exactly as
``agents.train_grpo`` does (collect groups with the current policy, group advantages, one
gradient step) and reports live agent-steps per second for collection alone, for the update
alone, and end to end, next to a random actor on the same vector env (the environment's own
ceiling)::

    python benchmarks/bench_training.py [--quick] [--scenario tutorial] [--device auto] [--threads 1]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from agents.buffers import PolicyBatch
from agents.groups import collect_groups
from agents.losses import group_advantages, log_prob_entropy, policy_gradient_loss
from agents.nets import ArchConfig, Classifier
from agents.policy import resolve_device
from agents.training import epsilon_greedy, sampling_actor
from mazesim.batch import BatchEnv


def measure(
    scenario: str, worlds: int, group_size: int, updates: int, device: torch.device
) -> dict[str, float]:
    venv = BatchEnv(scenario, num_envs=worlds)
    net = Classifier(venv.obs_shape, venv.n_actions, ArchConfig(hidden=(256, 256))).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=3e-4)
    act = sampling_actor(net, device)
    rng = np.random.default_rng(0)
    groups = worlds // group_size
    t_collect = t_update = 0.0
    samples = 0
    for u in range(updates):
        t0 = time.perf_counter()
        seeds = rng.choice(np.asarray(venv.scenario.train_seeds), size=groups)
        trajs = collect_groups(venv, act, seeds, group_size, seed=u * worlds)
        t1 = time.perf_counter()
        returns = np.array([t.team_return for t in trajs]).reshape(groups, group_size)
        batch = PolicyBatch.from_trajectories(trajs, group_advantages(returns).ravel()).to(device)
        logp, entropy = log_prob_entropy(net(batch["obs"]), batch["mask"], batch["actions"])
        loss = policy_gradient_loss(logp, batch["advantages"]) - 1e-3 * entropy.mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        t2 = time.perf_counter()
        t_collect += t1 - t0
        t_update += t2 - t1
        samples += len(batch["actions"])

    random_steps = 0
    obs, mask = venv.reset(seed=0)
    t0 = time.perf_counter()
    for _ in range(50):
        obs, mask, _, _, _, info = venv.step(
            epsilon_greedy(np.zeros(mask.shape), mask.astype(bool), 1.0, rng)
        )
        random_steps += int(info["active"].sum())
    t_random = time.perf_counter() - t0
    venv.close()
    return {
        "samples": samples,
        "collect": samples / t_collect,
        "update": samples / t_update,
        "end_to_end": samples / (t_collect + t_update),
        "random_actor": random_steps / t_random,
    }


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="one size, one update")
    p.add_argument("--scenario", default="tutorial")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = resolve_device(args.device)
    sizes = [8] if args.quick else [8, 16, 32]
    updates = 1 if args.quick else 3
    print(
        f"GRPO training throughput, scenario {args.scenario}, device {device}, torch threads {args.threads}"
    )
    print("live agent-steps per second (MLP 256-256, group size 8)")
    header = (
        f"{'worlds':>6} {'samples':>8} {'collect':>9} {'update':>9} {'end-to-end':>11} {'random actor':>13}"
    )
    print(header)
    print("-" * len(header))
    for worlds in sizes:
        r = measure(args.scenario, worlds, 8, updates, device)
        print(
            f"{worlds:>6} {r['samples']:>8} {r['collect']:>9.0f} {r['update']:>9.0f} "
            f"{r['end_to_end']:>11.0f} {r['random_actor']:>13.0f}"
        )


if __name__ == "__main__":
    main()
