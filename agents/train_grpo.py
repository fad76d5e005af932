"""On-policy policy gradient with group-relative advantages (GRPO-style) for a mazesim team.

Each update picks ``--groups`` maze seeds from the scenario's training seeds and plays
``--group-size`` rollouts of each with the current policy (one net shared by all agents, actions
sampled from its masked distribution). A rollout's advantage is its team return minus the mean of
its group (``--scale-by-std`` also divides by the group's standard deviation); every live agent's
step of the rollout carries it. The batch (all live agent-steps) is shuffled into
``--minibatches`` parts, one gradient step each, on::

    loss = −mean(A · π(a|s)/π_old(a|s)) − entropy_coef · mean(H(π(·|s)))

(Shao et al. 2024 with Dr. GRPO's no-std default, without the KL term and without clipping;
``π_old`` is the policy that sampled the batch, so the first step's gradient is exactly
``−mean(A · ∇log π)``, and with ``--minibatches 1`` that is all there is). ``entropy`` in
``metrics.jsonl`` is the sampling policy's mean entropy over the batch. ``--loss-agg rollout``
averages each rollout's steps first, then the rollouts (original GRPO) instead of one mean over
all steps (the default).

    python -m agents.train_grpo --scenario tutorial --run-dir runs/grpo --steps 200000 --seed 0

Writes ``<run-dir>/metrics.jsonl`` (loss, return, success, entropy, ... per update),
``curves.png`` and ``last.pt`` (member method ``"grpo"``); rerunning the same command resumes.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence

import numpy as np
import torch

from agents.buffers import PolicyBatch
from agents.checkpoint import Member
from agents.groups import collect_groups
from agents.losses import group_advantages, log_prob_entropy, policy_gradient_loss, row_weights
from agents.policy import resolve_device
from agents.runlog import RunLog
from agents.training import (
    add_common_args,
    add_group_args,
    evaluate_net,
    make_net,
    make_scenario,
    manifest_for,
    minibatches,
    progress,
    resume,
    sampling_actor,
    save_run,
)
from mazesim.batch import BatchEnv

CURVES = ["loss", "return", "success", "entropy", "eval_success_rate"]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_args(p, steps=200_000, lr=3e-4)
    add_group_args(p)
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict:
    args = parse_args(argv)
    if args.group_size < 2 or args.groups < 1:
        raise SystemExit("--group-size must be >= 2 and --groups >= 1 (advantages are relative to a group)")

    # ---- the one place that sets global state: torch threads and RNG seeds ----------------
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    # ------------------------------------------------------------------------------------------

    device = resolve_device(args.device)
    scenario = make_scenario(args)
    venv = BatchEnv(scenario, num_envs=args.groups * args.group_size)
    net = make_net(venv.obs_shape, venv.n_actions, args).to(device)
    optimizer = torch.optim.Adam(net.parameters(), lr=args.lr)
    log = RunLog(args.run_dir)

    step, update, _ = resume(args.run_dir, nets={"policy": net}, optimizer=optimizer, rng=rng, log=log)
    act = sampling_actor(net, device)
    train_seeds = np.asarray(scenario.train_seeds)
    heldout = list(scenario.heldout_seeds)[: args.eval_episodes]
    manifest = manifest_for("grpo", scenario, args)
    bar = progress(args, step)
    row: dict = {}
    while step < args.steps:
        t0 = time.perf_counter()
        maze_seeds = rng.choice(train_seeds, size=args.groups)
        trajs = collect_groups(venv, act, maze_seeds, args.group_size, seed=int(rng.integers(2**31)))
        returns = np.array([t.team_return for t in trajs]).reshape(args.groups, args.group_size)
        adv = group_advantages(returns, scale_by_std=args.scale_by_std).ravel()
        batch = PolicyBatch.from_trajectories(trajs, adv).to(device)

        with torch.no_grad():  # the sampling policy: π_old of the ratio, and the entropy we log
            old_logp, old_entropy = log_prob_entropy(net(batch["obs"]), batch["mask"], batch["actions"])
        losses = []
        for idx in minibatches(len(old_logp), args.minibatches, device):
            logp, entropy = log_prob_entropy(
                net(batch["obs"][idx]), batch["mask"][idx], batch["actions"][idx]
            )
            weights = row_weights(batch["rollout"][idx], args.loss_agg)
            pg = policy_gradient_loss(logp, batch["advantages"][idx], old_logp[idx], weights)
            loss = pg - args.entropy_coef * entropy.mean()
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), args.max_grad_norm)
            optimizer.step()
            losses.append((loss.item(), pg.item()))

        collected = sum(t.length for t in trajs)
        step += collected
        update += 1
        bar.update(collected)
        row = {
            "step": step,
            "update": update,
            "loss": float(np.mean([x[0] for x in losses])),
            "pg_loss": float(np.mean([x[1] for x in losses])),
            "entropy": old_entropy.mean().item(),
            "return": float(returns.mean()),
            "success": float(np.mean([t.escaped for t in trajs])),
            "episode_length": float(np.mean([t.length for t in trajs])),
            "adv_abs": float(np.abs(adv).mean()),
            "samples": len(old_logp),
            "samples_per_s": len(old_logp) / (time.perf_counter() - t0),
        }
        if update % args.eval_every == 0 or step >= args.steps:
            ev = evaluate_net(net, scenario, heldout, device, seed=args.seed * 1_000_003 + update)
            row.update({f"eval_{k}": v for k, v in ev.items()})
        log.write(**row)
        if update % args.checkpoint_every == 0 or step >= args.steps:
            save_run(
                args.run_dir,
                [Member("grpo", net, args.seed)],
                manifest,
                nets={"policy": net},
                optimizer=optimizer,
                step=step,
                update=update,
                rng=rng,
            )
    bar.close()
    log.plot(CURVES)
    venv.close()
    return row


if __name__ == "__main__":
    main()
