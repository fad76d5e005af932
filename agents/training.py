"""What every training script shares: options, actors, evaluation, resumable run folders.

A run folder holds ``metrics.jsonl`` (:class:`~agents.runlog.RunLog`), ``curves.png`` and
``last.pt``: a checkpoint (:mod:`agents.checkpoint`) whose members are what users load, and whose
``state`` holds what resuming needs, as plain data: the raw weights of every trained net, the
optimiser state, the step and update counters, the torch and numpy RNG states and a few
method-specific extras. :func:`resume` puts all of that back, so a killed run continues where
its last checkpoint left it (metrics written after that point are dropped).

>>> import argparse
>>> p = argparse.ArgumentParser(); add_common_args(p, steps=1000, lr=1e-3)
>>> args = p.parse_args(["--run-dir", "runs/x", "--hidden", "64", "64"])
>>> args.hidden, args.device
([64, 64], 'auto')
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from agents.checkpoint import CheckpointError, Member, load_checkpoint, save_checkpoint
from agents.nets import ARCH_KINDS, ArchConfig, Classifier
from agents.runlog import RunLog
from mazesim.scenario import Scenario, load_scenario

LAST = "last.pt"
#: What :func:`evaluate_net` keeps of :func:`agents.evaluate.evaluate`'s result.
EVAL_KEYS = (
    "success_rate",
    "mean_return",
    "mean_steps",
    "entropy",
    "promise_kept_rate",
    "expert_success_rate",
)


def add_common_args(parser: argparse.ArgumentParser, *, steps: int, lr: float) -> None:
    """Options every training script takes (scenario, run folder, budget, seed, device, net, logging)."""
    parser.add_argument("--scenario", default="tutorial", help="preset name or path to a .toml scenario")
    parser.add_argument("--run-dir", type=Path, required=True, help="folder for metrics, curves, last.pt")
    parser.add_argument("--steps", type=int, default=steps, help="environment steps (one world, one step)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads (small nets: 1 is fastest on a busy machine)",
    )
    parser.add_argument(
        "--init",
        type=Path,
        default=None,
        help="warm start from the first member of this checkpoint (its architecture wins over --arch)",
    )
    parser.add_argument("--arch", default="plan", choices=ARCH_KINDS, help="see agents.nets.ArchConfig")
    parser.add_argument("--hidden", type=int, nargs="+", default=[128])
    parser.add_argument("--channels", type=int, nargs="+", default=[16, 16])
    parser.add_argument(
        "--iterations", type=int, default=0, help="most propagation steps of --arch plan (0: H*W, any path)"
    )
    parser.add_argument("--lr", type=float, default=lr)
    parser.add_argument("--max-grad-norm", type=float, default=1.0, help="gradient clipping (L2 norm)")
    parser.add_argument("--max-cycles", type=int, default=None, help="override the scenario's episode length")
    parser.add_argument("--checkpoint-every", type=int, default=10, help="updates between checkpoints")
    parser.add_argument("--eval-every", type=int, default=20, help="updates between held-out evaluations")
    parser.add_argument("--eval-episodes", type=int, default=10, help="held-out mazes per evaluation")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def add_group_args(parser: argparse.ArgumentParser) -> None:
    """Options of the group-relative policy-gradient scripts (GRPO, LUFFY)."""
    parser.add_argument("--groups", type=int, default=2, help="maze seeds per update")
    parser.add_argument("--group-size", type=int, default=8, help="rollouts per maze seed (G)")
    parser.add_argument("--scale-by-std", action="store_true", help="divide advantages by the group std")
    parser.add_argument("--entropy-coef", type=float, default=0.001)
    parser.add_argument(
        "--minibatches", type=int, default=4, help="gradient steps per batch (shuffled, disjoint minibatches)"
    )
    parser.add_argument(
        "--loss-agg",
        default="token",
        choices=("token", "rollout"),
        help="mean over all agent-steps (token) or per rollout, then over rollouts (see losses.row_weights)",
    )


def make_scenario(args: argparse.Namespace) -> Scenario:
    """The scenario of ``--scenario``, with ``--max-cycles`` applied."""
    overrides: dict[str, Any] = {} if args.max_cycles is None else {"max_cycles": args.max_cycles}
    return load_scenario(args.scenario, **overrides)


def make_net(obs_shape: Sequence[int], n_actions: int, args: argparse.Namespace) -> Classifier:
    """A classifier with the architecture given by ``--arch``, ``--hidden``, ``--channels``, or,
    with ``--init CHECKPOINT``, a copy of that checkpoint's first member (a warm start: e.g. a
    policy-gradient or Q-learning member that begins from an imitation member's weights)."""
    if getattr(args, "init", None) is not None:
        net = load_checkpoint(args.init).members[0].net
        if tuple(net.obs_shape) != tuple(obs_shape) or net.n_actions != n_actions:
            raise CheckpointError(
                f"--init {args.init}: its classifier takes {net.obs_shape} -> {net.n_actions}, "
                f"this scenario needs {tuple(obs_shape)} -> {n_actions}"
            )
        return net.train()
    arch = ArchConfig(
        kind=args.arch,
        hidden=tuple(args.hidden),
        channels=tuple(args.channels),
        iterations=getattr(args, "iterations", 0),
    )
    return Classifier(obs_shape, n_actions, arch)


def progress(args: argparse.Namespace, initial: int) -> tqdm:
    """A progress bar over environment steps (off with ``--no-progress`` or when not a terminal)."""
    return tqdm(
        total=args.steps,
        initial=min(initial, args.steps),
        unit="step",
        disable=args.no_progress or not sys.stderr.isatty(),
    )


def sampling_actor(
    net: Classifier, device: torch.device, *, greedy: bool = False
) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """An actor for :func:`agents.groups.collect_groups`: ``(B, N, C, H, W)``, ``(B, N, A)`` →
    ``(B, N)`` actions sampled from the net's masked distribution (torch's global generator,
    seeded by the training script) or its argmax with ``greedy``."""

    @torch.no_grad()
    def act(obs: np.ndarray, mask: np.ndarray) -> np.ndarray:
        lead = mask.shape[:-1]
        o = torch.as_tensor(obs, device=device).reshape(-1, *obs.shape[len(lead) :])
        m = torch.as_tensor(mask, device=device).reshape(-1, mask.shape[-1]).bool()
        probs = net.probs(o, m)
        a = probs.argmax(-1) if greedy else torch.multinomial(probs, 1).squeeze(-1)
        return a.reshape(lead).cpu().numpy()

    return act


def evaluate_net(
    net: Classifier, scenario: Scenario, seeds: Sequence[int], device: torch.device, *, seed: int
) -> dict[str, float]:
    """:func:`agents.evaluate.evaluate` of ``net`` as a one-member ensemble (its distribution is
    the wave in superposition mode, as when it is deployed), on ``seeds``; returns the numeric
    metrics named in :data:`EVAL_KEYS`."""
    from agents.ensemble import Ensemble
    from agents.evaluate import evaluate

    result = evaluate(Ensemble([net], device=device).policy(), scenario, seeds, seed=seed)
    net.train()
    return {k: float(result[k]) for k in EVAL_KEYS}


def _cpu(obj: Any) -> Any:
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, dict):
        return {k: _cpu(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_cpu(v) for v in obj)
    return obj


def save_run(
    run_dir: Path,
    members: list[Member],
    manifest: dict,
    *,
    nets: dict[str, torch.nn.Module],
    optimizer: torch.optim.Optimizer,
    step: int,
    update: int,
    rng: np.random.Generator,
    extra: dict | None = None,
) -> Path:
    """Write ``<run_dir>/last.pt`` atomically: ``members`` for users, everything else for resuming."""
    state = {
        "nets": {k: _cpu(n.state_dict()) for k, n in nets.items()},
        "optimizer": _cpu(optimizer.state_dict()),
        "step": int(step),
        "update": int(update),
        "torch_rng": torch.get_rng_state(),
        "cuda_rng": [s.cpu() for s in torch.cuda.get_rng_state_all()] if torch.cuda.is_available() else [],
        "numpy_rng": rng.bit_generator.state,
        "extra": _cpu(extra or {}),
    }
    path = Path(run_dir) / LAST
    save_checkpoint(path, members, manifest, state)
    return path


def resume(
    run_dir: Path,
    *,
    nets: dict[str, torch.nn.Module],
    optimizer: torch.optim.Optimizer,
    rng: np.random.Generator,
    log: RunLog,
) -> tuple[int, int, dict]:
    """Restore ``<run_dir>/last.pt`` if it exists; returns ``(step, update, extra)`` (zeros and
    ``{}`` for a fresh run). Raises :class:`CheckpointError` if the file is not a resumable run
    of these nets."""
    path = Path(run_dir) / LAST
    if not path.exists():
        return 0, 0, {}
    state = load_checkpoint(path).state
    if not state or "nets" not in state:
        raise CheckpointError(f"{path} has no resume state; use a new --run-dir or delete the file")
    try:
        for name, net in nets.items():
            net.load_state_dict(state["nets"][name])
        optimizer.load_state_dict(state["optimizer"])
    except (KeyError, RuntimeError, ValueError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CheckpointError(
            f"{path} was written by a run with other nets or options ({first}); "
            "resume with the same options or use a new --run-dir"
        ) from None
    torch.set_rng_state(state["torch_rng"])
    if state.get("cuda_rng") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda_rng"])
    rng.bit_generator.state = state["numpy_rng"]
    log.truncate_after(int(state["step"]))
    return int(state["step"]), int(state["update"]), dict(state.get("extra") or {})


def manifest_for(method: str, scenario: Scenario, args: argparse.Namespace) -> dict:
    """The manifest a training script writes: method, scenario, options (JSON-safe)."""
    options = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    return {"method": method, "scenario": scenario.name, "options": options}


def epsilon_greedy(q: np.ndarray, mask: np.ndarray, epsilon: float, rng: np.random.Generator) -> np.ndarray:
    """Per row of ``q`` ``(..., A)``: with probability ``epsilon`` a uniformly random legal action
    (``mask`` ``(..., A)`` bool), else the legal action of highest value. Returns ``(...)`` int64.

    >>> q = np.array([[1.0, 5.0, 2.0]]); m = np.array([[True, False, True]])
    >>> int(epsilon_greedy(q, m, 0.0, np.random.default_rng(0))[0])
    2
    """
    greedy = np.where(mask, q, -np.inf).argmax(-1)
    noise = np.where(mask, rng.random(mask.shape), -1.0).argmax(-1)
    explore = rng.random(greedy.shape) < epsilon
    return np.where(explore, noise, greedy).astype(np.int64)


def temperature_folded(net: Classifier, temperature: float) -> Classifier:
    """A copy of the Q-network ``net`` whose logits are ``Q / temperature`` (the last linear layer
    divided by τ), so ``copy.probs(obs, mask)`` is ``softmax(Q/τ)`` over legal actions and an
    ensemble can use it like any classifier, without knowing τ."""
    import copy

    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    folded = copy.deepcopy(net).cpu()
    last = folded.body[-1]
    with torch.no_grad():
        last.weight.div_(temperature)
        last.bias.div_(temperature)
    return folded


def minibatches(n: int, k: int, device: torch.device | str = "cpu") -> list[torch.Tensor]:
    """``n`` row indices shuffled (torch's global generator) and cut into ``k`` near-equal parts.

    >>> torch.manual_seed(0) and None
    >>> sorted(torch.cat(minibatches(5, 2)).tolist()), [len(i) for i in minibatches(5, 2)]
    ([0, 1, 2, 3, 4], [3, 2])
    """
    if k < 1:
        raise ValueError(f"--minibatches must be >= 1, got {k}")
    return list(torch.randperm(n, device=device).tensor_split(min(k, max(n, 1))))
