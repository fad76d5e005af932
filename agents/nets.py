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

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn

from mazesim.observation import N_CODES, N_FEATURES, Code
from mazesim.world import Action

ARCH_KINDS = ("mlp", "cnn", "plan")


@dataclass(frozen=True)
class ArchConfig:
    """Architecture of a classifier.

    ``kind``: ``"mlp"`` (flattened input), ``"cnn"`` (3×3 convs over the window, then an MLP head)
    or ``"plan"`` (:class:`PlanningHead`: distance fields to every kind of target in the window,
    propagated until they settle or ``iterations`` times, ``0`` meaning ``H * W``, read out around the agent,
    with a conv encoding, then an MLP head). ``hidden``: sizes of the MLP; ``channels``: widths
    of the convs.
    """

    kind: str = "mlp"
    hidden: tuple[int, ...] = (256, 256)
    channels: tuple[int, ...] = (32, 32)
    iterations: int = 0

    def __post_init__(self) -> None:
        if self.kind not in ARCH_KINDS:
            raise ValueError(f"ArchConfig.kind={self.kind!r} is unknown; use one of {ARCH_KINDS}")
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        object.__setattr__(self, "channels", tuple(int(c) for c in self.channels))
        bad = not self.hidden or min(self.hidden) < 1 or min(self.channels, default=1) < 1
        if bad or (self.kind != "mlp" and not self.channels) or self.iterations < 0:
            raise ValueError(f"ArchConfig needs positive layer sizes, got {self}")

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict) -> ArchConfig:
        return cls(
            kind=d["kind"],
            hidden=tuple(d["hidden"]),
            channels=tuple(d.get("channels", ())),
            iterations=int(d.get("iterations", 0)),
        )


def features(obs: torch.Tensor) -> torch.Tensor:
    """Compact observations ``(B, 9, H, W)`` (uint8 or float holding the same integers) →
    float features ``(B, N_FEATURES, H, W)``; the torch twin of ``mazesim.observation.one_hot``."""
    codes = obs[:, 0:3].long()
    b, _, h, w = codes.shape
    onehot = nn.functional.one_hot(codes, N_CODES).permute(0, 1, 4, 2, 3).reshape(b, 3 * N_CODES, h, w)
    agents = obs[:, 3:6].float()
    planes = obs[:, 6:9].float() / 255.0
    return torch.cat([onehot.float(), (agents > 0).float(), (agents - 1).clamp(min=0) / 254.0, planes], dim=1)


def conv_stack(channels: tuple[int, ...]) -> tuple[nn.Sequential, int]:
    """3×3 same-size convolutions with ReLUs from the :func:`features` channels; and the width out."""
    layers: list[nn.Module] = []
    c_in = N_FEATURES
    for c in channels:
        layers += [nn.Conv2d(c_in, c, 3, padding=1), nn.ReLU()]
        c_in = c
    return nn.Sequential(*layers), c_in


class Classifier(nn.Module):
    """Maps observations ``(B, 9, H, W)`` to action logits ``(B, n_actions)``."""

    def __init__(self, obs_shape: tuple[int, ...], n_actions: int, arch: ArchConfig | None = None) -> None:
        super().__init__()
        self.obs_shape = tuple(int(s) for s in obs_shape)
        self.n_actions = int(n_actions)
        self.arch = arch or ArchConfig()
        layers: list[nn.Module] = []
        #: the planning layer of kind "plan"
        self.plan = PlanningHead(self.obs_shape, self.arch) if self.arch.kind == "plan" else None
        if self.plan is not None:
            width = self.plan.out_features
            moves = torch.tensor([int(a) for a, _ in PlanningHead.MOVES])
            self.register_buffer("_moves", moves, persistent=False)  # the logits progress steers
        elif self.arch.kind == "cnn":
            convs, c_in = conv_stack(self.arch.channels)
            layers += list(convs)
            width = c_in * self.obs_shape[1] * self.obs_shape[2]
        else:
            width = N_FEATURES * self.obs_shape[1] * self.obs_shape[2]
        if self.plan is None:
            layers.append(nn.Flatten())
        for h in self.arch.hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        # kind "plan" also outputs one weight per target kind (see PlanningHead)
        extra = PlanningHead.N_FIELDS if self.plan is not None else 0
        layers.append(nn.Linear(width, self.n_actions + extra))
        self.body = nn.Sequential(*layers)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        x = features(obs)
        if self.plan is None:
            return self.body(x)
        context, progress = self.plan(x)
        out = self.body(context)
        logits, weights = out[:, : self.n_actions], out[:, self.n_actions :]
        steer = (progress * weights.unsqueeze(1)).sum(-1)
        return logits.index_add(1, self._moves, steer)

    def probs(self, obs: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Action probabilities ``(B, n_actions)``; zero on masked actions."""
        return torch.softmax(masked_logits(self(obs), mask), dim=-1)


class PlanningHead(nn.Module):
    """Distance fields of the egocentric window and what each move does to them, plus a conv
    encoding (after value iteration networks, Tamar et al. 2016, with the planning step fixed
    rather than learned: the net learns *which* target to head for, the fields say *which way*).

    For each target kind on the agent's floor (every cell code but floor and blocked, and the
    other agents), ``v <- max(goal, passable * gamma * max4(v))`` is iterated (no gradient: it
    is a fixed function of the observation), with ``max4`` the maximum over the cell and its
    four neighbours and ``passable`` every cell but blocked, shut doors, shut gates and ledges:
    ``v = gamma ** d`` for the walking distance ``d`` to the nearest target of that kind (0 when
    none is reachable in the window).

    :meth:`forward` returns ``(context, progress)``: ``context`` ``(B, out_features)`` holds ``v``
    at the agent (the centre of the window) and its four neighbours, ``v`` where the other agents
    stand (who is nearer a plate decides who holds it), the progress below, and the learned
    encoding at the centre and its window-wide max and mean; ``progress`` ``(B, 4, n_fields)`` is,
    per move (north, south, west, east) and target kind, by how many steps the move brings the
    agent nearer (+1), farther (-1) or neither (0). :class:`Classifier` adds
    ``progress @ w(context)`` to the move logits, ``w`` a learned weight per target kind: the
    context chooses the target, the fields give the move.
    """

    GAMMA = 0.9
    #: cell codes that block walking (the ledge needs a boost or a rope)
    BLOCKING = (Code.BLOCKED, Code.DOOR_SHUT, Code.GATE_SHUT, Code.LEDGE_UP)
    TARGETS = tuple(c for c in Code if c not in (Code.FLOOR, Code.BLOCKED))
    N_FIELDS = len(TARGETS) + 1
    # features() channels: the one-hot codes of the agent's floor start at N_CODES, the presence
    # of other agents on that floor is channel 3 * N_CODES + 1
    _partner_channel = [3 * N_CODES + 1]
    _goal_channels = [N_CODES + int(c) for c in TARGETS] + _partner_channel
    _blocking_channels = [N_CODES + int(c) for c in BLOCKING]
    #: the moves, in the order of ``progress``, with their (row, col) offsets
    MOVES = ((Action.NORTH, (-1, 0)), (Action.SOUTH, (1, 0)), (Action.WEST, (0, -1)), (Action.EAST, (0, 1)))

    def __init__(self, obs_shape: tuple[int, ...], arch: ArchConfig) -> None:
        super().__init__()
        _, h, w = obs_shape
        self.encoder, c_in = conv_stack(arch.channels)
        self.iterations = arch.iterations or h * w  # enough for any path; stops once settled
        self.centre = (h // 2, w // 2)
        self.out_features = 10 * self.N_FIELDS + 3 * c_in

    @torch.no_grad()
    def fields(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, N_FIELDS, H, W)`` distance fields, from the :func:`features` ``x`` of the window
        (its one-hot cell codes of the agent's floor and its agent-presence plane)."""
        g = x[:, self._goal_channels]
        p = (x[:, self._blocking_channels].sum(dim=1, keepdim=True) == 0).float() * self.GAMMA
        v = g
        for k in range(self.iterations):
            nb = nn.functional.pad(v, (1, 1, 1, 1))
            best = torch.maximum(
                torch.maximum(nb[:, :, :-2, 1:-1], nb[:, :, 2:, 1:-1]),
                torch.maximum(nb[:, :, 1:-1, :-2], nb[:, :, 1:-1, 2:]),
            )
            new = torch.maximum(g, p * torch.maximum(best, v))
            if k % 4 == 3 and torch.equal(new, v):
                break
            v = new
        return v

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        v = self.fields(x)
        e = self.encoder(x)
        r, c = self.centre
        here = v[:, :, r, c]
        there = torch.stack([v[:, :, r + dr, c + dc] for _, (dr, dc) in self.MOVES], dim=1)
        # distances from gamma ** d; a move only counts where both ends reach the target
        d_here = torch.log(here.clamp(min=1e-30)) / math.log(self.GAMMA)
        d_there = torch.log(there.clamp(min=1e-30)) / math.log(self.GAMMA)
        both = (here > 0).unsqueeze(1) & (there > 0)
        progress = torch.where(both, (d_here.unsqueeze(1) - d_there).round(), torch.zeros_like(there))
        at_partner = (v * x[:, self._partner_channel]).amax(dim=(2, 3))
        parts = [here, there.flatten(1), at_partner, progress.flatten(1), e[:, :, r, c]]
        return torch.cat(parts + [e.amax(dim=(2, 3)), e.mean(dim=(2, 3))], dim=1), progress


def masked_logits(logits: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Logits with ``-inf`` where ``mask`` is false (``mask``: bool or 0/1, same shape)."""
    if mask is None:
        return logits
    return logits.masked_fill(~mask.bool(), float("-inf"))
