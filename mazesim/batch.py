"""The batched environment: ``B`` worlds as numpy arrays with a leading batch axis, stepped together.

:class:`BatchEnv` implements exactly the array contract of :class:`mazesim.vector.SerialVecEnv`
(shapes, dtypes, ``info`` keys, auto-reset and seeding) and gives the same arrays for the same
seeds and actions, bit for bit; ``tests/mazesim/test_batch.py`` checks that against ``B`` single
environments. Where the single environment walks agents in Python, this module works on
``(B, N)`` arrays:

* **Rules** (:mod:`mazesim.world`): action masks come from a per-maze table of what the terrain
  allows on each cell; only agents beside a door or gate, or on a ledge or lever, are checked
  against the door, gate and rope flags. Moves, stairs, ropes, levers (a gate latches when all its
  levers are pulled in one step), exits, rewards and terminations are array operations.
* **Resolver** (:mod:`mazesim.resolver`, DESIGN.md section 5): in discrete mode the scalar resolver
  draws no random number unless two agents' surviving requests meet in one cell, because without
  the *following* rule a move into an occupied cell, a boost toward an agent that does not climb and
  a climb nobody offers to boost are withdrawn without a choice. That deterministic pruning is
  vectorised here, and so is the usual choice, a contest of plain moves for a cell: it draws from
  the world's generator the noise :func:`mazesim.wfc._run_universal` draws. The rare world left (a
  contest a climb takes part in; any contest in ``"exact"`` mode; with ``following``, any
  inconsistent joint action; in superposition mode, every world) is handed to
  :func:`mazesim.resolver.resolve` with that world's generator and a :class:`~mazesim.world.State`
  built from its arrays, so both forms draw the same random numbers. ``fallback_count`` counts the
  world-steps that needed a choice, ``scalar_count`` those handed to the scalar resolver.
* **Promises**: each agent's assessment (kept / withdrawn / unbound) and the Beta trust evidence of
  :func:`promises.update_trust` are computed for all worlds at once (partners of boosts and climbs
  only in the few worlds where someone boosts or climbs).
* **Observations** (:mod:`mazesim.observation`): the maze bank keeps each maze's static cell codes
  cut into window rows, so each floor of a window is a ``(2v+1)^2``-byte record, next to constant
  records for the constant planes: a whole observation is one gather of nine records. Mechanism
  cells whose state changed their code and other agents are then written where they are in view (a
  table maps the difference of two cell ids to the place in the window).

Mazes are generated lazily through the process-wide cache of the single environment (a maze is a
pure function of ``(scenario, seed)``) and kept in a *maze bank*: per maze a padded copy of the tiles
and groups, a terrain mask per cell, the window rows, start cells and mechanism cells, indexed by a
per-world slot. Memory: about ``4 * (levels + 2) * (rows + 2v) * (cols + 2v) + (2v + 1) * cols *
levels * (rows + 2v)`` bytes per banked maze (33 kB for ``three_floor``), for at most ``num_envs +
maze_cache`` mazes (slots grow by doubling); per world a few hundred bytes of state plus the returned
observations (``N * 9 * (2v+1)^2`` bytes). Run ``python benchmarks/bench_batch.py`` for measured
bytes per world.

Example:

>>> benv = BatchEnv("tutorial", num_envs=3)
>>> obs, mask = benv.reset(seed=0)
>>> obs.shape[:3], obs.dtype, mask.shape  # then (2v + 1, 2v + 1), v the view radius
((3, 2, 9), dtype('uint8'), (3, 2, 12))
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
    BOOST_OF_MOVE,
    DELTA,
    MOVES,
    N_ACTIONS,
    Action,
    Frame,
    Layout,
    State,
    Tile,
    _CellOptions,
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
        self.opts = _CellOptions(tiles.reshape(-1), group.reshape(-1), self.shape)
        self.climb = _Default(
            {_cell_id(cell, rows, cols): k for k, cell in enumerate(layout.climb_cells)}, -1
        )
        self.door_cells = [
            frozenset(_cell_id(c, rows, cols) for c in (*d, *p))
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


#: bit of :func:`_cell_masks` set where the mask also depends on the mechanisms' state
_DEPENDS = 1 << 15
#: ``_MASK_BITS[x]``: the ``(N_ACTIONS,)`` int8 mask with action ``a`` legal where bit ``a`` of ``x`` is set
_MASK_BITS = ((np.arange(1 << N_ACTIONS)[:, None] >> np.arange(N_ACTIONS)) & 1).astype(np.int8)
#: the same rows as one opaque item each: ``np.take`` of whole rows is several times faster than indexing
_MASK_ROWS = _MASK_BITS.view(f"V{N_ACTIONS}").reshape(-1)


#: a banked cell: terrain mask, tile and group id in four bytes
_CELL = np.dtype([("mask", np.uint16), ("tile", np.uint8), ("group", np.int8)])


def _cell_masks(tiles: np.ndarray) -> np.ndarray:
    """Per cell of padded ``tiles`` ``(levels + 2, R, C)``: the actions the terrain always allows an
    agent standing there (bit ``a`` for action ``a``), and :data:`_DEPENDS` where more depends on
    the state: a door or gate next to it, or a ledge or lever under it. Cells inside the maze only
    (the padding is at least one wall wide, so their neighbours are in the array)."""
    levels = tiles.shape[0] - 2
    level = np.arange(levels + 2)[:, None, None] - 1
    out = np.ones(tiles.shape, dtype=np.uint16)  # stay
    depends = (tiles == _LEDGE) | (tiles == _LEVER)
    for m in MOVES:
        there = np.roll(tiles, (-int(DELTA[m][1]), -int(DELTA[m][2])), axis=(1, 2))
        shut = (there == _DOOR) | (there == _GATE)
        out |= ((there != _WALL) & ~shut).astype(np.uint16) << int(m)
        out |= (there == _CLIMB).astype(np.uint16) << int(BOOST_OF_MOVE[m])
        depends |= shut
    out |= (((tiles == _STAIRS_UP) | (tiles == _CLIMB)) & (level + 1 < levels)).astype(np.uint16) << _UP
    out |= ((tiles == _STAIRS_DOWN) & (level > 0)).astype(np.uint16) << _DOWN
    return out | depends.astype(np.uint16) << 15


def _any_last(x: np.ndarray) -> np.ndarray:
    """``x.any(axis=-1)`` for a C-contiguous bool array; a last axis of 2, 4 or 8 (the usual team
    sizes) is read as one integer per row, much faster than numpy's reduction over a short axis."""
    n = x.shape[-1]
    if n in (2, 4, 8) and x.flags.c_contiguous:
        return x.view(f"u{n}")[..., 0] != 0
    return x.any(axis=-1)


def _count_last(x: np.ndarray) -> np.ndarray:
    """``x.sum(axis=-1)`` for a C-contiguous bool array, read like :func:`_any_last`: multiplying the
    row's bytes, read as one unsigned integer, by ``0x0101...01`` sums them into the top byte."""
    n = x.shape[-1]
    if n in (2, 4, 8) and x.flags.c_contiguous:
        ones = np.array(int("01" * n, 16), dtype=f"u{n}")
        return (x.view(f"u{n}")[..., 0] * ones) >> (8 * (n - 1))
    return x.sum(axis=-1)


def _pair_any(a: np.ndarray, b: np.ndarray, skip_self: bool = False) -> np.ndarray:
    """``(B, N)`` bool: ``out[w, i]`` whether ``a[w, j] == b[w, i]`` for some ``j`` (``j != i`` with
    ``skip_self``), for ``(B, N)`` arrays. Compared agent-major, ``(N, N, B)``, so that numpy's loops
    run along the long batch axis rather than over ``N`` at a time."""
    n = a.shape[1]
    eq = np.ascontiguousarray(a.T)[None, :, :] == np.ascontiguousarray(b.T)[:, None, :]  # [i, j, w]
    if skip_self:
        eq.reshape(n * n, -1)[:: n + 1] = False
    return np.ascontiguousarray(eq.any(axis=1).T)


class _MazeBank:
    """Static data of the mazes in use, stacked into arrays indexed by slot.

    Per slot: ``cells`` ``(P,)`` in the padded geometry of the observation encoder (one wall floor
    below and above, ``v`` wall cells around; cell id ``((l + 1) * (rows + 2v) + r + v) * (cols + 2v)
    + c + v``) of :data:`_CELL` records: the terrain ``mask`` (see :func:`_cell_masks`), ``tile`` and
    ``group``, side by side so that looking up an agent's cell reads one cache line (``tiles``,
    ``group`` and ``cell_mask`` are views of the fields); ``starts`` ``(N,)`` cell ids;
    ``n_levers`` ``(G + 1,)`` levers per gate; ``mech_pos``/``mech_kind``/``mech_group`` ``(M,)``
    the mechanism cells whose observation code depends on the state, and ``mech_flag`` ``(M,)`` the
    column of the flag that changes their code in the environment's ``(B, D + G + C + 3)`` mechanism
    state (doors, gates, ropes, each with an always False last column).

    ``window_rows``: the static cell codes cut into rows of ``w = 2v + 1`` codes, so that each floor
    of an observation window is one ``w * w``-byte record: row ``(c, level, r)`` of a slot holds the
    codes of cells ``(level, r, c .. c + w - 1)`` (``r`` and ``c`` padded, ``level`` not), and a
    window's floor is ``w`` consecutive rows. Slot ``s`` starts at row ``first_row(s)``. Before the
    slots come 256 constant records, code ``x`` at row ``const_row(x)``: ``blocked`` (the floor below
    the lowest and above the highest one) at row 0, and the constant planes of channels 3-8, so that a
    whole observation is one gather of ``w * w``-byte records.
    Slots used by no world are kept for ``cache`` further mazes (least recently used first out),
    then reused.
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
        self.cells = np.zeros((0, self.size), dtype=_CELL)
        self.starts = np.zeros((0, scenario.agents), dtype=np.int64)
        self.n_levers = np.zeros((0, self.n_gates + 1), dtype=np.int16)
        self.mech_pos = np.zeros((0, 1), dtype=np.intp)
        self.mech_kind = np.full((0, 1), _M_NONE, dtype=np.uint8)
        self.mech_group = np.full((0, 1), -1, dtype=np.int8)
        self.mech_flag = np.full((0, 1), self.n_doors, dtype=np.int64)
        self.w = 2 * v + 1
        self.rows_per_slot = cols * levels * self.padded[1]
        self.head_rows = 256 * self.w
        codes = (np.arange(256) + int(Code.BLOCKED)) % 256  # of the records in order
        self.window_rows = np.repeat(codes.astype(np.uint8), self.w * self.w)

    def first_row(self, slots: np.ndarray) -> np.ndarray:
        """Row of ``window_rows`` where each of ``slots`` starts."""
        return self.head_rows + slots * self.rows_per_slot

    def const_row(self, codes: np.ndarray) -> np.ndarray:
        """Row of ``window_rows`` where the record of ``w * w`` times each of ``codes`` starts."""
        return self.w * ((np.asarray(codes, dtype=np.int64) - int(Code.BLOCKED)) % 256)

    @property
    def tiles(self) -> np.ndarray:
        """``(slots, P)`` uint8 tiles (a view)."""
        return self.cells["tile"]

    @property
    def group(self) -> np.ndarray:
        """``(slots, P)`` int8 group ids, -1 for none (a view)."""
        return self.cells["group"]

    @property
    def cell_mask(self) -> np.ndarray:
        """``(slots, P)`` uint16 terrain masks (a view)."""
        return self.cells["mask"]

    def nbytes(self) -> int:
        arrays = (self.cells, self.starts, self.n_levers, self.mech_pos)
        arrays += (self.mech_kind,)
        arrays += (self.mech_group, self.mech_flag, self.window_rows)
        return sum(a.nbytes for a in arrays)

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
        old = len(self.cells)
        if n <= old:
            return
        new = max(n, 2 * old, 8)

        def widen(a: np.ndarray, fill: int) -> np.ndarray:
            out = np.full((new, *a.shape[1:]), fill, dtype=a.dtype)
            out[:old] = a
            return out

        self.cells = widen(self.cells, np.array((1, _WALL, -1), dtype=_CELL))
        self.starts = widen(self.starts, 0)
        self.n_levers = widen(self.n_levers, 0)
        self.mech_pos = widen(self.mech_pos, 0)
        self.mech_kind = widen(self.mech_kind, _M_NONE)
        self.mech_group = widen(self.mech_group, -1)
        self.mech_flag = widen(self.mech_flag, self.n_doors)
        # left unfilled: the pages of slots not yet loaded stay out of resident memory
        rows = np.empty((self.head_rows + new * self.rows_per_slot) * self.w, dtype=np.uint8)
        rows[: self.window_rows.size] = self.window_rows
        self.window_rows = rows
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
            self._grow(len(self.cells) + 1)
        slot = self.free.pop()
        levels, rows, cols = self.shape
        v = self.v
        tiles = np.full(self.padded, _WALL, dtype=np.uint8)
        tiles[1:-1, v : v + rows, v : v + cols] = layout.tiles
        group = np.full(self.padded, -1, dtype=np.int8)
        group[1:-1, v : v + rows, v : v + cols] = layout.group
        cells = self.cells[slot]
        cells["tile"] = tiles.reshape(-1)
        cells["group"] = group.reshape(-1)
        cells["mask"] = _cell_masks(tiles).reshape(-1)
        w = self.w
        codes = sliding_window_view(_CODE_LUT[tiles[1:-1]], w, axis=2)  # (levels, rows + 2v, cols, w)
        at = int(self.first_row(slot)) * w
        self.window_rows[at : at + self.rows_per_slot * w] = codes.transpose(2, 0, 1, 3).reshape(-1)
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
            self.mech_flag = np.pad(self.mech_flag, ((0, 0), (0, extra)), constant_values=self.n_doors)
        self.mech_pos[slot] = 0
        self.mech_kind[slot] = _M_NONE
        self.mech_group[slot] = -1
        self.mech_flag[slot] = self.n_doors
        if mech:
            self.mech_pos[slot, : len(mech)] = self.pid(np.array([m[0] for m in mech], dtype=np.int64))
            self.mech_kind[slot, : len(mech)] = [m[1] for m in mech]
            self.mech_group[slot, : len(mech)] = [m[2] for m in mech]
            column = {_M_DOOR: 0, _M_GATE: self.n_doors + 1, _M_LEVER: self.n_doors + 1}
            column[_M_LEDGE] = self.n_doors + self.n_gates + 2
            self.mech_flag[slot, : len(mech)] = [column[m[1]] + m[2] for m in mech]
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
        self._level_rows = np.arange(-1, 2) * pr  # window rows of the floors below, here and above
        # per padded cell id: its level and its first window row within a slot of ``bank.window_rows``;
        # only the ids of cells inside the maze are ever looked up
        ids = np.arange(self._size)
        lv, r, c = ids // floor - 1, (ids // pc) % pr - v, ids % pc - v
        self._cell_level = lv
        self._cell_row = (c * sc.levels + lv) * pr + r
        # window rows of the constant records of channels 3-8 (see ``_MazeBank``)
        bank = self.bank
        self._zero_row = int(bank.const_row(0))
        self._cell_level_row = bank.const_row(self._level_code[np.clip(lv, 0, sc.levels - 1)])
        self._time_row = bank.const_row(self._time_code)
        self._inside_row = bank.const_row(self._inside_code)
        # ``_in_view[d + _in_view_mid]``: where a cell ``d`` padded ids away from an agent shows in its
        # floors channels 0-2, plus one (0: out of view); ids of cells inside the maze differ by
        # ``d = (dl * pr + dr) * pc + dc`` for exactly one ``(dl, dr, dc)`` (|dr| < pr and |dc| < pc)
        self._in_view_mid = ((sc.levels - 1) * pr + sc.rows - 1) * pc + sc.cols - 1
        self._in_view = np.zeros(2 * self._in_view_mid + 1, dtype=np.int16)
        dl, dr, dc = np.meshgrid([-1, 0, 1], np.arange(-v, v + 1), np.arange(-v, v + 1), indexing="ij")
        d = (dl * pr + dr) * pc + dc + self._in_view_mid
        there = (d >= 0) & (d < len(self._in_view))  # offsets beyond the maze never occur
        self._in_view[d[there]] = (((dl + 1) * self.w + dr + v) * self.w + dc + v + 1)[there]
        self._eye = np.eye(N, dtype=bool)
        self._others = ~self._eye
        self._others_flat = self._others.reshape(-1)
        self._lower = np.arange(N)[None, :] < np.arange(N)[:, None]  # [i, j]: j < i
        self._agent_ids = np.arange(N)
        self._mask_rows = np.arange(B * N, dtype=np.int64).reshape(B, N) * N_ACTIONS
        # dynamic state; mechanism flags carry one extra, always False, column for "no group"
        self.slot = np.full(B, -1, dtype=np.int64)
        self._base = np.zeros((B, 1), dtype=np.int64)  # slot * padded size
        self._first_row = np.zeros((B, 1), dtype=np.int64)  # bank.first_row(slot)
        # flat index into ``_mech_state`` of each banked mechanism cell's flag (bank.mech_flag)
        self._mech_at = np.zeros((B, 1), dtype=np.int64)
        self.cell = np.zeros((B, N), dtype=np.int64)
        self.active = np.zeros((B, N), dtype=bool)
        # doors, gates and ropes are views of one array, so one gather reads the flags of all mechanisms
        D, G = mech.doors, mech.gates
        self._mech_state = np.zeros((B, D + G + mech.boosts + 3), dtype=bool)
        self.doors = self._mech_state[:, : D + 1]
        self.gates = self._mech_state[:, D + 1 : D + G + 2]
        self.ropes = self._mech_state[:, D + G + 2 :]
        self.trust = np.ones((B, N, N, 2), dtype=np.float64)
        self.steps = np.zeros(B, dtype=np.int64)
        self.maze_seed = np.zeros(B, dtype=np.int64)
        self._mask = np.zeros((B, N, N_ACTIONS), dtype=np.int8)
        # tile and group of the cell each agent stands on
        self._here_t = np.zeros((B, N), dtype=np.uint8)
        self._here_g = np.zeros((B, N), dtype=np.int64)
        self._here_mask = np.zeros((B, N), dtype=np.uint16)  # its terrain mask (bank.cells["mask"])
        self._returns = np.zeros(B, dtype=np.float64)
        self._lengths = np.zeros(B, dtype=np.int64)
        self._rngs: list[np.random.Generator | None] = [None] * B
        self._ready = False
        #: world-steps, since construction: taken; whose resolution needed a choice (a contest for a
        #: cell, settled vectorised or by the scalar resolver; every world in superposition mode);
        #: handed to the scalar resolver
        self.steps_taken = 0
        self.fallback_count = 0
        self.scalar_count = 0

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
        climbing = self._needs_boost()
        if act is not None:
            joint, kept, unbound, scalar, contested = self._resolve_vectorised(act, climbing)
            requested = act
        else:
            joint = np.zeros((B, N), dtype=np.int64)
            requested = np.zeros((B, N), dtype=np.int64)
            kept = np.zeros((B, N), dtype=bool)
            unbound = np.zeros((B, N), dtype=bool)
            scalar = np.ones(B, dtype=bool)
            contested = B
        worlds = np.flatnonzero(scalar)
        for b in worlds.tolist():
            self._resolve_scalar(b, act, waves, joint, requested, kept, unbound)
        self.fallback_count += contested
        self.scalar_count += len(worlds)
        self.steps_taken += 1
        kept &= before_active
        unbound &= before_active & ~kept

        self._update_trust(requested, joint, kept, unbound, before_active, climbing)
        exited = self._apply(joint)

        rw = self.scenario.rewards
        live = before_active
        n_exited = _count_last(exited)
        inside = _count_last(self.active)
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
        left = inside == 0
        done = truncate | left
        escaped = done & left
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
        arrays = (self.slot, self.cell, self.active, self._mech_state, self.trust)
        arrays += (self.steps, self.maze_seed, self._mask, self._returns, self._lengths, self._base)
        arrays += (self._here_t, self._here_g, self._here_mask)
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
            if actions.dtype.kind not in "iu":  # bool is kind "b"
                b, i = self._first(live)
                raise ValueError(
                    f"step(): world {b}, agent_{i}: actions must be integers in [0, {N_ACTIONS}), got "
                    f"{actions[b, i]!r} (dtype {actions.dtype}); pass an integer array (B, N)"
                )
            if actions.min() < 0 or actions.max() >= N_ACTIONS:  # out of range, or an inactive agent's
                bad = live & ((actions < 0) | (actions >= N_ACTIONS))
                if bad.any():
                    b, i = self._first(bad)
                    raise ValueError(
                        f"step(): world {b}, agent_{i}: action {int(actions[b, i])} out of range "
                        f"[0, {N_ACTIONS})"
                    )
            # entries of agents that are not active are ignored
            return np.where(live, actions, _STAY).astype(np.int64, copy=False), None
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
    def _resolve_vectorised(
        self, act: np.ndarray, climbing: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
        """Joint action, kept and unbound flags of every world that the scalar resolver would
        resolve without its general search, the worlds that need that search (their rows are then
        overwritten by :meth:`_resolve_scalar`), and how many worlds had a contest for a cell.

        Mirrors :func:`mazesim.resolver.resolve` for integer waves: without following, its
        ``_domains`` leaves each agent ``{stay}`` or ``{stay, request}`` (a move into an occupied
        cell, a boost toward an agent whose climb is not in its domain, a climb that nobody offers
        to boost are removed; the last two are *unbound*). Then every cluster passes unchanged or is
        decided, unless two surviving moves share a destination: such a cluster is the agents moving
        into that cell, and :meth:`_contest` settles it as the solver would. A contest that a climb
        takes part in is bound to its booster and goes to the scalar resolver, as does every contest
        in ``"exact"`` mode and, with following, every inconsistent world.
        """
        active, cell = self.active, self.cell
        legal = np.take(self._mask, self._mask_rows + act).view(bool)
        dest = cell + np.take(self._dest_off, act)
        is_boost = act >= _FIRST_BOOST
        is_up = act == _UP
        any_boost = bool(is_boost.any())
        if any_boost or self.following:
            target = np.where(is_boost, cell + self._target_off[act], -1)
            on_target = (cell[:, None, :] == target[:, :, None]) & active[:, None, :]
        if self.following:
            occupied = (cell[:, None, :] == dest[:, :, None]) & active[:, None, :]
            occupied &= (active & (dest != cell))[:, :, None]
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
            scalar = ~consistent
            return joint, kept, np.zeros_like(kept), scalar, int(scalar.sum())
        moves = dest != cell
        here = np.where(active, cell, -1)  # cells of live agents
        occupied = _pair_any(here, dest) & moves
        p1 = active & (act != _STAY) & legal & ~occupied
        if any_boost:
            # offers toward each agent's cell, judged before any binding is removed
            offered = (on_target & (p1 & is_boost)[:, :, None]).any(axis=1)
            climb_ok = (on_target & (is_up & p1)[:, None, :]).any(axis=2)
            drop = (is_boost & ~climb_ok) | (is_up & climbing & ~offered)
        else:
            drop = is_up & climbing
        keep = p1 & ~drop
        unbound = p1 & drop
        joint = np.where(keep, act, _STAY)
        # the destinations of agents that do not move are made distinct from every cell
        going = np.where(keep & moves, dest, -1 - self._agent_ids)
        contested = _pair_any(going, going, skip_self=True)
        scalar = np.zeros(self.num_envs, dtype=bool)
        worlds = np.flatnonzero(_any_last(contested))
        n_contested = len(worlds)
        if n_contested:
            if self.solver_mode == "exact":
                bound = np.ones(n_contested, dtype=bool)
            else:
                climb_spot = self._here_t[worlds] == _CLIMB
                bound = (contested[worlds] & is_up[worlds] & climb_spot).any(axis=1)
            scalar[worlds[bound]] = True
            worlds = worlds[~bound]
            if len(worlds):
                going = going[worlds]
                share = (going[:, :, None] == going[:, None, :]) & self._others
                self._contest(worlds, share, contested[worlds], joint)
        kept = active & ((joint == act) | (act == _STAY))
        return joint, kept, unbound, scalar, n_contested

    def _contest(
        self, worlds: np.ndarray, share: np.ndarray, contested: np.ndarray, joint: np.ndarray
    ) -> None:
        """Settle contests for cells in ``worlds`` in place in ``joint``, drawing what
        :func:`mazesim.wfc._run_universal` draws from each world's generator.

        ``share`` ``(W, N, N)``: agents ``i != j`` both moving into one cell; ``contested`` ``(W, N)``.
        Each contested cell's movers form one cluster (an agent has one move); clusters are solved in
        the order of their lowest member, each drawing one noise value per member. Every member's wave
        is ``{stay: eps, move: 1 - eps}``, so all have the same entropy: the member with the least
        ``(noise, index)`` collapses first onto its move, which leaves the others only ``stay``.
        """
        N = self.n_agents
        low = np.argmax(share | self._eye, axis=2)  # lowest member of each agent's cluster
        key = np.where(contested, low * N + self._agent_ids, N * N)
        rank = (key[:, None, :] < key[:, :, None]).sum(axis=2)  # position in the world's draws
        counts = contested.sum(axis=1)
        rngs = self._rngs
        draws = np.concatenate(
            [rngs[b].random(k) for b, k in zip(worlds.tolist(), counts.tolist(), strict=True)]
        )  # type: ignore[union-attr]
        start = np.cumsum(counts) - counts
        noise = draws[np.where(contested, start[:, None] + rank, 0)]
        nj, ni = noise[:, None, :], noise[:, :, None]
        beaten = share & ((nj < ni) | ((nj == ni) & self._lower))
        joint[worlds] = np.where(beaten.any(axis=2), _STAY, joint[worlds])

    def _needs_boost(self) -> np.ndarray:
        """``(B, N)`` bool: the agent stands on a climb spot whose rope is still up."""
        climb = self._here_t == _CLIMB
        if not climb.any():
            return climb
        rope = np.take_along_axis(self.ropes, self._here_g, axis=1)
        return climb & ~rope

    def _look_up(self, worlds: np.ndarray | None = None) -> None:
        """Set tile, group and terrain mask of the cell each agent stands on (of ``worlds`` only)."""
        if worlds is None:
            here = np.take(self.bank.cells, self._base + self.cell)
            self._here_t, self._here_mask = here["tile"].copy(), here["mask"].copy()
            self._here_g = here["group"].astype(np.int64)
        else:
            here = np.take(self.bank.cells, self._base[worlds] + self.cell[worlds])
            self._here_t[worlds], self._here_mask[worlds] = here["tile"], here["mask"]
            self._here_g[worlds] = here["group"]

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
        climbing: np.ndarray,
    ) -> None:
        """Add the step's evidence to the trust counts, as :func:`promises.update_trust` does with the
        assessments of :func:`mazesim.promise_bridge.resolutions` (table in :mod:`promises.trust`):
        a kept solitary promise counts for every other live agent, a cooperative one (boost, climb)
        for its partner only."""
        is_boost = requested >= _FIRST_BOOST
        climb = (requested == _UP) & climbing
        cooperative = is_boost | climb
        team = live & ~cooperative & (requested != _STAY) & kept
        N = self.n_agents
        # [b, i * N + j]: i's team promise counts for j; (B, N * N) rather than (B, N, N) runs faster
        counted = np.repeat(team, N, axis=1) & np.tile(live, N) & self._others_flat
        self.trust.reshape(self.num_envs, N * N, 2)[:, :, 0] += counted
        w = np.flatnonzero(_any_last(live & cooperative))
        if not len(w):
            return
        # the few worlds where an agent boosts or climbs
        cell, live, joint, is_boost, climb = self.cell[w], live[w], joint[w], is_boost[w], climb[w]
        requested = requested[w]
        # a boost's partner: the agent on the cell it aims at
        target = np.where(is_boost, cell + self._target_off[requested], -1)
        aims = (cell[:, None, :] == target[:, :, None]) & live[:, None, :]
        # a climb's partner: the first neighbour (south, north, east, west) boosting it, else the lowest
        # neighbour; ``rank`` ranks the direction j lies in, seen from climber i
        rank = np.full((len(w), self.n_agents, self.n_agents), 4, dtype=np.int64)
        boosting = np.zeros(rank.shape, dtype=bool)
        for k, m in enumerate((Action.SOUTH, Action.NORTH, Action.EAST, Action.WEST)):
            there = cell[:, None, :] == (cell + self._dest_off[int(m)])[:, :, None]
            there &= live[:, None, :]
            rank[there] = k
            toward = int(BOOST_OF_MOVE[{1: 2, 2: 1, 3: 4, 4: 3}[int(m)]])  # boost back toward i
            boosting |= there & (joint[:, None, :] == toward)
        adjacent = rank < 4
        key = np.where(boosting, rank, np.where(adjacent, 4 + self._agent_ids, 99))
        near = adjacent & climb[:, :, None]
        first = np.argmin(key, axis=2)
        has_partner = np.where(is_boost, aims.any(axis=2), near.any(axis=2))
        partner = np.where(is_boost, np.argmax(aims, axis=2), first)
        with_partner = live & (is_boost | climb) & has_partner
        onehot = partner[:, :, None] == self._agent_ids
        self.trust[w, ..., 0] += onehot & (with_partner & kept[w])[:, :, None]
        self.trust[w, ..., 1] += (onehot & (with_partner & unbound[w])[:, :, None]).transpose(0, 2, 1)

    # -- rules ----------------------------------------------------------------------------------------
    def _apply(self, joint: np.ndarray) -> np.ndarray:
        """Execute a consistent joint action in place; returns ``(B, N)`` bool: agents that exited."""
        active = self.active
        t, g = self._here_t, self._here_g
        moving = active & (joint >= int(Action.NORTH)) & (joint <= _DOWN)
        interact = active & (joint == _INTERACT)
        pulled = interact & (t == _LEVER)
        if pulled.any():
            # a gate latches when the levers pulled this step are all of its levers
            b, i = np.nonzero(pulled)
            gate = g[b, i]
            key = b * self.gates.shape[1] + gate
            counts = np.bincount(key, minlength=self.gates.size)
            latch = counts[key] == self.bank.n_levers[self.slot[b], gate]
            self.gates[b[latch], gate[latch]] = True
        lowered = interact & (t == _LEDGE)
        if lowered.any():
            b, i = np.nonzero(lowered)
            self.ropes[b, g[b, i]] = True
        self.cell = np.where(moving, self.cell + np.take(self._dest_off, joint), self.cell)
        self._look_up()
        exited = active & (self._here_t == _EXIT)
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
        self._base[worlds] = slots[:, None] * self._size
        self._first_row[worlds] = bank.first_row(slots)[:, None]
        width = self._mech_state.shape[1]
        if self._mech_at.shape[1] != bank.mech_flag.shape[1]:  # a new maze has more mechanism cells
            self._mech_at = self._b * width + bank.mech_flag[self.slot]
        else:
            self._mech_at[worlds] = worlds[:, None] * width + bank.mech_flag[slots]
        self._look_up(worlds)

    # -- observations ---------------------------------------------------------------------------------
    def _observe(self) -> tuple[np.ndarray, np.ndarray]:
        """Doors of the current state, then masks and observations of every live agent."""
        active = self.active
        t, g = self._here_t, self._here_g
        self.doors[:] = False
        on = ((t == _DOOR) | (t == _PLATE)) & active
        if on.any():
            b, i = np.nonzero(on)
            self.doors[b, g[b, i]] = True
        mask = self._masks(t, g)
        self._mask = mask
        obs = self._windows()
        return obs, mask.copy()

    def _masks(self, t: np.ndarray, g: np.ndarray) -> np.ndarray:
        """``(B, N, 12)`` int8 action masks: the banked terrain masks, and the full rules for the few
        agents next to a door or gate, or on a ledge or lever."""
        active = self.active
        code = self._here_mask
        m = np.take(_MASK_ROWS, code & (_DEPENDS - 1)).view(np.int8).reshape(*code.shape, N_ACTIONS)
        depends = (code >= _DEPENDS) & active
        if depends.any():
            b, i = np.nonzero(depends)
            m[b, i] = self._full_masks(b, self.cell[b, i], t[b, i], g[b, i])
        m[~active] = _MASK_BITS[1]
        return m

    def _full_masks(self, b: np.ndarray, cell: np.ndarray, t: np.ndarray, g: np.ndarray) -> np.ndarray:
        """``(K, 12)`` int8 masks of ``K`` live agents of worlds ``b`` on ``cell`` (tile ``t``, group
        ``g``), from the tiles around them and the state of the mechanisms."""
        flat = self._base[b] + cell[:, None] + self._move_off
        there = np.take(self.bank.cells, flat)
        nt, ng = there["tile"], there["group"].astype(np.int64)
        bb = b[:, None]
        door_open, gate_open = self.doors[bb, ng], self.gates[bb, ng]
        rope, gate_here = self.ropes[b, g], self.gates[b, g]
        level = cell // self._plane - 1
        m = np.zeros((len(b), N_ACTIONS), dtype=bool)
        m[:, _STAY] = True
        m[:, 1:5] = (nt != _WALL) & ((nt != _DOOR) | door_open) & ((nt != _GATE) | gate_open)
        m[:, _UP] = ((t == _STAIRS_UP) | (t == _CLIMB)) & (level + 1 < self.scenario.levels)
        m[:, _DOWN] = (level > 0) & ((t == _STAIRS_DOWN) | ((t == _LEDGE) & rope))
        m[:, _INTERACT] = ((t == _LEDGE) & ~rope) | ((t == _LEVER) & ~gate_here)
        m[:, _FIRST_BOOST:] = nt == _CLIMB
        return m.view(np.int8)

    @property
    def codes(self) -> np.ndarray:
        """``(B, P)`` uint8: each world's padded cell codes as its observations show them (channels
        0-2), built on demand from the maze bank and the mechanism states."""
        codes = _CODE_LUT[self.bank.tiles[self.slot]]
        codes[self._b, self.bank.mech_pos[self.slot]] = self._mech_codes()
        return codes

    def _mech_codes(self) -> np.ndarray:
        """``(B, M)`` codes of the mechanism cells: doors (occupancy), gates and levers (latched),
        ledges (rope)."""
        bank, slots = self.bank, self.slot
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
        return _MECH_CODES[kind, flags.astype(np.int64)]

    def _windows(self) -> np.ndarray:
        B, N = self.num_envs, self.n_agents
        w, bank = self.w, self.bank
        active, cell = self.active, self.cell
        plane = w * w
        # one (w * w)-byte record of the bank's window rows per channel: the floors below, here and
        # above, then the constant planes (channels 3-5 are empty until agents are marked below)
        idx = np.empty((B, N, N_OBS_CHANNELS), dtype=np.intp)
        at = idx[..., :3]
        np.add((self._first_row + np.take(self._cell_row, cell))[..., None], self._level_rows, out=at)
        lv = np.take(self._cell_level, cell)
        at[..., 0] *= lv > 0  # the blocked record below the lowest floor
        at[..., 2] *= lv < self.scenario.levels - 1
        idx[..., 3:6] = self._zero_row
        idx[..., 6] = np.take(self._cell_level_row, cell)
        idx[..., 7] = np.take(self._time_row, np.minimum(self.steps, self.max_cycles))[:, None]
        idx[..., 8] = np.take(self._inside_row, _count_last(active))[:, None]
        idx[~active] = self._zero_row
        rows = bank.window_rows
        records = np.ndarray((rows.size // w - w + 1,), dtype=f"V{plane}", buffer=rows, strides=(w,))
        obs = records[idx].view(np.uint8).reshape(B, N, N_OBS_CHANNELS * plane)
        flat = obs.reshape(-1)
        # mechanism cells whose state changed their code (a door held open, a gate latched with its
        # levers, a rope lowered), where a live agent sees them
        flags = np.take(self._mech_state, self._mech_at)
        if flags.any():
            bw, m = np.nonzero(flags)
            slot = self.slot[bw]
            seen = self._in_view[bank.mech_pos[slot, m][:, None] - cell[bw] + self._in_view_mid]  # [k, i]
            seen = np.where(active[bw], seen, 0).reshape(-1)
            k = np.flatnonzero(seen)
            observer = bw[k // N] * N + k % N
            codes = _MECH_CODES[bank.mech_kind[slot, m], 1]
            flat[observer * (N_OBS_CHANNELS * plane) + seen[k] - 1] = codes[k // N]
        # other live agents within the window, one floor below to one above: the observer's trust.
        # Agent-major (N, N, B) pairs [i, j, b], so that numpy's loops run along the long batch axis.
        cell_t = np.ascontiguousarray(cell.T)
        active_t = np.ascontiguousarray(active.T)
        seen = np.take(self._in_view, (cell_t[None, :, :] + self._in_view_mid) - cell_t[:, None, :])
        seen *= active_t[:, None, :] & active_t[None, :, :] & self._others[:, :, None]
        k = np.flatnonzero(seen)
        if len(k):
            i, j = k // (N * B), (k // B) % N
            b = k % B
            at = 2 * ((b * N + j) * N + i)
            kept, broken = np.take(self.trust, at), np.take(self.trust, at + 1)
            code = 1 + np.rint(254 * kept / (kept + broken))
            observer = b * N + i
            flat[observer * (N_OBS_CHANNELS * plane) + 3 * plane + seen.reshape(-1)[k] - 1] = code.astype(
                np.uint8
            )
        return obs.reshape(B, N, N_OBS_CHANNELS, w, w)
