"""The promise data model: notation, interning, bindings, and rejection of bad promises."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from promises import (
    ACTION_INDEX,
    ACTION_TEMPLATES,
    BODY_TYPES,
    TEAM,
    Body,
    BodyConstraintError,
    ConditionCycleError,
    NotAutonomousError,
    Polarity,
    PolarityError,
    Promise,
    PromiseeError,
    PromiseError,
    UnknownActionError,
    UnknownBodyError,
    binds_with,
    promise_for,
)

A = ACTION_INDEX


@pytest.mark.parametrize(
    ("agent", "action", "partner", "climb", "arrow"),
    [
        (0, A["stay"], None, False, "agent_0 --(+stay)--> team"),
        (0, A["north"], None, False, "agent_0 --(+move north)--> team"),
        (2, A["east"], 1, False, "agent_2 --(+move east)--> team"),  # a partner does not matter
        (0, A["up"], None, False, "agent_0 --(+climb)--> team"),  # stairs, or a rope that is down
        (0, A["up"], 1, True, "agent_0 --(-boost)--> agent_1"),
        (0, A["up"], None, True, "agent_0 --(-boost)--> team"),  # booster unknown
        (0, A["down"], None, False, "agent_0 --(+descend)--> team"),
        (0, A["interact"], None, False, "agent_0 --(+interact)--> team"),
        (1, A["boost_north"], 0, False, "agent_1 --(+boost north)--> agent_0"),
        (1, A["boost_west"], None, False, "agent_1 --(+boost west)--> team"),  # nobody there
        (3, A["boost_south"], 0, True, "agent_3 --(+boost south)--> agent_0"),  # climb only affects up
    ],
)
def test_promise_for_arrow_notation(agent, action, partner, climb, arrow):
    p = promise_for(agent, action, partner, climb)
    assert str(p) == arrow
    assert p.promiser == agent
    assert p.body.subject == agent
    assert Promise.parse(arrow) == p


def test_every_catalogue_action_instantiates():
    for index, template in enumerate(ACTION_TEMPLATES):
        p = promise_for(0, index, partner=1)
        assert template.body in BODY_TYPES
        assert p.body.type == template.body
        assert p.polarity is Polarity.GIVE
        assert p.promisee == (1 if template.cooperative else TEAM)


def test_world_action_enum_matches_catalogue():
    from mazesim.world import Action

    assert [a.name.lower() for a in Action] == [t.name for t in ACTION_TEMPLATES]
    assert all(Action[name.upper()] == index for name, index in ACTION_INDEX.items())


def test_promises_are_interned_frozen_hashable_and_picklable():
    p = promise_for(0, A["east"])
    assert promise_for(0, A["east"]) is p
    assert promise_for(0, A["east"], None, False) is p
    fresh = Promise(0, TEAM, Body("move", 0, "east"))
    assert fresh == p and hash(fresh) == hash(p) and fresh is not p
    assert len({p, fresh, promise_for(0, A["west"])}) == 2
    with pytest.raises(AttributeError):
        p.promiser = 1  # type: ignore[misc]
    assert pickle.loads(pickle.dumps(p)) == p


def test_numpy_integers_are_accepted():
    p = promise_for(np.int64(1), np.int64(A["boost_north"]), np.int64(0))
    assert str(p) == "agent_1 --(+boost north)--> agent_0"
    assert type(p.promiser) is int and type(p.promisee) is int


@pytest.mark.parametrize(
    ("give", "use", "expected"),
    [
        (promise_for(1, A["boost_north"], 0), promise_for(0, A["up"], 1, True), True),
        (promise_for(1, A["boost_north"], 0), promise_for(0, A["up"], None, True), True),  # use to team
        (promise_for(1, A["boost_north"], 0), promise_for(0, A["up"], 2, True), False),  # another booster
        (promise_for(1, A["boost_north"], None), promise_for(0, A["up"], 1, True), False),  # give to nobody
        (promise_for(1, A["boost_north"], 2), promise_for(0, A["up"], 1, True), False),  # given to another
        (promise_for(1, A["boost_north"], 0), promise_for(0, A["up"], 1, False), False),  # solitary climb
        (promise_for(1, A["east"], 0), promise_for(0, A["up"], 1, True), False),  # not a give of a boost
        (promise_for(0, A["up"], 1, True), promise_for(1, A["boost_north"], 0), False),  # order matters
    ],
)
def test_binds_with(give, use, expected):
    assert binds_with(give, use) is expected
    # The method answers for the pair in either order whenever the halves have opposite signs.
    if give.polarity is not use.polarity:
        assert give.binds_with(use) is use.binds_with(give)


def test_conditional_promise_notation_roundtrip():
    boost = promise_for(1, A["boost_north"], 0)
    climb = Promise(0, TEAM, Body("climb", 0), "+", condition=boost)
    text = "agent_0 --(+climb | agent_1 --(+boost north)--> agent_0)--> team"
    assert str(climb) == text
    assert Promise.parse(text) == climb
    nested = Promise(2, TEAM, Body("stay", 2), condition=climb)
    assert Promise.parse(str(nested)) == nested


# --- bad input: each raises a named ValueError subclass whose message names problem and fix ---


def test_promise_about_another_agent_is_rejected():
    with pytest.raises(NotAutonomousError, match=r"agent_0 cannot promise a body about agent_1.*subject=0"):
        Promise(promiser=0, promisee=TEAM, body=Body("move", subject=1, constraint="east"))
    assert issubclass(NotAutonomousError, ValueError)


def test_unknown_body_type_is_rejected():
    with pytest.raises(UnknownBodyError, match=r"unknown body type 'fly'.*use one of"):
        Body("fly", subject=0)
    with pytest.raises(UnknownBodyError, match="must be a Body"):
        Promise(0, TEAM, "move east")  # type: ignore[arg-type]


@pytest.mark.parametrize("polarity", ["*", "", "give", 1, None, "++"])
def test_polarity_neither_plus_nor_minus_is_rejected(polarity):
    with pytest.raises(PolarityError, match=r"neither '\+' \(give\) nor '-' \(use\).*pass"):
        Promise(0, TEAM, Body("stay", 0), polarity)


def test_unicode_minus_is_a_use():
    assert Promise(0, 1, Body("boost", 0), "\u2212").polarity is Polarity.USE


def test_condition_on_itself_is_rejected():
    p = Promise(0, TEAM, Body("move", 0, "east"))
    with pytest.raises(ConditionCycleError, match="cannot depend on itself; drop the condition"):
        Promise(0, TEAM, Body("move", 0, "east"), condition=p)


def test_condition_cycle_is_rejected():
    a = Promise(0, 1, Body("boost", 0, "north"))
    b = Promise(1, 0, Body("boost", 1), "-", condition=a)
    c = Promise(2, TEAM, Body("stay", 2), condition=b)
    with pytest.raises(ConditionCycleError, match="comes back to agent_0 --\\(\\+boost north\\)--> agent_1"):
        Promise(0, 1, Body("boost", 0, "north"), condition=c)  # a -> c -> b -> a


@pytest.mark.parametrize(
    ("make", "error", "pattern"),
    [
        (lambda: Body("move", 0), BodyConstraintError, "needs a compass direction"),
        (lambda: Body("move", 0, "up"), BodyConstraintError, "not a compass direction"),
        (lambda: Body("stay", 0, "north"), BodyConstraintError, "takes no constraint"),
        (lambda: Body("stay", -1), PromiseeError, "agent index"),
        (lambda: Promise(0, 0, Body("stay", 0)), PromiseeError, "promises to itself"),
        (lambda: Promise(0, "everyone", Body("stay", 0)), PromiseeError, "'team'"),
        (lambda: Promise(True, TEAM, Body("stay", 0)), PromiseeError, "agent index"),
        (lambda: Promise(0, TEAM, Body("stay", 0), condition="x"), PromiseError, "condition must be"),
        (lambda: promise_for(0, 12), UnknownActionError, "not in the catalogue; use 0..11"),
        (lambda: promise_for(0, "east"), UnknownActionError, "int index"),
        (lambda: Promise.parse("agent_0 moves east"), PromiseError, "expected arrow notation"),
        (lambda: Promise.parse("agent_0 --(+move east)--> team!"), PromiseError, "unexpected text"),
        (lambda: Promise.parse("agent_0 --(+move east)--> bob"), PromiseError, "expected '\\)--> agent"),
    ],
)
def test_other_bad_input(make, error, pattern):
    with pytest.raises(error, match=pattern):
        make()
    assert issubclass(error, ValueError)


def test_bad_action_is_not_cached():
    with pytest.raises(UnknownActionError):
        promise_for(0, 99)
    with pytest.raises(UnknownActionError):
        promise_for(0, 99)


_actions = st.integers(0, len(ACTION_TEMPLATES) - 1)
_agents = st.integers(0, 9)


@st.composite
def promises_(draw):
    agent = draw(_agents)
    partner = draw(st.none() | _agents.filter(lambda j: j != agent))
    p = promise_for(agent, draw(_actions), partner, draw(st.booleans()))
    if draw(st.booleans()):
        inner = draw(promises_())
        if inner.core != p.core and all(link.core != p.core for link in _chain(inner)):
            p = Promise(p.promiser, p.promisee, p.body, p.polarity, condition=inner)
    return p


def _chain(p):
    while p is not None:
        yield p
        p = p.condition


@settings(max_examples=50, deadline=None)
@given(promises_())
def test_parse_inverts_str(p):
    assert Promise.parse(str(p)) == p
    assert Promise.parse(str(p)).arrow == p.arrow
