"""A generic wave-function-collapse (WFC) constraint solver.

A :class:`Problem` holds variables with finite weighted domains (the *waves*) and constraints
between them; :func:`solve` collapses it into one consistent assignment, :func:`solutions`
enumerates every consistent assignment. The solver does no I/O and draws every random number
from the ``numpy.random.Generator`` it is given.

Constraint kinds (all named, so a report can say which one removed a value):

* binary, as a predicate (:meth:`Problem.add_constraint`), a dense compatibility table
  (:meth:`Problem.add_table`) or a sparse list of forbidden pairs (:meth:`Problem.add_conflicts`);
* *support* (:meth:`Problem.add_support`): if ``x`` takes one of ``x_values``, at least one of
  several variables must take a matching value (a climb needs a boost from *any* neighbour).

The loop (:func:`solve`): make the problem arc consistent (generalised arc consistency for
support constraints), then repeatedly pick the undecided variable with the lowest Shannon entropy
of its remaining weights (ties broken by per-variable noise drawn once per solve), collapse it
(to its ``preferred`` value while that is still possible, otherwise by sampling in proportion to
weight, or to the heaviest value in greedy mode) and propagate. A contradiction undoes the trail
back to the last choice and bans the value chosen there; after ``max_backtracks`` backtracks, or
when no consistent assignment exists, every variable takes its ``fallback`` value (which the
caller promises is consistent; it is checked). The :class:`Solution` reports every choice, every
removal with the constraint and the variable that caused it, the backtracks and the fallback.

Complexity: domains are bitmasks, so one propagation is ``O(e * d)`` integer operations for ``e``
constrained pairs and domains of size ``d``; a solve without contradictions makes at most ``n``
choices, each scanning ``n`` entropies (``O(log n)`` each when every variable has a value that
excludes nothing, the resolver's plain-movement case).

Example:

>>> import numpy as np
>>> p = Problem()
>>> p.add_variable("a", [0, 1], [0.9, 0.1], fallback=0)
>>> p.add_variable("b", [0, 1], [0.6, 0.4], fallback=0)
>>> p.add_constraint("a", "b", lambda x, y: x != y, name="differ")
>>> sol = solve(p, np.random.default_rng(0), mode="greedy")
>>> sol.assignment
{'a': 0, 'b': 1}
>>> sol.choices
[('a', 0)]
>>> sol.removals
[Removal(variable='b', value=0, constraint='differ', cause='a')]
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from operator import mul
from typing import Literal, NamedTuple

import numpy as np

__all__ = [
    "Problem",
    "Removal",
    "SearchLimitError",
    "Solution",
    "WaveError",
    "solutions",
    "solve",
]


class WaveError(ValueError):
    """A problem or a wave is malformed (unknown variable, bad weights, bad fallback, ...)."""


class SearchLimitError(RuntimeError):
    """An exhaustive enumeration (:func:`solutions`) would visit more nodes than allowed."""


class Removal(NamedTuple):
    """One value removed from a variable's domain.

    ``constraint`` names the constraint that removed it (``"backtrack"`` for a value banned after
    a contradiction); ``cause`` is the variable whose domain made the value impossible, or None.
    """

    variable: Hashable
    value: Hashable
    constraint: str
    cause: Hashable | None


@dataclass(slots=True)
class Solution:
    """What :func:`solve` decided and how.

    ``assignment``: variable name -> value. ``choices``: ``(variable, value)`` collapses in order
    (undone ones included). ``removals``: every propagation removal in order (undone ones
    included). ``backtracks``: choices undone. ``fell_back``: True when the fallback assignment
    was used (search budget spent, or no consistent assignment exists).
    """

    assignment: dict[Hashable, Hashable]
    choices: list[tuple[Hashable, Hashable]] = field(default_factory=list)
    removals: list[Removal] = field(default_factory=list)
    backtracks: int = 0
    fell_back: bool = False


# forbid[x][y][a][b] = name of the constraint that forbids x=a together with y=b
_Forbid = dict[int, dict[Hashable, dict[Hashable, str]]]


class Problem:
    """Variables with weighted finite domains and the constraints between them.

    Variables are added first, then constraints. Values with weight 0 are known (constraints and
    fallbacks may mention them) but never chosen.

    >>> p = Problem()
    >>> p.add_variable("x", ["stay", "go"], [0.5, 0.5], fallback="stay")
    >>> p.variables
    ('x',)
    """

    def __init__(self) -> None:
        self._names: list[Hashable] = []
        self._index: dict[Hashable, int] = {}
        self._values: list[tuple[Hashable, ...]] = []
        self._weights: list[dict[Hashable, float]] = []
        self._preferred: list[Hashable | None] = []
        self._fallback: list[Hashable | None] = []
        self._forbid: list[_Forbid] = []
        # (x, x_values, ((y, y_values), ...), name)
        self._supports: list[tuple[int, frozenset, tuple[tuple[int, frozenset], ...], str]] = []

    @property
    def variables(self) -> tuple[Hashable, ...]:
        """Variable names in the order they were added."""
        return tuple(self._names)

    def add_variable(
        self,
        name: Hashable,
        values: Sequence[Hashable],
        weights: Sequence[float] | np.ndarray,
        *,
        preferred: Hashable | None = None,
        fallback: Hashable | None = None,
    ) -> None:
        """Add a variable whose wave gives ``weights[k]`` (finite, >= 0) to ``values[k]``.

        ``preferred``: the value to collapse to while it is still possible (an agent's own
        intention); None to always sample or take the heaviest. ``fallback``: the value this
        variable takes when the search falls back; it must be one of ``values``.
        """
        if name in self._index:
            raise WaveError(f"variable {name!r} is already defined; give each variable a unique name")
        values = tuple(values)
        w = dict(zip(values, map(float, weights), strict=False))
        if len(w) != len(values) or len(values) != len(weights) or not values:
            raise WaveError(
                f"variable {name!r}: needs distinct values and one weight per value, got values "
                f"{values!r} and {len(weights)} weights"
            )
        if not all(0.0 <= x < math.inf for x in w.values()):
            bad = next((v, x) for v, x in w.items() if not 0.0 <= x < math.inf)
            raise WaveError(
                f"variable {name!r}: weight of value {bad[0]!r} is {bad[1]}; weights must be finite and >= 0"
            )
        if preferred is not None and preferred not in w:
            raise WaveError(f"variable {name!r}: preferred value {preferred!r} is not one of its values")
        if fallback is not None and fallback not in w:
            raise WaveError(f"variable {name!r}: fallback value {fallback!r} is not one of its values")
        self._index[name] = len(self._names)
        self._names.append(name)
        self._values.append(values)
        self._weights.append(w)
        self._preferred.append(preferred)
        self._fallback.append(fallback)
        self._forbid.append({})

    def add_conflicts(
        self,
        x: Hashable,
        y: Hashable,
        pairs: Iterator[tuple[Hashable, Hashable]] | Sequence[tuple[Hashable, Hashable]],
        *,
        name: str = "conflict",
    ) -> None:
        """Forbid each ``(value of x, value of y)`` pair in ``pairs`` (a sparse table).

        Where several constraints forbid the same pair, the first one added names it.
        """
        i, j = self._pair(x, y)
        fi = self._forbid[i].setdefault(j, {})
        fj = self._forbid[j].setdefault(i, {})
        vi, vj = self._weights[i], self._weights[j]
        for a, b in pairs:
            if a not in vi or b not in vj:
                raise WaveError(
                    f"constraint {name!r}: pair {(a, b)!r} names a value that {x!r} or {y!r} lacks"
                )
            fi.setdefault(a, {}).setdefault(b, name)
            fj.setdefault(b, {}).setdefault(a, name)

    def add_constraint(
        self,
        x: Hashable,
        y: Hashable,
        predicate: Callable[[Hashable, Hashable], bool],
        *,
        name: str = "predicate",
    ) -> None:
        """Allow ``x=a`` with ``y=b`` only where ``predicate(a, b)`` is true (evaluated once per pair)."""
        i, j = self._pair(x, y)
        self.add_conflicts(
            x, y, [(a, b) for a in self._values[i] for b in self._values[j] if not predicate(a, b)], name=name
        )

    def add_table(self, x: Hashable, y: Hashable, table: np.ndarray, *, name: str = "table") -> None:
        """Compatibility table: ``table[k, m]`` true allows ``x = values_x[k]`` with ``y = values_y[m]``.

        ``table``: ``(len(values_x), len(values_y))`` bool.
        """
        i, j = self._pair(x, y)
        table = np.asarray(table, dtype=bool)
        shape = (len(self._values[i]), len(self._values[j]))
        if table.shape != shape:
            raise WaveError(
                f"constraint {name!r}: table for ({x!r}, {y!r}) must have shape {shape}, got {table.shape}"
            )
        vx, vy = self._values[i], self._values[j]
        self.add_conflicts(
            x, y, [(vx[k], vy[m]) for k, m in zip(*np.nonzero(~table), strict=True)], name=name
        )

    def add_support(
        self,
        x: Hashable,
        x_values: Sequence[Hashable],
        supporters: Sequence[tuple[Hashable, Sequence[Hashable]]],
        *,
        name: str = "support",
    ) -> None:
        """If ``x`` takes a value in ``x_values``, some ``(y, y_values)`` in ``supporters`` must
        have ``y`` take a value in ``y_values``. With no supporters, ``x_values`` are impossible.
        """
        i = self._var(x, name)
        sup = []
        for y, ys in supporters:
            j = self._var(y, name)
            if j == i:
                raise WaveError(f"constraint {name!r}: variable {x!r} cannot support itself")
            sup.append((j, frozenset(ys)))
        self._supports.append((i, frozenset(x_values), tuple(sup), name))

    def is_consistent(self, assignment: Mapping[Hashable, Hashable]) -> bool:
        """Whether ``assignment`` (every variable -> one of its values) violates no constraint."""
        if set(assignment) != set(self._names):
            return False
        vals = [assignment[n] for n in self._names]
        for i, v in enumerate(vals):
            if v not in self._weights[i]:
                return False
            for j, fij in self._forbid[i].items():
                fa = fij.get(v)
                if fa is not None and vals[j] in fa:
                    return False
        for i, xs, sup, _ in self._supports:
            if vals[i] in xs and not any(vals[j] in ys for j, ys in sup):
                return False
        return True

    def _var(self, name: Hashable, constraint: str) -> int:
        try:
            return self._index[name]
        except (KeyError, TypeError):
            raise WaveError(f"constraint {constraint!r}: unknown variable {name!r}; add it first") from None

    def _pair(self, x: Hashable, y: Hashable) -> tuple[int, int]:
        i, j = self._var(x, "binary"), self._var(y, "binary")
        if i == j:
            raise WaveError(f"a binary constraint needs two different variables, got {x!r} twice")
        return i, j


class _Engine:
    """Domains, trail and propagation over one problem, in indices: variable ``x`` is an index,
    its value ``k`` is ``vals[x][k]`` (positive-weight values only, in the order given) and a
    domain is a bitmask (bit ``k`` set while value ``k`` is possible).

    ``forbid[x][y][k]``: mask of ``y``'s values that exclude value ``k`` of ``x`` (present for
    every pair with a binary constraint); ``label[x][y]``: ``(k, m) -> constraint name``, or
    ``label`` None when the caller only counts removals. ``supports``: ``(x, x mask, ((y, y mask),
    ...), name)``. ``pref[x]``: index of the preferred value, -1 for none. Bitmasks and flat lists
    keep propagation to a few integer operations per arc.
    """

    __slots__ = (
        "names",
        "n",
        "vals",
        "wts",
        "pref",
        "dom",
        "trail",
        "log",
        "ent",
        "adj",
        "forbid",
        "free",
        "label",
        "supports",
        "watch",
        "queue",
        "queued",
    )

    def __init__(
        self,
        names: Sequence[Hashable],
        vals: list[tuple[Hashable, ...]],
        wts: list[list[float]],
        pref: list[int],
        forbid: list[dict[int, list[int]]],
        label: list[dict[int, dict[tuple[int, int], str]]] | None,
        supports: list[tuple[int, int, tuple[tuple[int, int], ...], str]],
    ) -> None:
        n = len(names)
        self.names = names
        self.n = n
        self.vals = vals
        self.wts = wts
        self.pref = pref
        self.dom = [(1 << len(v)) - 1 for v in vals]
        self.trail: list[tuple[int, int]] = []  # (variable, its domain before the change)
        self.log: list[tuple[int, int, str | None, int | None]] = []  # (x, value index, name, cause)
        self.ent: list[float | None] = [None] * n
        self.adj = [sorted(f) for f in forbid]
        # free[y][x]: y's values that exclude none of x's; while y keeps one, x loses nothing to y
        free: list[dict[int, int]] = [{} for _ in range(n)]
        for x, fx in enumerate(forbid):
            for y, masks in fx.items():
                m = 0
                for b in masks:
                    m |= b
                free[y][x] = ~m
        self.free = free
        self.forbid = forbid
        self.label = label
        self.supports = supports
        self.watch: list[list[int]] | list[tuple[()]] = [()] * n
        if supports:
            self.watch = watch = [[] for _ in range(n)]
            for k, (i, _, sup, _) in enumerate(supports):
                watch[i].append(k)
                for j, _ in sup:
                    watch[j].append(k)
        self.queue: deque[int] = deque()
        self.queued = [False] * n

    @classmethod
    def of(cls, p: Problem) -> _Engine:
        """The engine of a :class:`Problem` (zero-weight values dropped, constraints as masks)."""
        vals, wts, index = [], [], []
        for vs, w in zip(p._values, p._weights, strict=True):
            kept = tuple(v for v in vs if w[v] > 0)
            vals.append(kept)
            wts.append([w[v] for v in kept])
            index.append({v: k for k, v in enumerate(kept)})
        pref = [-1 if v is None else index[x].get(v, -1) for x, v in enumerate(p._preferred)]
        forbid: list[dict[int, list[int]]] = []
        label: list[dict[int, dict[tuple[int, int], str]]] = []
        for x, fx in enumerate(p._forbid):
            fo, lo = {}, {}
            ix = index[x]
            for y, fxy in fx.items():
                iy = index[y]
                masks = [0] * len(vals[x])
                names = {}
                for a, fa in fxy.items():
                    k = ix.get(a)
                    if k is None:
                        continue
                    for b, name in fa.items():
                        m = iy.get(b)
                        if m is not None:
                            masks[k] |= 1 << m
                            names[k, m] = name
                fo[y], lo[y] = masks, names
            forbid.append(fo)
            label.append(lo)
        supports = []
        for x, xs, sup, name in p._supports:
            xm = _mask(index[x], xs)
            supports.append((x, xm, tuple((j, _mask(index[j], ys)) for j, ys in sup), name))
        return cls(p._names, vals, wts, pref, forbid, label, supports)

    def remove(self, x: int, rm: int, name: str | None, cause: int | None) -> None:
        """Remove the values in mask ``rm`` (all possible now) from ``x``, logged in value order."""
        d = self.dom[x]
        self.trail.append((x, d))
        self.dom[x] = d & ~rm
        log = self.log
        while rm:
            low = rm & -rm
            log.append((x, low.bit_length() - 1, name, cause))
            rm ^= low
        self.ent[x] = None
        if not self.queued[x]:
            self.queued[x] = True
            self.queue.append(x)

    def fix(self, x: int, k: int) -> None:
        """Collapse ``x`` to its value ``k`` (the other values go on the trail, not in the log)."""
        d = self.dom[x]
        bit = 1 << k
        if d != bit:
            self.trail.append((x, d))
            self.dom[x] = bit
        self.ent[x] = None
        if not self.queued[x]:
            self.queued[x] = True
            self.queue.append(x)

    def undo(self, mark: int) -> None:
        trail, dom, ent = self.trail, self.dom, self.ent
        while len(trail) > mark:
            x, d = trail.pop()
            dom[x] = d
            ent[x] = None

    def propagate(self) -> bool:
        """Run arc consistency from the queued variables; False on a contradiction."""
        dom, queue, queued, forbid, adj, label = (
            self.dom,
            self.queue,
            self.queued,
            self.forbid,
            self.adj,
            self.label,
        )
        free = self.free
        ok = True
        while queue:
            y = queue.popleft()
            queued[y] = False
            if not ok:
                continue
            dy = dom[y]
            if not dy:
                ok = False
                continue
            fy = free[y]
            for x in adj[y]:
                if dy & fy[x]:
                    continue
                masks = forbid[x][y]
                dx = dom[x]
                rm = 0
                rest = dx
                while rest:
                    low = rest & -rest
                    if not dy & ~masks[low.bit_length() - 1]:
                        rm |= low
                    rest ^= low
                if rm:
                    if label is None:
                        self.remove(x, rm, None, y)
                    else:
                        # name the constraint by y's first remaining value (its choice, once fixed)
                        m = (dy & -dy).bit_length() - 1
                        names = label[x][y]
                        while rm:
                            low = rm & -rm
                            self.remove(x, low, names[low.bit_length() - 1, m], y)
                            rm ^= low
                    if not dom[x]:
                        ok = False
                        break
            if ok:
                for k in self.watch[y]:
                    if not self._support(k, y):
                        ok = False
                        break
        return ok

    def _support(self, k: int, trigger: int) -> bool:
        x, xm, sup, name = self.supports[k]
        dom = self.dom
        dx = dom[x]
        if not dx & xm:
            return True
        alive = [(j, ym) for j, ym in sup if dom[j] & ym]
        if not alive:
            self.remove(x, dx & xm, name, trigger if trigger != x else None)
            return bool(dom[x])
        if len(alive) == 1 and not dx & ~xm:
            j, ym = alive[0]
            rm = dom[j] & ~ym
            if rm:
                self.remove(j, rm, name, x)
        return True

    def clear_queue(self) -> None:
        while self.queue:
            self.queued[self.queue.pop()] = False

    def queue_all(self) -> None:
        for x in range(self.n):
            if not self.queued[x]:
                self.queued[x] = True
                self.queue.append(x)


def _mask(index: dict[Hashable, int], values: frozenset) -> int:
    m = 0
    for v in values:
        k = index.get(v)
        if k is not None:
            m |= 1 << k
    return m


def _bits(d: int) -> list[int]:
    """The set bits of ``d``, lowest first."""
    out = []
    while d:
        low = d & -d
        out.append(low.bit_length() - 1)
        d ^= low
    return out


def solve(
    problem: Problem,
    rng: np.random.Generator,
    *,
    mode: Literal["sample", "greedy"] = "sample",
    max_backtracks: int = 64,
) -> Solution:
    """Collapse ``problem`` into one consistent assignment (see the module docstring).

    Random draws, all from ``rng``: one ``rng.random(n)`` (tie-break noise for the ``n``
    variables) once the loop has a choice to make, and in ``"sample"`` mode one ``rng.random()``
    per collapse whose variable's preferred value is gone or unset. A problem that needs no choice
    draws nothing.

    >>> p = Problem()
    >>> p.add_variable(0, [0, 1], [1.0, 1.0], fallback=0)
    >>> p.add_variable(1, [0, 1], [1.0, 0.0], fallback=0)
    >>> p.add_conflicts(0, 1, [(0, 0)], name="apart")
    >>> solve(p, np.random.default_rng(1)).assignment
    {0: 1, 1: 0}
    """
    if mode not in ("sample", "greedy"):
        raise WaveError(f"solve: mode must be 'sample' or 'greedy', got {mode!r}")
    if max_backtracks < 0:
        raise WaveError(f"solve: max_backtracks must be >= 0, got {max_backtracks}")
    eng = _Engine.of(problem)
    found, choices, backtracks = _run(eng, rng, mode, max_backtracks)
    names, vals = eng.names, eng.vals
    sol = Solution(
        {},
        [(names[x], vals[x][k]) for x, k in choices],
        [
            Removal(names[x], vals[x][k], name, None if cause is None else names[cause])  # type: ignore[arg-type]
            for x, k, name, cause in eng.log
        ],
        backtracks,
    )
    if found is not None:
        sol.assignment = {names[x]: vals[x][k] for x, k in enumerate(found)}
        return sol
    fallback = {names[x]: problem._fallback[x] for x in range(eng.n)}
    missing = [n for n, v in fallback.items() if v is None]
    if missing:
        raise WaveError(
            f"solve: no consistent assignment found and variables {missing!r} have no fallback value"
        )
    if not problem.is_consistent(fallback):
        raise WaveError(
            "solve: the fallback assignment violates a constraint; give fallbacks that are consistent"
        )
    sol.assignment = fallback
    sol.fell_back = True
    return sol


def _run(
    eng: _Engine, rng: np.random.Generator, mode: str, max_backtracks: int
) -> tuple[list[int] | None, list[tuple[int, int]], int]:
    """The WFC loop of :func:`solve` on an engine: ``(value index per variable, or None when the
    search falls back; choices as (variable, value index); backtracks)``. Removals are in ``eng.log``.
    """
    n = eng.n
    dom, ent, wts, pref, trail, queue, queued = (
        eng.dom,
        eng.ent,
        eng.wts,
        eng.pref,
        eng.trail,
        eng.queue,
        eng.queued,
    )
    choices: list[tuple[int, int]] = []
    backtracks = 0
    eng.queue_all()
    ok = all(dom) and eng.propagate()
    noise: list[float] | None = None
    stack: list[tuple[int, int, int]] = []
    open_ = list(range(n))  # variables that may still be undecided
    while ok:
        open_ = [x for x in open_ if dom[x] & (dom[x] - 1)]
        if not open_:
            return [d.bit_length() - 1 for d in dom], choices, backtracks
        if noise is None:
            noise = rng.random(n).tolist()
        best, bh = -1, math.inf
        for x in open_:
            h = ent[x]
            if h is None:
                h = ent[x] = _entropy(dom[x], wts[x])
            if h < bh or (h == bh and noise[x] < noise[best]):
                best, bh = x, h
        d = dom[best]
        k = pref[best]
        if k < 0 or not d >> k & 1:
            k = _collapse(d, wts[best], rng, mode)
        choices.append((best, k))
        stack.append((best, k, len(trail)))
        trail.append((best, d))  # as _Engine.fix, inlined (best is undecided, so d has other values)
        dom[best] = 1 << k
        ent[best] = None
        if not queued[best]:
            queued[best] = True
            queue.append(best)
        failed = not eng.propagate()
        while failed:
            if not stack or backtracks >= max_backtracks:
                ok = False
                break
            backtracks += 1
            x, k, mark = stack.pop()
            eng.undo(mark)
            open_ = list(range(n))
            eng.remove(x, 1 << k, "backtrack", None)
            failed = not dom[x] or not eng.propagate()
            eng.clear_queue()
    return None, choices, backtracks


def _entropy(d: int, w: list[float]) -> float:
    """Shannon entropy of the weights ``w[k]`` of the values ``k`` in mask ``d``, normalised."""
    ws = w if d == (1 << len(w)) - 1 else [q for k, q in enumerate(w) if d >> k & 1]
    total = sum(ws)
    return math.log(total) - sum(map(mul, ws, map(math.log, ws))) / total


def _collapse(d: int, w: list[float], rng: np.random.Generator, mode: str) -> int:
    """A value of mask ``d`` (its preferred value is gone or unset): heaviest, or sampled by weight."""
    ks = [k for k in range(len(w)) if d >> k & 1]
    if mode == "greedy":
        return max(ks, key=w.__getitem__)  # first of equal maxima, in value order
    u = rng.random() * sum([w[k] for k in ks])
    acc = 0.0
    for k in ks:
        acc += w[k]
        if u < acc:
            return k
    return ks[-1]


def _run_universal(
    wts: list[list[float]],
    pref: list[int],
    clash: Mapping[tuple[int, int], Sequence[tuple[int, int]]],
    rng: np.random.Generator,
    mode: str,
) -> tuple[list[int], int, int]:
    """:func:`_run` for a problem without support constraints in which every variable has a value
    that excludes nothing (staying put, in the resolver): ``(value index per variable, choices,
    removals)``, the same as :func:`_run` gives, drawing the same random numbers.

    ``wts[x]``: positive weights of ``x``'s values; ``pref[x]``: preferred value index or -1;
    ``clash[x, k]``: the ``(y, m)`` with ``y != x`` that exclude ``x = k`` (absent: none). Such a
    problem is arc consistent from the start and never contradicts itself (a variable keeps its
    free value until it is fixed, and a fixed value has already removed everything it excludes), so
    propagating a choice is removing what the chosen value excludes, nothing more.
    """
    n = len(wts)
    dom = [(1 << len(w)) - 1 for w in wts]
    ent = [math.inf] * n
    choices = removals = 0
    # the undecided variable of least (entropy, noise, index) is what _run's scan picks; a heap finds
    # it without rescanning, and entries whose variable has changed since are skipped
    heap = [(-1.0, 0.0, x) for x, d in enumerate(dom) if d & (d - 1)]
    if not heap:
        return [0] * n, 0, 0
    noise = rng.random(n).tolist()
    log = math.log
    for e, (_, _, x) in enumerate(heap):
        ws = wts[x]  # every value is still possible: _entropy, inlined
        total = sum(ws)
        h = ent[x] = log(total) - sum(map(mul, ws, map(log, ws))) / total
        heap[e] = (h, noise[x], x)
    heapq.heapify(heap)
    pop, push = heapq.heappop, heapq.heappush
    while heap:
        h, _, best = pop(heap)
        d = dom[best]
        if not d & (d - 1) or h != ent[best]:
            continue
        k = pref[best]
        if k < 0 or not d >> k & 1:
            k = _collapse(d, wts[best], rng, mode)
        choices += 1
        dom[best] = 1 << k
        for y, m in clash.get((best, k), ()):
            dy = dom[y]
            if dy >> m & 1:
                dom[y] = dy = dy ^ 1 << m
                removals += 1
                if dy & (dy - 1):
                    h = ent[y] = _entropy(dy, wts[y])
                    push(heap, (h, noise[y], y))
    return [d.bit_length() - 1 for d in dom], choices, removals


def solutions(problem: Problem, *, max_nodes: int = 200_000) -> Iterator[dict[Hashable, Hashable]]:
    """Every consistent assignment over positive-weight values, in a fixed order (a generator).

    Depth-first search that keeps arc consistency; values of the first undecided variable are
    tried in the order given. Raises :class:`SearchLimitError` after ``max_nodes`` search nodes.

    >>> p = Problem()
    >>> for name in "ab":
    ...     p.add_variable(name, [0, 1], [1, 1])
    >>> p.add_constraint("a", "b", lambda x, y: x != y)
    >>> list(solutions(p))
    [{'a': 0, 'b': 1}, {'a': 1, 'b': 0}]
    """
    yield from _solutions(_Engine.of(problem), max_nodes)


def _solutions(eng: _Engine, max_nodes: int) -> Iterator[dict[Hashable, Hashable]]:
    """:func:`solutions` on an engine."""
    names, vals, dom = eng.names, eng.vals, eng.dom
    eng.queue_all()
    if not (all(dom) and eng.propagate()):
        return
    nodes = 0

    def walk() -> Iterator[dict[Hashable, Hashable]]:
        nonlocal nodes
        x = next((x for x in range(eng.n) if dom[x] & (dom[x] - 1)), -1)
        if x < 0:
            yield {names[i]: vals[i][d.bit_length() - 1] for i, d in enumerate(dom)}
            return
        for k in _bits(dom[x]):
            nodes += 1
            if nodes > max_nodes:
                raise SearchLimitError(
                    f"solutions: more than {max_nodes} search nodes; raise max_nodes or split the problem"
                )
            mark = len(eng.trail)
            eng.fix(x, k)
            if eng.propagate():
                yield from walk()
            eng.undo(mark)

    yield from walk()
