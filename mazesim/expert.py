"""The expert: a centralized planner that drives the whole team out of a generated maze.

:class:`Expert` is a *policy*: ``Expert(maze).act(state)`` returns a joint action for any
reachable state, so it can relabel a learner's states for imitation learning. Each call

1. reads the abstract state (mechanism bits and every agent's region, see
   :mod:`mazesim.certificate`) and takes the shortest abstract plan from there (cached);
2. turns a prefix of the plan into **tasks** that use disjoint agents (cross a door while a
   partner holds a plate, pull all levers of a gate at once, boost a partner up to a ledge, lower
   the rope, walk to the exit) and assigns roles by the least total walking distance;
3. moves every worker one step along a shortest path (breadth-first distance fields, cached per
   goal and mechanism state), detours around agents in the way, and has agents that block a
   worker step aside (pushed further along when they have no room; the way out of a doorway is
   cleared before anyone else moves);
4. fires the coordinated actions (``interact`` on every lever, ``up`` with the matching boost,
   entering the doorway while the plate is held) only when all partners are in place;
5. sends agents the plan does not need right now to the exit early, when the abstract search
   shows the others can still finish without them (the last zones are where everyone crowds) and
   their way to the exit crosses no task's goal cell.

The joint action is always consistent under the default rule (no two agents aim at one cell,
nobody enters a cell occupied at the start of the step, every climb has its boost), so a solver
passes it through unchanged. :func:`solve` runs the expert with :func:`mazesim.world.apply_joint_action`.

The step budget :func:`step_budget` is ``2 * levels * (rows + cols) * (agents + mechanics)``
(see its docstring); the presets' ``max_cycles`` follow it.

>>> from mazesim.generator import generate
>>> from mazesim.scenario import Mechanics, Scenario
>>> sc = Scenario(name="demo", levels=2, rows=11, cols=11, agents=3, mechanics=Mechanics(doors=1, boosts=1))
>>> run = solve(generate(sc, 3))
>>> run.escaped, run.steps <= step_budget(sc)
(True, True)
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from mazesim.certificate import AbstractState, Move, ZoneGraph
from mazesim.generator import Maze
from mazesim.scenario import Scenario
from mazesim.world import Action, State, Tile, apply_joint_action

_DIRS = ((Action.NORTH, -1, 0), (Action.SOUTH, 1, 0), (Action.WEST, 0, -1), (Action.EAST, 0, 1))
_BOOST_TOWARD = {
    Action.NORTH: Action.BOOST_NORTH,
    Action.SOUTH: Action.BOOST_SOUTH,
    Action.WEST: Action.BOOST_WEST,
    Action.EAST: Action.BOOST_EAST,
}
#: How much longer than the shortest path a detour around other agents may be.
_DETOUR = 8
_INF = 1 << 30


def step_budget(scenario: Scenario) -> int:
    """Steps within which the expert escapes every generated maze of ``scenario``.

    ``2 * levels * (rows + cols) * (agents + mechanics)``: each agent and each mechanism costs
    about one walk across every floor. Over about 5,000 random mazes within the tested bounds
    (braid 0 to 0.6) the expert needed at most 44 % of it; the presets set ``max_cycles`` from it.

    >>> from mazesim.scenario import Mechanics, Scenario
    >>> step_budget(Scenario(name="x", levels=3, rows=21, cols=21, agents=4, mechanics=Mechanics(1, 1, 1)))
    1764
    """
    sc = scenario
    return 2 * sc.levels * (sc.rows + sc.cols) * (sc.agents + sc.mechanics.total)


@dataclass
class _Task:
    """One macro step in progress: its move, the agents by role, and each agent's goal cells."""

    move: Move
    roles: dict[int, str]  # agent -> role name, in priority order
    goals: dict[int, frozenset[int]] = field(default_factory=dict)
    fire: dict[int, int] = field(default_factory=dict)  # agent -> action to take now
    claims: dict[int, int] = field(default_factory=dict)  # agent -> cell its fired action enters


@dataclass(frozen=True)
class ExpertRun:
    """What :func:`solve` did.

    ``actions``: ``(steps, n_agents)`` int64 joint actions; ``positions``: ``(steps + 1, n_agents,
    3)`` int64; ``active``: ``(steps + 1, n_agents)`` bool; ``escaped``: every agent left;
    ``plan``: one readable line per task started, e.g. ``'step 3: agent_1 holds plate at (0, 3, 5);
    agent_0 crosses door 0'``.
    """

    actions: np.ndarray
    positions: np.ndarray
    active: np.ndarray
    escaped: bool
    steps: int
    plan: tuple[str, ...]


class Expert:
    """A centralized policy for a :class:`~mazesim.generator.Maze` (module docstring).

    >>> from mazesim.generator import generate
    >>> from mazesim.scenario import Mechanics, Scenario
    >>> from mazesim.world import State
    >>> maze = generate(Scenario(name="d", rows=9, cols=9, agents=2, mechanics=Mechanics(gates=1)), 0)
    >>> Expert(maze).act(State.initial(maze.layout, maze.starts)).shape
    (2,)
    """

    def __init__(self, maze: Maze) -> None:
        self.maze = maze
        layout = maze.layout
        self.layout = layout
        self.zg = ZoneGraph(layout)
        levels, rows, cols = layout.shape
        self._shape = (levels, rows, cols)
        self._plane = rows * cols
        self._tiles = layout.tiles.ravel().tolist()
        self._zone = self.zg.zone.ravel().tolist()
        self._group = layout.group.ravel().tolist()
        self._exits = frozenset(int(i) for i in np.flatnonzero(layout.tiles.ravel() == Tile.EXIT))
        self._plans: dict[AbstractState, list[Move] | None] = {}
        self._graphs: dict[int, list[list[tuple[int, int]]]] = {}
        self._dists: dict[tuple[frozenset[int], int], list[int]] = {}

    # -- geometry ----------------------------------------------------------------------------

    def _flat(self, cell: tuple[int, int, int] | np.ndarray) -> int:
        l, r, c = (int(v) for v in cell)
        return (l * self._shape[1] + r) * self._shape[2] + c

    def _cell(self, i: int) -> tuple[int, int, int]:
        l, rem = divmod(i, self._plane)
        r, c = divmod(rem, self._shape[2])
        return l, r, c

    def _graph(self, mech: int) -> list[list[tuple[int, int]]]:
        """``moves[u]``: (action, cell) pairs an agent at ``u`` can take under ``mech`` (doors shut)."""
        g = self._graphs.get(mech)
        if g is not None:
            return g
        _, rows, cols = self._shape
        tiles, group = self._tiles, self._group
        zg = self.zg
        wall, door, gate = int(Tile.WALL), int(Tile.DOOR), int(Tile.GATE)

        def ok(i: int) -> bool:
            t = tiles[i]
            if t in (wall, door):
                return False
            return t != gate or bool(mech & zg.gate_bit(group[i]))

        moves: list[list[tuple[int, int]]] = [[] for _ in tiles]
        for u in range(len(tiles)):
            if not ok(u):
                continue
            _, r, c = self._cell(u)
            for a, dr, dc in _DIRS:
                rr, cc = r + dr, c + dc
                if 0 <= rr < rows and 0 <= cc < cols:
                    v = u + dr * cols + dc
                    if ok(v):
                        moves[u].append((int(a), v))
            t = tiles[u]
            if t == Tile.STAIRS_UP or (t == Tile.CLIMB and mech & zg.rope_bit(group[u])):
                moves[u].append((int(Action.UP), u + self._plane))
            if t == Tile.STAIRS_DOWN or (t == Tile.LEDGE and mech & zg.rope_bit(group[u])):
                moves[u].append((int(Action.DOWN), u - self._plane))
        self._graphs[mech] = moves
        return moves

    def _dist(self, goals: frozenset[int], mech: int) -> list[int]:
        """Steps to the nearest goal from every cell (-1: unreachable); exits are never walked through."""
        key = (goals, mech)
        d = self._dists.get(key)
        if d is not None:
            return d
        moves = self._graph(mech)
        d = [-1] * len(moves)
        frontier = sorted(goals)
        for gcell in frontier:
            d[gcell] = 0
        exits = self._exits
        while frontier:
            nxt = []
            for u in frontier:
                du = d[u] + 1
                for _, v in moves[u]:
                    if d[v] < 0 and v not in exits:
                        d[v] = du
                        nxt.append(v)
            frontier = nxt
        self._dists[key] = d
        return d

    # -- abstract planning -------------------------------------------------------------------

    def _plan(self, state: AbstractState) -> list[Move] | None:
        if state in self._plans:
            return self._plans[state]
        steps, _ = self.zg.search(state)
        if steps is None:
            self._plans[state] = None
            return None
        self._plans[state] = [m for m, _ in steps]
        for k, (_, s) in enumerate(steps):
            self._plans.setdefault(s, [m for m, _ in steps[k + 1 :]])
        return self._plans[state]

    def _plan_len(self, state: AbstractState) -> int:
        plan = self._plan(state)
        return _INF if plan is None else len(plan)

    # -- the policy --------------------------------------------------------------------------

    def act(self, state: State) -> np.ndarray:
        """The joint action ``(n_agents,)`` int64 for ``state`` (stay for agents that have left)."""
        return self._decide(state)[0]

    def _decide(self, state: State) -> tuple[np.ndarray, list[_Task]]:
        n = state.n_agents
        actions = np.full(n, int(Action.STAY), dtype=np.int64)
        active = [i for i in range(n) if state.active[i]]
        if not active:
            return actions, []
        zg = self.zg
        mech = zg.mech_bits(state.gates_open, state.ropes_down)
        reg = zg.regions(mech)
        moves = self._graph(mech)
        pos = {i: self._flat(state.pos[i]) for i in active}
        occ = {p: i for i, p in pos.items()}
        region: dict[int, int] = {}
        in_door: list[int] = []
        for i in active:
            z = self._zone[pos[i]]
            if zg.kind[z] == 1:
                in_door.append(i)
            else:
                region[i] = reg[z]
        # An agent in a doorway finishes crossing to the side with the shorter plan.
        door_target: dict[int, int] = {}
        for i in in_door:
            g = self._group[pos[i]]
            best = None
            for b in sorted({reg[z] for z in zg.door_sides[g]}):
                trial = (mech, tuple(sorted([*region.values(), b])))
                key = (self._plan_len(trial), -b)
                if best is None or key < best[0]:
                    best = (key, b)
            region[i] = best[1] if best is not None else -1
            door_target[i] = region[i]
        abstract = (mech, tuple(sorted(region[i] for i in active)))
        plan = self._plan(abstract) or []

        tasks: list[_Task] = []
        busy = set(in_door)
        used: set[tuple[str, int]] = set()
        taken_goals: set[int] = set()
        taken_ways: set[int] = set()
        for move in plan:
            key = (move.kind, move.mechanism)
            if move.kind != "exit" and key in used:
                break
            task = self._assign(move, [i for i in active if i not in busy], region, pos, mech, reg, occ)
            if task is None:
                break
            # Run it alongside the earlier tasks only if nobody's way crosses another task's goals.
            goals = frozenset().union(*task.goals.values()) - self._exits
            ways: set[int] = set()
            for i, g in task.goals.items():
                ways |= self._way(pos[i], self._dist(g, mech), moves) - g
            if tasks and (goals & taken_ways or ways & taken_goals):
                break
            taken_goals |= goals
            taken_ways |= ways
            tasks.append(task)
            busy |= set(task.roles)
            used.add(key)
            if move.kind in ("gate", "lower"):
                break  # later moves of the plan are written for the merged regions

        # Agents the plan does not need now leave early when the others can still finish: that frees
        # room in the last zones, where everyone gathers. Not across a task's goal (a plate, say): the
        # worker bound there would let the walker pass first, step aside, and end up farther from its
        # goal than the walker, so the two would swap roles every step.
        remaining = [region[i] for i in active]
        exit_regions = {reg[self._zone[e]] for e in self._exits}
        for i in active:
            if i in busy or region[i] not in exit_regions:
                continue
            rest = list(remaining)
            rest.remove(region[i])
            if self._plan_len((mech, tuple(sorted(rest)))) >= _INF:
                continue
            task = self._assign(Move("exit", -1, region[i]), [i], region, pos, mech, reg, occ)
            if task is None or self._way(pos[i], self._dist(task.goals[i], mech), moves) & taken_goals:
                continue
            remaining = rest
            tasks.append(task)
            busy.add(i)

        claimed: set[int] = set()
        decided: set[int] = set()
        priority: list[int] = list(in_door)
        goal: dict[int, frozenset[int]] = {}
        for task in tasks:
            for i, a in task.fire.items():
                actions[i] = a
                decided.add(i)
                if i in task.claims:
                    claimed.add(task.claims[i])
            for i in task.roles:
                priority.append(i)
                if i not in decided:
                    goal[i] = task.goals[i]
        rank = {i: k for k, i in enumerate(priority)}
        for i in active:
            rank.setdefault(i, len(rank))

        def may_exit(j: int) -> bool:
            rest = tuple(sorted(region[k] for k in active if k != j))
            return self._plan_len((mech, rest)) < _INF

        step = _Step(pos, occ, moves, actions, may_exit, claimed, decided)
        # An agent in a doorway clears its way before the workers move: a push along a dead end takes
        # two steps (the far agent steps aside, then the near one follows into its cell), and a worker
        # deciding first would walk back into that cell every step.
        for i in in_door:
            act, cell = self._leave_door(pos[i], door_target[i], reg, occ, claimed)
            decided.add(i)
            if act is not None:
                actions[i] = act
                claimed.add(cell)
            elif cell in occ and occ[cell] not in decided and occ[cell] not in step.yielding:
                self._yield(step, occ[cell], {pos[i], cell}, len(active))

        blocked: list[tuple[int, int | None, set[int]]] = []

        # Workers step along shortest paths; one whose next cells are all taken waits, and the
        # agents in its way step aside (or it detours when they cannot).
        # A worker does not park on its goal while the goal lies on another worker's way.
        dist = {i: self._dist(goal[i], mech) for i in priority if i in goal}
        ways = {i: self._way(pos[i], d, moves) - goal[i] for i, d in dist.items() if d[pos[i]] > 0}
        nexts = {i: {v for _, v in moves[pos[i]] if dist[i][v] == dist[i][pos[i]] - 1} for i in ways}
        parked: set[int] = set()
        for i in priority:
            if i in decided or i not in goal:
                continue
            d = dist[i]
            u = pos[i]
            if d[u] <= 0:
                continue  # at its goal (waits), or no way there under this mechanism state
            shortest = [(a, v) for a, v in moves[u] if d[v] == d[u] - 1]
            free = [(a, v) for a, v in shortest if v not in occ and v not in claimed]
            if free:
                a, v = free[0]
                if d[v] == 0 and any(v in way for k, way in ways.items() if k != i):
                    parked.add(i)
                    continue  # waits, and still steps aside for others
                if any(
                    v in nexts[k]
                    and goal[i] & ways[k]
                    and not (goal[k] & ways.get(i, set()) and rank[i] < rank[k])
                    for k in ways
                    if k != i
                ):
                    parked.add(i)
                    continue  # lets the other pass first: it would park on that agent's way
                actions[i] = a
                claimed.add(v)
                decided.add(i)
            else:
                blocker = next((occ[v] for _, v in shortest if v in occ), None)
                blocked.append((i, blocker, self._way(u, d, moves) | {u}))

        for i, j, path in blocked:
            if j is not None and j not in decided and j not in step.yielding:
                moving_up = j in goal and pos[j] not in goal[j] and rank[j] < rank[i] and j not in parked
                if not moving_up:
                    self._yield(step, j, path, len(active))
                    if j in decided:
                        continue
            if i not in goal or (j is not None and j in decided and actions[j] != Action.STAY):
                continue  # in a doorway, or the blocker is leaving: wait one step
            detour = self._detour(pos[i], goal[i], moves, occ, claimed, dist[i][pos[i]] + _DETOUR)
            if detour is not None:
                actions[i], v = detour
                claimed.add(v)
                decided.add(i)
        return actions, tasks

    def _assign(
        self,
        move: Move,
        free: list[int],
        region: dict[int, int],
        pos: dict[int, int],
        mech: int,
        reg: tuple[int, ...],
        occ: dict[int, int],
    ) -> _Task | None:
        """Pick agents for ``move`` among ``free`` (least total distance) and what they do now."""
        layout = self.layout
        flat = self._flat
        if move.kind == "exit":
            exits = frozenset(e for e in self._exits if reg[self._zone[e]] == move.source)
            d = self._dist(exits, mech)
            i = _nearest(d, free, region, pos, move.source)
            if i is None:
                return None
            return _Task(move, {i: "exit"}, {i: exits})
        if move.kind == "lower":
            ledge = flat(_above(layout.climb_cells[move.mechanism]))
            d = self._dist(frozenset([ledge]), mech)
            i = _nearest(d, free, region, pos, move.source)
            if i is None:
                return None
            task = _Task(move, {i: "lowers"}, {i: frozenset([ledge])})
            if pos[i] == ledge:
                task.fire[i] = int(Action.INTERACT)
            return task
        if move.kind == "gate":
            levers = [flat(c) for c in layout.lever_cells[move.mechanism]]
            dists = [self._dist(frozenset([lv]), mech) for lv in levers]
            best = None
            for agents in itertools.permutations(free, len(levers)):
                cost, squares = 0, 0
                for k, i in enumerate(agents):
                    dk = dists[k][pos[i]]
                    if region[i] != reg[self._zone[levers[k]]] or dk < 0:
                        break
                    cost, squares = cost + dk, squares + dk * dk
                else:
                    if best is None or (cost, squares) < best[0]:
                        best = ((cost, squares), agents)
            if best is None:
                return None
            agents = best[1]
            task = _Task(
                move, {i: "pulls" for i in agents}, {i: frozenset([levers[k]]) for k, i in enumerate(agents)}
            )
            if all(pos[i] == levers[k] for k, i in enumerate(agents)):
                task.fire = {i: int(Action.INTERACT) for i in agents}
            return task
        if move.kind == "door":
            return self._assign_door(move, free, region, pos, mech, reg, occ)
        return self._assign_climb(move, free, region, pos, mech, reg, occ)

    def _assign_door(
        self,
        move: Move,
        free: list[int],
        region: dict[int, int],
        pos: dict[int, int],
        mech: int,
        reg: tuple[int, ...],
        occ: dict[int, int],
    ) -> _Task | None:
        g = move.mechanism
        layout = self.layout
        doors = {self._flat(c) for c in layout.door_cells[g]}
        approach = set()
        for dc in doors:
            for _, v in self._neighbours(dc):
                if v not in doors and self._zone[v] >= 0 and reg[self._zone[v]] == move.source:
                    approach.add(v)
        plates = [self._flat(c) for c in layout.plate_cells[g]]
        if move.helper < 0:  # a plate touches the doorway: stand on it, then step in
            goal = frozenset(p for p in plates if any(v in doors for _, v in self._neighbours(p)))
            d = self._dist(goal, mech)
            i = _nearest(d, free, region, pos, move.source)
            if i is None:
                return None
            task = _Task(move, {i: "crosses"}, {i: goal})
            self._enter_door(task, i, pos[i], doors, occ, True)
            return task
        goal_a = frozenset(approach)
        da = self._dist(goal_a, mech)
        pd = {p: self._dist(frozenset([p]), mech) for p in plates}
        best = None
        for i in free:
            if region[i] != move.source or da[pos[i]] < 0:
                continue
            for j in free:
                if j == i:
                    continue
                for p in plates:
                    dj = pd[p][pos[j]]
                    if dj < 0 or reg[self._zone[p]] != region[j]:
                        continue
                    di = da[pos[i]]
                    cost = (di + dj, di * di + dj * dj, i, j, p)
                    if best is None or cost < best:
                        best = cost
        if best is None:
            return None
        _, _, i, j, p = best
        task = _Task(move, {j: "holds", i: "crosses"}, {i: goal_a, j: frozenset([p])})
        is_open = any(q in occ for q in plates) or any(c in occ for c in doors)
        self._enter_door(task, i, pos[i], doors, occ, is_open)
        return task

    def _enter_door(
        self, task: _Task, i: int, u: int, doors: set[int], occ: dict[int, int], is_open: bool
    ) -> None:
        if u not in task.goals[i] or not is_open:
            return
        for a, v in self._neighbours(u):
            if v in doors and v not in occ:
                task.fire[i] = a
                task.claims[i] = v
                return

    def _assign_climb(
        self,
        move: Move,
        free: list[int],
        region: dict[int, int],
        pos: dict[int, int],
        mech: int,
        reg: tuple[int, ...],
        occ: dict[int, int],
    ) -> _Task | None:
        k = move.mechanism
        spot = self._flat(self.layout.climb_cells[k])
        ledge = spot + self._plane
        dc = self._dist(frozenset([spot]), mech)
        boost_cells = [
            v for _, v in self._neighbours(spot) if self._zone[v] >= 0 and self.zg.kind[self._zone[v]] != 1
        ]
        best = None
        for j in free:
            cells = frozenset(v for v in boost_cells if reg[self._zone[v]] == region[j])
            if not cells:
                continue
            dj = self._dist(cells, mech)[pos[j]]
            if dj < 0:
                continue
            for i in free:
                if i != j and region[i] == move.source and dc[pos[i]] >= 0:
                    di = dc[pos[i]]
                    cost = (di + dj, di * di + dj * dj, i, j)
                    if best is None or cost < best[0:4]:
                        best = (*cost, cells)
        if best is None:
            return None
        _, _, i, j, cells = best
        task = _Task(move, {i: "climbs", j: "boosts"}, {i: frozenset([spot]), j: cells})
        if pos[i] == spot and pos[j] in cells and ledge not in occ:
            toward = next(a for a, v in self._neighbours(pos[j]) if v == spot)
            task.fire = {i: int(Action.UP), j: int(_BOOST_TOWARD[Action(toward)])}
            task.claims = {i: ledge}
        return task

    # -- movement helpers --------------------------------------------------------------------

    def _neighbours(self, u: int) -> list[tuple[int, int]]:
        """Same-floor 4-neighbours (action, cell) inside the grid, whatever their tile."""
        _, r, c = self._cell(u)
        _, rows, cols = self._shape
        out = []
        for a, dr, dc in _DIRS:
            if 0 <= r + dr < rows and 0 <= c + dc < cols:
                out.append((int(a), u + dr * cols + dc))
        return out

    def _leave_door(
        self, u: int, target: int, reg: tuple[int, ...], occ: dict[int, int], claimed: set[int]
    ) -> tuple[int | None, int]:
        """Step from a doorway toward the target region (through other cells of the same door).

        Returns ``(action, cell)``, or ``(None, cell)`` with the nearest cell that is in the way.
        """
        in_way = -1
        g = self._group[u]
        doors = {self._flat(c) for c in self.layout.door_cells[g]}
        seen, frontier = {u: None}, [u]
        while frontier:
            nxt = []
            for x in frontier:
                for _, v in self._neighbours(x):
                    if v in seen:
                        continue
                    z = self._zone[v]
                    if v in doors or (z >= 0 and self.zg.kind[z] != 1 and reg[z] == target):
                        seen[v] = x
                        if v not in doors:
                            first = v
                            while seen[first] != u:
                                first = seen[first]
                            if first in occ or first in claimed:
                                in_way = first if in_way < 0 else in_way
                                continue
                            act = next(b for b, y in self._neighbours(u) if y == first)
                            return act, first
                        nxt.append(v)
            frontier = nxt
        return None, in_way

    def _detour(
        self,
        u: int,
        goals: frozenset[int],
        moves: list[list[tuple[int, int]]],
        occ: dict[int, int],
        claimed: set[int],
        limit: int,
    ) -> tuple[int, int] | None:
        """First step of a shortest path to ``goals`` around other agents, if at most ``limit`` long."""
        first: dict[int, tuple[int, int]] = {}
        seen = {u}
        frontier = []
        for a, v in moves[u]:
            if v not in occ and v not in claimed and (v not in self._exits or v in goals):
                if v in goals:
                    return a, v
                seen.add(v)
                first[v] = (a, v)
                frontier.append(v)
        depth = 1
        while frontier and depth < limit:
            depth += 1
            nxt = []
            for x in frontier:
                for _, v in moves[x]:
                    if v in seen or v in occ or (v in self._exits and v not in goals):
                        continue
                    if v in goals:
                        return first[x]
                    seen.add(v)
                    first[v] = first[x]
                    nxt.append(v)
            frontier = nxt
        return None

    def _way(self, u: int, d: list[int], moves: list[list[tuple[int, int]]]) -> set[int]:
        """Cells after ``u`` on one shortest path to its goal (greedy descent of ``d``; empty if none)."""
        path: set[int] = set()
        while d[u] > 0:
            u = next(v for _, v in moves[u] if d[v] == d[u] - 1)
            path.add(u)
        return path

    def _yield(self, step: _Step, j: int, path: set[int], depth: int) -> None:
        """Move agent ``j`` off ``path`` (toward the nearest free cell off it), pushing others if boxed in."""
        step.yielding.add(j)
        u = step.pos[j]
        moves, occ, exits = step.moves, step.occ, self._exits
        first: dict[int, tuple[int, int]] = {}
        seen = {u}
        frontier = []
        for a, v in moves[u]:
            if v not in occ and v not in step.claimed and v not in exits:
                if v not in path:
                    step.move(j, a, v)
                    return
                seen.add(v)
                first[v] = (a, v)
                frontier.append(v)
        while frontier:
            nxt = []
            for x in frontier:
                for _, v in moves[x]:
                    if v in seen or v in occ or v in exits:
                        continue
                    if v not in path:
                        a, c = first[x]
                        if c not in step.claimed:
                            step.move(j, a, c)
                            return
                    seen.add(v)
                    first[v] = first[x]
                    nxt.append(v)
            frontier = nxt
        for a, v in moves[u]:  # boxed in with no room off the path: push along it
            if v not in occ and v not in step.claimed and v not in exits:
                step.move(j, a, v)
                return
        for a, v in moves[u]:  # or leave through an exit, if the others can still escape
            if v in exits and v not in occ and v not in step.claimed and step.may_exit(j):
                step.move(j, a, v)
                return
        if depth > 0:
            for _, v in moves[u]:
                k = occ.get(v)
                if k is not None and k not in step.decided and k not in step.yielding:
                    self._yield(step, k, path | {u}, depth - 1)


@dataclass
class _Step:
    """Scratch state of one :meth:`Expert._decide` call: who stands where, who moves where."""

    pos: dict[int, int]
    occ: dict[int, int]
    moves: list[list[tuple[int, int]]]
    actions: np.ndarray
    may_exit: Callable[[int], bool]
    claimed: set[int] = field(default_factory=set)
    decided: set[int] = field(default_factory=set)
    yielding: set[int] = field(default_factory=set)

    def move(self, agent: int, action: int, cell: int) -> None:
        self.actions[agent] = action
        self.claimed.add(cell)
        self.decided.add(agent)


def _nearest(
    d: list[int], free: list[int], region: dict[int, int], pos: dict[int, int], source: int
) -> int | None:
    """The free agent in region ``source`` closest to the goal of distance field ``d`` (None if none)."""
    cands = [(d[pos[i]], i) for i in free if region[i] == source and d[pos[i]] >= 0]
    return min(cands)[1] if cands else None


def _above(cell: tuple[int, int, int]) -> tuple[int, int, int]:
    return cell[0] + 1, cell[1], cell[2]


def solve(maze: Maze, max_steps: int | None = None) -> ExpertRun:
    """Run the expert from the maze's starts until the team has left or ``max_steps`` (default
    :func:`step_budget`) have passed.

    >>> from mazesim.generator import generate
    >>> from mazesim.scenario import Mechanics, Scenario
    >>> run = solve(generate(Scenario(name="d", rows=9, cols=9, agents=2, mechanics=Mechanics(doors=1)), 1))
    >>> run.escaped, run.actions.shape[1], run.positions.shape[0] == run.steps + 1
    (True, 2, True)
    """
    expert = Expert(maze)
    limit = step_budget(maze.scenario) if max_steps is None else max_steps
    state = State.initial(maze.layout, maze.starts)
    following = maze.scenario.following
    acts, positions, active, lines = [], [state.pos.copy()], [state.active.copy()], []
    previous: set[tuple] = set()
    while state.active.any() and state.step < limit:
        joint, tasks = expert._decide(state)
        current = set()
        for task in tasks:
            key = (task.move, tuple(sorted(task.roles.items())))
            current.add(key)
            if key not in previous:
                lines.append(f"step {state.step}: " + _describe(expert, task))
        previous = current
        state, _ = apply_joint_action(maze.layout, state, joint, following=following)
        acts.append(joint)
        positions.append(state.pos.copy())
        active.append(state.active.copy())
    n = state.n_agents
    return ExpertRun(
        actions=np.array(acts, dtype=np.int64).reshape(-1, n),
        positions=np.array(positions, dtype=np.int64),
        active=np.array(active, dtype=bool),
        escaped=not state.active.any(),
        steps=state.step,
        plan=tuple(lines),
    )


def _describe(expert: Expert, task: _Task) -> str:
    m = task.move
    parts = []
    for i, role in task.roles.items():
        name = f"agent_{i}"
        goal = sorted(task.goals[i])
        where = expert._cell(goal[0]) if len(goal) == 1 else f"zone {expert.zg.zone[expert._cell(goal[0])]}"
        if role == "holds":
            parts.append(f"{name} holds plate at {where}")
        elif role == "crosses":
            parts.append(f"{name} crosses door {m.mechanism} to zone {m.target}")
        elif role == "pulls":
            parts.append(f"{name} pulls lever at {where} of gate {m.mechanism}")
        elif role == "boosts":
            parts.append(f"{name} boosts at climb {m.mechanism}")
        elif role == "climbs":
            parts.append(f"{name} climbs to ledge {m.mechanism}")
        elif role == "lowers":
            parts.append(f"{name} lowers rope {m.mechanism}")
        else:
            parts.append(f"{name} walks to the exit")
    return "; ".join(parts)
