"""The world of mazesim: tiles, actions, the static layout, the dynamic state and the step rules.

Everything here is pure: functions take a :class:`Layout` and a :class:`State` and return new
values; nothing renders, nothing imports PettingZoo. The environment composes these rules.

Coordinates are ``(level, row, col)``; level 0 is the lowest floor. ``north`` is ``row - 1``,
``south`` is ``row + 1``, ``west`` is ``col - 1``, ``east`` is ``col + 1``.

Rules of one step (the joint action is assumed consistent; :func:`apply_joint_action` still
refuses any move that would put two agents in one cell, so a bad joint action can never corrupt
the state):

1. Mechanisms are read at the *start* of the step: a door is open while any of its plates or any
   of its door cells is occupied; a gate is open once latched; a rope is down once lowered.
2. Moves go to the neighbouring cell if it is passable at the start of the step and not occupied
   at the start of the step (unless the scenario allows *following*, where a cell being vacated
   in the same step may be entered).
3. ``up`` on stairs-up goes to the cell above, ``down`` on stairs-down to the cell below.
   ``up`` on a climb spot goes to the ledge above if its rope is down, or if an adjacent agent
   boosts toward the climber in the same step (a binding); otherwise it has no effect.
   ``down`` on a ledge goes to the climb spot below if the rope is down.
4. ``interact`` on a lever pulls it; a gate latches open when *all* its levers are pulled in the
   same step. ``interact`` on a ledge lowers its rope for good.
5. An agent that ends the step on an exit leaves the maze (it is no longer active).
"""

from __future__ import annotations

import itertools
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np

from promises.catalogue import ACTION_TEMPLATES


class Tile(IntEnum):
    """Tile types of the static layout. ``glyph`` is the character used in text mazes."""

    FLOOR = 0
    WALL = 1
    STAIRS_UP = 2
    STAIRS_DOWN = 3
    DOOR = 4
    PLATE = 5
    LEVER = 6
    GATE = 7
    CLIMB = 8
    LEDGE = 9
    EXIT = 10

    @property
    def glyph(self) -> str:
        return TILE_GLYPHS[self]

    @property
    def passable(self) -> bool:
        """Whether an agent may ever stand here (doors and gates only while open)."""
        return self is not Tile.WALL


TILE_GLYPHS: dict[Tile, str] = {
    Tile.FLOOR: ".",
    Tile.WALL: "#",
    Tile.STAIRS_UP: "<",
    Tile.STAIRS_DOWN: ">",
    Tile.DOOR: "D",
    Tile.PLATE: "P",
    Tile.LEVER: "L",
    Tile.GATE: "G",
    Tile.CLIMB: "C",
    Tile.LEDGE: "T",
    Tile.EXIT: "E",
}
GLYPH_TILES: dict[str, Tile] = {g: t for t, g in TILE_GLYPHS.items()}

Action = IntEnum("Action", {t.name.upper(): i for i, t in enumerate(ACTION_TEMPLATES)})
Action.__doc__ = "Discrete actions, generated from :data:`promises.catalogue.ACTION_TEMPLATES`."
N_ACTIONS = len(Action)

_DIRECTIONS = {"north": (0, -1, 0), "south": (0, 1, 0), "west": (0, 0, -1), "east": (0, 0, 1)}
_DIRECTIONS.update({"up": (1, 0, 0), "down": (-1, 0, 0)})
#: ``DELTA[a]`` is the (level, row, col) offset of action ``a``'s direction, zero when it has none.
DELTA: np.ndarray = np.array(
    [_DIRECTIONS.get(t.direction, (0, 0, 0)) if t.direction else (0, 0, 0) for t in ACTION_TEMPLATES],
    dtype=np.int64,
)
MOVES = (Action.NORTH, Action.SOUTH, Action.WEST, Action.EAST)
BOOSTS = (Action.BOOST_NORTH, Action.BOOST_SOUTH, Action.BOOST_WEST, Action.BOOST_EAST)
#: ``BOOST_OF_MOVE[m]`` is the boost toward the same direction as move ``m``.
BOOST_OF_MOVE = dict(zip(MOVES, BOOSTS, strict=True))

Cell = tuple[int, int, int]


@dataclass(frozen=True, eq=False)
class Layout:
    """The static part of a maze.

    ``tiles``: ``(levels, rows, cols)`` uint8 array of :class:`Tile` values.
    ``group``: ``(levels, rows, cols)`` int16 array; for door and plate cells the door id, for
    lever and gate cells the gate id, for climb and ledge cells the climb id; -1 elsewhere.
    Ledge ``k`` sits directly above climb spot ``k``.
    """

    tiles: np.ndarray
    group: np.ndarray
    n_doors: int = field(init=False)
    n_gates: int = field(init=False)
    n_climbs: int = field(init=False)
    door_cells: tuple[tuple[Cell, ...], ...] = field(init=False, repr=False)
    plate_cells: tuple[tuple[Cell, ...], ...] = field(init=False, repr=False)
    lever_cells: tuple[tuple[Cell, ...], ...] = field(init=False, repr=False)
    gate_cells: tuple[tuple[Cell, ...], ...] = field(init=False, repr=False)
    climb_cells: tuple[Cell, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        tiles = np.ascontiguousarray(self.tiles, dtype=np.uint8)
        group = np.ascontiguousarray(self.group, dtype=np.int16)
        if tiles.ndim != 3 or group.shape != tiles.shape:
            raise ValueError(
                f"Layout needs tiles and group of the same (levels, rows, cols) shape, "
                f"got {tiles.shape} and {group.shape}"
            )
        if tiles.max(initial=0) > max(Tile):
            raise ValueError(f"Layout tiles hold an unknown tile value {int(tiles.max())}")
        tiles.setflags(write=False)
        group.setflags(write=False)
        object.__setattr__(self, "tiles", tiles)
        object.__setattr__(self, "group", group)

        def cells_of(kind: Tile) -> dict[int, list[Cell]]:
            out: dict[int, list[Cell]] = {}
            found = np.nonzero(tiles == kind)
            cells = zip(*(a.tolist() for a in found), strict=True)
            for cell, g in zip(cells, group[found].tolist(), strict=True):
                if g < 0:
                    raise ValueError(f"Layout: mechanism tile at {cell} has no group id")
                out.setdefault(g, []).append(cell)
            return out

        def as_tuple(d: dict[int, list[Cell]], n: int) -> tuple[tuple[Cell, ...], ...]:
            return tuple(tuple(d.get(g, ())) for g in range(n))

        doors, plates = cells_of(Tile.DOOR), cells_of(Tile.PLATE)
        gates, levers = cells_of(Tile.GATE), cells_of(Tile.LEVER)
        climbs, ledges = cells_of(Tile.CLIMB), cells_of(Tile.LEDGE)
        n_doors = 1 + max([*doors, *plates], default=-1)
        n_gates = 1 + max([*gates, *levers], default=-1)
        n_climbs = 1 + max([*climbs, *ledges], default=-1)
        for g in range(n_doors):
            if not doors.get(g) or not plates.get(g):
                raise ValueError(f"Layout: door group {g} needs at least one door and one plate")
        for g in range(n_gates):
            if not gates.get(g) or not levers.get(g):
                raise ValueError(f"Layout: gate group {g} needs at least one gate and one lever")
        climb_cells = []
        for k in range(n_climbs):
            if len(climbs.get(k, ())) != 1 or len(ledges.get(k, ())) != 1:
                raise ValueError(f"Layout: climb {k} needs exactly one climb spot and one ledge")
            (cl, cr, cc), (tl, tr, tc) = climbs[k][0], ledges[k][0]
            if (tl, tr, tc) != (cl + 1, cr, cc):
                raise ValueError(f"Layout: ledge of climb {k} must be directly above its climb spot")
            climb_cells.append(climbs[k][0])
        for name, value in (
            ("n_doors", n_doors),
            ("n_gates", n_gates),
            ("n_climbs", n_climbs),
            ("door_cells", as_tuple(doors, n_doors)),
            ("plate_cells", as_tuple(plates, n_doors)),
            ("gate_cells", as_tuple(gates, n_gates)),
            ("lever_cells", as_tuple(levers, n_gates)),
            ("climb_cells", tuple(climb_cells)),
        ):
            object.__setattr__(self, name, value)

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.tiles.shape  # type: ignore[return-value]

    def tile(self, cell: Cell) -> Tile:
        return Tile(int(self.tiles[cell]))

    def in_bounds(self, cell: Cell) -> bool:
        levels, rows, cols = self.tiles.shape
        return 0 <= cell[0] < levels and 0 <= cell[1] < rows and 0 <= cell[2] < cols

    def to_bytes(self) -> bytes:
        """A canonical byte form (shape, tiles, groups): equal layouts give equal bytes."""
        shape = np.array(self.tiles.shape, dtype="<i4").tobytes()
        return shape + self.tiles.tobytes() + self.group.astype("<i2").tobytes()


@dataclass(slots=True)
class State:
    """The dynamic part of a world: small arrays, so a batch is a leading axis.

    ``pos``: ``(n_agents, 3)`` int64 (level, row, col); ``active``: ``(n_agents,)`` bool, False
    once an agent has left through an exit; ``gates_open``: ``(n_gates,)`` bool, latched;
    ``ropes_down``: ``(n_climbs,)`` bool, latched; ``trust``: ``(n_agents, n_agents, 2)`` float64
    Beta counts (kept, not kept) of promises from the first agent as assessed by the second;
    ``step``: steps taken so far.
    """

    pos: np.ndarray
    active: np.ndarray
    gates_open: np.ndarray
    ropes_down: np.ndarray
    trust: np.ndarray
    step: int = 0

    @classmethod
    def initial(cls, layout: Layout, starts: np.ndarray) -> State:
        starts = np.asarray(starts, dtype=np.int64)
        n = len(starts)
        return cls(
            pos=starts.copy(),
            active=np.ones(n, dtype=bool),
            gates_open=np.zeros(layout.n_gates, dtype=bool),
            ropes_down=np.zeros(layout.n_climbs, dtype=bool),
            trust=np.ones((n, n, 2), dtype=np.float64),
        )

    @property
    def n_agents(self) -> int:
        return len(self.pos)

    def copy(self) -> State:
        return State(
            self.pos.copy(),
            self.active.copy(),
            self.gates_open.copy(),
            self.ropes_down.copy(),
            self.trust.copy(),
            self.step,
        )

    def occupancy(self) -> dict[Cell, int]:
        """Map from occupied cell to the active agent standing there."""
        return {tuple(p): i for i, p in enumerate(self.pos.tolist()) if self.active[i]}

    def equals(self, other: State) -> bool:
        return (
            self.step == other.step
            and np.array_equal(self.pos, other.pos)
            and np.array_equal(self.active, other.active)
            and np.array_equal(self.gates_open, other.gates_open)
            and np.array_equal(self.ropes_down, other.ropes_down)
            and np.array_equal(self.trust, other.trust)
        )


# -- compiled rules ------------------------------------------------------------------------------
# The rules are compiled once per layout into plain Python tables over integer cell ids
# (``id = (level * rows + row) * cols + col``): a step touches a handful of cells, and list and dict
# look-ups cost tens of nanoseconds where numpy scalar access costs a microsecond.

#: an option of a cell is legal if: always / its door is open / its gate is open / its rope is down /
#: its rope is still up / its gate is still shut
ALWAYS, DOOR_OPEN, GATE_OPEN, ROPE_DOWN, ROPE_UP, GATE_SHUT = range(6)
_STAY, _UP, _DOWN, _INTERACT = (int(Action.STAY), int(Action.UP), int(Action.DOWN), int(Action.INTERACT))
_MOVES = tuple(int(m) for m in MOVES)
_BOOST_SET = frozenset(int(b) for b in BOOSTS)
_VERTICAL = frozenset((_UP, _DOWN))
_MOVING = frozenset(_MOVES) | _VERTICAL


class Rules:
    """The rules of one layout compiled into tables over integer cell ids.

    ``opts[cell][action] = (destination, condition, group, boost_target)`` for every action the
    terrain may allow on ``cell`` (``condition`` one of ``ALWAYS`` … ``GATE_SHUT``, checked against
    ``group``; ``boost_target`` the climb spot a boost aims at, else -1). ``climb[cell]``: climb
    id of a climb spot, else -1; ``ledge[cell]``: climb id of a ledge, else -1; ``lever[cell]``:
    gate id of a lever, else -1; ``exit[cell]``: an exit. ``coords[cell]``: ``(l, r, c)``, and
    ``coord_array``: all of them as one read-only ``(cells, 3)`` int64 array.
    ``opts`` is indexed like a list of all cells but compiles each cell on first use.
    Use :func:`rules_of` to get the (cached) rules of a layout.
    """

    __slots__ = (
        "shape",
        "opts",
        "climb",
        "ledge",
        "lever",
        "exit",
        "coords",
        "coord_array",
        "door_cells",
        "lever_cells",
        "legal_cache",
        "__weakref__",
    )

    def __init__(self, layout: Layout) -> None:
        levels, rows, cols = layout.shape
        self.shape = (levels, rows, cols)
        tiles, group = layout.tiles, layout.group
        self.opts = _CellOptions(tiles.ravel().tolist(), group.ravel().tolist(), self.shape)
        self.climb: list[int] = np.where(tiles == Tile.CLIMB, group, -1).ravel().tolist()
        self.ledge: list[int] = np.where(tiles == Tile.LEDGE, group, -1).ravel().tolist()
        self.lever: list[int] = np.where(tiles == Tile.LEVER, group, -1).ravel().tolist()
        self.exit: list[bool] = (tiles == Tile.EXIT).ravel().tolist()
        self.coords: list[Cell] = list(itertools.product(range(levels), range(rows), range(cols)))
        #: the same as a read-only ``(cells, 3)`` int64 array
        self.coord_array = np.indices(self.shape, dtype=np.int64).reshape(3, -1).T.copy()
        self.coord_array.setflags(write=False)

        def ids(cells: tuple[Cell, ...]) -> list[int]:
            return [(lv * rows + r) * cols + c for lv, r, c in cells]

        #: per door: the cell ids of the door and its plates (any agent on one holds it open)
        self.door_cells = [
            frozenset(ids(d) + ids(p)) for d, p in zip(layout.door_cells, layout.plate_cells, strict=True)
        ]
        self.lever_cells = [ids(cells) for cells in layout.lever_cells]
        #: (cell, mechanism states) -> legal actions of an agent there; filled by Frame.legal
        self.legal_cache: dict[tuple[int, tuple], dict[int, tuple[int, int]]] = {}

    def cell_id(self, cell: Cell) -> int:
        _, rows, cols = self.shape
        return (cell[0] * rows + cell[1]) * cols + cell[2]


_STEPS = tuple((int(m), int(DELTA[m][1]), int(DELTA[m][2]), int(BOOST_OF_MOVE[m])) for m in MOVES)


class _CellOptions(dict):
    """``Rules.opts``: indexed by cell id like a list of ``len`` cells, each cell compiled on first
    use. A step touches a handful of cells; compiling all of a ``three_floor`` maze's 1,323 up
    front took 12 ms per reset, more than a hundred steps' worth of time. ``tiles`` and ``group``
    are the layout's arrays flattened by cell id, as lists or 1-D arrays (the batched env passes
    views of its banked layouts)."""

    __slots__ = ("tiles", "group", "shape")

    def __init__(self, tiles: Sequence[int], group: Sequence[int], shape: tuple[int, int, int]) -> None:
        super().__init__()
        self.tiles, self.group, self.shape = tiles, group, shape

    def __len__(self) -> int:
        return len(self.tiles)

    def __missing__(self, here: int) -> dict[int, tuple[int, int, int, int]]:
        tiles, group = self.tiles, self.group
        if not 0 <= here < len(tiles):
            raise IndexError(f"Rules.opts: cell id {here} is outside the maze (0..{len(tiles) - 1})")
        levels, rows, cols = self.shape
        floor = rows * cols
        lv, rc = divmod(here, floor)
        r, c = divmod(rc, cols)
        t, g = int(tiles[here]), int(group[here])
        o = {_STAY: (here, ALWAYS, -1, -1)}
        for m, dr, dc, boost in _STEPS:
            nr, nc = r + dr, c + dc
            there = here + dr * cols + dc
            if not (0 <= nr < rows and 0 <= nc < cols) or tiles[there] == Tile.WALL:
                continue
            nt, ng = int(tiles[there]), int(group[there])
            kind = DOOR_OPEN if nt == Tile.DOOR else GATE_OPEN if nt == Tile.GATE else ALWAYS
            o[m] = (there, kind, ng, -1)
            if nt == Tile.CLIMB:
                o[boost] = (here, ALWAYS, -1, there)
        if t in (Tile.STAIRS_UP, Tile.CLIMB) and lv + 1 < levels:
            o[_UP] = (here + floor, ALWAYS, -1, -1)
        if lv > 0 and t == Tile.STAIRS_DOWN:
            o[_DOWN] = (here - floor, ALWAYS, -1, -1)
        if lv > 0 and t == Tile.LEDGE:
            o[_DOWN] = (here - floor, ROPE_DOWN, g, -1)
        if t == Tile.LEDGE:
            o[_INTERACT] = (here, ROPE_UP, g, -1)
        if t == Tile.LEVER:
            o[_INTERACT] = (here, GATE_SHUT, g, -1)
        out = self[here] = dict(sorted(o.items()))
        return out


_RULES: weakref.WeakKeyDictionary[Layout, Rules] = weakref.WeakKeyDictionary()


def rules_of(layout: Layout) -> Rules:
    """The compiled :class:`Rules` of ``layout`` (built on first use, then cached)."""
    rules = _RULES.get(layout)
    if rules is None:
        rules = _RULES[layout] = Rules(layout)
    return rules


class Frame:
    """One state's dynamic facts as plain Python values: occupancy and mechanism states.

    ``cell[i]``: agent ``i``'s cell id; ``occ``: cell id → active agent (made on first use);
    ``everyone``: every agent is active; ``doors[g]``: door ``g`` open at the start of the step;
    ``gates``, ``ropes``: latched mechanisms.
    """

    __slots__ = (
        "rules",
        "n",
        "cell",
        "active",
        "everyone",
        "_occ",
        "doors",
        "gates",
        "ropes",
        "_legal",
        "_mech",
    )

    def __init__(
        self,
        rules: Rules,
        state: State,
        cells: list[int] | None = None,
        lists: tuple[list[bool], list[bool], list[bool]] | None = None,
    ) -> None:
        """``cells``: the cell ids of ``state.pos``, and ``lists``: ``state.active``,
        ``state.gates_open`` and ``state.ropes_down`` as lists, if the caller already has them
        (kept as they are, not copied: nobody modifies a frame's lists)."""
        self.rules = rules
        if cells is None:
            _, rows, cols = rules.shape
            cells = [(lv * rows + r) * cols + c for lv, r, c in state.pos.tolist()]
        self.cell = cells
        self.n = len(cells)
        if lists is None:
            lists = (state.active.tolist(), state.gates_open.tolist(), state.ropes_down.tolist())
        self.active, self.gates, self.ropes = lists
        active = lists[0]
        self._occ: dict[int, int] | None = None
        # a frame is made every step: while every agent is inside (the common case) the cells
        # themselves are the occupied ones, and the occupancy dict waits until someone asks
        self.everyone = everyone = all(active)
        taken = cells if everyone else self.occ
        self.doors = doors = []
        for cs in rules.door_cells:
            doors.append(not cs.isdisjoint(taken))
        #: per agent: its legal actions, and the mechanism states as a key: both made on first use
        self._legal: list[dict[int, tuple[int, int]] | None] | None = None
        self._mech: tuple | None = None

    @property
    def occ(self) -> dict[int, int]:
        """Cell id → the active agent on it (made on first use)."""
        occ = self._occ
        if occ is None:
            active = self.active
            occ = self._occ = {c: i for i, c in enumerate(self.cell) if active[i]}
        return occ

    @property
    def mech(self) -> tuple[tuple[bool, ...], tuple[bool, ...], tuple[bool, ...]]:
        """``(doors, gates, ropes)`` as tuples: the mechanism states as a key (made on first use)."""
        mech = self._mech
        if mech is None:
            mech = self._mech = (tuple(self.doors), tuple(self.gates), tuple(self.ropes))
        return mech

    def _ok(self, kind: int, g: int) -> bool:
        return (
            kind == ALWAYS
            or (kind == DOOR_OPEN and self.doors[g])
            or (kind == GATE_OPEN and self.gates[g])
            or (kind == ROPE_DOWN and self.ropes[g])
            or (kind == ROPE_UP and not self.ropes[g])
            or (kind == GATE_SHUT and not self.gates[g])
        )

    def legal(self, i: int) -> dict[int, tuple[int, int]]:
        """Agent ``i``'s legal actions → ``(destination cell, boost target cell or -1)``.

        An agent that has left can only stay. The dict is cached: do not modify it.
        """
        known = self._legal
        if known is None:
            known = self._legal = [None] * self.n
        out = known[i]
        if out is not None:
            return out
        if not self.active[i]:
            here = self.cell[i]
            out = known[i] = {_STAY: (here, -1)}
            return out
        out = known[i] = self.legal_at(self.cell[i])
        return out

    def legal_at(self, here: int) -> dict[int, tuple[int, int]]:
        """The legal actions of an active agent on cell ``here`` in this frame (as :meth:`legal`)."""
        key = (here, self.mech)
        cache = self.rules.legal_cache
        out = cache.get(key)
        if out is None:
            out = cache[key] = {
                a: (dest, target)
                for a, (dest, kind, g, target) in self.rules.opts[here].items()
                if kind == ALWAYS or self._ok(kind, g)
            }
        return out

    def step(self, i: int, a: int) -> tuple[int, int] | None:
        """``(destination, boost target)`` of action ``a`` by agent ``i``, or None if illegal."""
        if not self.active[i]:
            return (self.cell[i], -1) if a == _STAY else None
        opt = self.rules.opts[self.cell[i]].get(a)
        if opt is None:
            return None
        dest, kind, g, target = opt
        return (dest, target) if kind == ALWAYS or self._ok(kind, g) else None

    def needs_boost(self, i: int) -> bool:
        """Whether ``up`` by agent ``i`` is a climb that needs a partner's boost."""
        g = self.rules.climb[self.cell[i]]
        return g >= 0 and not self.ropes[g]

    def mask(self, i: int) -> np.ndarray:
        """``(N_ACTIONS,)`` int8 action mask of agent ``i`` (see :func:`action_mask`); a fresh array."""
        legal = tuple(self.legal(i))
        m = _MASKS.get(legal)
        if m is None:
            m = _MASKS[legal] = np.zeros(N_ACTIONS, dtype=np.int8)
            m[list(legal)] = 1
        return m.copy()


#: action masks by their tuple of legal actions (a few dozen distinct ones exist)
_MASKS: dict[tuple[int, ...], np.ndarray] = {}


def frame(layout: Layout, state: State) -> Frame:
    """The :class:`Frame` of ``state`` (compiles the layout's rules on first use)."""
    return Frame(rules_of(layout), state)


def doors_open(layout: Layout, occupied: dict[Cell, int] | set[Cell]) -> np.ndarray:
    """``(n_doors,)`` bool: a door is open while any of its plates or door cells is occupied."""
    out = np.zeros(layout.n_doors, dtype=bool)
    for g in range(layout.n_doors):
        out[g] = any(c in occupied for c in layout.plate_cells[g]) or any(
            c in occupied for c in layout.door_cells[g]
        )
    return out


def action_mask(layout: Layout, state: State, agent: int) -> np.ndarray:
    """``(N_ACTIONS,)`` int8: 1 for actions the terrain allows this agent, other agents ignored.

    Moves into walls, shut doors and shut gates are masked. ``up`` is legal on stairs up and on a
    climb spot (it needs a boost or the rope, which the resolver checks); ``down`` on stairs down
    and on a ledge whose rope is down; a boost toward a neighbouring climb spot; ``interact`` on a
    lever whose gate is still shut, or on a ledge whose rope is still up. An agent that has left
    can only stay. For many agents at once, build one :func:`frame` and call ``Frame.mask``.
    """
    return frame(layout, state).mask(agent)


def needs_boost(layout: Layout, state: State, agent: int, action: int) -> bool:
    """Whether ``action`` by ``agent`` is a climb that needs a partner's boost (a use-promise)."""
    return int(action) == _UP and frame(layout, state).needs_boost(agent)


def boost_target(state: State, agent: int, action: int) -> Cell | None:
    """The cell a boost by ``agent`` is aimed at, or None if ``action`` is not a boost."""
    if int(action) not in _BOOST_SET:
        return None
    l, r, c = (int(v) for v in state.pos[agent])
    return (l, r + int(DELTA[action][1]), c + int(DELTA[action][2]))


def destination(layout: Layout, state: State, agent: int, action: int) -> Cell:
    """The cell ``agent`` would occupy after ``action`` if nothing stops it (terrain only).

    Bindings are not checked: a climb's destination is the ledge whether or not a partner
    boosts. Illegal actions (not allowed by :func:`action_mask`) give the current cell.
    """
    fr = frame(layout, state)
    s = fr.step(agent, int(action))
    return fr.rules.coords[s[0] if s is not None else fr.cell[agent]]


@dataclass(frozen=True)
class StepEvents:
    """What happened in one application of the rules.

    ``executed``: ``(n_agents,)`` int64, the action each agent actually performed (``stay`` where
    its action had no effect). ``exited``: agents that left this step. ``levers_pulled``: cells;
    ``gates_latched``, ``ropes_lowered``: mechanism ids.
    """

    executed: np.ndarray
    exited: tuple[int, ...]
    levers_pulled: tuple[Cell, ...]
    gates_latched: tuple[int, ...]
    ropes_lowered: tuple[int, ...]


def apply_joint_action(
    layout: Layout,
    state: State,
    actions: np.ndarray,
    *,
    following: bool = False,
    frame_: Frame | None = None,
) -> tuple[State, StepEvents]:
    """Apply one joint action and return the new state and what happened.

    ``actions``: ``(n_agents,)`` ints; entries of inactive agents are ignored. The input state is
    not modified. Moves that would break the rules (a cell occupied at the start of the step,
    unless ``following``; two agents into one cell; a swap) do not happen: those agents stay.
    ``frame_`` may pass the :class:`Frame` of ``state`` if the caller already built it.
    """
    fr = frame_ if frame_ is not None else frame(layout, state)
    rules = fr.rules
    n = fr.n
    acts = [int(a) for a in actions]
    start, active, occ = fr.cell, fr.active, fr.occ
    executed = [_STAY] * n

    boosted = set()
    for i in range(n):
        a = acts[i]
        if active[i] and a in _BOOST_SET:
            s = fr.step(i, a)
            if s is not None:
                j = occ.get(s[1])
                if j is not None and acts[j] == _UP and rules.climb[s[1]] >= 0:
                    boosted.add(s[1])
                    executed[i] = a

    target = list(start)
    moving = set()
    for i in range(n):
        a = acts[i]
        if not active[i] or a not in _MOVING:
            continue
        s = fr.step(i, a)
        if s is None:
            continue
        if a == _UP and fr.needs_boost(i) and start[i] not in boosted:
            continue  # an unbound use-promise has no effect
        target[i] = s[0]
        moving.add(i)

    # Refuse conflicting moves until stable: entering an occupied cell (unless following and the
    # occupant leaves it, not toward us), two agents into one cell.
    changed = bool(moving)
    while changed:
        changed = False
        claims: dict[int, int] = {}
        for i in range(n):
            if active[i]:
                claims[target[i]] = claims.get(target[i], 0) + 1
        for i in sorted(moving):
            j = occ.get(target[i])
            blocked = claims[target[i]] > 1 or (
                j is not None and j != i and (not following or j not in moving or target[j] == start[i])
            )
            if blocked:
                target[i] = start[i]
                moving.discard(i)
                changed = True

    new = state.copy()
    new.step = state.step + 1
    pulled: list[int] = []
    lowered: list[int] = []
    for i in range(n):
        if not active[i]:
            continue
        a = acts[i]
        if i in moving:
            executed[i] = a
            new.pos[i] = rules.coords[target[i]]
        elif a == _INTERACT and fr.step(i, a) is not None:
            executed[i] = a
            g = rules.lever[start[i]]
            if g >= 0:
                pulled.append(start[i])
            else:  # a ledge whose rope is still up (the only other legal interact)
                lowered.append(rules.ledge[start[i]])
                new.ropes_down[lowered[-1]] = True

    latched = []
    if pulled:
        pulled_set = set(pulled)
        for g, cells in enumerate(rules.lever_cells):
            if not fr.gates[g] and all(c in pulled_set for c in cells):
                new.gates_open[g] = True
                latched.append(g)

    exited = []
    for i in range(n):
        if active[i] and rules.exit[target[i]]:
            new.active[i] = False
            exited.append(i)
    events = StepEvents(
        np.array(executed, dtype=np.int64),
        tuple(exited),
        tuple(rules.coords[c] for c in pulled),
        tuple(latched),
        tuple(sorted(lowered)),
    )
    return new, events
