"""Observation and state encodings (pure numpy; the environment and the batched env share them).

Observations are compact ``uint8`` codes, so that a batch of thousands of worlds stays cheap to
produce and to store; :func:`one_hot` (numpy) and ``agents.nets`` (torch) expand them into float
features for learning.

Egocentric observation of agent ``i`` at ``(l, r, c)``: ``(N_OBS_CHANNELS, 2v+1, 2v+1)`` uint8,
``v`` the scenario's view radius, centred on the agent; the floors below, at and above the agent
are folded into channels:

=======  ===========================================================================
channel  meaning
=======  ===========================================================================
0, 1, 2  cell code of the floor below / here / above (table below)
3, 4, 5  other agent on the floor below / here / above: 0 none, else ``1 + round(254 t)`` with
         ``t`` the observer's trust in that agent (so 128 is the prior trust 0.5); the observer
         itself is not marked (it is always the centre)
6        own level: ``round(255 l / (levels - 1))`` (0 on one floor)            (constant plane)
7        elapsed steps: ``round(255 min(step / max_cycles, 1))``                  (constant plane)
8        fraction of the team still inside: ``round(255 inside / n_agents)``     (constant plane)
=======  ===========================================================================

Cell codes (:class:`Code`): 0 floor (and open gates), 1 blocked (wall, outside the maze, no such
floor), 2 door shut, 3 door open, 4 plate, 5 lever of a shut gate (a lever whose gate is open is
floor), 6 gate shut, 7 climb spot, 8 ledge with the rope up, 9 ledge with the rope down, 10 stairs
up, 11 stairs down, 12 exit.

The global state (:func:`encode_state`) is ``(2 * levels + 2, rows, cols)`` uint8: per floor the
cell codes and the agents (``1 + index``, 0 where none), then the elapsed-steps and inside planes.
"""

from __future__ import annotations

import functools
import itertools
from enum import IntEnum

import numpy as np

from mazesim.world import N_ACTIONS, Action, Frame, Layout, State, Tile, rules_of

OBS_ENCODING_VERSION = 1
N_OBS_CHANNELS = 9


class Code(IntEnum):
    """Cell codes of observation channels 0-2 and of the state's floor planes."""

    FLOOR = 0
    BLOCKED = 1
    DOOR_SHUT = 2
    DOOR_OPEN = 3
    PLATE = 4
    LEVER = 5
    GATE_SHUT = 6
    CLIMB = 7
    LEDGE_UP = 8
    LEDGE_DOWN = 9
    STAIRS_UP = 10
    STAIRS_DOWN = 11
    EXIT = 12


N_CODES = len(Code)
#: channels of :func:`one_hot`: 3 × N_CODES cell codes, 3 agent presences, 3 trusts, 3 own planes
N_FEATURES = 3 * N_CODES + 3 + 3 + 3

_STATIC = {
    Tile.FLOOR: Code.FLOOR,
    Tile.WALL: Code.BLOCKED,
    Tile.STAIRS_UP: Code.STAIRS_UP,
    Tile.STAIRS_DOWN: Code.STAIRS_DOWN,
    Tile.DOOR: Code.DOOR_SHUT,
    Tile.PLATE: Code.PLATE,
    Tile.LEVER: Code.LEVER,
    Tile.GATE: Code.GATE_SHUT,
    Tile.CLIMB: Code.CLIMB,
    Tile.LEDGE: Code.LEDGE_UP,
    Tile.EXIT: Code.EXIT,
}


def trust_code(trust: float) -> int:
    """Agent-channel value of a visible agent the observer trusts ``trust`` (in [0, 1])."""
    return 1 + int(round(254 * trust))


def one_hot(obs: np.ndarray) -> np.ndarray:
    """Expand observations ``(..., 9, H, W)`` uint8 into float32 features ``(..., N_FEATURES, H, W)``:
    one-hot cell codes per floor, agent presence, trust in [0, 1], and the three planes in [0, 1].

    >>> obs = np.zeros((9, 1, 1), np.uint8); obs[1] = Code.EXIT; obs[4] = trust_code(0.5)
    >>> f = one_hot(obs)
    >>> f.shape, f[N_CODES + Code.EXIT, 0, 0], f[3 * N_CODES + 1, 0, 0], f[3 * N_CODES + 4, 0, 0]
    ((48, 1, 1), np.float32(1.0), np.float32(1.0), np.float32(0.5))
    """
    obs = np.asarray(obs)
    codes = obs[..., 0:3, :, :].astype(np.int64)
    lead = obs.shape[:-3]
    hw = obs.shape[-2:]
    out = np.zeros((*lead, N_FEATURES, *hw), dtype=np.float32)
    for k in range(3):
        np.put_along_axis(
            out[..., k * N_CODES : (k + 1) * N_CODES, :, :], codes[..., k : k + 1, :, :], 1.0, axis=-3
        )
    agents = obs[..., 3:6, :, :].astype(np.float32)
    out[..., 3 * N_CODES : 3 * N_CODES + 3, :, :] = agents > 0
    out[..., 3 * N_CODES + 3 : 3 * N_CODES + 6, :, :] = np.clip(agents - 1, 0, None) / 254
    out[..., 3 * N_CODES + 6 :, :, :] = obs[..., 6:9, :, :] / 255
    return out


class Encoder:
    """Builds observations (and action masks) for one maze.

    It keeps one padded array of cell codes, ``(levels + 2, rows + 2v, cols + 2v)`` uint8 (one
    blocked floor below and above, ``v`` blocked cells around): static codes are drawn once, and
    mechanism cells are rewritten only when a door, gate or rope changed. The terrain window
    ``(3, 2v+1, 2v+1)`` and the action mask of each cell an agent stands on are kept as bytes until
    a mechanism changes, so a step's observations are a join of cached bytes (own planes are
    cached too), the few cells that show other agents, and one array over the result.
    """

    def __init__(self, layout: Layout, view_radius: int, max_cycles: int) -> None:
        self.layout = layout
        self.v = v = int(view_radius)
        self.w = w = 2 * v + 1
        self.max_cycles = int(max_cycles)
        self.rules = rules_of(layout)
        levels, rows, cols = layout.shape
        codes = np.full((levels + 2, rows + 2 * v, cols + 2 * v), Code.BLOCKED, dtype=np.uint8)
        lut = np.zeros(max(Tile) + 1, dtype=np.uint8)
        for tile, code in _STATIC.items():
            lut[tile] = code
        codes[1:-1, v : v + rows, v : v + cols] = lut[layout.tiles]
        self._codes = codes
        plane, pcols = (rows + 2 * v) * (cols + 2 * v), cols + 2 * v

        def at(cell: tuple[int, int, int]) -> int:
            return (cell[0] + 1) * plane + (cell[1] + v) * pcols + cell[2] + v

        self._level = np.repeat(np.arange(levels), rows * cols).tolist()
        lrc = np.indices((levels, rows, cols)).reshape(3, -1)
        #: cell id -> its index in the padded codes (see :func:`_view_offsets`)
        self._padded = ((lrc[0] + 1) * plane + (lrc[1] + v) * pcols + lrc[2] + v).tolist()
        self._view = _view_offsets(v, rows, cols)
        top = max(levels - 1, 1)
        self._level_codes = [int(round(255 * l / top)) if levels > 1 else 0 for l in range(levels)]
        self._time_code = _time_codes(self.max_cycles)
        self._plane_bytes = w * w
        #: cell id -> (terrain window bytes, action mask bytes of an active agent there) under the
        #: current mechanism states; one such dict per mechanism state in ``_by_mech``
        self._cells: dict[int, tuple[bytes, bytes]] = {}
        self._by_mech: dict[tuple, dict[int, tuple[bytes, bytes]]] = {}
        # mechanism cells: (flat index, owner, code when shut/up, code when open/down)
        self._mech = [
            [
                (at(c), g, Code.DOOR_SHUT, Code.DOOR_OPEN)
                for g, cells in enumerate(layout.door_cells)
                for c in cells
            ],
            [
                (at(c), g, Code.GATE_SHUT, Code.FLOOR)
                for g, cells in enumerate(layout.gate_cells)
                for c in cells
            ]
            + [
                (at(c), g, Code.LEVER, Code.FLOOR)
                for g, cells in enumerate(layout.lever_cells)
                for c in cells
            ],
            [
                (at((c[0] + 1, c[1], c[2])), k, Code.LEDGE_UP, Code.LEDGE_DOWN)
                for k, c in enumerate(layout.climb_cells)
            ],
        ]
        self._mech_key: tuple | None = None
        #: (time code, agents inside, team size) of the last call, and its own planes per level
        self._now_key: tuple[int, int, int] | None = None
        self._now: list[bytes] = []

    def terrain(self, state: State, fr: Frame | None = None) -> np.ndarray:
        """Padded cell codes of ``state`` (a shared array: read it, do not keep or modify it)."""
        fr = fr if fr is not None else Frame(self.rules, state)
        lists = (fr.doors, fr.gates, fr.ropes)  # compared as lists: cheaper than fr.mech every step
        if lists != self._mech_key:
            self._mech_key = lists  # a frame's lists are never modified: kept without a copy
            key = fr.mech
            flat = self._codes.reshape(-1)  # a view: the array is contiguous
            for states, cells in zip(key, self._mech, strict=True):
                for k, g, shut, opened in cells:
                    flat[k] = opened if states[g] else shut
            # windows and masks of each mechanism state are kept: plates open and shut doors often
            found = self._by_mech.get(key)
            if found is None:
                if len(self._by_mech) >= _MECH_STATES_KEPT:
                    self._by_mech.clear()
                found = self._by_mech[key] = {}
            self._cells = found
        return self._codes

    def _cell(self, c: int, fr: Frame) -> tuple[bytes, bytes]:
        """Cell ``c``'s window and an active agent's mask there, under ``fr``'s mechanism states."""
        # an agent's window starts on the floor below it: padded level l, padded (r, c)
        l, r, col = self.rules.coords[c]
        w = self.w
        window = self._codes[l : l + 3, r : r + w, col : col + w].tobytes()
        found = self._cells[c] = (window, _mask_bytes(tuple(fr.legal_at(c))))
        return found

    def observe_all(self, state: State, agents: list[int], fr: Frame | None = None) -> np.ndarray:
        """Observations ``(len(agents), N_OBS_CHANNELS, 2v+1, 2v+1)`` uint8 (a fresh array).

        ``agents``: the observers' indices, in the order of the result; ``fr``: the
        :class:`~mazesim.world.Frame` of ``state``, if the caller has it.

        >>> from mazesim.world import Layout
        >>> layout = Layout(np.zeros((1, 3, 3), np.uint8), np.full((1, 3, 3), -1, np.int16))
        >>> enc = Encoder(layout, view_radius=1, max_cycles=10)
        >>> obs = enc.observe_all(State.initial(layout, np.array([[0, 0, 0], [0, 1, 1]])), [1, 0])
        >>> obs.shape, obs[0, 4, 0, 0]  # agent 1 sees agent 0 up and left, at the prior trust 0.5
        ((2, 9, 3, 3), np.uint8(128))
        """
        return self.observe_and_mask(state, agents, fr)[0]

    def observe_and_mask(
        self, state: State, agents: list[int], fr: Frame | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`observe_all` and the agents' action masks ``(len(agents), N_ACTIONS)`` int8 (the
        rows of :meth:`mazesim.world.Frame.mask`), both fresh arrays."""
        fr = fr if fr is not None else Frame(self.rules, state)
        self.terrain(state, fr)
        cell, level, active = fr.cell, self._level, fr.active
        now = (self._time_code[min(state.step, self.max_cycles)], sum(active), fr.n)
        if now != self._now_key:
            self._now_key = now
            time_code, inside = now[0], int(round(255 * now[1] / now[2]))
            n = self._plane_bytes
            self._now = [_own_planes(n, code, time_code, inside) for code in self._level_codes]
        planes, cached = self._now, self._cells
        parts = []
        masks = []
        for i in agents:
            c = cell[i]
            window, mask = cached.get(c) or self._cell(c, fr)
            parts += (window, planes[level[c]])
            masks.append(mask if active[i] else _STAY_MASK)
        out = _EMPTY.join(parts)
        if fr.everyone or fr.occ:
            self._mark_others(out, state, agents, fr)
        k = len(agents)
        return (
            np.ndarray((k, N_OBS_CHANNELS, self.w, self.w), _U8, out),
            np.ndarray((k, N_ACTIONS), _I8, _EMPTY.join(masks)),
        )

    def _mark_others(self, out: bytearray, state: State, agents: list[int], fr: Frame) -> None:
        """Write other live agents (the observer's trust code) into the observations in ``out``.

        Seeing is symmetric, so each pair of agents is tested once: for an observer ``i`` at row
        ``n`` of ``out`` and a live agent ``j`` on ``i``'s window, ``j`` goes into ``n``'s channels
        3-5, and ``i`` into ``j``'s if ``j`` observes too and ``i`` is live.
        """
        padded, view, cell, live = self._padded, self._view, fr.cell, fr.active
        size = N_OBS_CHANNELS * self.w * self.w
        if agents == _everyone(fr.n):
            who = rows = agents  # everyone observes: agent ``i``'s row is ``i``
            at = list(map(padded.__getitem__, cell))
        else:
            row = dict(zip(agents, range(len(agents)), strict=True))
            who = list(row)
            who += [j for j in fr.occ.values() if j not in row]
            rows = [row.get(i) for i in who]
            at = [padded[cell[i]] for i in who]
        counts = None  # the trust ledger as flat float64 (kept, not kept) pairs, read on first use
        for p, q in _pairs(len(who)):
            seen = view.get(at[q] - at[p])
            if seen is not None:
                if counts is None:
                    counts, k_ = _flat_counts(state.trust), 2 * fr.n
                i, j = who[p], who[q]
                # 1 + rint(254 t) as numpy computes it: Python's round also rounds half to even
                n = rows[p]
                if n is not None and live[j]:
                    x = k_ * j + 2 * i
                    kept = counts[x]
                    out[n * size + seen[0]] = 1 + round(254 * kept / (kept + counts[x + 1]))
                n = rows[q]
                if n is not None and live[i]:
                    x = k_ * i + 2 * j
                    kept = counts[x]
                    out[n * size + seen[1]] = 1 + round(254 * kept / (kept + counts[x + 1]))

    def observe(self, state: State, agent: int) -> np.ndarray:
        """Egocentric observation ``(N_OBS_CHANNELS, 2v+1, 2v+1)`` uint8 of one agent."""
        return self.observe_all(state, [agent])[0]


@functools.lru_cache(maxsize=8)
def _view_offsets(v: int, rows: int, cols: int) -> dict[int, tuple[int, int]]:
    """Where two agents see each other, by the difference ``d`` of their cells' indices in the
    padded codes of an :class:`Encoder` (``v`` cells of padding around each floor):
    ``d -> (k, k')``, ``k`` the byte of the agent ``d`` away in the observer's observation
    (channels 3-5), ``k'`` the observer's byte in that agent's. The padding makes ``d`` unique:
    row and column differences of real cells never reach a padded row or floor."""
    w = 2 * v + 1
    pcols = cols + 2 * v
    plane = (rows + 2 * v) * pcols
    return {
        dl * plane + dr * pcols + dc: (
            (4 + dl) * w * w + (dr + v) * w + dc + v,
            (4 - dl) * w * w + (v - dr) * w + v - dc,
        )
        for dl in (-1, 0, 1)
        for dr in range(-v, v + 1)
        for dc in range(-v, v + 1)
    }


@functools.lru_cache(maxsize=4096)
def _own_planes(n: int, level_code: int, time_code: int, inside: int) -> bytes:
    """Channels 3-5 with nobody in view, then 6-8 (own level, time, inside), each plane ``n``
    bytes; kept across episodes, since time codes repeat in every one."""
    return bytes(3 * n) + b"".join(bytes((x,)) * n for x in (level_code, time_code, inside))


@functools.lru_cache(maxsize=8)
def _time_codes(max_cycles: int) -> list[int]:
    """Channel 7's code after each step ``0 .. max_cycles`` (a shared list: do not modify it)."""
    return [int(round(255 * min(t / max_cycles, 1.0))) for t in range(max_cycles + 1)]


def _flat_counts(trust: np.ndarray) -> memoryview:
    """A ``(n, n, 2)`` trust ledger as a flat float64 view (entry ``[i, j, k]`` at ``2 n i + 2 j +
    k``): two counts read this way cost far less than numpy scalar access."""
    if trust.dtype is not _F8 or not trust.flags.c_contiguous:
        trust = np.ascontiguousarray(trust, dtype=np.float64)
    return trust.data.cast("B").cast("d")


@functools.lru_cache(maxsize=64)
def _everyone(n: int) -> list[int]:
    """``[0, 1, ..., n - 1]`` (a shared list: do not modify it)."""
    return list(range(n))


@functools.lru_cache(maxsize=64)
def _pairs(k: int) -> tuple[tuple[int, int], ...]:
    """Every pair ``(p, q)``, ``p < q < k``."""
    return tuple(itertools.combinations(range(k), 2))


def _mask_bytes(legal: tuple[int, ...]) -> bytes:
    found = _MASKS.get(legal)
    if found is None:
        mask = bytearray(N_ACTIONS)
        for a in legal:
            mask[a] = 1
        found = _MASKS[legal] = bytes(mask)
    return found


_U8, _I8, _F8 = np.dtype(np.uint8), np.dtype(np.int8), np.dtype(np.float64)
#: joins bytes into a new bytearray (the joiner itself is never modified)
_EMPTY = bytearray()
#: mechanism states whose windows and masks an :class:`Encoder` keeps (a guard: a maze has few)
_MECH_STATES_KEPT = 64
#: action-mask bytes by the tuple of legal actions (a few dozen exist)
_MASKS: dict[tuple[int, ...], bytes] = {}
_STAY_MASK = _mask_bytes((int(Action.STAY),))


def encode_state(layout: Layout, state: State, encoder: Encoder) -> np.ndarray:
    """Global state ``(2 * levels + 2, rows, cols)`` uint8 for centralised critics."""
    levels, rows, cols = layout.shape
    v = encoder.v
    out = np.zeros((levels, 2, rows, cols), dtype=np.uint8)
    out[:, 0] = encoder.terrain(state)[1:-1, v : v + rows, v : v + cols]
    for i, (l, r, c) in enumerate(state.pos.tolist()):
        if state.active[i]:
            out[l, 1, r, c] = i + 1
    extra = np.empty((2, rows, cols), dtype=np.uint8)
    extra[0] = int(round(255 * min(state.step / encoder.max_cycles, 1.0)))
    extra[1] = int(round(255 * state.active.sum() / state.n_agents))
    return np.concatenate([out.reshape(2 * levels, rows, cols), extra])
