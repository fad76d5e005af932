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

        def cells_of(kinds: tuple[Tile, ...]) -> dict[int, list[Cell]]:
            out: dict[int, list[Cell]] = {}
            mask = np.isin(tiles, [int(k) for k in kinds])
            for lrc in zip(*np.nonzero(mask), strict=True):
                cell = (int(lrc[0]), int(lrc[1]), int(lrc[2]))
                g = int(group[cell])
                if g < 0:
                    raise ValueError(f"Layout: mechanism tile at {cell} has no group id")
                out.setdefault(g, []).append(cell)
            return out

        def as_tuple(d: dict[int, list[Cell]], n: int) -> tuple[tuple[Cell, ...], ...]:
            return tuple(tuple(d.get(g, ())) for g in range(n))

        doors, plates = cells_of((Tile.DOOR,)), cells_of((Tile.PLATE,))
        gates, levers = cells_of((Tile.GATE,)), cells_of((Tile.LEVER,))
        climbs, ledges = cells_of((Tile.CLIMB,)), cells_of((Tile.LEDGE,))
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


@dataclass
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


def doors_open(layout: Layout, occupied: dict[Cell, int] | set[Cell]) -> np.ndarray:
    """``(n_doors,)`` bool: a door is open while any of its plates or door cells is occupied."""
    out = np.zeros(layout.n_doors, dtype=bool)
    for g in range(layout.n_doors):
        out[g] = any(c in occupied for c in layout.plate_cells[g]) or any(
            c in occupied for c in layout.door_cells[g]
        )
    return out


def can_enter(layout: Layout, state: State, cell: Cell, open_doors: np.ndarray) -> bool:
    """Whether ``cell`` is passable terrain at the start of a step (agents not considered)."""
    if not layout.in_bounds(cell):
        return False
    t = int(layout.tiles[cell])
    if t == Tile.WALL:
        return False
    if t == Tile.DOOR:
        return bool(open_doors[layout.group[cell]])
    if t == Tile.GATE:
        return bool(state.gates_open[layout.group[cell]])
    return True


def action_mask(layout: Layout, state: State, agent: int, open_doors: np.ndarray | None = None) -> np.ndarray:
    """``(N_ACTIONS,)`` int8: 1 for actions the terrain allows this agent, other agents ignored.

    ``up`` on a climb spot is legal (it needs a boost or the rope, which the resolver checks);
    a boost is legal toward a neighbouring climb spot; ``interact`` on a lever whose gate is
    still shut, or on a ledge whose rope is still up. An agent that has left can only stay.
    """
    mask = np.zeros(N_ACTIONS, dtype=np.int8)
    mask[Action.STAY] = 1
    if not state.active[agent]:
        return mask
    if open_doors is None:
        open_doors = doors_open(layout, state.occupancy())
    l, r, c = (int(v) for v in state.pos[agent])
    here = int(layout.tiles[l, r, c])
    for m in MOVES:
        dl, dr, dc = DELTA[m]
        nxt = (l, r + int(dr), c + int(dc))
        if can_enter(layout, state, nxt, open_doors):
            mask[m] = 1
            if layout.tiles[nxt] == Tile.CLIMB:
                mask[BOOST_OF_MOVE[m]] = 1
    if here == Tile.STAIRS_UP or here == Tile.CLIMB:
        mask[Action.UP] = 1
    if here == Tile.STAIRS_DOWN or (here == Tile.LEDGE and state.ropes_down[layout.group[l, r, c]]):
        mask[Action.DOWN] = 1
    if here == Tile.LEVER and not state.gates_open[layout.group[l, r, c]]:
        mask[Action.INTERACT] = 1
    if here == Tile.LEDGE and not state.ropes_down[layout.group[l, r, c]]:
        mask[Action.INTERACT] = 1
    return mask


def needs_boost(layout: Layout, state: State, agent: int, action: int) -> bool:
    """Whether ``action`` by ``agent`` is a climb that needs a partner's boost (a use-promise)."""
    if action != Action.UP:
        return False
    cell = tuple(int(v) for v in state.pos[agent])
    return layout.tiles[cell] == Tile.CLIMB and not state.ropes_down[layout.group[cell]]


def boost_target(state: State, agent: int, action: int) -> Cell | None:
    """The cell a boost by ``agent`` is aimed at, or None if ``action`` is not a boost."""
    if action not in BOOSTS:
        return None
    l, r, c = (int(v) for v in state.pos[agent])
    dl, dr, dc = DELTA[action]
    return (l, r + int(dr), c + int(dc))


def destination(
    layout: Layout, state: State, agent: int, action: int, open_doors: np.ndarray | None = None
) -> Cell:
    """The cell ``agent`` would occupy after ``action`` if nothing stops it (terrain only).

    Bindings are not checked: a climb's destination is the ledge whether or not a partner
    boosts. Illegal actions (not allowed by :func:`action_mask`) give the current cell.
    """
    l, r, c = (int(v) for v in state.pos[agent])
    if not state.active[agent]:
        return (l, r, c)
    if action in MOVES:
        dl, dr, dc = DELTA[action]
        nxt = (l, r + int(dr), c + int(dc))
        if open_doors is None:
            open_doors = doors_open(layout, state.occupancy())
        if can_enter(layout, state, nxt, open_doors):
            return nxt
        return (l, r, c)
    here = int(layout.tiles[l, r, c])
    if action == Action.UP and here in (Tile.STAIRS_UP, Tile.CLIMB) and l + 1 < layout.shape[0]:
        return (l + 1, r, c)
    rope = here == Tile.LEDGE and state.ropes_down[layout.group[l, r, c]]
    if action == Action.DOWN and l > 0 and (here == Tile.STAIRS_DOWN or rope):
        return (l - 1, r, c)
    return (l, r, c)


@dataclass(frozen=True)
class StepEvents:
    """What happened in one application of the rules.

    ``executed``: ``(n_agents,)`` int64, the action each agent actually performed (``stay`` where
    its action had no effect). ``exited``: agents that left this step. ``levers_pulled``,
    ``gates_latched``, ``ropes_lowered``: mechanism ids.
    """

    executed: np.ndarray
    exited: tuple[int, ...]
    levers_pulled: tuple[Cell, ...]
    gates_latched: tuple[int, ...]
    ropes_lowered: tuple[int, ...]


def apply_joint_action(
    layout: Layout, state: State, actions: np.ndarray, *, following: bool = False
) -> tuple[State, StepEvents]:
    """Apply one joint action and return the new state and what happened.

    ``actions``: ``(n_agents,)`` ints; entries of inactive agents are ignored. The input state is
    not modified. Moves that would break the rules (a cell occupied at the start of the step,
    unless ``following``; two agents into one cell; a swap) do not happen: those agents stay.
    """
    n = state.n_agents
    acts = [int(a) for a in actions]
    occ = state.occupancy()
    open_doors = doors_open(layout, occ)
    new = state.copy()
    new.step = state.step + 1
    executed = np.zeros(n, dtype=np.int64)
    start = [tuple(p) for p in state.pos.tolist()]
    target: list[Cell] = list(start)

    boosted: set[Cell] = set()
    for i in range(n):
        if state.active[i] and acts[i] in BOOSTS:
            cell = boost_target(state, i, acts[i])
            j = occ.get(cell)  # type: ignore[arg-type]
            if j is not None and acts[j] == Action.UP and layout.tiles[cell] == Tile.CLIMB:
                boosted.add(cell)  # type: ignore[arg-type]
                executed[i] = acts[i]

    for i in range(n):
        if not state.active[i]:
            continue
        a = acts[i]
        if a in MOVES or a == Action.UP or a == Action.DOWN:
            dest = destination(layout, state, i, a, open_doors)
            unbound_climb = (
                a == Action.UP
                and layout.tiles[start[i]] == Tile.CLIMB
                and not (state.ropes_down[layout.group[start[i]]] or start[i] in boosted)
            )
            if dest != start[i] and not unbound_climb:  # an unbound use-promise has no effect
                target[i] = dest

    # Refuse conflicting moves until stable: entering an occupied cell (unless following and the
    # occupant leaves it, not toward us), two agents into one cell.
    moving = {i for i in range(n) if state.active[i] and target[i] != start[i]}
    changed = True
    while changed:
        changed = False
        claims: dict[Cell, list[int]] = {}
        for i in range(n):
            if state.active[i]:
                claims.setdefault(target[i], []).append(i)
        for i in sorted(moving):
            j = occ.get(target[i])
            blocked = len(claims[target[i]]) > 1
            if j is not None and j != i and (not following or j not in moving or target[j] == start[i]):
                blocked = True
            if blocked:
                target[i] = start[i]
                moving.discard(i)
                changed = True

    pulled: list[Cell] = []
    for i in range(n):
        if not state.active[i]:
            continue
        a = acts[i]
        if i in moving:
            executed[i] = a
            new.pos[i] = target[i]
        elif a == Action.INTERACT:
            cell = start[i]
            t = layout.tiles[cell]
            g = int(layout.group[cell])
            if t == Tile.LEVER and not state.gates_open[g]:
                pulled.append(cell)
                executed[i] = a
            elif t == Tile.LEDGE and not state.ropes_down[g]:
                new.ropes_down[g] = True
                executed[i] = a

    pulled_set = set(pulled)
    latched = []
    for g in range(layout.n_gates):
        if not state.gates_open[g] and all(c in pulled_set for c in layout.lever_cells[g]):
            new.gates_open[g] = True
            latched.append(g)
    lowered = tuple(int(k) for k in np.flatnonzero(new.ropes_down & ~state.ropes_down))

    exited = []
    for i in range(n):
        if state.active[i] and layout.tiles[tuple(new.pos[i])] == Tile.EXIT:
            new.active[i] = False
            exited.append(i)
    events = StepEvents(executed, tuple(exited), tuple(pulled), tuple(latched), lowered)
    return new, events
