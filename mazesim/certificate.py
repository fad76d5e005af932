"""Certificates: a proof, over zones and mechanism states, that a team can escape a maze and that
no single agent can.

A **zone** is a connected set of passable cells with every mechanism shut: doors and gates are
walls, climb spots do not reach their ledges, stairs join the two floors they link. Door cells and
gate cells form zones of their own (a latched gate merges its zone with its neighbours; a door never
does, it is only open while held). A **region** is a set of zones merged by the latched gates and
lowered ropes of a mechanism state.

The abstract search is a breadth-first search over states ``(mechanism bits, sorted regions of the
agents still inside)`` (agents are interchangeable) with these moves:

* **door**: an agent in a zone next to door ``g`` crosses to another zone next to it if *another*
  agent is in a region holding one of its plates (or alone, if a plate touches the doorway: then
  one agent can press and pass);
* **gate**: latch gate ``g`` if distinct agents stand in the regions of all of its levers;
* **climb**: an agent in the climb spot's region goes up to the ledge's region if another agent is
  in a region holding a cell next to the climb spot (the booster);
* **lower**: an agent in the ledge's region lowers the rope (climb spot and ledge then merge);
* **exit**: an agent in a region with an exit leaves.

For a team of one every move that needs a partner is unavailable, so "no agent alone can escape"
is proven by running the same search from each start with a team of one. Agents blocking each other
in corridors are not modelled: the expert (:mod:`mazesim.expert`) checks that end to end.

>>> from mazesim.text import parse_text
>>> layout, starts = parse_text(["###########\\n#01P.D.P.E#\\n###########"])
>>> cert = certify(layout, starts)
>>> cert.team_escapes, cert.solo_escapes, cert.valid
(True, (False, False), True)
>>> cert.plan[0]
'door 0: an agent crosses from zone 0 to zone 2 while a partner holds a plate in zone 0'
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from mazesim.world import Layout, Tile

#: An abstract state: (mechanism bits, sorted regions of the agents still inside).
AbstractState = tuple[int, tuple[int, ...]]

#: Upper bound on abstract states one search may visit, so a pathological layout cannot hang.
MAX_STATES = 200_000

_OPEN, _DOOR, _GATE = 0, 1, 2


class LayoutError(ValueError):
    """A layout the certificate cannot reason about (for example, unpaired stairs)."""


@dataclass(frozen=True)
class Move:
    """One abstract move. ``source`` and ``target`` are region ids (base zone ids), -1 when unused.

    ``kind`` is ``"door"``, ``"gate"``, ``"climb"``, ``"lower"`` or ``"exit"``; ``mechanism`` is the
    door, gate or climb id (-1 for an exit); ``helper`` is the region of the partner (plate holder
    or booster), -1 when none is needed.
    """

    kind: str
    mechanism: int
    source: int
    target: int = -1
    helper: int = -1

    def describe(self) -> str:
        """A readable line, e.g. ``'gate 0: latch it by pulling its levers in zones 1, 1'``."""
        if self.kind == "door":
            how = (
                "alone (a plate touches the doorway)"
                if self.helper < 0
                else (f"while a partner holds a plate in zone {self.helper}")
            )
            return (
                f"door {self.mechanism}: an agent crosses from zone {self.source} to zone {self.target} {how}"
            )
        if self.kind == "gate":
            return f"gate {self.mechanism}: agents pull all its levers in the same step (zone {self.source})"
        if self.kind == "climb":
            return (
                f"climb {self.mechanism}: an agent in zone {self.source} is boosted up to zone {self.target} "
                f"by a partner in zone {self.helper}"
            )
        if self.kind == "lower":
            return f"climb {self.mechanism}: an agent in zone {self.source} lowers the rope"
        return f"exit: an agent in zone {self.source} leaves"


class ZoneGraph:
    """Zones of a layout and the abstract moves between them.

    ``zone``: ``(levels, rows, cols)`` int32, the zone of every passable cell (-1 on walls).
    ``kind``: ``(n_zones,)`` int8: 0 open floor, 1 door cells, 2 gate cells.

    >>> from mazesim.text import parse_text
    >>> layout, starts = parse_text(["#####\\n#0.1E\\n#####"])
    >>> zg = ZoneGraph(layout)
    >>> zg.n_zones, zg.plan(zg.initial(starts))[0][0].kind
    (1, 'exit')
    """

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        tiles = layout.tiles
        levels, rows, cols = tiles.shape
        _check_stairs(tiles)
        self.zone = _label_zones(layout)
        zone = self.zone
        self.n_zones = int(zone.max(initial=-1)) + 1
        kind = np.zeros(self.n_zones, dtype=np.int8)
        flat_t, flat_z = tiles.ravel(), zone.ravel()
        kind[flat_z[flat_t == Tile.DOOR]] = _DOOR
        kind[flat_z[flat_t == Tile.GATE]] = _GATE
        self.kind = kind

        def zones_of(cells: Sequence[tuple[int, int, int]]) -> list[int]:
            return [int(zone[c]) for c in cells]

        def neighbour_zones(cells: Sequence[tuple[int, int, int]], skip_doors: bool = True) -> frozenset[int]:
            out = set()
            for l, r, c in cells:
                for rr, cc in ((r - 1, c), (r + 1, c), (r, c - 1), (r, c + 1)):
                    if 0 <= rr < rows and 0 <= cc < cols and zone[l, rr, cc] >= 0:
                        z = int(zone[l, rr, cc])
                        if not (skip_doors and kind[z] == _DOOR):
                            out.add(z)
            return frozenset(out)

        self.door_sides = tuple(neighbour_zones(cells) for cells in layout.door_cells)
        self.plate_zones = tuple(frozenset(zones_of(cells)) for cells in layout.plate_cells)
        solo = []
        for g in range(layout.n_doors):
            doors = set(layout.door_cells[g])
            solo.append(
                frozenset(
                    int(zone[p])
                    for p in layout.plate_cells[g]
                    if any(
                        (p[0], p[1] + dr, p[2] + dc) in doors for dr, dc in ((-1, 0), (1, 0), (0, -1), (0, 1))
                    )
                )
            )
        self.solo_plate_zones = tuple(solo)
        self.gate_links = tuple(
            frozenset(zones_of(cells)) | neighbour_zones(cells) for cells in layout.gate_cells
        )
        self.lever_zones = tuple(tuple(zones_of(cells)) for cells in layout.lever_cells)
        self.climb_zone = tuple(int(zone[c]) for c in layout.climb_cells)
        self.ledge_zone = tuple(int(zone[l + 1, r, c]) for l, r, c in layout.climb_cells)
        self.booster_zones = tuple(neighbour_zones([c]) for c in layout.climb_cells)
        self.exit_zones = frozenset(int(z) for z in zone[tiles == Tile.EXIT])
        self.n_gates = layout.n_gates
        self.n_climbs = layout.n_climbs
        self._regions: dict[int, tuple[int, ...]] = {}

    # -- mechanism states -------------------------------------------------------------------

    def gate_bit(self, g: int) -> int:
        return 1 << g

    def rope_bit(self, k: int) -> int:
        return 1 << (self.n_gates + k)

    def mech_bits(self, gates_open: np.ndarray, ropes_down: np.ndarray) -> int:
        """Pack latched gates ``(n_gates,)`` and lowered ropes ``(n_climbs,)`` into one int."""
        bits = 0
        for g in np.flatnonzero(gates_open):
            bits |= self.gate_bit(int(g))
        for k in np.flatnonzero(ropes_down):
            bits |= self.rope_bit(int(k))
        return bits

    def regions(self, mech: int) -> tuple[int, ...]:
        """``region[z]`` for every zone: the smallest zone id merged with ``z`` under ``mech``."""
        cached = self._regions.get(mech)
        if cached is not None:
            return cached
        parent = list(range(self.n_zones))

        def find(x: int) -> int:
            while parent[x] != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        def union(a: int, b: int) -> None:
            ra, rb = find(a), find(b)
            if ra != rb:
                parent[max(ra, rb)] = min(ra, rb)

        for g in range(self.n_gates):
            if mech & self.gate_bit(g):
                first, *rest = sorted(self.gate_links[g])
                for z in rest:
                    union(first, z)
        for k in range(self.n_climbs):
            if mech & self.rope_bit(k):
                union(self.climb_zone[k], self.ledge_zone[k])
        out = tuple(find(z) for z in range(self.n_zones))
        self._regions[mech] = out
        return out

    def initial(self, starts: np.ndarray, mech: int = 0) -> AbstractState:
        """The abstract state of agents standing at ``starts`` ``(n_agents, 3)``."""
        reg = self.regions(mech)
        return mech, tuple(sorted(reg[int(self.zone[tuple(int(v) for v in p)])] for p in starts))

    # -- abstract moves ---------------------------------------------------------------------

    def successors(self, state: AbstractState) -> Iterator[tuple[Move, AbstractState]]:
        """Every abstract move available in ``state`` and the state it leads to."""
        mech, agents = state
        reg = self.regions(mech)
        count = Counter(agents)
        present = sorted(count)

        def partner_in(zones: frozenset[int], worker: int) -> int:
            for r in sorted({reg[z] for z in zones}):
                if count.get(r, 0) - (r == worker) >= 1:
                    return r
            return -1

        def moved(source: int, target: int) -> tuple[int, ...]:
            out = list(agents)
            out[out.index(source)] = target
            return tuple(sorted(out))

        for g, sides in enumerate(self.door_sides):
            side_regions = sorted({reg[z] for z in sides})
            solo = {reg[z] for z in self.solo_plate_zones[g]}
            for a in side_regions:
                if a not in count:
                    continue
                helper = -1 if a in solo else partner_in(self.plate_zones[g], a)
                if helper < 0 and a not in solo:
                    continue
                for b in side_regions:
                    if b != a:
                        yield Move("door", g, a, b, helper), (mech, moved(a, b))
        for g in range(self.n_gates):
            if mech & self.gate_bit(g):
                continue
            need = Counter(reg[z] for z in self.lever_zones[g])
            if all(count.get(r, 0) >= k for r, k in need.items()):
                new = mech | self.gate_bit(g)
                yield Move("gate", g, min(need)), (new, self._recanon(new, agents))
        for k in range(self.n_climbs):
            if mech & self.rope_bit(k):
                continue
            a, t = reg[self.climb_zone[k]], reg[self.ledge_zone[k]]
            if a in count and a != t:
                helper = partner_in(self.booster_zones[k], a)
                if helper >= 0:
                    yield Move("climb", k, a, t, helper), (mech, moved(a, t))
            if t in count:
                new = mech | self.rope_bit(k)
                yield Move("lower", k, t), (new, self._recanon(new, agents))
        exits = {reg[z] for z in self.exit_zones}
        for a in present:
            if a in exits:
                out = list(agents)
                out.remove(a)
                yield Move("exit", -1, a), (mech, tuple(out))

    def _recanon(self, mech: int, agents: tuple[int, ...]) -> tuple[int, ...]:
        reg = self.regions(mech)
        return tuple(sorted(reg[a] for a in agents))

    def plan(self, start: AbstractState, max_states: int = MAX_STATES) -> tuple[list[Move] | None, int]:
        """Shortest list of moves from ``start`` until every agent has left, and states explored.

        Returns ``(None, explored)`` when no plan exists (or the search hit ``max_states``).
        """
        steps, explored = self.search(start, max_states)
        return (None if steps is None else [m for m, _ in steps]), explored

    def search(
        self, start: AbstractState, max_states: int = MAX_STATES
    ) -> tuple[list[tuple[Move, AbstractState]] | None, int]:
        """Like :meth:`plan`, with the state each move leads to (breadth-first, so shortest)."""
        parent: dict[AbstractState, tuple[AbstractState, Move] | None] = {start: None}
        frontier = [start]
        while frontier:
            nxt = []
            for s in frontier:
                if not s[1]:
                    steps: list[tuple[Move, AbstractState]] = []
                    while parent[s] is not None:
                        prev, m = parent[s]  # type: ignore[misc]
                        steps.append((m, s))
                        s = prev
                    return steps[::-1], len(parent)
                for m, t in self.successors(s):
                    if t not in parent:
                        parent[t] = (s, m)
                        nxt.append(t)
                if len(parent) > max_states:
                    return None, len(parent)
            frontier = nxt
        return None, len(parent)


@dataclass(frozen=True)
class Certificate:
    """What :func:`certify` proved about a layout and its starts.

    ``team_escapes``: the whole team can leave; ``solo_escapes``: per start, whether one agent
    alone could leave from there; ``plan``: the team's abstract plan, one readable line per move;
    ``n_zones``; ``team_states`` and ``solo_states``: abstract states explored.
    """

    team_escapes: bool
    solo_escapes: tuple[bool, ...]
    plan: tuple[str, ...]
    n_zones: int
    team_states: int
    solo_states: int

    @property
    def valid(self) -> bool:
        """The maze needs the team: the team can escape and no agent alone can."""
        return self.team_escapes and not any(self.solo_escapes)


def certify(layout: Layout, starts: np.ndarray, zones: ZoneGraph | None = None) -> Certificate:
    """Prove (or refute) that the team at ``starts`` ``(n_agents, 3)`` can escape and no one alone can.

    >>> from mazesim.text import parse_text
    >>> layout, starts = parse_text(["#######\\n#0.1.E#\\n#######"])
    >>> certify(layout, starts).solo_escapes  # no mechanism: anyone can walk out alone
    (True, True)
    """
    zg = zones if zones is not None else ZoneGraph(layout)
    starts = np.asarray(starts, dtype=np.int64)
    for p in starts:
        cell = tuple(int(v) for v in p)
        if not layout.in_bounds(cell) or zg.zone[cell] < 0 or zg.kind[zg.zone[cell]] != _OPEN:
            raise LayoutError(
                f"start {cell} is not on an open floor cell; move it off walls, doors and gates"
            )
    team_plan, team_states = zg.plan(zg.initial(starts))
    solo, solo_states = [], 0
    for p in starts:
        moves, explored = zg.plan(zg.initial(p[None, :]))
        solo.append(moves is not None)
        solo_states += explored
    return Certificate(
        team_escapes=team_plan is not None,
        solo_escapes=tuple(solo),
        plan=tuple(m.describe() for m in team_plan or ()),
        n_zones=zg.n_zones,
        team_states=team_states,
        solo_states=solo_states,
    )


def _check_stairs(tiles: np.ndarray) -> None:
    levels = tiles.shape[0]
    for l, r, c in zip(*np.nonzero(tiles == Tile.STAIRS_UP), strict=True):
        if l + 1 >= levels or tiles[l + 1, r, c] != Tile.STAIRS_DOWN:
            raise LayoutError(f"stairs up at {(int(l), int(r), int(c))} need stairs down directly above them")
    for l, r, c in zip(*np.nonzero(tiles == Tile.STAIRS_DOWN), strict=True):
        if l == 0 or tiles[l - 1, r, c] != Tile.STAIRS_UP:
            raise LayoutError(f"stairs down at {(int(l), int(r), int(c))} need stairs up directly below them")


def _label_zones(layout: Layout) -> np.ndarray:
    """Connected components of open cells (stairs join floors), of door cells and of gate cells.

    Door and gate cells only join cells of the same door or gate. Returns ``(levels, rows, cols)``
    int32 zone ids, -1 on walls, numbered in reading order.
    """
    tiles, group = layout.tiles, layout.group
    levels, rows, cols = tiles.shape
    # Pad with walls so neighbours never leave the array; key says which cells may join.
    pr, pc = rows + 2, cols + 2
    key = np.full((levels, pr, pc), -1, dtype=np.int64)
    inner = key[:, 1:-1, 1:-1]
    inner[tiles != Tile.WALL] = 0
    inner[tiles == Tile.DOOR] = 1 + group[tiles == Tile.DOOR]
    inner[tiles == Tile.GATE] = 1 + layout.n_doors + group[tiles == Tile.GATE]
    flat_key = key.ravel().tolist()
    plane = pr * pc
    up = np.zeros((levels, pr, pc), dtype=bool)
    up[:, 1:-1, 1:-1] = tiles == Tile.STAIRS_UP
    down = np.zeros((levels, pr, pc), dtype=bool)
    down[:, 1:-1, 1:-1] = tiles == Tile.STAIRS_DOWN
    #: stairs: the cell on the floor they lead to (after the four neighbours on the same floor)
    vertical = {i: i + plane for i in np.flatnonzero(up).tolist()}
    vertical.update((i, i - plane) for i in np.flatnonzero(down).tolist())
    label = [-1] * len(flat_key)
    n = 0
    for start in np.flatnonzero(key.ravel() >= 0).tolist():
        if label[start] >= 0:
            continue
        k = flat_key[start]
        label[start] = n
        stack = [start]
        while stack:
            i = stack.pop()
            for j in (i + 1, i - 1, i + pc, i - pc):
                if label[j] < 0 and flat_key[j] == k:
                    label[j] = n
                    stack.append(j)
            j = vertical.get(i)
            if j is not None and label[j] < 0 and flat_key[j] == k:
                label[j] = n
                stack.append(j)
        n += 1
    return np.asarray(label, dtype=np.int32).reshape(levels, pr, pc)[:, 1:-1, 1:-1].copy()
