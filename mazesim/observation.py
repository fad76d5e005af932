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

from mazesim.world import Frame, Layout, State, Tile, rules_of

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
    """Builds observations for one maze.

    It keeps one padded array of cell codes, ``(levels + 2, rows + 2v, cols + 2v)`` uint8 (one
    blocked floor below and above, ``v`` blocked cells around): static codes are drawn once, and
    mechanism cells are rewritten only when a door, gate or rope changed. All agents' windows are
    then one gather from it.
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
        self._flat = codes.reshape(-1)
        plane, pcols = (rows + 2 * v) * (cols + 2 * v), cols + 2 * v

        def at(cell: tuple[int, int, int]) -> int:
            return (cell[0] + 1) * plane + (cell[1] + v) * pcols + cell[2] + v

        coords = self.rules.coords
        # an agent's window starts on the floor below it (padded level l) at padded (r, c)
        self._window_at = np.array([l * plane + r * pcols + c for l, r, c in coords], dtype=np.intp)
        dl, i, j = np.meshgrid(np.arange(3), np.arange(w), np.arange(w), indexing="ij")
        self._window = (dl * plane + i * pcols + j).astype(np.intp)
        top = max(levels - 1, 1)
        self._level_code = [int(round(255 * l / top)) if levels > 1 else 0 for l, _, _ in coords]
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
        key = (tuple(fr.doors), tuple(fr.gates), tuple(fr.ropes))
        if key != self._mech_key:
            flat = self._flat
            for states, cells in zip(key, self._mech, strict=True):
                for k, g, shut, opened in cells:
                    flat[k] = opened if states[g] else shut
            self._mech_key = key
        return self._codes

    def observe_all(self, state: State, agents: list[int], fr: Frame | None = None) -> np.ndarray:
        """Observations ``(len(agents), N_OBS_CHANNELS, 2v+1, 2v+1)`` uint8 (a fresh array)."""
        fr = fr if fr is not None else Frame(self.rules, state)
        self.terrain(state, fr)
        v, w = self.v, self.w
        cells = [fr.cell[i] for i in agents]
        out = np.zeros((len(agents), N_OBS_CHANNELS, w, w), dtype=np.uint8)
        out[:, 0:3] = self._flat[self._window + self._window_at[cells][:, None, None, None]]
        if len(fr.occ) > 1:
            counts = state.trust
            trust = (1 + np.rint(254 * counts[..., 0] / (counts[..., 0] + counts[..., 1]))).astype(np.uint8)
            trust = trust.tolist()
            coords = self.rules.coords
            for n, i in enumerate(agents):
                l, r, c = coords[cells[n]]
                for cell, j in fr.occ.items():
                    lj, rj, cj = coords[cell]
                    dr, dc = rj - r + v, cj - c + v
                    if j != i and -1 <= lj - l <= 1 and 0 <= dr < w and 0 <= dc < w:
                        out[n, 4 + lj - l, dr, dc] = trust[j][i]
        for n, c in enumerate(cells):
            out[n, 6] = self._level_code[c]
        out[:, 7] = int(round(255 * min(state.step / self.max_cycles, 1.0)))
        out[:, 8] = int(round(255 * sum(fr.active) / fr.n))
        return out

    def observe(self, state: State, agent: int) -> np.ndarray:
        """Egocentric observation ``(N_OBS_CHANNELS, 2v+1, 2v+1)`` uint8 of one agent."""
        return self.observe_all(state, [agent])[0]


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
