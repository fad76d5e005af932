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

Complexity: one propagation is ``O(e * d^2)`` for ``e`` constrained pairs and domains of size
``d``; a solve without contradictions makes at most ``n`` choices, each scanning ``n`` entropies.

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

import math
from collections import deque
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
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
    """Domains, trail and propagation over one :class:`Problem` (indices, not names)."""

    __slots__ = ("p", "n", "vals", "dom", "trail", "log", "ent", "adj", "watch", "queue", "queued")

    def __init__(self, p: Problem) -> None:
        self.p = p
        self.n = len(p._names)
        self.vals = [tuple(v for v in vs if w[v] > 0) for vs, w in zip(p._values, p._weights, strict=True)]
        self.dom = [set(vs) for vs in self.vals]
        self.trail: list[tuple[int, Hashable]] = []
        self.log: list[Removal] = []
        self.ent: list[float | None] = [None] * self.n
        self.adj = [sorted(f) for f in p._forbid]
        self.watch: list[list[int]] = [[] for _ in range(self.n)]
        for k, (i, _, sup, _) in enumerate(p._supports):
            self.watch[i].append(k)
            for j, _ in sup:
                self.watch[j].append(k)
        self.queue: deque[int] = deque()
        self.queued = [False] * self.n

    def remove(self, x: int, v: Hashable, name: str, cause: int | None) -> None:
        self.dom[x].discard(v)
        self.trail.append((x, v))
        names = self.p._names
        self.log.append(Removal(names[x], v, name, None if cause is None else names[cause]))
        self.ent[x] = None
        if not self.queued[x]:
            self.queued[x] = True
            self.queue.append(x)

    def fix(self, x: int, v: Hashable) -> None:
        """Collapse ``x`` to ``v`` (the other values go on the trail, not in the log)."""
        d = self.dom[x]
        for u in self.vals[x]:
            if u != v and u in d:
                d.discard(u)
                self.trail.append((x, u))
        self.ent[x] = None
        if not self.queued[x]:
            self.queued[x] = True
            self.queue.append(x)

    def undo(self, mark: int) -> None:
        trail, dom, ent = self.trail, self.dom, self.ent
        while len(trail) > mark:
            x, v = trail.pop()
            dom[x].add(v)
            ent[x] = None

    def propagate(self) -> bool:
        """Run arc consistency from the queued variables; False on a contradiction."""
        p, dom, vals, queue, queued = self.p, self.dom, self.vals, self.queue, self.queued
        forbid = p._forbid
        ok = True
        while queue:
            y = queue.popleft()
            queued[y] = False
            if not ok:
                continue
            dy = dom[y]
            ly = len(dy)
            if not ly:
                ok = False
                continue
            for x in self.adj[y]:
                fxy = forbid[x][y]
                dx = dom[x]
                for a in vals[x]:
                    if a in dx:
                        fa = fxy.get(a)
                        if fa is not None and len(fa) >= ly and all(b in fa for b in dy):
                            # name the constraint by y's first remaining value (its choice, once fixed)
                            b = next(b for b in vals[y] if b in dy)
                            self.remove(x, a, fa[b], y)
                if not dx:
                    ok = False
                    break
            if ok:
                for k in self.watch[y]:
                    if not self._support(k, y):
                        ok = False
                        break
        return ok

    def _support(self, k: int, trigger: int) -> bool:
        x, xs, sup, name = self.p._supports[k]
        dom = self.dom
        dx = dom[x]
        if not any(v in xs for v in dx):
            return True
        alive = [(j, ys) for j, ys in sup if any(b in ys for b in dom[j])]
        if not alive:
            for v in self.vals[x]:
                if v in dx and v in xs:
                    self.remove(x, v, name, trigger if trigger != x else None)
            return bool(dx)
        if len(alive) == 1 and all(v in xs for v in dx):
            j, ys = alive[0]
            dj = dom[j]
            for b in self.vals[j]:
                if b in dj and b not in ys:
                    self.remove(j, b, name, x)
        return True

    def entropy(self, x: int) -> float:
        h = self.ent[x]
        if h is None:
            w = self.p._weights[x]
            d = self.dom[x]
            ws = [w[v] for v in self.vals[x] if v in d]
            total = sum(ws)
            h = math.log(total) - sum(q * math.log(q) for q in ws) / total
            self.ent[x] = h
        return h

    def clear_queue(self) -> None:
        while self.queue:
            self.queued[self.queue.pop()] = False

    def queue_all(self) -> None:
        for x in range(self.n):
            if not self.queued[x]:
                self.queued[x] = True
                self.queue.append(x)


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
    eng = _Engine(problem)
    names, p = problem._names, problem
    sol = Solution({}, removals=eng.log)
    eng.queue_all()
    ok = all(eng.dom) and eng.propagate()
    noise: list[float] | None = None
    stack: list[tuple[int, Hashable, int]] = []
    open_ = list(range(eng.n))  # variables that may still be undecided
    dom, ent = eng.dom, eng.ent
    while ok:
        open_ = [x for x in open_ if len(dom[x]) > 1]
        if not open_:
            sol.assignment = {names[x]: next(iter(dom[x])) for x in range(eng.n)}
            return sol
        if noise is None:
            noise = rng.random(eng.n).tolist()
        best, bh = -1, math.inf
        for x in open_:
            h = ent[x]
            if h is None:
                h = eng.entropy(x)
            if h < bh or (h == bh and noise[x] < noise[best]):
                best, bh = x, h
        v = _collapse(eng, best, rng, mode)
        sol.choices.append((names[best], v))
        stack.append((best, v, len(eng.trail)))
        eng.fix(best, v)
        failed = not eng.propagate()
        while failed:
            if not stack or sol.backtracks >= max_backtracks:
                ok = False
                break
            sol.backtracks += 1
            x, v, mark = stack.pop()
            eng.undo(mark)
            open_ = list(range(eng.n))
            eng.remove(x, v, "backtrack", None)
            failed = not eng.dom[x] or not eng.propagate()
            eng.clear_queue()
    fallback = {names[x]: p._fallback[x] for x in range(eng.n)}
    missing = [n for n, v in fallback.items() if v is None]
    if missing:
        raise WaveError(
            f"solve: no consistent assignment found and variables {missing!r} have no fallback value"
        )
    if not p.is_consistent(fallback):
        raise WaveError(
            "solve: the fallback assignment violates a constraint; give fallbacks that are consistent"
        )
    sol.assignment = fallback
    sol.fell_back = True
    return sol


def _collapse(eng: _Engine, x: int, rng: np.random.Generator, mode: str) -> Hashable:
    d = eng.dom[x]
    pref = eng.p._preferred[x]
    if pref is not None and pref in d:
        return pref
    w = eng.p._weights[x]
    vs = [v for v in eng.vals[x] if v in d]
    if mode == "greedy":
        return max(vs, key=lambda v: w[v])  # first of equal maxima, in value order
    u = rng.random() * sum(w[v] for v in vs)
    acc = 0.0
    for v in vs:
        acc += w[v]
        if u < acc:
            return v
    return vs[-1]


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
    eng = _Engine(problem)
    names = problem._names
    eng.queue_all()
    if not (all(eng.dom) and eng.propagate()):
        return
    nodes = 0

    def walk() -> Iterator[dict[Hashable, Hashable]]:
        nonlocal nodes
        x = next((x for x in range(eng.n) if len(eng.dom[x]) > 1), -1)
        if x < 0:
            yield {names[i]: next(iter(eng.dom[i])) for i in range(eng.n)}
            return
        for v in [v for v in eng.vals[x] if v in eng.dom[x]]:
            nodes += 1
            if nodes > max_nodes:
                raise SearchLimitError(
                    f"solutions: more than {max_nodes} search nodes; raise max_nodes or split the problem"
                )
            mark = len(eng.trail)
            eng.fix(x, v)
            if eng.propagate():
                yield from walk()
            eng.undo(mark)

    yield from walk()
