"""The batched environment: ``B`` worlds as numpy arrays with a leading batch axis, stepped together.

:class:`BatchEnv` implements exactly the array contract of :class:`mazesim.vector.SerialVecEnv`
(shapes, dtypes, ``info`` keys, auto-reset and seeding) and gives the same arrays for the same
seeds and actions, bit for bit; ``tests/mazesim/test_batch.py`` checks that against ``B`` single
environments. Where the single environment walks agents in Python, this module works on
``(B, N)`` arrays:

* **Rules** (:mod:`mazesim.world`): action masks are computed from each world's tiles and its door,
  gate and rope flags; moves, stairs, ropes, levers (a gate latches when all its levers are pulled in
  one step), exits, rewards and terminations are array operations.
* **Resolver** (:mod:`mazesim.resolver`, DESIGN.md section 5): in discrete mode the scalar resolver
  draws no random number unless two agents' surviving requests meet in one cell, because without
  the *following* rule a move into an occupied cell, a boost toward an agent that does not climb and
  a climb nobody offers to boost are withdrawn without a choice. That deterministic pruning is
  vectorised here; the rare world that needs a real choice (a shared target cell; with
  ``following``, any inconsistent joint action; in superposition mode, every world) is handed to
  :func:`mazesim.resolver.resolve` with that world's generator and a :class:`~mazesim.world.State`
  built from its arrays, so both forms draw the same random numbers. ``fallback_count`` counts
  those hand-overs.
* **Promises**: each agent's assessment (kept / withdrawn / unbound) and the Beta trust evidence of
  :func:`promises.update_trust` are computed for all worlds at once.
* **Observations** (:mod:`mazesim.observation`): every world keeps its padded cell codes; the
  agents' windows are one gather from a sliding-window view of them.

Mazes are generated lazily through the process-wide cache of the single environment (a maze is a
pure function of ``(scenario, seed)``) and kept in a *maze bank*: per maze a padded copy of the tiles
and groups, start cells and mechanism cells, indexed by a per-world slot. Memory: about
``2 * (levels + 2) * (rows + 2v) * (cols + 2v)`` bytes per banked maze (8.4 kB for ``three_floor``),
at most ``num_envs + maze_cache`` mazes; per world about ``(levels + 2) * (rows + 2v) * (cols + 2v)``
bytes of cell codes plus the returned observations (``N * 9 * (2v+1)^2`` bytes). Run
``python benchmarks/bench_batch.py`` for measured bytes per world.

Example:

>>> benv = BatchEnv("tutorial", num_envs=3)
>>> obs, mask = benv.reset(seed=0)
>>> obs.shape, obs.dtype, mask.shape
((3, 2, 9, 7, 7), dtype('uint8'), (3, 2, 12))
>>> obs, mask, rew, term, trunc, info = benv.step(np.zeros((3, 2), dtype=np.int64))
>>> rew.dtype, sorted(info)
(dtype('float32'), ['active', 'done', 'episode_length', 'episode_return', 'escaped', 'kept', 'maze_seed'])
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from mazesim.maze_escape_v0 import ACTION_MODES, _generate
from mazesim.observation import _STATIC, N_OBS_CHANNELS, Code
from mazesim.resolver import Status, resolve
from mazesim.scenario import load_scenario
from mazesim.world import (
    ALWAYS,
    BOOST_OF_MOVE,
    DELTA,
    DOOR_OPEN,
    GATE_OPEN,
    GATE_SHUT,
    MOVES,
    N_ACTIONS,
    ROPE_DOWN,
    ROPE_UP,
    Action,
    Frame,
    Layout,
    State,
    Tile,
)

__all__ = ["BatchEnv"]

_STAY, _UP, _DOWN, _INTERACT = int(Action.STAY), int(Action.UP), int(Action.DOWN), int(Action.INTERACT)
_FIRST_BOOST = int(Action.BOOST_NORTH)
# plain ints: IntEnum attribute access costs about a microsecond, which adds up in per-cell loops
_FLOOR_T, _WALL, _STAIRS_UP, _STAIRS_DOWN, _DOOR, _PLATE, _LEVER, _GATE, _CLIMB, _LEDGE, _EXIT = (
    int(t) for t in Tile
)
#: tile -> observation cell code
_CODE_LUT = np.zeros(max(Tile) + 1, dtype=np.uint8)
for _tile, _code in _STATIC.items():
    _CODE_LUT[_tile] = _code
#: mechanism cell kinds in the maze bank and their codes when (shut / up, open / down)
_M_DOOR, _M_GATE, _M_LEVER, _M_LEDGE, _M_NONE = range(5)
_MECH_CODES = np.array(
    [
        [Code.DOOR_SHUT, Code.DOOR_OPEN],
        [Code.GATE_SHUT, Code.FLOOR],
        [Code.LEVER, Code.FLOOR],
        [Code.LEDGE_UP, Code.LEDGE_DOWN],
        [Code.BLOCKED, Code.BLOCKED],
    ],
    dtype=np.uint8,
)


class _LazyRules:
    """The part of :class:`mazesim.world.Rules` that :class:`~mazesim.world.Frame` and the resolver
    read, compiled per cell on first use: a full ``Rules`` costs about 850 kB and 14 ms for a
    ``three_floor`` maze, and the scalar fallback only ever looks at the cells agents stand on.
    ``tests/mazesim/test_batch.py`` checks it cell for cell against ``Rules``.
    """

    __slots__ = ("shape", "opts", "climb", "door_cells", "legal_cache")

    def __init__(self, layout: Layout) -> None:
        levels, rows, cols = layout.shape
        self.shape = (levels, rows, cols)
        self.legal_cache: dict = {}
        tiles, group = layout.tiles, layout.group
        self.opts = _CellOptions(tiles, group)
        self.climb = _Default(
            {_cell_id(cell, rows, cols): k for k, cell in enumerate(layout.climb_cells)}, -1
        )
        self.door_cells = [
            [_cell_id(c, rows, cols) for c in (*d, *p)]
            for d, p in zip(layout.door_cells, layout.plate_cells, strict=True)
        ]


def _cell_id(cell: tuple[int, int, int], rows: int, cols: int) -> int:
    return (cell[0] * rows + cell[1]) * cols + cell[2]


class _Default(dict):
    """A dict that answers ``default`` for missing keys (a sparse per-cell table)."""

    def __init__(self, items: dict, default: int) -> None:
        super().__init__(items)
        self.default = default

    def __missing__(self, key: int) -> int:
        return self.default


_STEPS = {int(m): (int(DELTA[m][1]), int(DELTA[m][2])) for m in MOVES}
_BOOST_OF = {int(m): int(b) for m, b in BOOST_OF_MOVE.items()}


class _CellOptions(dict):
    """``opts[cell]`` of :class:`mazesim.world.Rules`, built on first access (same rules, same order)."""

    def __init__(self, tiles: np.ndarray, group: np.ndarray) -> None:
        super().__init__()
        self.tiles, self.group = tiles, group

    def __missing__(self, here: int) -> dict[int, tuple[int, int, int, int]]:
        tiles, group = self.tiles, self.group
        levels, rows, cols = tiles.shape
        floor = rows * cols
        lv, rest = divmod(here, floor)
        r, c = divmod(rest, cols)
        t, g = int(tiles[lv, r, c]), int(group[lv, r, c])
        o = {_STAY: (here, ALWAYS, -1, -1)}
        for m, (dr, dc) in _STEPS.items():
            nr, nc = r + dr, c + dc
            if not (0 <= nr < rows and 0 <= nc < cols) or tiles[lv, nr, nc] == _WALL:
                continue
            nt, ng = int(tiles[lv, nr, nc]), int(group[lv, nr, nc])
            kind = DOOR_OPEN if nt == _DOOR else GATE_OPEN if nt == _GATE else ALWAYS
            there = here + dr * cols + dc
            o[m] = (there, kind, ng, -1)
            if nt == _CLIMB:
                o[_BOOST_OF[m]] = (here, ALWAYS, -1, there)
        if t in (_STAIRS_UP, _CLIMB) and lv + 1 < levels:
            o[_UP] = (here + floor, ALWAYS, -1, -1)
        if lv > 0 and t == _STAIRS_DOWN:
            o[_DOWN] = (here - floor, ALWAYS, -1, -1)
        if lv > 0 and t == _LEDGE:
            o[_DOWN] = (here - floor, ROPE_DOWN, g, -1)
        if t == _LEDGE:
            o[_INTERACT] = (here, ROPE_UP, g, -1)
        if t == _LEVER:
            o[_INTERACT] = (here, GATE_SHUT, g, -1)
        out = self[here] = dict(sorted(o.items()))
        return out


class _MazeBank:
    """Static data of the mazes in use, stacked into arrays indexed by slot.

    Per slot: ``tiles``/``group`` ``(P,)`` in the padded geometry of the observation encoder
    (one wall floor below and above, ``v`` wall cells around; cell id
    ``((l + 1) * (rows + 2v) + r + v) * (cols + 2v) + c + v``); ``starts`` ``(N,)`` cell ids;
    ``n_levers`` ``(G + 1,)`` levers per gate; ``mech_pos``/``mech_kind``/``mech_group`` ``(M,)``
    the mechanism cells whose observation code depends on the state. Slots used by no world are
    kept for ``cache`` further mazes (least recently used first out), then reused.
    """

    def __init__(self, scenario: Any, shape: tuple[int, int, int], v: int, counts: tuple[int, int, int]):
        self.scenario = scenario
        levels, rows, cols = shape
        self.shape, self.v = shape, v
        self.padded = (levels + 2, rows + 2 * v, cols + 2 * v)
        self.size = int(np.prod(self.padded))
        self.n_doors, self.n_gates, self.n_climbs = counts
        self.cache = 0
        self.slot_of: dict[int, int] = {}
        self.seed_of: list[int] = []
        self.refs: list[int] = []
        self.idle: OrderedDict[int, None] = OrderedDict()
        self.free: list[int] = []
        self.layouts: list[Layout | None] = []
        self.rules: list[_LazyRules | None] = []
        self.tiles = np.zeros((0, self.size), dtype=np.uint8)
        self.group = np.zeros((0, self.size), dtype=np.int8)
        self.starts = np.zeros((0, scenario.agents), dtype=np.int64)
        self.n_levers = np.zeros((0, self.n_gates + 1), dtype=np.int16)
        self.mech_pos = np.zeros((0, 1), dtype=np.intp)
        self.mech_kind = np.full((0, 1), _M_NONE, dtype=np.uint8)
        self.mech_group = np.full((0, 1), -1, dtype=np.int8)

    def nbytes(self) -> int:
        arrays = (self.tiles, self.group, self.starts, self.n_levers, self.mech_pos, self.mech_kind)
        return sum(a.nbytes for a in arrays) + self.mech_group.nbytes

    def pid(self, cells: np.ndarray) -> np.ndarray:
        """Padded ids of ``(..., 3)`` (level, row, col) cells."""
        _, pr, pc = self.padded
        v = self.v
        return ((cells[..., 0] + 1) * pr + cells[..., 1] + v) * pc + cells[..., 2] + v

    def acquire(self, seed: int) -> int:
        """The slot of maze ``seed`` (generated on first use), with one more reference."""
        slot = self.slot_of.get(seed)
        if slot is None:
            slot = self._load(seed)
        elif slot in self.idle:
            del self.idle[slot]
        self.refs[slot] += 1
        return slot

    def release(self, slot: int) -> None:
        self.refs[slot] -= 1
        if self.refs[slot] == 0:
            self.idle[slot] = None
            while len(self.idle) > self.cache:
                old, _ = self.idle.popitem(last=False)
                del self.slot_of[self.seed_of[old]]
                self.layouts[old] = self.rules[old] = None
                self.free.append(old)

    def frame_rules(self, slot: int) -> _LazyRules:
        rules = self.rules[slot]
        if rules is None:
            rules = self.rules[slot] = _LazyRules(self.layouts[slot])  # type: ignore[arg-type]
        return rules

    def _grow(self, n: int) -> None:
        old = len(self.tiles)
        if n <= old:
            return
        new = max(n, 2 * old, 8)

        def widen(a: np.ndarray, fill: int) -> np.ndarray:
            out = np.full((new, *a.shape[1:]), fill, dtype=a.dtype)
            out[:old] = a
            return out

        self.tiles = widen(self.tiles, _WALL)
        self.group = widen(self.group, -1)
        self.starts = widen(self.starts, 0)
        self.n_levers = widen(self.n_levers, 0)
        self.mech_pos = widen(self.mech_pos, 0)
        self.mech_kind = widen(self.mech_kind, _M_NONE)
        self.mech_group = widen(self.mech_group, -1)
        self.layouts.extend([None] * (new - old))
        self.rules.extend([None] * (new - old))
        self.refs.extend([0] * (new - old))
        self.seed_of.extend([-1] * (new - old))
        self.free.extend(range(new - 1, old - 1, -1))

    def _load(self, seed: int) -> int:
        maze = _generate(self.scenario, seed)
        layout = maze.layout
        if layout.shape != self.shape or (layout.n_doors, layout.n_gates, layout.n_climbs) > (
            self.n_doors,
            self.n_gates,
            self.n_climbs,
        ):
            raise RuntimeError(
                f"BatchEnv: maze seed {seed} of scenario {self.scenario.name!r} has shape {layout.shape} "
                f"and {layout.n_doors}/{layout.n_gates}/{layout.n_climbs} doors/gates/climbs, more than "
                f"the scenario's {self.shape} and {self.n_doors}/{self.n_gates}/{self.n_climbs}; "
                "report this generator bug"
            )
        if not self.free:
            self._grow(len(self.tiles) + 1)
        slot = self.free.pop()
        levels, rows, cols = self.shape
        v = self.v
        tiles = np.full(self.padded, _WALL, dtype=np.uint8)
        tiles[1:-1, v : v + rows, v : v + cols] = layout.tiles
        group = np.full(self.padded, -1, dtype=np.int8)
        group[1:-1, v : v + rows, v : v + cols] = layout.group
        self.tiles[slot] = tiles.reshape(-1)
        self.group[slot] = group.reshape(-1)
        self.starts[slot] = self.pid(np.asarray(maze.starts, dtype=np.int64))
        self.n_levers[slot] = 0
        for g, cells in enumerate(layout.lever_cells):
            self.n_levers[slot, g] = len(cells)
        mech = [(c, _M_DOOR, g) for g, cells in enumerate(layout.door_cells) for c in cells]
        mech += [(c, _M_GATE, g) for g, cells in enumerate(layout.gate_cells) for c in cells]
        mech += [(c, _M_LEVER, g) for g, cells in enumerate(layout.lever_cells) for c in cells]
        mech += [((c[0] + 1, c[1], c[2]), _M_LEDGE, k) for k, c in enumerate(layout.climb_cells)]
        if len(mech) > self.mech_pos.shape[1]:
            extra = len(mech) - self.mech_pos.shape[1]
            self.mech_pos = np.pad(self.mech_pos, ((0, 0), (0, extra)))
            self.mech_kind = np.pad(self.mech_kind, ((0, 0), (0, extra)), constant_values=_M_NONE)
            self.mech_group = np.pad(self.mech_group, ((0, 0), (0, extra)), constant_values=-1)
        self.mech_pos[slot] = 0
        self.mech_kind[slot] = _M_NONE
        self.mech_group[slot] = -1
        if mech:
            self.mech_pos[slot, : len(mech)] = self.pid(np.array([m[0] for m in mech], dtype=np.int64))
            self.mech_kind[slot, : len(mech)] = [m[1] for m in mech]
            self.mech_group[slot, : len(mech)] = [m[2] for m in mech]
        self.layouts[slot] = layout
        self.rules[slot] = None
        self.slot_of[seed] = slot
        self.seed_of[slot] = seed
        return slot


class BatchEnv:
    """``B`` worlds stepped together with numpy, behind the array contract of
    :class:`mazesim.vector.SerialVecEnv` (see :mod:`mazesim.vector`): same seeds and actions give
    the same arrays.

    ``scenario``: a preset name, a path or a :class:`~mazesim.scenario.Scenario`; ``overrides`` are
    scenario fields (e.g. ``max_cycles=50``), plus ``solver_mode`` (``"sample"``, ``"greedy"`` or
    ``"exact"``, as for the single environment). ``action_mode``: ``"discrete"`` (actions ``(B, N)``
    ints) or ``"superposition"`` (waves ``(B, N, 12)`` of non-negative weights). ``maze_cache``:
    mazes no world uses that stay banked (each about ``2 * (levels + 2) * (rows + 2v) * (cols + 2v)``
    bytes).

    ``reset(seed, maze_seeds)`` -> ``obs`` ``(B, N, 9, 2v+1, 2v+1)`` uint8, ``mask`` ``(B, N, 12)``
    int8. ``step(actions)`` -> ``obs, mask, rewards (B, N) float32, terminated (B, N) bool,
    truncated (B, N) bool, info`` with ``active``, ``done``, ``escaped``, ``episode_return``,
    ``episode_length``, ``maze_seed`` and ``kept``. Bad actions raise ``ValueError`` naming the world
    and the agent, and leave every world as it was.

    >>> benv = BatchEnv("tutorial", num_envs=4, max_cycles=20)
    >>> obs, mask = benv.reset(seed=1)
    >>> rng = np.random.default_rng(0)
    >>> for _ in range(30):
    ...     legal = mask.astype(bool)
    ...     actions = (rng.random(legal.shape) * legal).argmax(axis=-1)
    ...     obs, mask, rew, term, trunc, info = benv.step(actions)
    >>> benv.steps_taken, info["active"].shape
    (30, (4, 2))
    """

    def __init__(
        self,
        scenario: Any = "tutorial",
        num_envs: int = 8,
        *,
        action_mode: str = "discrete",
        solver_mode: str = "sample",
        maze_cache: int = 64,
        **overrides: Any,
    ) -> None:
        if isinstance(num_envs, bool) or not isinstance(num_envs, int | np.integer) or num_envs < 1:
            raise ValueError(f"num_envs must be an integer >= 1, got {num_envs!r}")
        if action_mode not in ACTION_MODES:
            raise ValueError(f"action_mode={action_mode!r} is not supported; use one of {ACTION_MODES}")
        if solver_mode not in ("sample", "greedy", "exact"):
            raise ValueError(
                f"solver_mode={solver_mode!r} is not supported; use 'sample', 'greedy' or 'exact'"
            )
        if maze_cache < 0:
            raise ValueError(f"maze_cache must be >= 0, got {maze_cache}")
        sc = self.scenario = load_scenario(scenario, **overrides)
        if sc.rewards.shaping:
            raise ValueError(
                f"scenario {sc.name!r} sets rewards.shaping={sc.rewards.shaping}, which BatchEnv does not "
                "compute yet; use mazesim.vector.SerialVecEnv, or rewards.shaping = 0"
            )
        self.action_mode = action_mode
        self.solver_mode = solver_mode
        self.num_envs = B = int(num_envs)
        self.n_agents = N = sc.agents
        self.n_actions = N_ACTIONS
        v = sc.view_radius
        self.v, self.w = v, 2 * v + 1
        self.obs_shape = (N_OBS_CHANNELS, self.w, self.w)
        self.max_cycles = sc.max_cycles
        self.following = sc.following
        mech = sc.mechanics
        self.bank = _MazeBank(sc, (sc.levels, sc.rows, sc.cols), v, (mech.doors, mech.gates, mech.boosts))
        self.bank.cache = int(maze_cache)
        levels, pr, pc = self.bank.padded
        self._plane, self._pcols, self._size = pr * pc, pc, self.bank.size
        floor = pr * pc
        # per action: offset of the destination cell, and of the boost target (0 when none)
        self._dest_off = np.zeros(N_ACTIONS, dtype=np.int64)
        self._target_off = np.zeros(N_ACTIONS, dtype=np.int64)
        for a in range(N_ACTIONS):
            off = int(DELTA[a][0]) * floor + int(DELTA[a][1]) * pc + int(DELTA[a][2])
            if a >= _FIRST_BOOST:
                self._target_off[a] = off
            else:
                self._dest_off[a] = off
        self._move_off = np.array([self._dest_off[int(m)] for m in MOVES], dtype=np.int64)
        top = max(sc.levels - 1, 1)
        self._level_code = np.array(
            [int(round(255 * lv / top)) if sc.levels > 1 else 0 for lv in range(sc.levels)], dtype=np.uint8
        )
        self._time_code = np.array(
            [int(round(255 * min(s / self.max_cycles, 1.0))) for s in range(self.max_cycles + 1)],
            dtype=np.uint8,
        )
        self._inside_code = np.array([int(round(255 * k / N)) for k in range(N + 1)], dtype=np.uint8)
        self._b = np.arange(B)[:, None]
        self._others = ~np.eye(N, dtype=bool)
        # dynamic state; mechanism flags carry one extra, always False, column for "no group"
        self.slot = np.full(B, -1, dtype=np.int64)
        self.cell = np.zeros((B, N), dtype=np.int64)
        self.active = np.zeros((B, N), dtype=bool)
        self.gates = np.zeros((B, mech.gates + 1), dtype=bool)
        self.ropes = np.zeros((B, mech.boosts + 1), dtype=bool)
        self.doors = np.zeros((B, mech.doors + 1), dtype=bool)
        self.trust = np.ones((B, N, N, 2), dtype=np.float64)
        self.steps = np.zeros(B, dtype=np.int64)
        self.codes = np.zeros((B, self._size), dtype=np.uint8)
        self.maze_seed = np.zeros(B, dtype=np.int64)
        self._mask = np.zeros((B, N, N_ACTIONS), dtype=np.int8)
        self._returns = np.zeros(B, dtype=np.float64)
        self._lengths = np.zeros(B, dtype=np.int64)
        self._rngs: list[np.random.Generator | None] = [None] * B
        self._ready = False
        #: worlds handed to the scalar resolver, and world-steps taken, since construction
        self.fallback_count = 0
        self.steps_taken = 0

    # -- public API -----------------------------------------------------------------------------------
    def reset(
        self, seed: int | None = None, maze_seeds: np.ndarray | list[int] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Reset every world: world ``b`` with seed ``seed + b`` (``None``: keep its generator, or
        draw fresh entropy the first time). ``maze_seeds`` ``(B,)`` picks each world's maze,
        otherwise each world draws one from the training seeds with its own generator.
        Returns ``obs`` ``(B, N, 9, 2v+1, 2v+1)`` uint8 and ``mask`` ``(B, N, 12)`` int8."""
        if maze_seeds is not None and len(maze_seeds) != self.num_envs:
            raise ValueError(f"reset(): maze_seeds needs {self.num_envs} entries, got {len(maze_seeds)}")
        for b in range(self.num_envs):
            if seed is not None or self._rngs[b] is None:
                self._rngs[b] = np.random.default_rng(None if seed is None else seed + b)
        worlds = np.arange(self.num_envs)
        self._reset_worlds(worlds, None if maze_seeds is None else [int(s) for s in maze_seeds])
        self._returns[:] = 0.0
        self._lengths[:] = 0
        self._ready = True
        return self._observe()

    def step(
        self, actions: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """Step every world (see the class docstring and :mod:`mazesim.vector` for the arrays)."""
        if not self._ready:
            raise RuntimeError("step() called before reset(); call reset(seed=...) first")
        act, waves = self._validate(actions)
        B, N = self.num_envs, self.n_agents
        before_active = self.active.copy()
        if act is not None:
            joint, kept, unbound, fallback = self._resolve_vectorised(act)
            requested = act.copy()
        else:
            joint = np.zeros((B, N), dtype=np.int64)
            requested = np.zeros((B, N), dtype=np.int64)
            kept = np.zeros((B, N), dtype=bool)
            unbound = np.zeros((B, N), dtype=bool)
            fallback = np.ones(B, dtype=bool)
        worlds = np.flatnonzero(fallback)
        for b in worlds.tolist():
            self._resolve_scalar(b, act, waves, joint, requested, kept, unbound)
        self.fallback_count += len(worlds)
        self.steps_taken += 1
        kept &= before_active
        unbound &= before_active & ~kept

        self._update_trust(requested, joint, kept, unbound, before_active)
        exited = self._apply(joint)

        rw = self.scenario.rewards
        live = before_active
        n_exited = exited.sum(axis=1)
        inside = self.active.sum(axis=1)
        escape = (n_exited > 0) & (inside == 0)
        if rw.team:
            team = rw.exit * n_exited - rw.step_cost * inside
            team = np.where(escape, team + rw.escape, team)
            per_agent = np.where(live, team[:, None], 0.0)
            self._returns += team
        else:
            per_agent = np.where(exited, rw.exit, 0.0) - np.where(self.active, rw.step_cost, 0.0)
            share = rw.escape / np.maximum(live.sum(axis=1), 1)
            per_agent = np.where(escape[:, None], per_agent + share[:, None], per_agent)
            per_agent = np.where(live, per_agent, 0.0)
            total = np.zeros(B, dtype=np.float64)
            for i in range(N):  # in agent order, like ``sum`` over the reward dict
                total = total + per_agent[:, i]
            self._returns += total
        rewards = per_agent.astype(np.float32)
        self._lengths += 1
        terminated = live & ~self.active
        truncate = self.steps >= self.max_cycles
        truncated = live & truncate[:, None] & ~terminated
        done = truncate | ~self.active.any(axis=1)
        escaped = done & ~self.active.any(axis=1)
        ep_return = np.where(done, self._returns, 0.0)
        ep_length = np.where(done, self._lengths, 0)
        self._returns[done] = 0.0
        self._lengths[done] = 0
        if done.any():
            self._reset_worlds(np.flatnonzero(done), None)
        obs, mask = self._observe()
        info = {
            "active": self.active.copy(),
            "done": done,
            "escaped": escaped,
            "episode_return": ep_return,
            "episode_length": ep_length,
            "maze_seed": self.maze_seed.copy(),
            "kept": kept,
        }
        return obs, mask, rewards, terminated, truncated, info

    def close(self) -> None:
        """Release the worlds' mazes (the env cannot be stepped again before :meth:`reset`)."""
        for b, slot in enumerate(self.slot.tolist()):
            if slot >= 0:
                self.bank.release(slot)
                self.slot[b] = -1
        self._ready = False

    def nbytes(self) -> int:
        """Bytes held in the batch's arrays (world state, cell codes, maze bank)."""
        arrays = (self.slot, self.cell, self.active, self.gates, self.ropes, self.doors, self.trust)
        arrays += (self.steps, self.codes, self.maze_seed, self._mask, self._returns, self._lengths)
        return sum(a.nbytes for a in arrays) + self.bank.nbytes()

    # -- validation -----------------------------------------------------------------------------------
    def _validate(self, actions: Any) -> tuple[np.ndarray | None, np.ndarray | None]:
        actions = np.asarray(actions)
        B, N = self.num_envs, self.n_agents
        want = (B, N) + ((N_ACTIONS,) if self.action_mode == "superposition" else ())
        if actions.shape != want:
            raise ValueError(f"step(): actions must have shape {want}, got {actions.shape}")
        live = self.active
        if self.action_mode == "discrete":
            if actions.dtype == bool or not np.issubdtype(actions.dtype, np.integer):
                b, i = self._first(live)
                raise ValueError(
                    f"step(): world {b}, agent_{i}: actions must be integers in [0, {N_ACTIONS}), got "
                    f"{actions[b, i]!r} (dtype {actions.dtype}); pass an integer array (B, N)"
                )
            bad = live & ((actions < 0) | (actions >= N_ACTIONS))
            if bad.any():
                b, i = self._first(bad)
                raise ValueError(
                    f"step(): world {b}, agent_{i}: action {int(actions[b, i])} out of range [0, {N_ACTIONS})"
                )
            # entries of agents that are not active are ignored
            return np.where(live, actions, _STAY).astype(np.int64), None
        if actions.dtype == bool or not (
            np.issubdtype(actions.dtype, np.floating) or np.issubdtype(actions.dtype, np.integer)
        ):
            raise ValueError(f"step(): waves must be a real array of shape {want}, got dtype {actions.dtype}")
        waves = actions.astype(np.float64)
        checks = (
            (~np.isfinite(waves).all(axis=-1), "holds NaN or infinite weights; weights must be finite"),
            ((waves < 0).any(axis=-1), "holds a negative weight; weights must be >= 0"),
            (~(waves > 0).any(axis=-1), "is all zeros; give at least one positive weight"),
        )
        for flags, message in checks:
            bad = live & flags
            if bad.any():
                b, i = self._first(bad)
                raise ValueError(f"step(): world {b}, agent_{i}: wave {message}")
        return None, waves

    @staticmethod
    def _first(flags: np.ndarray) -> tuple[int, int]:
        """World and agent of the first True entry (the first entry when there is none)."""
        k = int(np.argmax(flags.reshape(-1))) if flags.any() else 0
        b, i = divmod(k, flags.shape[1])
        return b, i

    # -- resolution -----------------------------------------------------------------------------------
    def _resolve_vectorised(self, act: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Joint action, kept and unbound flags of every world whose resolution draws no random
        number, and the worlds that need the scalar resolver (their rows are then overwritten).

        Mirrors :func:`mazesim.resolver.resolve` for integer waves: without following, its
        ``_domains`` leaves each agent ``{stay}`` or ``{stay, request}`` (a move into an occupied
        cell, a boost toward an agent whose climb is not in its domain, a climb that nobody offers
        to boost are removed; the last two are *unbound*). Then every cluster passes unchanged or is
        decided, unless two surviving moves share a destination: that needs the search.
        """
        active, cell = self.active, self.cell
        legal = np.take_along_axis(self._mask, act[..., None], axis=-1)[..., 0].astype(bool)
        dest = cell + self._dest_off[act]
        same = cell[:, None, :] == dest[:, :, None]  # [b, i, j]: agent j stands on i's destination
        is_boost = act >= _FIRST_BOOST
        is_up = act == _UP
        target = np.where(is_boost, cell + self._target_off[act], -1)
        on_target = (cell[:, None, :] == target[:, :, None]) & active[:, None, :]
        climbing = self._needs_boost()
        if self.following:
            occupied = same & active[:, None, :] & (active & (dest != cell))[:, :, None]
            # occupant j stays, or moves into i's cell (a swap)
            dest_j = dest[:, None, :]
            stuck = (dest_j == cell[:, None, :]) | (dest_j == cell[:, :, None])
            ok = active & legal
            collide = (dest[:, :, None] == dest[:, None, :]) & active[:, :, None] & active[:, None, :]
            collide &= self._others
            boost_ok = (on_target & (act[:, None, :] == _UP)).any(axis=2)
            boosted = (on_target & is_boost[:, :, None]).any(axis=1)
            consistent = (
                (ok | ~active).all(axis=1)
                & ~collide.any(axis=(1, 2))
                & ~(active & is_boost & ~boost_ok).any(axis=1)
                & ~(active & is_up & climbing & ~boosted).any(axis=1)
                & ~(occupied & stuck).any(axis=(1, 2))
            )
            joint = np.where(active, act, _STAY)
            kept = active.copy()
            return joint, kept, np.zeros_like(kept), ~consistent
        occupied = (same & active[:, None, :]).any(axis=2) & (dest != cell)
        p1 = active & (act != _STAY) & legal & ~occupied
        # offers toward each agent's cell, judged before any binding is removed
        offered = (on_target & (p1 & is_boost)[:, :, None]).any(axis=1)
        climb_ok = (on_target & (is_up & p1)[:, None, :]).any(axis=2)
        drop = (is_boost & ~climb_ok) | (is_up & climbing & ~offered)
        keep = p1 & ~drop
        unbound = p1 & drop
        joint = np.where(keep, act, _STAY)
        moving = keep & (dest != cell)
        share = (dest[:, :, None] == dest[:, None, :]) & moving[:, :, None] & moving[:, None, :]
        fallback = (share & self._others).any(axis=(1, 2))
        kept = active & ((joint == act) | (act == _STAY))
        return joint, kept, unbound, fallback

    def _needs_boost(self) -> np.ndarray:
        """``(B, N)`` bool: the agent stands on a climb spot whose rope is still up."""
        t, g = self._tile_group(self.cell)
        rope = np.take_along_axis(self.ropes, g.astype(np.int64), axis=1)
        return (t == _CLIMB) & ~rope

    def _tile_group(self, cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        base = self.slot[:, None] * self._size if cells.ndim == 2 else self.slot[:, None, None] * self._size
        flat = base + cells
        return self.bank.tiles.reshape(-1)[flat], self.bank.group.reshape(-1)[flat]

    def _state_of(self, b: int) -> State:
        """World ``b`` as a :class:`~mazesim.world.State` (for the scalar resolver)."""
        layout = self.bank.layouts[int(self.slot[b])]
        _, pr, pc = self.bank.padded
        v = self.v
        x = self.cell[b]
        pos = np.stack([x // (pr * pc) - 1, (x // pc) % pr - v, x % pc - v], axis=1)
        return State(
            pos=pos,
            active=self.active[b].copy(),
            gates_open=self.gates[b, : layout.n_gates].copy(),  # type: ignore[union-attr]
            ropes_down=self.ropes[b, : layout.n_climbs].copy(),  # type: ignore[union-attr]
            trust=self.trust[b].copy(),
            step=int(self.steps[b]),
        )

    def _resolve_scalar(
        self,
        b: int,
        act: np.ndarray | None,
        waves: np.ndarray | None,
        joint: np.ndarray,
        requested: np.ndarray,
        kept: np.ndarray,
        unbound: np.ndarray,
    ) -> None:
        slot = int(self.slot[b])
        state = self._state_of(b)
        fr = Frame(self.bank.frame_rules(slot), state)  # type: ignore[arg-type]
        live = np.flatnonzero(self.active[b]).tolist()
        if act is not None:
            given: dict[int, Any] = {i: int(act[b, i]) for i in live}
        else:
            given = {i: waves[b, i] for i in live}  # type: ignore[index]
        report = resolve(
            self.bank.layouts[slot],  # type: ignore[arg-type]
            state,
            given,
            self._rngs[b],  # type: ignore[arg-type]
            mode=self.solver_mode,  # type: ignore[arg-type]
            following=self.following,
            frame_=fr,
        )
        joint[b] = report.joint
        requested[b] = report.requested
        kept[b] = (report.joint == requested[b]) | (requested[b] == _STAY)
        unbound[b] = [s is Status.UNBOUND for s in report.status]

    # -- promises and trust ---------------------------------------------------------------------------
    def _update_trust(
        self,
        requested: np.ndarray,
        joint: np.ndarray,
        kept: np.ndarray,
        unbound: np.ndarray,
        live: np.ndarray,
    ) -> None:
        """Add the step's evidence to the trust counts, as :func:`promises.update_trust` does with the
        assessments of :func:`mazesim.promise_bridge.resolutions` (table in :mod:`promises.trust`)."""
        cell = self.cell
        is_boost = requested >= _FIRST_BOOST
        climb = (requested == _UP) & self._needs_boost()
        # a boost's partner: the agent on the cell it aims at
        target = np.where(is_boost, cell + self._target_off[requested], -1)
        aims = (cell[:, None, :] == target[:, :, None]) & live[:, None, :]
        # a climb's partner: the first neighbour (south, north, east, west) boosting it, else the lowest
        # neighbour; ``order`` ranks the direction j lies in, seen from climber i
        rank = np.full((self.num_envs, self.n_agents, self.n_agents), 4, dtype=np.int64)
        boosting = np.zeros(rank.shape, dtype=bool)
        for k, m in enumerate((Action.SOUTH, Action.NORTH, Action.EAST, Action.WEST)):
            there = cell[:, None, :] == (cell + self._dest_off[int(m)])[:, :, None]
            there &= live[:, None, :]
            rank[there] = k
            toward = int(BOOST_OF_MOVE[{1: 2, 2: 1, 3: 4, 4: 3}[int(m)]])  # boost back toward i
            boosting |= there & (joint[:, None, :] == toward)
        adjacent = rank < 4
        key = np.where(boosting, rank, np.where(adjacent, 4 + np.arange(self.n_agents), 99))
        near = adjacent & climb[:, :, None]
        first = np.argmin(key, axis=2)
        has_partner = np.where(is_boost, aims.any(axis=2), near.any(axis=2))
        partner = np.where(is_boost, np.argmax(aims, axis=2), first)
        cooperative = is_boost | climb
        team = live & ~cooperative & (requested != _STAY) & kept
        with_partner = live & cooperative & has_partner
        onehot = partner[:, :, None] == np.arange(self.n_agents)
        kept_to = onehot & (with_partner & kept)[:, :, None]
        unbound_to = onehot & (with_partner & unbound)[:, :, None]
        gain = (team[:, :, None] & live[:, None, :] & self._others) | kept_to
        self.trust[..., 0] += gain
        self.trust[..., 1] += unbound_to.transpose(0, 2, 1)

    # -- rules ----------------------------------------------------------------------------------------
    def _apply(self, joint: np.ndarray) -> np.ndarray:
        """Execute a consistent joint action in place; returns ``(B, N)`` bool: agents that exited."""
        active = self.active
        t, g = self._tile_group(self.cell)
        moving = active & (joint >= int(Action.NORTH)) & (joint <= _DOWN)
        interact = active & (joint == _INTERACT)
        pulled = interact & (t == _LEVER)
        if pulled.any():
            G = self.gates.shape[1]
            gate = np.where(pulled, g, G - 1).astype(np.int64)
            counts = np.zeros((self.num_envs, G), dtype=np.int64)
            np.add.at(counts, (np.broadcast_to(self._b, gate.shape)[pulled], gate[pulled]), 1)
            levers = self.bank.n_levers[self.slot]
            self.gates |= (counts == levers) & (levers > 0)
        lowered = interact & (t == _LEDGE)
        if lowered.any():
            bb = np.broadcast_to(self._b, lowered.shape)
            self.ropes[bb[lowered], g[lowered].astype(np.int64)] = True
        self.cell = np.where(moving, self.cell + self._dest_off[joint], self.cell)
        t_after, _ = self._tile_group(self.cell)
        exited = active & (t_after == _EXIT)
        self.active = active & ~exited
        self.steps += 1
        return exited

    def _reset_worlds(self, worlds: np.ndarray, maze_seeds: list[int] | None) -> None:
        seeds = self.scenario.train_seeds
        bank = self.bank
        for k, b in enumerate(worlds.tolist()):
            if maze_seeds is None:
                seed = int(seeds[int(self._rngs[b].integers(len(seeds)))])  # type: ignore[union-attr]
            else:
                seed = maze_seeds[k]
            slot = bank.acquire(seed)
            if self.slot[b] >= 0:
                bank.release(int(self.slot[b]))
            self.slot[b] = slot
            self.maze_seed[b] = seed
        slots = self.slot[worlds]
        self.cell[worlds] = bank.starts[slots]
        self.active[worlds] = True
        self.gates[worlds] = False
        self.ropes[worlds] = False
        self.trust[worlds] = 1.0
        self.steps[worlds] = 0
        self.codes[worlds] = _CODE_LUT[bank.tiles[slots]]

    # -- observations ---------------------------------------------------------------------------------
    def _observe(self) -> tuple[np.ndarray, np.ndarray]:
        """Doors of the current state, then masks and observations of every live agent."""
        active, cell = self.active, self.cell
        t, g = self._tile_group(cell)
        D = self.doors.shape[1]
        door = np.where(((t == _DOOR) | (t == _PLATE)) & active, g, D - 1).astype(np.int64)
        self.doors[:] = False
        self.doors[np.broadcast_to(self._b, door.shape), door] = True
        self.doors[:, D - 1] = False
        mask = self._masks(t, g)
        self._mask = mask
        obs = self._windows()
        return obs, mask.copy()

    def _masks(self, t: np.ndarray, g: np.ndarray) -> np.ndarray:
        B, N = self.num_envs, self.n_agents
        cell, active = self.cell, self.active
        nt, ng = self._tile_group(cell[..., None] + self._move_off)
        ng = ng.astype(np.int64).reshape(B, -1)
        door_open = np.take_along_axis(self.doors, ng, axis=1).reshape(B, N, 4)
        gate_open = np.take_along_axis(self.gates, ng, axis=1).reshape(B, N, 4)
        g = g.astype(np.int64)
        rope = np.take_along_axis(self.ropes, g, axis=1)
        gate_here = np.take_along_axis(self.gates, g, axis=1)
        level = cell // self._plane - 1
        m = np.zeros((B, N, N_ACTIONS), dtype=bool)
        m[..., _STAY] = True
        m[..., 1:5] = (nt != _WALL) & ((nt != _DOOR) | door_open) & ((nt != _GATE) | gate_open)
        m[..., _UP] = ((t == _STAIRS_UP) | (t == _CLIMB)) & (level + 1 < self.scenario.levels)
        m[..., _DOWN] = (level > 0) & ((t == _STAIRS_DOWN) | ((t == _LEDGE) & rope))
        m[..., _INTERACT] = ((t == _LEDGE) & ~rope) | ((t == _LEVER) & ~gate_here)
        m[..., _FIRST_BOOST:] = nt == _CLIMB
        m &= active[..., None]
        m[..., _STAY] = True
        return m.view(np.int8)

    def _windows(self) -> np.ndarray:
        B, N = self.num_envs, self.n_agents
        v, w = self.v, self.w
        bank = self.bank
        active, cell = self.active, self.cell
        # mechanism cells show the state: doors (occupancy), gates and levers (latched), ledges (rope)
        slots = self.slot
        kind = bank.mech_kind[slots]
        group = bank.mech_group[slots].astype(np.int64)
        flags = np.select(
            [kind == _M_DOOR, (kind == _M_GATE) | (kind == _M_LEVER), kind == _M_LEDGE],
            [
                np.take_along_axis(self.doors, group, axis=1),
                np.take_along_axis(self.gates, group, axis=1),
                np.take_along_axis(self.ropes, group, axis=1),
            ],
            False,
        )
        self.codes[self._b, bank.mech_pos[slots]] = _MECH_CODES[kind, flags.astype(np.int64)]
        levels, pr, pc = bank.padded
        view = sliding_window_view(self.codes.reshape(B, levels, pr, pc), (3, w, w), axis=(1, 2, 3))
        lv = cell // self._plane - 1
        r = (cell // pc) % pr - v
        c = cell % pc - v
        obs = np.empty((B, N, N_OBS_CHANNELS, w, w), dtype=np.uint8)
        obs[:, :, 0:3] = view[self._b, lv, r, c]
        obs[:, :, 3:6] = 0
        # other live agents within the window, one floor below to one above: the observer's trust
        counts = self.trust
        code = (1 + np.rint(254 * counts[..., 0] / (counts[..., 0] + counts[..., 1]))).astype(np.uint8)
        dl = lv[:, None, :] - lv[:, :, None]  # [b, i, j]: j relative to observer i
        dr = r[:, None, :] - r[:, :, None] + v
        dc = c[:, None, :] - c[:, :, None] + v
        seen = (
            active[:, :, None]
            & active[:, None, :]
            & self._others
            & (np.abs(dl) <= 1)
            & (dr >= 0)
            & (dr < w)
            & (dc >= 0)
            & (dc < w)
        )
        if seen.any():
            bi, i, j = np.nonzero(seen)
            obs[bi, i, 4 + dl[bi, i, j], dr[bi, i, j], dc[bi, i, j]] = code[bi, j, i]
        obs[:, :, 6] = self._level_code[lv][..., None, None]
        obs[:, :, 7] = self._time_code[np.minimum(self.steps, self.max_cycles)][:, None, None, None]
        obs[:, :, 8] = self._inside_code[active.sum(axis=1)][:, None, None, None]
        obs[~active] = 0
        return obs
