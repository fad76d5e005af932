"""The classifier: a small torch network from one agent's observation to action logits.

Parameters are shared across agents (the observation is egocentric, so one net serves every
agent of the team). The network takes the environment's compact uint8 observation
``(9, H, W)`` (see :mod:`mazesim.observation`) and expands it itself (:func:`features`: one-hot
cell codes, agent presence, trust, own planes), so buffers can store the compact form. The action
mask is respected by :func:`masked_logits`: illegal actions get ``-inf`` logits, so
probabilities, samples and argmaxes never pick them.

>>> import torch
>>> net = Classifier((9, 7, 7), 12, ArchConfig(kind="mlp", hidden=(64,)))
>>> obs = torch.zeros(5, 9, 7, 7, dtype=torch.uint8)
>>> mask = torch.zeros(5, 12, dtype=torch.bool); mask[:, 0] = True
>>> probs = net.probs(obs, mask)
>>> probs.shape, bool((probs[:, 1:] == 0).all())
(torch.Size([5, 12]), True)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from mazesim.observation import N_CODES, N_FEATURES

ARCH_KINDS = ("mlp", "cnn")


@dataclass(frozen=True)
class ArchConfig:
    """Architecture of a classifier: ``kind`` ``"mlp"`` (flattened input) or ``"cnn"`` (3×3 convs
    over the window, then an MLP head); ``hidden`` sizes of the MLP; ``channels`` of the convs."""

    kind: str = "mlp"
    hidden: tuple[int, ...] = (256, 256)
    channels: tuple[int, ...] = (32, 32)

    def __post_init__(self) -> None:
        if self.kind not in ARCH_KINDS:
            raise ValueError(f"ArchConfig.kind={self.kind!r} is unknown; use one of {ARCH_KINDS}")
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        object.__setattr__(self, "channels", tuple(int(c) for c in self.channels))
        if not self.hidden or min(self.hidden) < 1 or (self.kind == "cnn" and not self.channels):
            raise ValueError(f"ArchConfig needs positive layer sizes, got {self}")

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict) -> ArchConfig:
        return cls(kind=d["kind"], hidden=tuple(d["hidden"]), channels=tuple(d.get("channels", ())))


def features(obs: torch.Tensor) -> torch.Tensor:
    """Compact observations ``(B, 9, H, W)`` (uint8 or float holding the same integers) →
    float features ``(B, N_FEATURES, H, W)``; the torch twin of ``mazesim.observation.one_hot``."""
    codes = obs[:, 0:3].long()
    b, _, h, w = codes.shape
    onehot = nn.functional.one_hot(codes, N_CODES).permute(0, 1, 4, 2, 3).reshape(b, 3 * N_CODES, h, w)
    agents = obs[:, 3:6].float()
    planes = obs[:, 6:9].float() / 255.0
    return torch.cat([onehot.float(), (agents > 0).float(), (agents - 1).clamp(min=0) / 254.0, planes], dim=1)


class Classifier(nn.Module):
    """Maps observations ``(B, 9, H, W)`` to action logits ``(B, n_actions)``."""

    def __init__(self, obs_shape: tuple[int, ...], n_actions: int, arch: ArchConfig | None = None) -> None:
        super().__init__()
        self.obs_shape = tuple(int(s) for s in obs_shape)
        self.n_actions = int(n_actions)
        self.arch = arch or ArchConfig()
        layers: list[nn.Module] = []
        if self.arch.kind == "cnn":
            c_in = N_FEATURES
            for c in self.arch.channels:
                layers += [nn.Conv2d(c_in, c, 3, padding=1), nn.ReLU()]
                c_in = c
            width = c_in * self.obs_shape[1] * self.obs_shape[2]
        else:
            width = N_FEATURES * self.obs_shape[1] * self.obs_shape[2]
        layers.append(nn.Flatten())
        for h in self.arch.hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        layers.append(nn.Linear(width, self.n_actions))
        self.body = nn.Sequential(*layers)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.body(features(obs))

    def probs(self, obs: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Action probabilities ``(B, n_actions)``; zero on masked actions."""
        return torch.softmax(masked_logits(self(obs), mask), dim=-1)


def masked_logits(logits: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Logits with ``-inf`` where ``mask`` is false (``mask``: bool or 0/1, same shape)."""
    if mask is None:
        return logits
    return logits.masked_fill(~mask.bool(), float("-inf"))
