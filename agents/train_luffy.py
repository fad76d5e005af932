"""LUFFY-style mixed-policy GRPO: groups mix on-policy rollouts with expert traces of the same maze.

LUFFY (Yan et al. 2025, "Learning to Reason under Off-Policy Guidance") adds off-policy expert
traces to each GRPO group *before* the group mean is taken, so an expert trace that beats the
learner's rollouts gets a positive advantage, and trains on them through a shaped importance
term. Defaults are the paper's training-script values: groups of 8 = 7 on-policy rollouts + 1
expert trace (``--group-size 8 --experts-per-group 1``); advantage = team return − group mean,
no division by the std; the expert's behaviour probability taken as 1; no clipping; entropy
coefficient 0.001; no KL term. The batch is shuffled into ``--minibatches`` parts, one
gradient step each, on (see :func:`agents.losses.mixed_policy_loss`)::

    loss = −( Σ_on A · π(a|s)/π_old(a|s)  +  Σ_off A · f(π(a|s)) ) / (n_on + n_off)  −  0.001 · mean H(π(·|s))

over the minibatch's live agent-steps of rollouts (on) and expert traces (off), with the policy
shaping ``f(p) = p / (p + γ)``, ``γ = --shaping-gamma`` (0.1), ``π_old`` the policy that sampled
the batch (so the first step's on-policy gradient is exactly ``A · ∇log π``). Ablations:

* ``--no-shaping``: the off-policy term is the plain importance ratio ``f(p) = p`` (``π/1``),
  the paper's "off-policy RL without shaping";
* ``--no-mixing``: no expert traces, groups of ``--group-size`` on-policy rollouts: plain GRPO
  (same loss as :mod:`agents.train_grpo`).

Loss aggregation: the paper's token-level mean (``--loss-agg token``, default) weighs every
agent-step the same, so a short expert trace (tens of steps) is outweighed by long failed
rollouts (hundreds of steps, all with negative advantage); ``--loss-agg rollout`` averages per
rollout first (original GRPO), giving the expert trace the weight of one group member.

The expert is :func:`agents.rollout.expert_policy` on an ordinary environment with the group's
maze seed. ``entropy`` in ``metrics.jsonl`` is the mean entropy on the on-policy rows
of the sampling policy (comparable with :mod:`agents.train_grpo`); ``expert_prob`` is its mean
π(a_expert|s) on the expert rows.

    python -m agents.train_luffy --scenario tutorial --run-dir runs/luffy --steps 200000 --seed 0
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence

import numpy as np
import torch

import mazesim
from agents.buffers import PolicyBatch
from agents.checkpoint import Member
from agents.groups import collect_groups, expert_traces
from agents.losses import group_advantages, log_prob_entropy, mixed_policy_loss, row_weights
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

CURVES = ["loss", "return", "success", "entropy", "expert_prob", "eval_success_rate"]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_args(p, steps=200_000, lr=3e-4)
    add_group_args(p)  # --group-size counts the expert traces too
    p.add_argument("--experts-per-group", type=int, default=1)
    p.add_argument("--shaping-gamma", type=float, default=0.1, help="γ of f(p) = p / (p + γ)")
    p.add_argument("--no-shaping", action="store_true", help="off-policy term f(p) = p (ablation)")
    p.add_argument("--no-mixing", action="store_true", help="no expert traces: plain GRPO (ablation)")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict:
    args = parse_args(argv)
    n_expert = 0 if args.no_mixing else args.experts_per_group
    n_on = args.group_size - n_expert
    if args.group_size < 2 or n_on < 1 or n_expert < 0 or args.groups < 1:
        raise SystemExit(
            f"--group-size {args.group_size} with {n_expert} expert traces leaves {n_on} on-policy rollouts; "
            "a group needs >= 2 members and >= 1 on-policy rollout"
        )

    # ---- the one place that sets global state: torch threads and RNG seeds ----------------
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    # ------------------------------------------------------------------------------------------

    device = resolve_device(args.device)
    scenario = make_scenario(args)
    venv = BatchEnv(scenario, num_envs=args.groups * n_on)
    expert_env = mazesim.parallel_env(scenario)
    net = make_net(venv.obs_shape, venv.n_actions, args).to(device)
    optimizer = torch.optim.Adam(net.parameters(), lr=args.lr)
    log = RunLog(args.run_dir)

    step, update, extra = resume(args.run_dir, nets={"policy": net}, optimizer=optimizer, rng=rng, log=log)
    expert_steps = int(extra.get("expert_steps", 0))
    act = sampling_actor(net, device)
    train_seeds = np.asarray(scenario.train_seeds)
    heldout = list(scenario.heldout_seeds)[: args.eval_episodes]
    manifest = manifest_for("luffy", scenario, args)
    bar = progress(args, step)
    row: dict = {}
    while step < args.steps:
        t0 = time.perf_counter()
        maze_seeds = rng.choice(train_seeds, size=args.groups)
        on = collect_groups(venv, act, maze_seeds, n_on, seed=int(rng.integers(2**31)))
        off = expert_traces(expert_env, np.repeat(maze_seeds, n_expert), seed=int(rng.integers(2**31)))
        # group g = its n_on rollouts, then its n_expert expert traces; the mean is over all of them
        trajs, flags = [], []
        for g in range(args.groups):
            trajs += on[g * n_on : (g + 1) * n_on] + off[g * n_expert : (g + 1) * n_expert]
            flags += [False] * n_on + [True] * n_expert
        returns = np.array([t.team_return for t in trajs]).reshape(args.groups, args.group_size)
        adv = group_advantages(returns, scale_by_std=args.scale_by_std).ravel()
        batch = PolicyBatch.from_trajectories(trajs, adv, flags).to(device)

        off_rows = batch["off_policy"]
        with torch.no_grad():  # the sampling policy: π_old of the on-policy ratio, and what we log
            old_logp, old_entropy = log_prob_entropy(net(batch["obs"]), batch["mask"], batch["actions"])
        losses = []
        for idx in minibatches(len(old_logp), args.minibatches, device):
            logp, entropy = log_prob_entropy(
                net(batch["obs"][idx]), batch["mask"][idx], batch["actions"][idx]
            )
            policy_loss = mixed_policy_loss(
                logp,
                batch["advantages"][idx],
                off_rows[idx],
                old_logp=old_logp[idx],
                weights=row_weights(batch["rollout"][idx], args.loss_agg),
                gamma=args.shaping_gamma,
                shaping=not args.no_shaping,
            )
            loss = policy_loss - args.entropy_coef * entropy.mean()
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), args.max_grad_norm)
            optimizer.step()
            losses.append((loss.item(), policy_loss.item()))

        collected = sum(t.length for t in on)
        step += collected
        expert_steps += sum(t.length for t in off)
        update += 1
        bar.update(collected)
        is_off = np.array(flags)
        row = {
            "step": step,
            "update": update,
            "expert_steps": expert_steps,
            "loss": float(np.mean([x[0] for x in losses])),
            "policy_loss": float(np.mean([x[1] for x in losses])),
            "entropy": old_entropy[~off_rows].mean().item(),
            "return": float(returns.ravel()[~is_off].mean()),
            "success": float(np.mean([t.escaped for t in on])),
            "episode_length": float(np.mean([t.length for t in on])),
            "adv_abs": float(np.abs(adv).mean()),
            "samples": len(old_logp),
            "samples_per_s": len(old_logp) / (time.perf_counter() - t0),
        }
        if off:
            row.update(
                {
                    "expert_return": float(returns.ravel()[is_off].mean()),
                    "expert_success": float(np.mean([t.escaped for t in off])),
                    "expert_adv": float(adv[is_off].mean()),
                    "expert_prob": old_logp[off_rows].exp().mean().item(),
                }
            )
        if update % args.eval_every == 0 or step >= args.steps:
            ev = evaluate_net(net, scenario, heldout, device, seed=args.seed * 1_000_003 + update)
            row.update({f"eval_{k}": v for k, v in ev.items()})
        log.write(**row)
        if update % args.checkpoint_every == 0 or step >= args.steps:
            save_run(
                args.run_dir,
                [Member("luffy", net, args.seed, {"shaping": not args.no_shaping, "mixing": n_expert > 0})],
                manifest,
                nets={"policy": net},
                optimizer=optimizer,
                step=step,
                update=update,
                rng=rng,
                extra={"expert_steps": expert_steps},
            )
    bar.close()
    log.plot(CURVES)
    venv.close()
    expert_env.close()
    return row


if __name__ == "__main__":
    main()
