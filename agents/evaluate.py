"""Evaluate a policy on a scenario's maze seeds: ``python -m agents.evaluate --policy PATH|expert|random``.

Per run it reports (:func:`evaluate` returns the same numbers as a dict for other code):

* ``success_rate`` — fraction of episodes in which the whole team escaped;
* ``mean_steps`` — mean episode length over the escaped episodes;
* ``path_efficiency`` — mean of ``expert steps / policy steps`` over mazes both escaped (the
  expert is :func:`mazesim.expert.solve` on the same maze, within ``max_cycles``); 1 = as fast as
  the expert, above 1 = faster;
* ``promise_kept_rate`` — kept non-``stay`` promises / all non-``stay`` promises of live agents
  (a ``stay`` is always kept, so counting it would only dilute the rate);
* ``entropy`` (nats), and for ensembles ``tv`` and ``vote_entropy`` (member disagreement, see
  :mod:`agents.ensemble`), averaged over live agent-steps — neural policies only;
* ``expert_success_rate`` — the expert's success on the same mazes, for reference.

Options::

    --policy PATH|expert|random   a checkpoint (one classifier or an ensemble) or a built-in
    --scenario NAME_OR_PATH       preset or scenario file (default: tutorial)
    --split heldout|train         which maze seeds (default: heldout)
    --episodes N                  the first N seeds of the split (default: all held-out seeds, 100 train)
    --seed S                      episode k is reset with seed S + k (solver noise)
    --action-mode MODE            discrete or superposition (default: what suits the policy)
    --combine RULE, --act MODE    ensemble rule and discrete acting mode (see agents.policy)
    --json OUT                    also write the numbers (and per-episode rows) as JSON
    --device auto|cpu|cuda
    --parallel K                  episodes played at once, in lockstep (default 25)

Example (the numbers of the README's results section)::

    python -m agents.evaluate --policy agents/pretrained/tutorial.pt --scenario tutorial --split heldout
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from agents.rollout import Policy, Trajectory, run_episodes
from mazesim.world import Action

#: episodes played at once by :func:`evaluate` (one forward pass of a neural policy for all)
PARALLEL = 25


def split_seeds(scenario: Any, split: str, episodes: int | None = None) -> list[int]:
    """The first ``episodes`` maze seeds of ``scenario``'s ``"heldout"`` or ``"train"`` split."""
    from mazesim.scenario import load_scenario

    sc = load_scenario(scenario) if not hasattr(scenario, "heldout_seeds") else scenario
    if split not in ("heldout", "train"):
        raise ValueError(f"split={split!r} is unknown; use heldout or train")
    seeds = sc.heldout_seeds if split == "heldout" else sc.train_seeds
    n = len(seeds) if episodes is None else min(int(episodes), len(seeds))
    return [int(s) for s in seeds[:n]]


def promise_counts(traj: Trajectory) -> tuple[int, int]:
    """``(kept, made)``: non-``stay`` promises of live agents in ``traj`` that were kept, and all.

    Works in both action modes: a promise was ``stay`` exactly when it was kept and ``stay`` was
    executed (``stay`` is never withdrawn, and a kept promise is what was executed).
    """
    stay = traj.kept & (traj.executed == Action.STAY)
    return int((traj.active & traj.kept & ~stay).sum()), int((traj.active & ~stay).sum())


def evaluate(
    policy: Policy,
    scenario: Any,
    seeds: Iterable[int],
    *,
    seed: int = 0,
    action_mode: str | None = None,
    progress: bool = False,
    parallel: int = PARALLEL,
) -> dict[str, Any]:
    """Play ``policy`` once on each maze seed of ``scenario`` and measure it (see module docstring).

    ``action_mode`` defaults to ``policy.action_mode`` (else ``"discrete"``). Episode ``k`` is
    reset with ``seed + k``. ``parallel`` episodes are played in lockstep, a neural policy acting
    for all of them in one forward pass (:func:`agents.rollout.run_episodes`); a policy that is a
    function of its observation (neural policies in superposition mode or acting greedily, the
    expert) gets the same results for any ``parallel``, while the random policy and ``act="sample"``
    draw their numbers in lockstep order. Returns the metrics as floats (NaN where undefined, e.g.
    no escape) plus ``episodes`` and ``per_episode`` (one dict per maze).

    >>> from agents.policy import load_policy
    >>> r = evaluate(load_policy("random"), "tutorial", [100000], seed=0)
    >>> r["episodes"], 0.0 <= r["success_rate"] <= 1.0
    (1, True)
    """
    import mazesim
    from mazesim.expert import solve

    if parallel < 1:
        raise ValueError(f"parallel={parallel} must be >= 1 (episodes played at once)")
    mode = action_mode or getattr(policy, "action_mode", "discrete")
    seeds = [int(s) for s in seeds]
    envs = [mazesim.parallel_env(scenario, action_mode=mode) for _ in range(min(parallel, len(seeds)) or 1)]
    if hasattr(policy, "reset_stats"):
        policy.reset_stats()
    rows = []
    kept = promised = 0
    jobs = [(seed + k, maze_seed) for k, maze_seed in enumerate(seeds)]
    experts: dict[int, Any] = {}  # the expert on each episode's maze, solved as the episode ends

    def solve_maze(k: int, env: Any, _: Trajectory) -> None:
        experts[k] = solve(env.maze, max_steps=env.max_cycles)

    bar = tqdm(total=len(jobs), desc="evaluate", disable=not progress, leave=False)
    for first in range(0, len(jobs), len(envs) * 4):  # in chunks, so that the bar moves
        chunk = jobs[first : first + len(envs) * 4]
        for k, traj in enumerate(run_episodes(envs, policy, chunk, record_obs=False, on_done=solve_maze)):
            expert = experts.pop(k)
            k_kept, k_promised = promise_counts(traj)
            kept, promised = kept + k_kept, promised + k_promised
            rows.append(
                {
                    "maze_seed": traj.maze_seed,
                    "escaped": bool(traj.escaped),
                    "steps": traj.length,
                    "return": traj.team_return,
                    "expert_escaped": bool(expert.escaped),
                    "expert_steps": int(expert.steps),
                }
            )
            bar.update()
    bar.close()
    escaped = [r for r in rows if r["escaped"]]
    both = [r for r in escaped if r["expert_escaped"]]
    out: dict[str, Any] = {
        "episodes": len(rows),
        "action_mode": mode,
        "success_rate": _mean([r["escaped"] for r in rows]),
        "mean_steps": _mean([r["steps"] for r in escaped]),
        "path_efficiency": _mean([r["expert_steps"] / r["steps"] for r in both]),
        "promise_kept_rate": kept / promised if promised else math.nan,
        "mean_return": _mean([r["return"] for r in rows]),
        "expert_success_rate": _mean([r["expert_escaped"] for r in rows]),
    }
    if hasattr(policy, "summary"):
        out.update(policy.summary())
    out["per_episode"] = rows
    return out


def _mean(values: list) -> float:
    return float(np.mean(values)) if values else math.nan


def format_table(results: dict[str, Any], title: str = "") -> str:
    """The scalar results as a two-column text table."""
    lines = [title] if title else []
    scalars = [(k, v) for k, v in results.items() if k != "per_episode"]
    width = max(len(k) for k, _ in scalars)
    lines.append(f"{'metric':<{width}}  value")
    lines.append(f"{'-' * width}  {'-' * 8}")
    for k, v in scalars:
        text = f"{v:.4f}" if isinstance(v, float) else str(v)
        lines.append(f"{k:<{width}}  {text}")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m agents.evaluate", description=__doc__.splitlines()[0])
    p.add_argument("--policy", required=True, help="checkpoint path, expert or random")
    p.add_argument("--scenario", default="tutorial")
    p.add_argument("--split", default="heldout", choices=("heldout", "train"))
    p.add_argument("--episodes", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--action-mode", default=None, choices=("discrete", "superposition"))
    p.add_argument("--combine", default=None, choices=("soft", "product", "majority"))
    p.add_argument("--act", default="auto", choices=("auto", "greedy", "sample"))
    p.add_argument("--json", default=None, help="write the results as JSON to this file")
    p.add_argument("--device", default="cpu", choices=("auto", "cpu", "cuda"))
    p.add_argument("--parallel", type=int, default=PARALLEL, help="episodes played at once (lockstep)")
    p.add_argument("--no-progress", action="store_true")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from agents.checkpoint import CheckpointError
    from agents.policy import load_policy
    from mazesim.scenario import ScenarioError

    if args.episodes is not None and args.episodes < 1:
        print("agents.evaluate: --episodes must be >= 1", file=sys.stderr)
        return 2
    if args.parallel < 1:
        print("agents.evaluate: --parallel must be >= 1", file=sys.stderr)
        return 2
    try:
        policy = load_policy(
            args.policy, device=args.device, combine=args.combine, act=args.act, seed=args.seed
        )
        episodes = args.episodes if args.episodes is not None or args.split == "heldout" else 100
        seeds = split_seeds(args.scenario, args.split, episodes)
    except (CheckpointError, ScenarioError, ValueError) as exc:
        print(f"agents.evaluate: {exc}", file=sys.stderr)
        return 2
    progress = not args.no_progress and sys.stderr.isatty()
    results = evaluate(
        policy, args.scenario, seeds, seed=args.seed, action_mode=args.action_mode, progress=progress,
        parallel=args.parallel,
    )  # fmt: skip
    name = getattr(policy, "name", args.policy)
    print(format_table(results, f"{name} on {args.scenario} ({args.split} seeds)"))
    if args.json:
        results = {"policy": str(args.policy), "scenario": str(args.scenario), "split": args.split, **results}
        Path(args.json).write_text(json.dumps(results, indent=1, default=float) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
