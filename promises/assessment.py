"""Assessment of each step's promises, bindings, and the compact JSON form for ``infos``.

The environment turns the joint-action solver's report into one :class:`Resolution` per active
agent; :func:`assess_step` turns those into :class:`Assessment` records, by these rules:

=====================================  ==============
situation                              outcome
=====================================  ==============
``executed == requested`` (or stay)    ``kept``
otherwise, the half was ``unbound``    ``unbound``
otherwise                              ``withdrawn``
=====================================  ==============

A withdrawn assessment keeps the solver's reason: the constraint name and the other agent
responsible. This is the per-step hot path of the environment, so it only looks up interned
promises (:func:`promises.model.promise_for`) and builds plain tuples.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import NamedTuple

from promises.catalogue import ACTION_INDEX
from promises.model import TEAM, Polarity, Promise, promise_for

_STAY = ACTION_INDEX["stay"]


class Outcome(StrEnum):
    """How a promise fared in one step."""

    KEPT = "kept"
    WITHDRAWN = "withdrawn"  # the solver removed it (a constraint, another agent)
    UNBOUND = "unbound"  # a cooperative half whose partner did not make the matching half


class Resolution(NamedTuple):
    """What the environment reports for one agent after the solver resolved a step.

    ``requested``: the action the agent chose (its promise); ``executed``: what the solver let it
    do; ``because_of`` and ``constraint``: the other agent and the constraint name that made the
    solver substitute the action (``None`` if not substituted or no agent was involved);
    ``unbound``: True if the agent's cooperative half found no matching half; ``partner``: the
    other agent of a cooperative action (the booster of a climb, the climber of a boost), if
    any; ``climb``: True if ``requested`` is ``up`` on a climb spot whose rope is not down.

    >>> Resolution(agent=0, requested=4, executed=4)
    Resolution(agent=0, requested=4, executed=4, because_of=None, constraint=None, unbound=False, \
partner=None, climb=False)
    """

    agent: int
    requested: int
    executed: int
    because_of: int | None = None
    constraint: str | None = None
    unbound: bool = False
    partner: int | None = None
    climb: bool = False


class Assessment(NamedTuple):
    """The assessment of one promise in one step.

    ``because_of`` and ``constraint`` are set only for ``withdrawn`` promises.

    >>> a = assess(Resolution(0, requested=4, executed=0, because_of=1, constraint="one_per_cell"))
    >>> a.outcome.value, a.because_of, a.constraint
    ('withdrawn', 1, 'one_per_cell')
    """

    promise: Promise
    outcome: Outcome
    because_of: int | None = None
    constraint: str | None = None

    @property
    def agent(self) -> int:
        """The promiser."""
        return self.promise.promiser


def assess(resolution: Resolution) -> Assessment:
    """Assess one agent's promise from its :class:`Resolution` (rules in the module docstring).

    Assessments are interned: equal resolutions give the same :class:`Assessment` object.

    >>> assess(Resolution(0, requested=8, executed=0, unbound=True, partner=1)).outcome
    <Outcome.UNBOUND: 'unbound'>
    """
    found = _ASSESSED.get(resolution)
    if found is None:
        if len(_ASSESSED) >= _CACHE_LIMIT:
            _ASSESSED.clear()
        found = _ASSESSED[resolution] = _assess(resolution)
    return found


def _assess(resolution: Resolution) -> Assessment:
    agent, requested, executed, because_of, constraint, unbound, partner, climb = resolution
    promise = promise_for(agent, requested, partner, climb)
    if executed == requested or requested == _STAY:
        return Assessment(promise, Outcome.KEPT)
    if unbound:
        return Assessment(promise, Outcome.UNBOUND)
    return Assessment(promise, Outcome.WITHDRAWN, because_of, constraint)


# Bounded only as a guard: an episode sees a few hundred distinct resolutions at most.
_CACHE_LIMIT = 1 << 16
_ASSESSED: dict[Resolution, Assessment] = {}


def assess_step(resolutions: Sequence[Resolution]) -> tuple[Assessment, ...]:
    """Assess every agent's promise of one step: ``len(resolutions)`` assessments, same order.

    >>> [a.outcome.value for a in assess_step([Resolution(0, 1, 1), Resolution(1, 2, 0, 0, "swap")])]
    ['kept', 'withdrawn']
    """
    get = _ASSESSED.get
    return tuple([get(r) or assess(r) for r in resolutions])


def bindings(assessments: Sequence[Assessment]) -> list[tuple[int, int]]:
    """The bindings made this step: ``(giver, user)`` pairs whose promises bind.

    A binding is made when both halves are promised, whatever the solver did with them.

    >>> steps = assess_step([Resolution(0, 5, 5, partner=1, climb=True), Resolution(1, 8, 8, partner=0)])
    >>> bindings(steps)
    [(1, 0)]
    """
    cooperative = {a[0].promiser: a[0] for a in assessments if a[0].cooperative}
    if len(cooperative) < 2:
        return []
    out = []
    for giver, give in cooperative.items():
        if give.polarity is Polarity.GIVE and give.promisee != TEAM:
            use = cooperative.get(give.promisee)  # type: ignore[arg-type]
            if use is not None and give.binds_with(use):
                out.append((giver, use.promiser))
    return out


def agent_info(assessment: Assessment) -> dict[str, str | int]:
    """The JSON-serialisable info of one agent's promise: for ``infos[agent]`` (a fresh dict).

    Keys: ``promise`` (arrow notation), ``outcome`` (``kept``, ``withdrawn`` or ``unbound``),
    and only where they apply: ``partner`` (the promisee agent of a cooperative half),
    ``because_of`` (agent index) and ``constraint`` (the solver's constraint name) for a
    withdrawn promise.

    >>> agent_info(assess(Resolution(0, 1, 0, because_of=1, constraint="one_per_cell")))
    {'promise': 'agent_0 --(+move north)--> team', 'outcome': 'withdrawn', 'because_of': 1, \
'constraint': 'one_per_cell'}
    """
    return dict(_info_templates(assessment)[1])


def to_info(assessments: Sequence[Assessment]) -> dict[str, list]:
    """The compact JSON-serialisable form of one step's promises, bindings and assessments.

    ``{"promises": [{"agent": index, **agent_info(a)}, ...], "bindings": [[giver, user], ...]}``;
    only lists, dicts, str and int inside, so ``json.dumps`` takes it as it is.

    >>> import json
    >>> step = [Resolution(0, 5, 5, partner=1, climb=True), Resolution(1, 8, 8, partner=0)]
    >>> json.dumps(to_info(assess_step(step)))
    '{"promises": [{"agent": 0, "promise": "agent_0 --(-boost)--> agent_1", "outcome": "kept", \
"partner": 1}, {"agent": 1, "promise": "agent_1 --(+boost north)--> agent_0", "outcome": "kept", \
"partner": 0}], "bindings": [[1, 0]]}'
    """
    get = _INFOS.get
    promises = [dict((get(a) or _info_templates(a))[0]) for a in assessments]
    return {"promises": promises, "bindings": [list(b) for b in bindings(assessments)]}


_INFOS: dict[Assessment, tuple[dict[str, str | int], dict[str, str | int]]] = {}


def _info_templates(assessment: Assessment) -> tuple[dict[str, str | int], dict[str, str | int]]:
    """The step-info and agent-info dicts of an assessment, built once; callers copy them."""
    found = _INFOS.get(assessment)
    if found is not None:
        return found
    promise, outcome, because_of, constraint = assessment
    info: dict[str, str | int] = {"promise": promise.arrow, "outcome": outcome.value}
    if promise.promisee != TEAM and promise.cooperative:
        info["partner"] = promise.promisee
    if outcome is Outcome.WITHDRAWN:
        if because_of is not None:
            info["because_of"] = int(because_of)
        if constraint is not None:
            info["constraint"] = str(constraint)
    if len(_INFOS) >= _CACHE_LIMIT:
        _INFOS.clear()
    found = _INFOS[assessment] = ({"agent": promise.promiser, **info}, info)
    return found
