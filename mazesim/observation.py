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

        coords = self.rules.coords
        self._level = [l for l, _, _ in coords]
        top = max(levels - 1, 1)
        self._level_codes = [int(round(255 * l / top)) if levels > 1 else 0 for l in range(levels)]
        self._time_code = [
            int(round(255 * min(t / self.max_cycles, 1.0))) for t in range(self.max_cycles + 1)
        ]
        self._plane_bytes = w * w
        #: channels 3-5 with nobody in view, then 6-8, per (level, time code, inside code)
        self._own: dict[tuple[int, int, int], bytes] = {}
        #: cell id -> terrain window bytes, and -> action mask bytes of an active agent there, under
        #: the current mechanism states
        self._windows: dict[int, bytes] = {}
        self._masks: dict[int, bytes] = {}
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

    def terrain(self, state: State, fr: Frame | None = None) -> np.ndarray:
        """Padded cell codes of ``state`` (a shared array: read it, do not keep or modify it)."""
        fr = fr if fr is not None else Frame(self.rules, state)
        key = (fr.doors, fr.gates, fr.ropes)
        if key != self._mech_key:
            flat = self._codes.reshape(-1)  # a view: the array is contiguous
            for states, cells in zip(key, self._mech, strict=True):
                for k, g, shut, opened in cells:
                    flat[k] = opened if states[g] else shut
            self._mech_key = (list(fr.doors), list(fr.gates), list(fr.ropes))
            self._windows.clear()
            self._masks.clear()
        return self._codes

    def _window(self, c: int) -> bytes:
        # an agent's window starts on the floor below it: padded level l, padded (r, c)
        l, r, col = self.rules.coords[c]
        w = self.w
        found = self._windows[c] = self._codes[l : l + 3, r : r + w, col : col + w].tobytes()
        return found

    def _own_planes(self, level: int, time_code: int, inside: int) -> bytes:
        n = self._plane_bytes
        found = bytes(3 * n) + b"".join(
            bytes((x,)) * n for x in (self._level_codes[level], time_code, inside)
        )
        self._own[(level, time_code, inside)] = found
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
        time_code = self._time_code[min(state.step, self.max_cycles)]
        inside = int(round(255 * sum(active) / fr.n))
        own, windows, cell_masks = self._own, self._windows, self._masks
        parts = []
        masks = []
        for i in agents:
            c = cell[i]
            window = windows.get(c) or self._window(c)
            planes = own.get((level[c], time_code, inside)) or self._own_planes(level[c], time_code, inside)
            parts += (window, planes)
            if active[i]:
                mask = cell_masks.get(c)
                if mask is None:
                    mask = cell_masks[c] = _mask_bytes(tuple(fr.legal(i)))
                masks.append(mask)
            else:
                masks.append(_STAY_MASK)
        out = bytearray().join(parts)
        occ = fr.occ
        if occ:
            self._mark_others(out, state, agents, fr)
        k = len(agents)
        obs = np.frombuffer(out, dtype=np.uint8).reshape(k, N_OBS_CHANNELS, self.w, self.w)
        return obs, np.frombuffer(bytearray().join(masks), dtype=np.int8).reshape(k, N_ACTIONS)

    def _mark_others(self, out: bytearray, state: State, agents: list[int], fr: Frame) -> None:
        """Write other live agents (the observer's trust code) into the observations in ``out``.

        Seeing is symmetric, so each pair of agents is tested once: for an observer ``i`` at row
        ``n`` of ``out`` and a live agent ``j`` on ``i``'s window, ``j`` goes into ``n``'s channels
        3-5, and ``i`` into ``j``'s if ``j`` observes too and ``i`` is live.
        """
        v, w, coords, cell = self.v, self.w, self.rules.coords, fr.cell
        size, plane = N_OBS_CHANNELS * w * w, w * w
        row = {i: n for n, i in enumerate(agents)}
        who = list(row)
        who += [j for j in fr.occ.values() if j not in row]
        live = fr.active
        trust = None
        for p, i in enumerate(who):
            l, r, c = coords[cell[i]]
            for j in who[p + 1 :]:
                lj, rj, cj = coords[cell[j]]
                if not (l - 2 < lj < l + 2 and r - v <= rj <= r + v and c - v <= cj <= c + v):
                    continue
                if trust is None:
                    trust = state.trust.tolist()
                # 1 + rint(254 t) as numpy computes it: Python's round also rounds half to even
                n = row.get(i)
                if n is not None and live[j]:
                    kept, broken = trust[j][i]
                    k = n * size + (4 + lj - l) * plane + (rj - r + v) * w + cj - c + v
                    out[k] = 1 + int(round(254 * kept / (kept + broken)))
                n = row.get(j)
                if n is not None and live[i]:
                    kept, broken = trust[i][j]
                    k = n * size + (4 + l - lj) * plane + (r - rj + v) * w + c - cj + v
                    out[k] = 1 + int(round(254 * kept / (kept + broken)))

    def observe(self, state: State, agent: int) -> np.ndarray:
        """Egocentric observation ``(N_OBS_CHANNELS, 2v+1, 2v+1)`` uint8 of one agent."""
        return self.observe_all(state, [agent])[0]


def _mask_bytes(legal: tuple[int, ...]) -> bytes:
    found = _MASKS.get(legal)
    if found is None:
        mask = bytearray(N_ACTIONS)
        for a in legal:
            mask[a] = 1
        found = _MASKS[legal] = bytes(mask)
    return found


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
