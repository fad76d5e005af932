"""Checkpoints: weights plus a small manifest, saved atomically, loaded as data only.

A checkpoint file is ``torch.save`` of a plain dict (tensors, numbers, strings, lists, dicts)::

    {"format": "mazesim-checkpoint", "format_version": 1,
     "manifest": {"obs_encoding_version": 1, "scenario": "tutorial", "command": "...", ...},
     "members": [{"method": "imitation", "arch": {...}, "obs_shape": [9, 7, 7],
                  "n_actions": 12, "seed": 0, "state_dict": {...}}, ...],
     "state": {...}}            # optional: optimiser state, step, RNG states (for resuming)

One member is a single classifier; several members form an ensemble. Loading always uses
``torch.load(..., weights_only=True)``: a checkpoint is data, never code, so a file that would
run code when unpickled is refused, not executed. Every problem raises :class:`CheckpointError`
with the path and what to do.

>>> import tempfile, pathlib
>>> from agents.nets import ArchConfig, Classifier
>>> net = Classifier((9, 7, 7), 12, ArchConfig(hidden=(32,)))
>>> path = pathlib.Path(tempfile.mkdtemp()) / "m.pt"
>>> save_checkpoint(path, [Member("imitation", net, seed=3)], {"scenario": "tutorial"})
>>> ck = load_checkpoint(path)
>>> ck.members[0].method, ck.members[0].seed, ck.manifest["obs_encoding_version"]
('imitation', 3, 1)
"""

from __future__ import annotations

import os
import pickle
import shlex
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from agents.nets import ArchConfig, Classifier
from mazesim.observation import OBS_ENCODING_VERSION

FORMAT = "mazesim-checkpoint"
FORMAT_VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint that cannot be used: missing, not a checkpoint, unsafe, or incompatible."""


@dataclass
class Member:
    """One classifier of an ensemble and how it was trained."""

    method: str
    net: Classifier
    seed: int = 0
    info: dict = field(default_factory=dict)


@dataclass
class Checkpoint:
    """What :func:`load_checkpoint` returns."""

    path: Path
    manifest: dict
    members: list[Member]
    state: dict | None


def save_checkpoint(
    path: str | Path, members: list[Member], manifest: dict | None = None, state: dict | None = None
) -> None:
    """Write ``members`` (+ manifest, + optional resume ``state``) to ``path`` atomically.

    The file appears complete or not at all: it is written to a temporary file in the same
    folder, flushed to disk, then renamed over ``path``. The manifest records the observation
    encoding version and the command line unless given.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # orig_argv keeps "-m agents.train_x", so the recorded command can be run again as it stands
    man = {
        "obs_encoding_version": OBS_ENCODING_VERSION,
        "command": shlex.join(["python", *sys.orig_argv[1:]]),
    }
    man.update(manifest or {})
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "manifest": man,
        "members": [
            {
                "method": m.method,
                "arch": m.net.arch.to_dict(),
                "obs_shape": list(m.net.obs_shape),
                "n_actions": m.net.n_actions,
                "seed": int(m.seed),
                "info": dict(m.info),
                "state_dict": {k: v.detach().cpu() for k, v in m.net.state_dict().items()},
            }
            for m in members
        ],
        "state": state,
    }
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes the file private; a checkpoint is meant to be shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_checkpoint(
    path: str | Path, *, map_location: str | torch.device = "cpu", expect_arch: ArchConfig | None = None
) -> Checkpoint:
    """Read a checkpoint as data (``weights_only=True``) and rebuild its classifiers.

    Raises :class:`CheckpointError` if the file is missing, truncated, not a checkpoint, would
    run code when unpickled, was made for another observation encoding, or (with
    ``expect_arch``) holds another architecture.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist (give a .pt file written by training)")
    try:
        raw = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        reason = _unpickling_reason(exc)
        if "global" in reason.lower():
            raise CheckpointError(
                f"refused {path}: it holds Python objects that would run code when loaded ({reason}); "
                "checkpoints are loaded as data only: re-create it with the project's training scripts"
            ) from None
        raise CheckpointError(
            f"{path} is not a readable mazesim checkpoint (corrupt or not a torch file: {reason})"
        ) from None
    except Exception as exc:  # torch.load fails on junk with many types (KeyError, EOFError, RuntimeError...)
        raise CheckpointError(
            f"{path} is not a readable mazesim checkpoint (truncated or not a torch file: "
            f"{type(exc).__name__}: {exc})"
        ) from None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise CheckpointError(f"{path} is a torch file but not a mazesim checkpoint (no '{FORMAT}' header)")
    if raw.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{path} has checkpoint format version {raw.get('format_version')}; "
            f"this mazesim reads {FORMAT_VERSION}"
        )
    manifest = raw.get("manifest") or {}
    version = manifest.get("obs_encoding_version")
    if version != OBS_ENCODING_VERSION:
        raise CheckpointError(
            f"{path} was trained on observation encoding v{version}; "
            f"this mazesim uses v{OBS_ENCODING_VERSION}: retrain the model"
        )
    members = []
    for k, m in enumerate(raw.get("members") or []):
        try:
            arch = ArchConfig.from_dict(m["arch"])
            net = Classifier(tuple(m["obs_shape"]), int(m["n_actions"]), arch)
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"{path}: member {k} has a malformed architecture record ({exc})") from None
        if expect_arch is not None and arch != expect_arch:
            raise CheckpointError(f"{path}: member {k} has architecture {arch}, expected {expect_arch}")
        try:
            net.load_state_dict(m["state_dict"])
        except (KeyError, RuntimeError) as exc:
            first = str(exc).splitlines()[0]
            raise CheckpointError(
                f"{path}: member {k} weights do not fit its architecture: {first}"
            ) from None
        net.eval()
        info = dict(m.get("info") or {})
        members.append(Member(str(m.get("method", "?")), net, int(m.get("seed", 0)), info))
    if not members:
        raise CheckpointError(f"{path} holds no classifier")
    return Checkpoint(path, manifest, members, raw.get("state"))


def _unpickling_reason(exc: Exception) -> str:
    """The one informative line of torch's long weights-only error message."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    for line in lines:
        if "unsupported" in line.lower():
            return line
    return lines[0] if lines else type(exc).__name__


def checkpoint_summary(ck: Checkpoint) -> dict[str, Any]:
    """A short JSON-safe description: methods, seeds, scenario, command."""
    return {
        "path": str(ck.path),
        "members": [{"method": m.method, "seed": m.seed} for m in ck.members],
        "scenario": ck.manifest.get("scenario"),
        "command": ck.manifest.get("command"),
    }
