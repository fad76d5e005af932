"""Scenarios: typed, frozen configuration of a maze family (loaded from TOML in ``scenarios/``).

The dataclasses below are the contract between the scenario files, the generator and the
environment. Loading, validation and the presets live in this module too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Mechanics:
    """How many of each cooperative mechanism the generator places on the way out."""

    doors: int = 0  # plate-and-door pairs
    gates: int = 0  # lever gates (levers pulled in the same step)
    boosts: int = 0  # climb spots with a ledge above (boost, then lower a rope)

    @property
    def total(self) -> int:
        return self.doors + self.gates + self.boosts


@dataclass(frozen=True)
class Rewards:
    """Reward settings. With ``team`` every agent receives the team's reward."""

    team: bool = True
    exit: float = 1.0  # for each agent that leaves through an exit
    escape: float = 10.0  # once, when the whole team has left
    step_cost: float = 0.01  # per step, per agent still inside
    shaping: float = 0.0  # coefficient on progress toward the exit (potential-based)


@dataclass(frozen=True)
class Scenario:
    """One scenario: maze size, team, mechanics, rules, rewards, episode length and seeds.

    ``rows`` and ``cols`` are odd (walls on even coordinates, cells on odd ones).
    ``train_seeds`` and ``heldout_seeds`` are disjoint ranges of maze seeds.
    ``layout`` is an optional hand-drawn maze: one string per floor, lowest first.
    """

    name: str
    description: str = ""
    levels: int = 1
    rows: int = 11
    cols: int = 11
    agents: int = 2
    mechanics: Mechanics = field(default_factory=Mechanics)
    view_radius: int = 3
    max_cycles: int = 200
    following: bool = False
    leave_together: bool = False
    braid: float = 0.3
    rewards: Rewards = field(default_factory=Rewards)
    train_seeds: range = range(0, 1000)
    heldout_seeds: range = range(100_000, 100_100)
    layout: tuple[str, ...] | None = None
    source: Path | None = None
