"""Promise Theory for mazesim agents: promises, bindings, assessment, trust and promise graphs.

Every discrete action is a promise (:mod:`promises.catalogue`, :func:`promise_for`): solitary
actions are ``+`` promises to the team; a boost gives (``+boost``) to the agent on the climb spot,
and ``up`` on a climb spot uses (``-boost``) the adjacent booster. A give and a matching use form
a binding; an unbound half has no effect. After each step every promise is assessed as kept,
withdrawn (by the joint-action solver) or unbound, and the assessments update a Beta trust
ledger. The package depends only on numpy (networkx and matplotlib are imported on demand).

Worked example: two agents and a boost. ``agent_0`` stands on a climb spot, ``agent_1`` just
south of it.

>>> import json
>>> from promises import ACTION_INDEX, Resolution, assess_step, new_counts, promise_for
>>> from promises import to_info, trust_matrix, update_trust
>>> UP, BOOST_NORTH, EAST = ACTION_INDEX["up"], ACTION_INDEX["boost_north"], ACTION_INDEX["east"]
>>> use = promise_for(0, UP, partner=1, climb=True)
>>> give = promise_for(1, BOOST_NORTH, partner=0)
>>> print(use)
agent_0 --(-boost)--> agent_1
>>> print(give)
agent_1 --(+boost north)--> agent_0
>>> give.binds_with(use)
True

Step 1: both make their halves, the binding holds, and the solver lets both act.

>>> step1 = assess_step([
...     Resolution(0, requested=UP, executed=UP, partner=1, climb=True),
...     Resolution(1, requested=BOOST_NORTH, executed=BOOST_NORTH, partner=0),
... ])
>>> [a.outcome.value for a in step1]
['kept', 'kept']
>>> counts = update_trust(new_counts(2), step1)   # each partner assessed the other: kept
>>> trust_matrix(counts).round(3).tolist()         # T[i, j]: trust of agent j in agent i
[[0.5, 0.667], [0.667, 0.5]]

Step 2 (on another climb spot): ``agent_0`` climbs again, but ``agent_1`` walks east instead of
boosting. The use-promise is unbound and counts against ``agent_1``, the partner who did not give.

>>> step2 = assess_step([
...     Resolution(0, requested=UP, executed=ACTION_INDEX["stay"], unbound=True, partner=1, climb=True),
...     Resolution(1, requested=EAST, executed=EAST),
... ])
>>> [a.outcome.value for a in step2]
['unbound', 'kept']
>>> counts = update_trust(counts, step2)
>>> counts[1, 0].tolist()        # agent_1's promises as assessed by agent_0: (kept, not kept)
[3.0, 2.0]
>>> json.dumps(to_info(step2)["promises"][0])
'{"agent": 0, "promise": "agent_0 --(-boost)--> agent_1", "outcome": "unbound", "partner": 1}'
"""

from __future__ import annotations

from promises.assessment import (
    Assessment,
    Outcome,
    Resolution,
    agent_info,
    assess,
    assess_step,
    bindings,
    to_info,
)
from promises.catalogue import ACTION_INDEX, ACTION_TEMPLATES, BODY_TYPES, ActionTemplate
from promises.graph import PromiseLog, draw_promise_graph, episode_graph, promise_graph
from promises.model import (
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
    agent_name,
    binds_with,
    promise_for,
)
from promises.team import Superagent, TeamPromise
from promises.trust import TrustError, TrustLedger, new_counts, trust_in, trust_matrix, update_trust

__all__ = [
    "ACTION_INDEX",
    "ACTION_TEMPLATES",
    "BODY_TYPES",
    "TEAM",
    "ActionTemplate",
    "Assessment",
    "Body",
    "BodyConstraintError",
    "ConditionCycleError",
    "NotAutonomousError",
    "Outcome",
    "Polarity",
    "PolarityError",
    "Promise",
    "PromiseError",
    "PromiseLog",
    "PromiseeError",
    "Resolution",
    "Superagent",
    "TeamPromise",
    "TrustError",
    "TrustLedger",
    "UnknownActionError",
    "UnknownBodyError",
    "agent_info",
    "agent_name",
    "assess",
    "assess_step",
    "binds_with",
    "bindings",
    "draw_promise_graph",
    "episode_graph",
    "new_counts",
    "promise_for",
    "promise_graph",
    "to_info",
    "trust_in",
    "trust_matrix",
    "update_trust",
]
