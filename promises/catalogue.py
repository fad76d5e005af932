"""The action catalogue: every discrete action of the environment is a promise template.

The environment's action table (:class:`mazesim.world.Action`) is generated from
:data:`ACTION_TEMPLATES`, in this order, so an action is defined once, here.

Each template says what an agent promises when it takes the action:

========  ==============  ========  =========  ==========================================
index     name            polarity  promisee   body
========  ==============  ========  =========  ==========================================
0         stay            +         team       stay in place
1-4       north ... east  +         team       move one cell in that direction
5         up              + / −     team       go up stairs; on a climb spot: use a boost
6         down            +         team       go down stairs or a lowered rope
7         interact        +         team       pull a lever, or lower a rope from a ledge
8-11      boost_*         +         partner    give a boost to the agent in that direction
========  ==============  ========  =========  ==========================================
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ActionTemplate:
    """What taking one discrete action promises.

    ``body`` is the promise body type; ``cooperative`` marks the half of a binding
    (a boost gives, a climb uses); ``direction`` is the compass direction for moves
    and boosts (``None`` otherwise).
    """

    name: str
    body: str
    polarity: str
    promisee: str
    cooperative: bool = False
    direction: str | None = None


ACTION_TEMPLATES: tuple[ActionTemplate, ...] = (
    ActionTemplate("stay", "stay", "+", "team"),
    ActionTemplate("north", "move", "+", "team", direction="north"),
    ActionTemplate("south", "move", "+", "team", direction="south"),
    ActionTemplate("west", "move", "+", "team", direction="west"),
    ActionTemplate("east", "move", "+", "team", direction="east"),
    ActionTemplate("up", "climb", "+", "team", direction="up"),
    ActionTemplate("down", "descend", "+", "team", direction="down"),
    ActionTemplate("interact", "interact", "+", "team"),
    ActionTemplate("boost_north", "boost", "+", "partner", cooperative=True, direction="north"),
    ActionTemplate("boost_south", "boost", "+", "partner", cooperative=True, direction="south"),
    ActionTemplate("boost_west", "boost", "+", "partner", cooperative=True, direction="west"),
    ActionTemplate("boost_east", "boost", "+", "partner", cooperative=True, direction="east"),
)

#: ``ACTION_INDEX[name]`` is the discrete action index of the template called ``name``.
ACTION_INDEX: dict[str, int] = {t.name: i for i, t in enumerate(ACTION_TEMPLATES)}

#: Every promise body type an agent can promise (the templates' bodies; ``boost`` is also the body
#: of the use-promise made by ``up`` on a climb spot).
BODY_TYPES: frozenset[str] = frozenset(t.body for t in ACTION_TEMPLATES)

#: Compass directions, the only constraints a body may carry (moves need one, boosts may have one).
COMPASS: frozenset[str] = frozenset({"north", "south", "west", "east"})

#: Body types that are half of a binding (a give needs a matching use, and vice versa).
COOPERATIVE_BODIES: frozenset[str] = frozenset(t.body for t in ACTION_TEMPLATES if t.cooperative)
