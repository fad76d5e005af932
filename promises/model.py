"""The promise data model: bodies, polarity, promises, conditions, and the promise an action makes.

Arrow notation (Burgess), used everywhere a promise is printed (``str(promise)``, ``infos``)::

    agent_0 --(+move east)--> team          a give (+) promise to the team
    agent_1 --(+boost north)--> agent_0     agent_1 gives a boost to agent_0
    agent_0 --(-boost)--> agent_1           agent_0 uses a boost from agent_1
    agent_0 --(+climb | agent_1 --(+boost north)--> agent_0)--> team
                                            conditional: holds only if the inner promise is kept

The promiser is always an agent (``agent_<i>``); the promisee is an agent or ``team``; inside the
parentheses come the polarity sign (ASCII ``+`` or ``-``), the body type, the body's constraint
if any (a compass direction) and, after ``|``, the condition. :meth:`Promise.parse` reads this
notation back, so ``Promise.parse(str(p)) == p``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

from promises.catalogue import ACTION_TEMPLATES, BODY_TYPES, COMPASS, COOPERATIVE_BODIES

#: The promisee of a promise made to the whole team (the team as a superagent).
TEAM: Final = "team"


class PromiseError(ValueError):
    """Base class of every error raised for an invalid promise."""


class NotAutonomousError(PromiseError):
    """A promise whose body describes another agent's behaviour (agents promise only their own)."""


class UnknownBodyError(PromiseError):
    """A body type that is not in :data:`promises.catalogue.BODY_TYPES`."""


class BodyConstraintError(PromiseError):
    """A body constraint that does not fit its body type."""


class PolarityError(PromiseError):
    """A polarity that is neither ``+`` (give) nor ``-`` (use)."""


class ConditionCycleError(PromiseError):
    """A conditional promise whose chain of conditions comes back to a promise already in it."""


class PromiseeError(PromiseError):
    """A promiser or promisee that is not an agent index (or ``team`` for the promisee)."""


class UnknownActionError(PromiseError):
    """An action index outside :data:`promises.catalogue.ACTION_TEMPLATES`."""


class Polarity(StrEnum):
    """``+`` gives (offers) a behaviour, ``-`` uses (accepts) another agent's give."""

    GIVE = "+"
    USE = "-"

    @classmethod
    def of(cls, value: Polarity | str) -> Polarity:
        """The polarity named by ``value``: a :class:`Polarity`, ``"+"``, ``"-"`` or ``"−"`` (U+2212).

        >>> Polarity.of("-")
        <Polarity.USE: '-'>
        """
        if isinstance(value, Polarity):
            return value
        found = _POLARITY_NAMES.get(value) if isinstance(value, str) else None
        if found is None:
            raise PolarityError(
                f"polarity {value!r} is neither '+' (give) nor '-' (use); pass '+', '-' or a Polarity"
            )
        return found


_POLARITY_NAMES = {"+": Polarity.GIVE, "-": Polarity.USE, "\u2212": Polarity.USE}


def _agent_index(value: object, what: str) -> int:
    if isinstance(value, bool) or not hasattr(value, "__index__"):
        raise PromiseeError(f"{what} must be an agent index (an int >= 0), got {value!r}")
    index = value.__index__()  # type: ignore[attr-defined]
    if index < 0:
        raise PromiseeError(f"{what} must be an agent index (an int >= 0), got {index}")
    return index


def agent_name(agent: int | str) -> str:
    """The name of an agent index in arrow notation and in graphs: ``agent_<i>``, or ``team``.

    >>> agent_name(2), agent_name(TEAM)
    ('agent_2', 'team')
    """
    return agent if agent == TEAM else f"agent_{agent}"  # type: ignore[return-value]


@dataclass(frozen=True, slots=True)
class Body:
    """What a promise is about: a body ``type`` of the behaviour of agent ``subject``.

    ``constraint`` narrows the behaviour: a compass direction for ``move`` (required) and for a
    given ``boost`` (optional); the other types take none.

    >>> str(Body("move", subject=0, constraint="east"))
    'move east'
    """

    type: str
    subject: int
    constraint: str | None = None

    def __post_init__(self) -> None:
        if self.type not in BODY_TYPES:
            raise UnknownBodyError(
                f"unknown body type {self.type!r}; use one of {sorted(BODY_TYPES)} "
                f"(promises.catalogue.BODY_TYPES)"
            )
        object.__setattr__(self, "subject", _agent_index(self.subject, "Body.subject"))
        if self.constraint is not None and self.constraint not in COMPASS:
            raise BodyConstraintError(
                f"body constraint {self.constraint!r} of {self.type!r} is not a compass direction; "
                f"use one of {sorted(COMPASS)} or None"
            )
        if self.type == "move" and self.constraint is None:
            raise BodyConstraintError(
                "a 'move' body needs a compass direction as its constraint, e.g. 'east'"
            )
        if self.constraint is not None and self.type not in ("move", "boost"):
            raise BodyConstraintError(
                f"a {self.type!r} body takes no constraint, got {self.constraint!r}; pass constraint=None"
            )

    def __str__(self) -> str:
        return self.type if self.constraint is None else f"{self.type} {self.constraint}"


@dataclass(frozen=True, slots=True)
class Promise:
    """A promise by agent ``promiser`` to ``promisee`` (an agent index or :data:`TEAM`).

    ``body`` must describe the promiser's own behaviour (autonomy: ``body.subject == promiser``);
    ``polarity`` is ``+`` (give) or ``-`` (use); ``condition``, if given, is a promise this one
    depends on (it holds only if the condition is kept). Promises are frozen and hashable and
    print in arrow notation (see the module docstring).

    >>> p = Promise(0, TEAM, Body("move", 0, "east"))
    >>> print(p)
    agent_0 --(+move east)--> team
    >>> Promise(0, TEAM, Body("move", 1, "east"))
    Traceback (most recent call last):
    ...
    promises.model.NotAutonomousError: agent_0 cannot promise a body about agent_1 ...
    """

    promiser: int
    promisee: int | str
    body: Body
    polarity: Polarity = Polarity.GIVE
    condition: Promise | None = None
    arrow: str = field(init=False, compare=False, repr=False)
    #: Whether this promise is half of a binding (its body needs a matching half).
    cooperative: bool = field(init=False, compare=False, repr=False)
    _hash: int = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        promiser = _agent_index(self.promiser, "Promise.promiser")
        object.__setattr__(self, "promiser", promiser)
        if self.promisee == TEAM:
            object.__setattr__(self, "promisee", TEAM)
        else:
            promisee = _agent_index(self.promisee, "Promise.promisee (an agent index or 'team')")
            if promisee == promiser:
                raise PromiseeError(
                    f"agent_{promiser} promises to itself; promise to another agent or to 'team'"
                )
            object.__setattr__(self, "promisee", promisee)
        if not isinstance(self.body, Body):
            raise UnknownBodyError(f"Promise.body must be a Body, got {self.body!r}; build it with Body(...)")
        if self.body.subject != promiser:
            raise NotAutonomousError(
                f"agent_{promiser} cannot promise a body about agent_{self.body.subject} "
                f"({self.body}): an agent only promises its own behaviour; let agent_{self.body.subject} "
                f"make this promise, or use Body(..., subject={promiser})"
            )
        object.__setattr__(self, "polarity", Polarity.of(self.polarity))
        if self.condition is not None:
            if not isinstance(self.condition, Promise):
                raise PromiseError(f"Promise.condition must be a Promise or None, got {self.condition!r}")
            seen = {self.core}
            link: Promise | None = self.condition
            while link is not None:
                if link.core in seen:
                    raise ConditionCycleError(
                        f"the condition chain of {_core_arrow(self)} comes back to {_core_arrow(link)}: "
                        f"a promise cannot depend on itself; drop the condition that closes the cycle"
                    )
                seen.add(link.core)
                link = link.condition
        object.__setattr__(self, "arrow", self._format())
        object.__setattr__(self, "cooperative", self.body.type in COOPERATIVE_BODIES)
        # Promises key the per-step caches; hashing the nested fields every lookup would dominate.
        object.__setattr__(self, "_hash", hash((self.core, self.condition)))

    def __hash__(self) -> int:
        return self._hash

    @property
    def core(self) -> tuple[int, int | str, Body, Polarity]:
        """The promise without its condition: ``(promiser, promisee, body, polarity)``."""
        return (self.promiser, self.promisee, self.body, self.polarity)

    def binds_with(self, other: Promise) -> bool:
        """Whether ``self`` and ``other`` are the two halves of a binding (in either order).

        A binding is a give (+) and a use (-) of the same cooperative body between two agents:
        the give is made to the user, and the use to the giver (or to the team, when the user
        did not know who would give).

        >>> give = Promise(1, 0, Body("boost", 1, "north"))
        >>> use = Promise(0, 1, Body("boost", 0), "-")
        >>> give.binds_with(use), use.binds_with(give), give.binds_with(give)
        (True, True, False)
        """
        if self.polarity is Polarity.GIVE:
            return binds_with(self, other)
        return binds_with(other, self)

    def __str__(self) -> str:
        return self.arrow

    def _format(self) -> str:
        inner = f"{self.polarity.value}{self.body}"
        if self.condition is not None:
            inner += f" | {self.condition.arrow}"
        return f"{agent_name(self.promiser)} --({inner})--> {agent_name(self.promisee)}"

    @classmethod
    def parse(cls, text: str) -> Promise:
        """Read a promise back from arrow notation (the inverse of ``str``).

        >>> text = "agent_0 --(+climb | agent_1 --(+boost north)--> agent_0)--> team"
        >>> p = Promise.parse(text)
        >>> p.condition.promiser, str(p) == text
        (1, True)
        """
        promise, end = _parse_at(text, 0)
        if end != len(text):
            raise PromiseError(f"unexpected text after the promise at position {end} of {text!r}")
        return promise


def _core_arrow(p: Promise) -> str:
    return f"{agent_name(p.promiser)} --({p.polarity.value}{p.body})--> {agent_name(p.promisee)}"


_HEAD = re.compile(r"agent_(\d+) --\(([+\-\u2212])([a-z_]+)(?: ([a-z]+))?")
_TAIL = re.compile(r"\)--> (?:agent_(\d+)|(team))")


def _parse_at(text: str, pos: int) -> tuple[Promise, int]:
    head = _HEAD.match(text, pos)
    if head is None:
        raise PromiseError(
            f"cannot read a promise at position {pos} of {text!r}; "
            f"expected arrow notation like 'agent_0 --(+move east)--> team'"
        )
    pos = head.end()
    condition = None
    if text.startswith(" | ", pos):
        condition, pos = _parse_at(text, pos + 3)
    tail = _TAIL.match(text, pos)
    if tail is None:
        raise PromiseError(f"expected ')--> agent_<j>' or ')--> team' at position {pos} of {text!r}")
    promiser = int(head.group(1))
    promisee: int | str = TEAM if tail.group(2) else int(tail.group(1))
    body = Body(head.group(3), promiser, head.group(4))
    return Promise(promiser, promisee, body, Polarity.of(head.group(2)), condition), tail.end()


def binds_with(give: Promise, use: Promise) -> bool:
    """Whether the give-promise ``give`` and the use-promise ``use`` form a binding.

    True when ``give`` is ``+`` and ``use`` is ``-``, both have the same cooperative body type,
    ``give`` is made to ``use``'s promiser, and ``use`` is made to ``give``'s promiser or to the
    team. An unbound half has no effect.

    >>> binds_with(Promise(1, 0, Body("boost", 1, "north")), Promise(0, TEAM, Body("boost", 0), "-"))
    True
    """
    return (
        give.polarity is Polarity.GIVE
        and use.polarity is Polarity.USE
        and give.body.type == use.body.type
        and give.body.type in COOPERATIVE_BODIES
        and give.promisee == use.promiser
        and (use.promisee == give.promiser or use.promisee == TEAM)
    )


_USE_BODY = "boost"
_CACHE: dict[tuple[object, object, object, object], Promise] = {}


def promise_for(agent: int, action: int, partner: int | None = None, climb: bool = False) -> Promise:
    """The promise ``agent`` makes by taking discrete ``action`` (interned: same inputs, same object).

    ``partner`` is the other half's agent for cooperative actions: for a boost, the agent on the
    climb spot it is aimed at; for a climb, the adjacent booster (``None`` → promisee ``team``).
    ``climb`` is True when ``up`` is taken on a climb spot whose rope is not down: then ``up`` is
    a use-promise ``-boost`` (it needs a partner's boost) instead of the solitary ``+climb``.
    Solitary actions are ``+`` promises to the team whatever ``partner`` says.

    >>> print(promise_for(0, 4))
    agent_0 --(+move east)--> team
    >>> print(promise_for(0, 5, partner=1, climb=True))
    agent_0 --(-boost)--> agent_1
    >>> print(promise_for(1, 8, partner=0))
    agent_1 --(+boost north)--> agent_0
    >>> promise_for(1, 8, partner=0) is promise_for(1, 8, partner=0)
    True
    """
    key = (agent, action, partner, climb)
    found = _CACHE.get(key)
    if found is None:
        found = _CACHE[key] = _make_promise(agent, action, partner, climb)
    return found


def _make_promise(agent: int, action: int, partner: int | None, climb: bool) -> Promise:
    if isinstance(action, bool) or not hasattr(action, "__index__"):
        raise UnknownActionError(f"action must be an int index into ACTION_TEMPLATES, got {action!r}")
    index = action.__index__()
    if not 0 <= index < len(ACTION_TEMPLATES):
        raise UnknownActionError(
            f"action {index} is not in the catalogue; use 0..{len(ACTION_TEMPLATES) - 1} "
            f"(promises.catalogue.ACTION_TEMPLATES)"
        )
    template = ACTION_TEMPLATES[index]
    to_partner = TEAM if partner is None else partner
    if template.name == "up" and climb:
        return Promise(agent, to_partner, Body(_USE_BODY, agent), Polarity.USE)
    constraint = template.direction if template.direction in COMPASS else None
    promisee = to_partner if template.cooperative else TEAM
    return Promise(agent, promisee, Body(template.body, agent, constraint), Polarity.of(template.polarity))
