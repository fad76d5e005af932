"""Imitation: classify the expert's actions (supervised fine-tuning, in LLM terms), with optional DAgger.

    python -m agents.train_imitation --scenario tutorial --run-dir runs/imitation --seed 0

1. Collect expert data: the expert planner plays ``--episodes`` training mazes; every live
   agent's (observation, expert action) is a sample (:func:`agents.data.collect_expert`).
2. Train the classifier by cross-entropy on masked logits, minibatches drawn uniformly.
3. ``--dagger-rounds K``: at updates ``S/(K+1), 2S/(K+1), ...`` the current classifier plays
   ``--dagger-episodes`` new training mazes, the expert labels every state it visits, and the
   samples join the data (DAgger, Ross et al. 2011: the learner learns to recover from its own
   mistakes).

Here ``--steps`` counts gradient updates (one minibatch each). Every update writes a line to
``<run-dir>/metrics.jsonl`` (loss, accuracy, entropy, wall and CPU seconds since the start of this
run, data collection included; held-out evaluation every
``--eval-every`` updates as ``eval_*``); curves go to ``<run-dir>/curves.png``. The model and
everything needed to resume go to ``<run-dir>/last.pt`` every ``--checkpoint-every`` updates
and at the end, the data set to ``<run-dir>/data.npz``. Run again with the same ``--run-dir``,
the script resumes where the checkpoint left off (a larger ``--steps`` continues training).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812 - the usual torch alias

import mazesim
from agents.checkpoint import CheckpointError, Member
from agents.data import Dataset, collect_dagger, collect_expert
from agents.ensemble import Ensemble
from agents.nets import masked_logits
from agents.policy import resolve_device
from agents.runlog import RunLog
from agents.training import (
    add_common_args,
    evaluate_net,
    make_net,
    make_scenario,
    manifest_for,
    progress,
    resume,
    save_run,
)

CURVES = ["loss", "accuracy", "entropy", "eval_success_rate"]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m agents.train_imitation", description=__doc__.splitlines()[0])
    add_common_args(p, steps=800, lr=3e-3)
    p.set_defaults(checkpoint_every=400, eval_every=400)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--episodes", type=int, default=200, help="expert episodes (training mazes) for the data")
    p.add_argument("--dagger-rounds", type=int, default=1)
    p.add_argument("--dagger-episodes", type=int, default=100, help="learner episodes per DAgger round")
    args = p.parse_args(argv)
    for name in ("steps", "batch_size", "episodes", "dagger_episodes", "eval_every", "checkpoint_every"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1")
    if args.dagger_rounds < 0:
        p.error("--dagger-rounds must be >= 0")
    return args


def main(argv: Sequence[str] | None = None) -> dict:
    args = parse_args(argv)
    cpu_start = time.process_time()  # the CPU time of this run, data collection and evaluations included
    # ---- the one place that sets global state (before the net is built): threads, RNG seeds ---
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    # ------------------------------------------------------------------------------------------

    device = resolve_device(args.device)
    scenario = make_scenario(args)
    env = mazesim.parallel_env(scenario)
    train_seeds = list(scenario.train_seeds)
    heldout = list(scenario.heldout_seeds)[: args.eval_episodes]
    if args.episodes + args.dagger_rounds * args.dagger_episodes > len(train_seeds):
        raise SystemExit(
            f"--episodes + --dagger-rounds * --dagger-episodes exceed the {len(train_seeds)} training "
            f"mazes of {scenario.name}; lower them"
        )
    obs_shape = env.observation_space(env.possible_agents[0])["observation"].shape
    net = make_net(obs_shape, env.action_space(env.possible_agents[0]).n, args).to(device)
    optimizer = torch.optim.Adam(net.parameters(), lr=args.lr)
    log = RunLog(args.run_dir)
    data_path = args.run_dir / "data.npz"

    try:
        step, _, _ = resume(args.run_dir, nets={"policy": net}, optimizer=optimizer, rng=rng, log=log)
    except CheckpointError as exc:
        raise SystemExit(f"train_imitation: cannot resume: {exc}") from None
    if data_path.exists():
        data, extra = Dataset.load(data_path)
        rounds_done = extra["dagger_rounds"]
    else:
        data = collect_expert(env, train_seeds[: args.episodes], seed=args.seed)
        rounds_done = 0
        data.save(data_path, dagger_rounds=0)
    # DAgger round r (1..K) is collected when training reaches update r * S / (K + 1)
    due_at = [round(r * args.steps / (args.dagger_rounds + 1)) for r in range(1, args.dagger_rounds + 1)]
    obs_t, mask_t, act_t = (torch.as_tensor(a, device=device) for a in (data.obs, data.mask, data.action))
    manifest = manifest_for("imitation", scenario, args)

    def save(final: dict | None = None) -> None:
        manifest.update(samples=len(data), expert_episodes=args.episodes, expert_escaped=data.escaped)
        manifest.update(dagger_rounds_done=rounds_done, **({"final_eval": final} if final else {}))
        member = Member("imitation", net, args.seed, {"updates": step})
        save_run(
            args.run_dir, [member], manifest, nets={"policy": net}, optimizer=optimizer, step=step,
            update=step, rng=rng,
        )  # fmt: skip

    start = time.perf_counter()
    bar = progress(args, step)
    net.train()
    row: dict = {}
    while step < args.steps:
        row = {}
        while rounds_done < sum(s <= step for s in due_at):
            first = args.episodes + rounds_done * args.dagger_episodes
            learner = Ensemble([net], device=device).policy(act="greedy")
            new = collect_dagger(
                env, learner, train_seeds[first : first + args.dagger_episodes], seed=args.seed + first
            )
            net.train()
            data = data.concat(new)
            rounds_done += 1
            data.save(data_path, dagger_rounds=rounds_done)
            obs_t, mask_t, act_t = (
                torch.as_tensor(a, device=device) for a in (data.obs, data.mask, data.action)
            )
            row.update(dagger_round=rounds_done, dagger_escape_rate=new.escaped / max(new.episodes, 1))

        idx = torch.as_tensor(rng.integers(len(data), size=args.batch_size), device=device)
        logits = masked_logits(net(obs_t[idx]), mask_t[idx])
        loss = F.cross_entropy(logits, act_t[idx])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), args.max_grad_norm)
        optimizer.step()
        step += 1
        bar.update(1)

        with torch.no_grad():
            row.update(
                step=step,
                loss=loss.item(),
                accuracy=(logits.argmax(dim=-1) == act_t[idx]).float().mean().item(),
                entropy=torch.special.entr(torch.softmax(logits, dim=-1)).sum(dim=-1).mean().item(),
                samples=len(data),
                seconds=time.perf_counter() - start,
                cpu_seconds=time.process_time() - cpu_start,
            )
        if step % args.eval_every == 0 or step == args.steps:
            ev = evaluate_net(net, scenario, heldout, device, seed=args.seed)
            row.update({f"eval_{k}": v for k, v in ev.items()})
        log.write(**row)
        if step % args.checkpoint_every == 0 and step < args.steps:
            save()
    bar.close()
    save({k[5:]: v for k, v in row.items() if k.startswith("eval_")})
    log.plot(CURVES)
    return row


if __name__ == "__main__":
    sys.exit(0 if main() is not None else 1)
