"""Off-policy value learning (double DQN) for a mazesim team, one Q-network shared by all agents.

``--num-envs`` worlds run in lockstep; each live agent acts ε-greedily over its legal actions
(ε decays linearly from ``--eps-start`` to ``--eps-end`` over ``--eps-fraction`` of the steps),
and every live agent's transition ``(s, mask, a, r, s', mask', done)`` goes to a replay ring
buffer (``done``: the agent left the maze; a transition cut by the time limit is dropped, since
the vector env hands back the next episode's observation, not the cut one). Once the buffer
holds ``--learning-starts`` transitions, every ``--train-freq`` vector steps one minibatch is
fit to the double-Q target (van Hasselt et al. 2016)::

    y = r + γ (1 − done) · Q_target(s', argmax_{a' legal} Q_online(s', a'))

with the Huber loss. The target net is copied every ``--target-update`` gradient steps, or
Polyak-averaged every step with ``--tau < 1`` (``θ⁻ ← τ θ + (1 − τ) θ⁻``).

**From values to a wave.** The ensemble needs action probabilities: this method's distribution
is ``softmax(Q/τ)`` over legal actions, ``τ = --temperature``. The saved member folds ``τ`` into
the last layer (its logits are ``Q/τ``), so ``member.net.probs(obs, mask)`` is that distribution
with no special case anywhere; ``Member.info`` records ``{"temperature": τ, "logits": "Q/temperature"}``
(multiply the logits by τ to get Q back). The raw Q weights are kept in the resume state.

    python -m agents.train_dqn --scenario tutorial --run-dir runs/dqn --steps 200000 --seed 0

Writes ``<run-dir>/metrics.jsonl`` (loss, q, epsilon, return, success, entropy of softmax(Q/τ)
per iteration of ``--iteration-steps`` vector steps), ``curves.png`` and ``last.pt`` (member
method ``"dqn"``); rerunning the same command resumes (the replay buffer refills).
"""

from __future__ import annotations

import argparse
import copy
import time
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812 - the usual torch alias

from agents.buffers import ReplayBuffer
from agents.checkpoint import Member
from agents.losses import double_q_targets, log_prob_entropy
from agents.policy import resolve_device
from agents.runlog import RunLog
from agents.training import (
    add_common_args,
    epsilon_greedy,
    evaluate_net,
    make_net,
    make_scenario,
    manifest_for,
    progress,
    resume,
    save_run,
    temperature_folded,
)
from mazesim.batch import BatchEnv

CURVES = ["loss", "return", "success", "entropy", "eval_success_rate"]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_args(p, steps=200_000, lr=2.5e-4)
    p.add_argument("--num-envs", type=int, default=8)
    p.add_argument("--buffer-size", type=int, default=100_000, help="transitions (live agent-steps)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--gamma", type=float, default=0.99)
    p.add_argument("--learning-starts", type=int, default=2_000, help="transitions before learning")
    p.add_argument("--train-freq", type=int, default=4, help="vector steps per gradient step")
    p.add_argument("--target-update", type=int, default=500, help="gradient steps between hard copies")
    p.add_argument("--tau", type=float, default=1.0, help="Polyak factor; < 1 averages every step")
    p.add_argument("--eps-start", type=float, default=1.0)
    p.add_argument("--eps-end", type=float, default=0.05)
    p.add_argument("--eps-fraction", type=float, default=0.5, help="share of --steps over which ε decays")
    p.add_argument("--temperature", type=float, default=0.1, help="τ of softmax(Q/τ), the saved wave")
    p.add_argument("--iteration-steps", type=int, default=64, help="vector steps per logged iteration")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict:
    args = parse_args(argv)

    # ---- the one place that sets global state: torch threads and RNG seeds ----------------
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    # ------------------------------------------------------------------------------------------

    device = resolve_device(args.device)
    scenario = make_scenario(args)
    venv = BatchEnv(scenario, num_envs=args.num_envs)
    q_net = make_net(venv.obs_shape, venv.n_actions, args).to(device)
    target = copy.deepcopy(q_net)
    optimizer = torch.optim.Adam(q_net.parameters(), lr=args.lr)
    log = RunLog(args.run_dir)

    nets = {"q": q_net, "target": target}
    step, iteration, extra = resume(args.run_dir, nets=nets, optimizer=optimizer, rng=rng, log=log)
    grad_steps = int(extra.get("grad_steps", 0))
    buffer = ReplayBuffer(args.buffer_size, venv.obs_shape, venv.n_actions, rng)
    heldout = list(scenario.heldout_seeds)[: args.eval_episodes]
    manifest = manifest_for("dqn", scenario, args)
    info_member = {"temperature": args.temperature, "logits": "Q/temperature"}
    bar = progress(args, step)

    obs, mask = venv.reset(seed=int(rng.integers(2**31)))
    mask = mask.astype(bool)
    active = np.ones(mask.shape[:2], dtype=bool)
    row: dict = {}
    while step < args.steps:
        t0 = time.perf_counter()
        losses, q_means, entropies, returns, escapes = [], [], [], [], []
        for _ in range(args.iteration_steps):
            epsilon = args.eps_end + (args.eps_start - args.eps_end) * max(
                0.0, 1.0 - step / max(1.0, args.eps_fraction * args.steps)
            )
            with torch.no_grad():
                o = torch.as_tensor(obs[active], device=device)
                m = torch.as_tensor(mask[active], device=device)
                q_live = q_net(o)
                _, h = log_prob_entropy(
                    q_live / args.temperature, m, torch.zeros(len(o), dtype=torch.long, device=device)
                )
                entropies.append(h.mean().item())
            q_all = np.zeros(mask.shape, dtype=np.float32)
            q_all[active] = q_live.cpu().numpy()
            actions = epsilon_greedy(q_all, mask, epsilon, rng)
            next_obs, next_mask, rewards, term, trunc, info = venv.step(actions)
            next_mask = next_mask.astype(bool)
            keep = active & (term | ~trunc)
            buffer.add(
                obs[keep],
                mask[keep],
                actions[keep],
                rewards[keep],
                next_obs[keep],
                next_mask[keep],
                term[keep],
            )
            returns += info["episode_return"][info["done"]].tolist()
            escapes += info["escaped"][info["done"]].tolist()
            obs, mask, active = next_obs, next_mask, info["active"]
            step += args.num_envs
            bar.update(args.num_envs)

            if len(buffer) >= args.learning_starts and step // args.num_envs % args.train_freq == 0:
                b = buffer.sample(args.batch_size).to(device)
                q = q_net(b["obs"]).gather(-1, b["actions"].unsqueeze(-1)).squeeze(-1)
                with torch.no_grad():
                    y = double_q_targets(
                        b["rewards"],
                        b["dones"],
                        q_net(b["next_obs"]),
                        target(b["next_obs"]),
                        b["next_mask"],
                        args.gamma,
                    )
                loss = F.smooth_l1_loss(q, y)
                optimizer.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(q_net.parameters(), args.max_grad_norm)
                optimizer.step()
                grad_steps += 1
                losses.append(loss.item())
                q_means.append(q.mean().item())
                if args.tau < 1.0:
                    with torch.no_grad():
                        for pt, po in zip(target.parameters(), q_net.parameters(), strict=True):
                            pt.lerp_(po, args.tau)
                elif grad_steps % args.target_update == 0:
                    target.load_state_dict(q_net.state_dict())
            if step >= args.steps:
                break
        iteration += 1
        row = {
            "step": step,
            "update": iteration,
            "grad_steps": grad_steps,
            "epsilon": epsilon,
            "loss": float(np.mean(losses)) if losses else float("nan"),
            "q": float(np.mean(q_means)) if q_means else float("nan"),
            "entropy": float(np.mean(entropies)),
            "return": float(np.mean(returns)) if returns else float("nan"),
            "success": float(np.mean(escapes)) if escapes else float("nan"),
            "episodes": len(returns),
            "buffer": len(buffer),
            "env_steps_per_s": args.iteration_steps * args.num_envs / (time.perf_counter() - t0),
        }
        if iteration % args.eval_every == 0 or step >= args.steps:
            member_net = temperature_folded(q_net, args.temperature).to(device)
            ev = evaluate_net(member_net, scenario, heldout, device, seed=args.seed * 1_000_003 + iteration)
            row.update({f"eval_{k}": v for k, v in ev.items()})
        log.write(**row)
        if iteration % args.checkpoint_every == 0 or step >= args.steps:
            save_run(
                args.run_dir,
                [Member("dqn", temperature_folded(q_net, args.temperature), args.seed, info_member)],
                manifest,
                nets=nets,
                optimizer=optimizer,
                step=step,
                update=iteration,
                rng=rng,
                extra={"grad_steps": grad_steps},
            )
    bar.close()
    log.plot(CURVES)
    venv.close()
    return row


if __name__ == "__main__":
    main()
