"""Agents benchmark: ensemble inference per step, and imitation training throughput.

    python benchmarks/bench_agents.py [--quick] [--device cpu|cuda|auto]

Prints a table:

* ensemble inference time per env step (µs) for 4 members and 4 agents, per combine rule, with
  mixed architectures (2 MLP, 2 CNN), from compact observations to combined waves plus the
  disagreement measures (what :class:`agents.ensemble.EnsemblePolicy` does every step); and the
  same for the shipped tutorial team (``agents/pretrained/tutorial.pt``: 4 planning members on
  the tutorial's 17x17 view), soft vote;
* imitation training throughput (samples/s): minibatch cross-entropy updates on masked logits,
  batch 256, as in ``agents.train_imitation``, for an MLP and a CNN.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812 - the usual torch alias

from agents.checkpoint import load_checkpoint
from agents.ensemble import COMBINE_RULES, Ensemble
from agents.nets import ArchConfig, Classifier, masked_logits
from agents.policy import DEFAULT_ENSEMBLE, resolve_device
from mazesim.observation import N_OBS_CHANNELS, Code
from mazesim.world import N_ACTIONS

OBS_SHAPE = (N_OBS_CHANNELS, 7, 7)
BATCH = 256


def fake_batch(
    n: int, rng: np.random.Generator, shape: tuple[int, ...] = OBS_SHAPE
) -> tuple[np.ndarray, np.ndarray]:
    """Valid compact observations (cell codes, agents, planes) and masks with ``stay`` allowed."""
    obs = np.zeros((n, *shape), np.uint8)
    obs[:, 0:3] = rng.integers(len(Code), size=(n, 3, *shape[1:]))
    obs[:, 3:6] = rng.integers(256, size=(n, 3, *shape[1:])) * (rng.random((n, 3, *shape[1:])) < 0.05)
    obs[:, 6:9] = rng.integers(256, size=(n, 3, 1, 1))
    mask = rng.random((n, N_ACTIONS)) < 0.5
    mask[:, 0] = True
    return obs, mask


def members(device: torch.device) -> list[Classifier]:
    archs = [ArchConfig("mlp", (128, 128)), ArchConfig("mlp", (256, 256))]
    archs += [ArchConfig("cnn", (128,), (16, 16)), ArchConfig("cnn", (128,), (32, 32))]
    return [Classifier(OBS_SHAPE, N_ACTIONS, a).to(device) for a in archs]


def _time_step(ens: Ensemble, obs: np.ndarray, mask: np.ndarray, steps: int) -> float:
    """µs per ``ens.step`` (after 10 untimed steps)."""
    for _ in range(10):
        ens.step(obs, mask)
    t0 = time.perf_counter()
    for _ in range(steps):
        ens.step(obs, mask)
    return (time.perf_counter() - t0) / steps * 1e6


def bench_inference(device: torch.device, steps: int, rng: np.random.Generator) -> list[tuple[str, float]]:
    obs, mask = fake_batch(4, rng)
    nets = members(device)
    rows = [
        (
            f"ensemble step, 4 members x 4 agents, {rule}",
            _time_step(Ensemble(nets, rule, device), obs, mask, steps),
        )
        for rule in COMBINE_RULES
    ]
    if DEFAULT_ENSEMBLE.is_file():
        shipped = [m.net.to(device) for m in load_checkpoint(DEFAULT_ENSEMBLE).members]
        obs, mask = fake_batch(4, rng, tuple(shipped[0].obs_shape))
        us = _time_step(Ensemble(shipped, "soft", device), obs, mask, steps)
        rows.append((f"shipped tutorial team, {len(shipped)} plan members x 4 agents, soft", us))
    return rows


def _update(net: Classifier, opt: torch.optim.Optimizer, o, m, a, rng: np.random.Generator) -> None:
    idx = torch.as_tensor(rng.integers(len(a), size=BATCH), device=a.device)
    loss = F.cross_entropy(masked_logits(net(o[idx]), m[idx]), a[idx])
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()


def bench_training(device: torch.device, updates: int, rng: np.random.Generator) -> list[tuple[str, float]]:
    obs, mask = fake_batch(20_000, rng)
    action = np.array([rng.choice(np.flatnonzero(m)) for m in mask])
    o, m, a = (torch.as_tensor(x, device=device) for x in (obs, mask, action))
    rows = []
    for arch in (ArchConfig("mlp", (128, 128)), ArchConfig("cnn", (128,), (16, 16))):
        net = Classifier(OBS_SHAPE, N_ACTIONS, arch).to(device)
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)
        for _ in range(5):
            _update(net, opt, o, m, a, rng)
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(updates):
            _update(net, opt, o, m, a, rng)
        if device.type == "cuda":
            torch.cuda.synchronize()
        rows.append(
            (
                f"imitation training, {arch.kind} {arch.hidden}, batch 256",
                updates * BATCH / (time.perf_counter() - t0),
            )
        )
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer repetitions (a smoke run)")
    p.add_argument("--device", default="cpu", choices=("auto", "cpu", "cuda"))
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = resolve_device(args.device)
    rng = np.random.default_rng(0)
    steps, updates = (50, 10) if args.quick else (1000, 200)
    inference = bench_inference(device, steps, rng)
    training = bench_training(device, updates, rng)
    width = max(len(name) for name, _ in inference + training)
    print(f"device {device}, torch threads {torch.get_num_threads()}")
    print(f"{'benchmark':<{width}}  {'value':>12}  unit")
    for name, us in inference:
        print(f"{name:<{width}}  {us:>12.1f}  µs/step")
    for name, sps in training:
        print(f"{name:<{width}}  {sps:>12.0f}  samples/s")


if __name__ == "__main__":
    main()
