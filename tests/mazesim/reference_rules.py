"""A slow, independent statement of the terrain rules, cell by cell: the oracle the compiled
rules of :mod:`mazesim.world` (``Rules``/``Frame``) are checked against.

This is the first, straightforward implementation of the rules, kept verbatim for the tests.
"""

from __future__ import annotations

import numpy as np

from mazesim.world import BOOST_OF_MOVE, BOOSTS, DELTA, MOVES, N_ACTIONS, Action, Cell, Layout, State, Tile


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
