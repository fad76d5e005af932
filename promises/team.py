"""The team as a superagent: the exterior promises that only the team, not one member, can keep.

In Promise Theory a group of agents seen from outside is a superagent; its exterior promises
are kept by the members' interior promises together. Here the team promises its exterior
(the maze, the scenario) to escape, and on the way to open each gate, pass each door and climb
each ledge. Each such promise needs a number of members acting together:

==============  =========================  ===============================================
body            members needed             why
==============  =========================  ===============================================
``escape``      every member               each member must leave through an exit itself
``open_gate``   one per lever of the gate  the levers must be pulled in the same step
``pass_door``   2                          one holds a plate while another passes
``climb``       2                          one boosts while the other climbs (a binding)
==============  =========================  ===============================================

A promise is *team-only* when it needs more than one member; it is *keepable* by a group of
members when that many suffice (:meth:`Superagent.beyond` lists what a group cannot keep alone).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from promises.model import PromiseeError


@dataclass(frozen=True, slots=True)
class TeamPromise:
    """One exterior promise of the team: ``body`` on mechanism ``target`` (``None`` for escape).

    >>> print(TeamPromise("open_gate", 0, needs=3))
    team --(+open_gate 0)--> exterior [needs 3]
    """

    body: str
    target: int | None
    needs: int

    @property
    def team_only(self) -> bool:
        """Whether no single member can keep this promise alone."""
        return self.needs > 1

    def keepable(self, members: int) -> bool:
        """Whether ``members`` active members are enough to keep it."""
        return members >= self.needs

    def __str__(self) -> str:
        what = self.body if self.target is None else f"{self.body} {self.target}"
        return f"team --(+{what})--> exterior [needs {self.needs}]"


@dataclass(frozen=True, slots=True)
class Superagent:
    """The team of ``members`` (agent indices) and its exterior ``promises``.

    >>> team = Superagent.of(3, levers_per_gate=[2], doors=1, climbs=1)
    >>> [str(p) for p in team.team_only()][:2]
    ['team --(+escape)--> exterior [needs 3]', 'team --(+open_gate 0)--> exterior [needs 2]']
    >>> [p.body for p in team.beyond(1)]
    ['escape', 'open_gate', 'pass_door', 'climb']
    """

    members: tuple[int, ...]
    promises: tuple[TeamPromise, ...]

    @classmethod
    def of(
        cls, n_agents: int, levers_per_gate: Sequence[int] = (), doors: int = 0, climbs: int = 0
    ) -> Superagent:
        """The superagent of a team of ``n_agents`` in a maze with these mechanisms.

        ``levers_per_gate[g]``: how many levers gate ``g`` has; ``doors``, ``climbs``: how many
        doors and climb spots are on the way out.
        """
        if isinstance(n_agents, bool) or not isinstance(n_agents, int) or n_agents < 1:
            raise PromiseeError(f"a team needs at least one agent, got n_agents={n_agents!r}")
        for g, levers in enumerate(levers_per_gate):
            if levers < 1:
                raise ValueError(f"gate {g} has {levers} levers; every gate needs at least one lever")
        if doors < 0 or climbs < 0:
            raise ValueError(f"doors and climbs must be counts >= 0, got doors={doors}, climbs={climbs}")
        promises = [TeamPromise("escape", None, n_agents)]
        promises += [TeamPromise("open_gate", g, int(k)) for g, k in enumerate(levers_per_gate)]
        promises += [TeamPromise("pass_door", d, 2) for d in range(doors)]
        promises += [TeamPromise("climb", k, 2) for k in range(climbs)]
        return cls(tuple(range(n_agents)), tuple(promises))

    def team_only(self) -> tuple[TeamPromise, ...]:
        """The exterior promises no single member can keep."""
        return tuple(p for p in self.promises if p.team_only)

    def beyond(self, members: int) -> tuple[TeamPromise, ...]:
        """The exterior promises that a group of ``members`` members cannot keep by themselves."""
        return tuple(p for p in self.promises if not p.keepable(members))

    def infeasible(self) -> tuple[TeamPromise, ...]:
        """The exterior promises even the whole team cannot keep (e.g. more levers than members)."""
        return self.beyond(len(self.members))
