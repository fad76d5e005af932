"""Policies for play and evaluation, by name or from a checkpoint file.

:func:`load_policy` turns ``"expert"``, ``"random"`` or the path of a checkpoint (one classifier
or an ensemble) into a callable ``policy(obs (N, C, H, W), mask (N, A) bool, env) -> actions``,
the form :func:`agents.rollout.run_episode` takes. Every policy it returns has

* ``name``: a short label for tables;
* ``action_mode``: the env mode that suits it best — ``"superposition"`` for neural policies
  (their distributions become the agents' waves, so the WFC solver collapses confident agents
  first), ``"discrete"`` for the expert and random policies;
* it works in **either** mode: a neural policy returns waves ``(N, A)`` float32 in superposition
  mode and its most probable actions ``(N,)`` in discrete mode; the expert and random policies
  return actions ``(N,)`` in discrete mode and one-hot waves in superposition mode.

How a player (``mazesim.play``) uses it::

    from agents.policy import load_policy, default_policy
    policy = load_policy(args.policy) if args.policy else default_policy()
    env = mazesim.parallel_env(scenario, action_mode=policy.action_mode)
    observations, _ = env.reset(seed=seed)
    while env.agents:
        obs, mask = stack_observations(env, observations)     # agents.rollout
        chosen = policy(obs, mask, env)
        actions = {a: chosen[env._index[a]] for a in env.agents}
        observations, *_ = env.step(actions)

>>> policy = load_policy("expert")
>>> policy.name, policy.action_mode
('expert', 'discrete')
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from agents.checkpoint import CheckpointError, load_checkpoint
from agents.ensemble import Ensemble, EnsemblePolicy
from agents.rollout import expert_policy
from mazesim.world import N_ACTIONS

PRETRAINED_DIR = Path(__file__).resolve().parent / "pretrained"


def pretrained_path(scenario: str) -> Path:
    """Where the team shipped for the preset ``scenario`` lives (the file may not exist)."""
    return PRETRAINED_DIR / f"{scenario}.pt"


#: The shipped tutorial team (four members, one per training method), built by
#: ``agents/pretrained/build.sh``; ``mazesim.play`` plays it by default.
DEFAULT_ENSEMBLE: Path = pretrained_path("tutorial")
BUILTINS = ("expert", "random")


def resolve_device(device: str) -> torch.device:
    """``"auto"`` → CUDA when available, else CPU; ``"cpu"`` / ``"cuda"`` as given."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device not in ("cpu", "cuda"):
        raise ValueError(f"device={device!r} is unknown; use auto, cpu or cuda")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' was asked for but torch sees no CUDA device; use --device cpu")
    return torch.device(device)


def _one_hot_if_waves(actions: np.ndarray, env: Any) -> np.ndarray:
    if env.action_mode == "superposition":
        return np.eye(N_ACTIONS, dtype=np.float32)[actions]
    return actions


class ExpertPolicy:
    """The centralised expert planner (reads the env's true state, not the observation)."""

    name = "expert"
    action_mode = "discrete"

    def __call__(self, obs: np.ndarray, mask: np.ndarray, env: Any) -> np.ndarray:
        return _one_hot_if_waves(expert_policy(obs, mask, env), env)


class RandomPolicy:
    """Uniformly random legal actions drawn from ``rng``."""

    name = "random"
    action_mode = "discrete"

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng

    def __call__(self, obs: np.ndarray, mask: np.ndarray, env: Any) -> np.ndarray:
        m = np.asarray(mask, dtype=bool)
        # one uniform per agent, mapped onto that agent's legal actions
        k = (self.rng.random(len(m)) * m.sum(axis=1)).astype(np.int64)
        choice = np.array([np.flatnonzero(row)[j] for row, j in zip(m, k, strict=True)], dtype=np.int64)
        return _one_hot_if_waves(choice, env)


class NeuralPolicy(EnsemblePolicy):
    """An ensemble (or a single classifier) loaded from a checkpoint; see :class:`EnsemblePolicy`.

    ``checkpoint`` is the loaded :class:`~agents.checkpoint.Checkpoint` (manifest, members).
    """

    def __init__(self, ensemble: Ensemble, checkpoint: Any, **kwargs: Any) -> None:
        super().__init__(ensemble, **kwargs)
        self.checkpoint = checkpoint
        methods = sorted({m.method for m in ensemble.members})
        where = f"{checkpoint.path.parent.name}/{checkpoint.path.name}"
        self.name = f"{where} [{len(ensemble)}x {'+'.join(methods)}]"


def load_policy(
    path_or_name: str | Path,
    *,
    device: str = "cpu",
    combine: str | None = None,
    act: str = "auto",
    seed: int = 0,
) -> ExpertPolicy | RandomPolicy | NeuralPolicy:
    """A policy from ``"expert"``, ``"random"`` or a checkpoint path.

    A checkpoint with one member is a single classifier, several form an ensemble combined by
    ``combine`` (default: the rule recorded in its manifest, else ``"soft"``). ``act`` and
    ``seed`` choose how a neural policy acts in discrete mode (``"auto"``/``"greedy"``: most
    probable action; ``"sample"``: drawn with ``np.random.default_rng(seed)``); ``seed`` also
    seeds the random policy. Raises :class:`~agents.checkpoint.CheckpointError` for a file that
    is missing, not a checkpoint, unsafe or incompatible — nothing in it is executed.
    """
    if isinstance(path_or_name, str) and path_or_name in BUILTINS:
        return ExpertPolicy() if path_or_name == "expert" else RandomPolicy(np.random.default_rng(seed))
    path = Path(path_or_name)
    if not path.is_file():
        raise CheckpointError(
            f"policy {str(path_or_name)!r} is neither a checkpoint file nor one of {BUILTINS}; "
            "give the path of a .pt file written by a training script or agents.make_ensemble"
        )
    dev = resolve_device(device)
    ck = load_checkpoint(path, map_location=dev)
    rule = combine or ck.manifest.get("combine", "soft")
    ensemble = Ensemble(ck.members, combine=rule, device=dev)
    rng = np.random.default_rng(seed) if act == "sample" else None
    return NeuralPolicy(ensemble, ck, act=act, rng=rng)


def default_policy(device: str = "cpu") -> NeuralPolicy:
    """The shipped tutorial ensemble (:data:`DEFAULT_ENSEMBLE`) as a policy."""
    if not DEFAULT_ENSEMBLE.is_file():
        raise CheckpointError(
            f"no trained ensemble at {DEFAULT_ENSEMBLE}: rebuild it with `sh agents/pretrained/build.sh` "
            "(trains the four members and combines them with agents.make_ensemble)"
        )
    return load_policy(DEFAULT_ENSEMBLE, device=device)
