"""The joint-action resolver: the agents' waves in, one consistent joint action out.

Each step every live agent hands in a *wave* over the actions of :class:`mazesim.world.Action`:

* an integer action is a collapsed wave: weight ``1 - eps`` on it and ``eps`` on ``stay``;
* a probability vector, shape ``(N_ACTIONS,)``, is a full wave (it need not be normalised).

Actions the terrain does not allow (:func:`mazesim.world.action_mask`, plus stairs that lead out of
the maze, which would have no effect) are removed first, and ``stay`` always keeps at least weight
``eps`` so that it stays available as the last resort. A full wave with no weight left on any
legal action is not an error: that agent falls back to ``stay`` (status ``FALLBACK``).

Constraints (the same rules :func:`mazesim.world.apply_joint_action` enforces), each with a name
that the report uses:

========================  ==================================================================
``"one_per_cell"``        two agents never end the step in the same cell
``"occupied"``            no entering a cell occupied at the start of the step (default rule)
``"following"``           with ``following=True``: entering an occupied cell needs its occupant
                          to move away ...
``"no_swap"``             ... and not into the cell we leave (no swaps)
``"binding"``             a climb that needs a boost needs an adjacent agent boosting toward it,
                          and a boost needs the agent in the target cell to climb (``up``)
``"terrain"``             the requested action is not allowed here (masked)
``"search"``              no single agent's choice excludes it; the search or the sampler chose
                          otherwise (a value banned after a contradiction, or an exact sample)
========================  ==================================================================

The loop: agents whose candidate cells and bindings cannot interact are split into independent
clusters. A cluster whose requested actions are already consistent passes through unchanged;
any other cluster goes to the WFC solver (:mod:`mazesim.wfc`): pick the agent with the lowest
entropy (seeded tie-break noise), collapse it to its requested action while that is still
possible (otherwise sample the rest of its wave in proportion to weight, or take the heaviest in
greedy mode), propagate, repeat; backtrack on a contradiction; fall back to "the whole cluster
stays" when the backtrack budget is spent.

Requested actions and the pass-through guarantee:

* an integer wave requests that action; a consistent joint action of integer waves always passes
  through unchanged, in every mode, and draws no random numbers;
* a full wave in ``"sample"`` mode requests an *intention* drawn from its legal weights (one
  uniform per full-wave agent, one ``rng.random(k)`` call in agent order, before anything else);
  keeping that intention whenever possible and otherwise resampling the rest of the wave is the
  same as sampling the remaining wave in proportion to weight, so this is plain WFC sampling
  with a record of what the agent meant to do. Consistent intentions pass through unchanged;
* in ``"greedy"`` mode a full wave requests its heaviest legal action (the first of equal ones);
* in ``"exact"`` mode each cluster that holds a full wave or an inconsistent request is solved by
  enumerating all its consistent joint actions and sampling one in proportion to the product of
  the agents' weights (one ``rng.random()`` per such cluster); a full wave's requested action is
  its heaviest legal one, for the report only. Meant for small clusters and as a test oracle.

Further draws in ``"sample"``/``"greedy"`` mode happen only for clusters that need solving; see
:func:`mazesim.wfc.solve`. Same layout, state, waves and generator state give the same result.

Example: two agents in a corridor both step into the free cell between them; the seeded
tie-break noise lets agent 1 collapse first, so agent 0's move is withdrawn.

>>> import numpy as np
>>> from mazesim.world import Action, Layout, State
>>> layout = Layout(np.zeros((1, 1, 3), np.uint8), np.full((1, 1, 3), -1, np.int16))
>>> state = State.initial(layout, np.array([[0, 0, 0], [0, 0, 2]]))
>>> res = resolve(layout, state, [Action.EAST, Action.WEST], np.random.default_rng(0), mode="greedy")
>>> [Action(a).name for a in res.joint]
['STAY', 'WEST']
>>> res.status[0].name, res.cause[0], res.constraint[0]
('SUBSTITUTED', 1, 'one_per_cell')
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Literal, NamedTuple

import numpy as np

from mazesim import wfc
from mazesim.wfc import WaveError
from mazesim.world import BOOSTS, N_ACTIONS, Action, Frame, Layout, State, frame

__all__ = [
    "AgentOutcome",
    "Resolution",
    "Status",
    "WaveError",
    "consistent_joint_actions",
    "is_consistent",
    "pass_through",
    "resolve",
    "solo_step",
]

ONE_PER_CELL = "one_per_cell"
OCCUPIED = "occupied"
FOLLOWING = "following"
NO_SWAP = "no_swap"
BINDING = "binding"
TERRAIN = "terrain"
SEARCH = "search"

_STAY, _UP, _DOWN, _INTERACT = int(Action.STAY), int(Action.UP), int(Action.DOWN), int(Action.INTERACT)
_BOOSTS = frozenset(int(b) for b in BOOSTS)
_MODES = ("sample", "greedy", "exact")
_WAVE_SHAPE = (N_ACTIONS,)
_F64, _F32 = np.dtype(np.float64), np.dtype(np.float32)


class Status(IntEnum):
    """What became of an agent's requested action.

    ``EXECUTED``: executed as promised (the promise was kept). ``SUBSTITUTED``: withdrawn by the
    solver and replaced (see ``cause`` and ``constraint``). ``UNBOUND``: half of a binding that no
    partner ever offered to complete. ``FALLBACK``: the agent stays because its cluster's search
    fell back or its wave had no weight on a legal action. ``INACTIVE``: the agent has left.
    """

    EXECUTED = 0
    SUBSTITUTED = 1
    UNBOUND = 2
    FALLBACK = 3
    INACTIVE = 4

    @property
    def outcome(self) -> str:
        """The promise assessment: ``"kept"``, ``"withdrawn"``, ``"unbound"`` or ``"inactive"``."""
        return _OUTCOMES[self]


_OUTCOMES = {
    Status.EXECUTED: "kept",
    Status.SUBSTITUTED: "withdrawn",
    Status.UNBOUND: "unbound",
    Status.FALLBACK: "withdrawn",
    Status.INACTIVE: "inactive",
}


class AgentOutcome(NamedTuple):
    """One agent's line of a :class:`Resolution`; ``cause`` is -1 and ``constraint`` "" when none."""

    agent: int
    requested: int
    executed: int
    status: Status
    cause: int
    constraint: str


@dataclass(slots=True, eq=False)
class Resolution:
    """The resolved joint action and the report of how it came about.

    ``joint``: ``(n_agents,)`` int64, the action each agent executes (inactive agents: stay).
    ``requested``, ``status``, ``cause``, ``constraint``: one entry per agent (see
    :class:`AgentOutcome`); the substitute is ``joint[i]``. Counters, summed over the clusters
    that were solved: ``choices`` (collapses), ``removals`` (values removed by propagation),
    ``backtracks``, ``fallbacks`` (agents with status ``FALLBACK``), ``clusters`` (clusters solved).
    """

    joint: np.ndarray
    requested: tuple[int, ...]
    status: tuple[Status, ...]
    cause: tuple[int, ...]
    constraint: tuple[str, ...]
    choices: int = 0
    removals: int = 0
    backtracks: int = 0
    fallbacks: int = 0
    clusters: int = 0

    def outcome(self, agent: int) -> AgentOutcome:
        """Agent ``agent``'s requested action, executed action, status, cause and constraint."""
        return AgentOutcome(
            agent,
            self.requested[agent],
            int(self.joint[agent]),
            self.status[agent],
            self.cause[agent],
            self.constraint[agent],
        )


def _consistent(fr: Frame, agents: Sequence[int], act: Sequence[int], following: bool) -> bool:
    """Whether the actions ``act[i]`` of ``agents`` (a closed cluster, or all) break no rule."""
    cell, occ, legal = fr.cell, fr.occ, fr.legal  # legal(i) is cached per frame: cheaper than step
    dest: dict[int, int] = {}
    taken: set[int] = set()
    boosted: set[int] = set()
    climbers = []
    for i in agents:
        a = act[i]
        st = legal(i).get(a)
        if st is None:
            return False
        d, target = st
        if d in taken:
            return False
        taken.add(d)
        if following:
            dest[i] = d
        elif d != cell[i] and d in occ:
            return False
        if target >= 0:
            j = occ.get(target)
            if j is None or act[j] != _UP:
                return False
            boosted.add(target)
        elif a == _UP and fr.needs_boost(i):
            climbers.append(i)
    if following:
        for i in agents:
            d = dest[i]
            if d != cell[i]:
                j = occ.get(d)
                if j is not None and (dest[j] == cell[j] or dest[j] == cell[i]):
                    return False
    return all(cell[i] in boosted for i in climbers)


def _parse(waves: Mapping[int, object] | Sequence[object], n: int) -> list[int | list[float] | None]:
    """Validate ``waves``: per agent an action (int), a weight list, or None (not given)."""
    out: list[int | list[float] | None] = [None] * n
    if not isinstance(waves, list | tuple | np.ndarray) and isinstance(waves, Mapping):
        items = list(waves.items())
        for k, _ in items:
            if (
                type(k) is not int
                and (isinstance(k, bool) or not isinstance(k, np.integer))
                or not 0 <= k < n
            ):
                raise WaveError(
                    f"waves: key {k!r} is not an agent of this world; keys are agent indices 0..{n - 1}"
                )
    else:
        if not isinstance(waves, list | tuple | np.ndarray) and (
            isinstance(waves, str | bytes) or not isinstance(waves, Sequence)
        ):
            raise WaveError(
                f"waves must be a dict {{agent index: wave}} or a sequence of {n} waves, "
                f"got {type(waves).__name__}"
            )
        if len(waves) != n:
            raise WaveError(f"waves: got {len(waves)} waves for {n} agents; give one wave per agent")
        items = list(enumerate(waves))
    vectors = []
    for k, w in items:
        t = type(w)
        if t is int or (t is not np.ndarray and isinstance(w, int | np.integer) and not isinstance(w, bool)):
            if not 0 <= w < N_ACTIONS:
                raise WaveError(f"agent {k}: action {int(w)} is out of range; actions are 0..{N_ACTIONS - 1}")
            out[k] = int(w)
        else:
            vectors.append((int(k), w))
    if 0 < len(vectors) <= 8:  # one numpy check is faster for more
        rest = []
        for k, w in vectors:
            if type(w) is np.ndarray and w.shape == _WAVE_SHAPE and ((dt := w.dtype) is _F64 or dt is _F32):
                row = w.tolist()
                # all >= 0 and a finite positive sum <=> every weight finite and >= 0, not all zero
                if min(row) >= 0.0 and 0.0 < sum(row) < 1e300:
                    out[k] = row
                    continue
            rest.append((k, w))
        vectors = rest  # the numpy check below names the first bad one
    if vectors:
        # one numpy check for all full waves; a bad one is then found and named
        try:
            stack = np.array([w for _, w in vectors], dtype=np.float64)
            # all >= 0 and finite sums <=> every weight finite and >= 0 (NaN fails both)
            bad = stack.shape != (len(vectors), N_ACTIONS) or not (
                stack.min() >= 0 and all(0.0 < t < math.inf for t in stack.sum(axis=1).tolist())
            )
        except (TypeError, ValueError):
            bad = True
        if bad:
            for i, w in vectors:
                _check_wave(i, w)
        for (i, _), row in zip(vectors, stack.tolist(), strict=True):
            out[i] = row
    return out


def _check_wave(i: int, w: object) -> None:
    try:
        arr = np.asarray(w, dtype=np.float64)
    except (TypeError, ValueError):
        raise WaveError(
            f"agent {i}: wave {w!r} is neither an action nor a vector of {N_ACTIONS} weights"
        ) from None
    if arr.shape != (N_ACTIONS,):
        raise WaveError(
            f"agent {i}: wave has shape {arr.shape}; a full wave needs shape ({N_ACTIONS},), "
            "one weight per action"
        )
    if not np.isfinite(arr).all():
        raise WaveError(f"agent {i}: wave holds NaN or infinite weights; weights must be finite")
    if (arr < 0).any():
        raise WaveError(f"agent {i}: wave holds a negative weight; weights must be >= 0")
    if not arr.any():
        raise WaveError(f"agent {i}: wave is all zeros; give at least one positive weight")


def resolve(
    layout: Layout,
    state: State,
    waves: Mapping[int, int | np.ndarray] | Sequence[int | np.ndarray],
    rng: np.random.Generator,
    *,
    mode: Literal["sample", "greedy", "exact"] = "sample",
    following: bool = False,
    eps: float = 1e-3,
    max_backtracks: int = 64,
    frame_: Frame | None = None,
) -> Resolution:
    """Turn the agents' waves into one consistent joint action (see the module docstring).

    ``frame_`` may pass the :class:`~mazesim.world.Frame` of ``state`` if the caller has it.

    ``waves``: a dict ``{agent index: wave}`` (agents left out request ``stay``) or a sequence of
    ``n_agents`` waves; a wave is an action (int) or ``(N_ACTIONS,)`` non-negative finite weights.
    Waves of inactive agents are validated and ignored. ``following``: the scenario rule that
    allows entering a cell whose occupant moves away. ``eps``: the weight of ``stay`` in a
    collapsed wave and the least weight ``stay`` keeps in any wave, in ``(0, 0.5)``.
    ``max_backtracks``: per cluster, before it falls back to staying.

    Returns a :class:`Resolution`; :func:`mazesim.world.apply_joint_action` executes its ``joint``
    exactly (every non-stay action takes effect). Raises :class:`WaveError` on a bad wave, naming
    the agent, and in ``"exact"`` mode :class:`mazesim.wfc.SearchLimitError` for a cluster too big
    to enumerate (use ``"sample"`` for large teams).
    """
    if mode not in _MODES:
        raise WaveError(f"resolve: mode must be one of {_MODES}, got {mode!r}")
    if not 0.0 < eps < 0.5:
        raise WaveError(f"resolve: eps must lie in (0, 0.5), got {eps}")
    n = state.n_agents
    fr = frame_ if frame_ is not None else frame(layout, state)
    if type(waves) is list and len(waves) == n:
        plain = _pass_plain(fr, waves, following)
        if plain is not None:
            return plain
    parsed = _parse(waves, n)
    active = [i for i in range(n) if fr.active[i]]

    requested = [_STAY] * n
    act = [_STAY] * n  # what each agent asks the solver for (legal, or not: then it is substituted)
    full: dict[int, dict[int, float]] = {}  # full waves: legal action -> weight
    totals: dict[int, float] = {}  # sample mode: each full wave's legal total (it is normalised lazily)
    empty: set[int] = set()  # full waves with no legal weight
    legal_of = fr.legal
    sample = mode == "sample"
    for i in active:
        w = parsed[i]
        if w is None:
            continue
        if type(w) is int:
            requested[i] = act[i] = w
            continue
        legal = {a: v for a in legal_of(i) if (v := w[a]) > 0}
        if not legal:
            empty.add(i)
            requested[i] = max(range(N_ACTIONS), key=w.__getitem__)
            continue
        total = sum(legal.values())
        if sample:  # the request is drawn below; the weights are normalised only if a search needs them
            full[i] = legal
            totals[i] = total
        else:
            f = full[i] = {a: v / total for a, v in legal.items()}
            requested[i] = act[i] = max(f, key=f.__getitem__)
    if sample and full:
        draws = rng.random(len(full)).tolist()
        for (i, f), total, u in zip(full.items(), totals.values(), draws, strict=True):
            acc = 0.0
            for a, v in f.items():  # the action at cumulative normalised weight u
                acc += v / total
                if u < acc:
                    requested[i] = act[i] = a
                    break
            else:  # rounding left u at or past the last cumulative weight
                requested[i] = act[i] = a

    checked = mode != "exact" or not full
    if checked and _consistent(fr, active, act, following):
        return _executed(fr.active, act, requested, empty)
    return _resolve_clusters(
        fr, active, requested, act, full, totals, empty, rng, mode, following, eps, max_backtracks, checked
    )


def solo_step(fr: Frame, waves: list, checked: bool = False) -> tuple[list[int], list[int]] | None:
    """A joint action that every live agent can execute alone, as ``(joint, cells)``: the action
    each agent executes (``stay`` for those that have left) and its cell id after the step; None
    for any other ``waves``. :func:`resolve` executes such a ``joint`` exactly as requested, with
    the report of :func:`pass_through`.

    ``waves``: one plain ``int`` action per agent, in index order (an agent that has left stays,
    whatever it asks); ``checked=True`` says the caller has made sure of that and that there is
    exactly one per agent (the environment validates its actions first), so the length, types
    and ranges are not checked again. Every live
    agent's action must be legal where it stands, none a boost or a climb that needs one, no two
    agents may go to one cell and nobody may enter a cell occupied at the start of the step. Such a
    joint action is consistent under either ``following`` rule, so :func:`resolve` passes it
    through unchanged and draws nothing; this is the common step of an environment, and the check
    yields each agent's destination on the way, so the caller need not look them up again.
    ``None`` means only that :func:`resolve` has to decide.
    """
    active, here_of = fr.active, fr.cell
    if not checked:
        if len(waves) != len(active):
            return None
        for a in waves:
            if type(a) is not int or not 0 <= a < N_ACTIONS:
                return None
    step = fr.step
    occ = here_of if fr.everyone else fr.occ  # cells occupied at the start
    cells = list(here_of)
    act = list(waves)
    taken: set[int] = set()
    for i, a in enumerate(waves):
        if a == _STAY:
            continue
        if not active[i]:
            act[i] = _STAY
            continue
        st = step(i, a)
        if st is None:
            return None
        d, target = st
        if target >= 0:
            return None
        here = here_of[i]
        if d != here:
            if d in occ or d in taken or a == _UP and fr.needs_boost(i):
                return None
            taken.add(d)
            cells[i] = d
    return act, cells


def pass_through(active: list[bool], joint: list[int]) -> Resolution:
    """The report of a consistent joint action of plain int actions: ``joint`` executed as
    requested by every live agent (``active``: which agents are live), no solver work."""
    return _executed(active, joint, joint, ())


def _pass_plain(fr: Frame, waves: list, following: bool) -> Resolution | None:
    """The resolution of a list of plain int actions that break no rule (the common case of an
    env step), without the general path's wave parsing; None for anything else."""
    active = fr.active
    act = []
    for i, w in enumerate(waves):
        if type(w) is not int or not 0 <= w < N_ACTIONS:
            return None
        act.append(w if active[i] else _STAY)
    if not _consistent(fr, _tables(active)[0], act, following):
        return None
    return pass_through(active, act)


def _executed(
    active: list[bool], act: list[int], requested: Sequence[int], empty: Collection[int]
) -> Resolution:
    """The resolution that executes ``act`` as it is (a consistent joint action): every live agent
    as it asked, or staying where its wave had no legal weight (``empty``, counted as fallbacks)."""
    _, status, cause, constraint = _tables(active)
    if empty:
        status = tuple(Status.FALLBACK if i in empty else s for i, s in enumerate(status))
    return Resolution(
        np.array(act, dtype=np.int64), tuple(requested), status, cause, constraint, fallbacks=len(empty)
    )


def _tables(active: list[bool]) -> tuple[list[int], tuple[Status, ...], tuple[int, ...], tuple[str, ...]]:
    """Per pattern of active agents (cached): the live agents, everyone live executed and
    the rest inactive, no causes and no constraints."""
    key = tuple(active)
    found = _TABLES.get(key)
    if found is None:
        n = len(key)
        status = tuple(Status.EXECUTED if a else Status.INACTIVE for a in key)
        found = _TABLES[key] = ([i for i in range(n) if key[i]], status, (-1,) * n, ("",) * n)
    return found


_TABLES: dict[tuple[bool, ...], tuple[list[int], tuple[Status, ...], tuple[int, ...], tuple[str, ...]]] = {}


def _domains(
    fr: Frame,
    active: Sequence[int],
    act: Sequence[int],
    full: Mapping[int, Mapping[int, float]],
    totals: Mapping[int, float],
    eps: float,
    following: bool,
) -> tuple[
    dict[int, dict[int, float]],
    dict[int, dict[int, tuple[int, int]]],
    set[int],
    set[int],
    dict[int, list[tuple[int, int]]] | None,
]:
    """Each agent's wave over legal actions (``full[i]`` divided by ``totals[i]`` where given, stay
    floored at ``eps``), the legal actions' steps,
    the agents whose cooperative request was removed because no partner offered the other half,
    the agents that may take part in a binding (offered a boost, or may climb with one), and
    without following, the moves left in the waves by destination (``{cell: [(agent, action)]}``).

    Without following, moves into occupied cells can never happen, so they leave the waves here:
    that keeps clusters small and lets plain movement resolve without search.
    """
    cell, occ, legal_of = fr.cell, fr.occ, fr.legal
    dom: dict[int, dict[int, float]] = {}
    step: dict[int, dict[int, tuple[int, int]]] = {}
    offers: dict[int, int] = {}  # bindings offered (judged on the waves as given): target -> count
    boosters = []
    moves: dict[int, list[tuple[int, int]]] | None = None if following else {}
    for i in active:
        legal = step[i] = legal_of(i)
        here = cell[i]
        f = full.get(i)
        a = act[i]
        # stay comes first: it is action 0 and always legal
        if f is not None:
            t = totals.get(i, 1.0)
            w = f.get(_STAY, 0.0) / t
            d = {_STAY: eps if eps > w else w}
            for b, w in f.items():  # in action order, like legal
                if b == _STAY:
                    continue
                dest, target = legal[b]
                if following or dest == here or dest not in occ:
                    d[b] = w / t
                    if target >= 0:
                        offers[target] = offers.get(target, 0) + 1
                        boosters.append(i)
                    elif moves is not None and dest != here:
                        moves.setdefault(dest, []).append((i, b))
        elif a != _STAY and a in legal:
            d = {_STAY: eps}
            dest, target = legal[a]
            if following or dest == here or dest not in occ:
                d[a] = 1.0 - eps
                if target >= 0:
                    offers[target] = offers.get(target, 0) + 1
                    boosters.append(i)
                elif moves is not None and dest != here:
                    moves.setdefault(dest, []).append((i, a))
        else:
            d = {_STAY: 1.0}
        dom[i] = d
    unbound: set[int] = set()
    checked = set(boosters)
    for i in active:
        d = dom[i]
        if i in checked:
            si = step[i]
            for a in [a for a in d if si[a][1] >= 0]:
                j = occ.get(si[a][1])
                if j is None or _UP not in dom[j]:
                    del d[a]
                    if a == act[i]:
                        unbound.add(i)
        if _UP in d and fr.needs_boost(i):
            if not offers.get(cell[i]):
                del d[_UP]
                if moves is not None:
                    moves[step[i][_UP][0]].remove((i, _UP))
                if act[i] == _UP:
                    unbound.add(i)
            else:
                checked.add(i)
    return dom, step, unbound, checked, moves


def _clusters(
    fr: Frame,
    active: Sequence[int],
    step: Mapping[int, Mapping[int, tuple[int, int]]],
    dom,
    binding: set[int],
    moves: Mapping[int, list[tuple[int, int]]] | None,
) -> list[list[int]]:
    """Groups of agents that can interact (share a cell they may touch), ordered by lowest member.

    Without following (``moves`` given) no wave enters an occupied cell, so agents meet only in a
    free cell two of them may move to, or through a boost (at the climber's cell).
    """
    parent = list(range(fr.n))
    cell = fr.cell
    seen: dict[int, int] = {}
    if moves is not None:
        links = [(entries[0][0], j) for entries in moves.values() for j, _ in entries[1:]]
        for i in binding:
            si = step[i]
            links += [(i, fr.occ[t]) for a in dom[i] if (t := si[a][1]) >= 0]
    else:
        for i in active:
            seen[cell[i]] = i  # cells of different agents differ
        links = []
        for i in active:
            si = step[i]
            for a in dom[i]:
                d, target = si[a]
                for c in (d, target) if target >= 0 else (d,):
                    j = seen.setdefault(c, i)
                    if j != i:
                        links.append((i, j))
    for i, j in links:
        while parent[i] != i:
            i = parent[i]  # noqa: PLW2901
        while parent[j] != j:
            j = parent[j]  # noqa: PLW2901
        if i < j:
            parent[j] = i
        elif j < i:
            parent[i] = j
    groups: dict[int, list[int]] = {}
    for i in active:
        r = i
        while parent[r] != r:
            r = parent[r]
        groups.setdefault(r, []).append(i)
    return list(groups.values())


def _resolve_clusters(
    fr: Frame,
    active: list[int],
    requested: list[int],
    act: list[int],
    full: dict[int, dict[int, float]],
    totals: dict[int, float],
    empty: set[int],
    rng: np.random.Generator,
    mode: str,
    following: bool,
    eps: float,
    max_backtracks: int,
    inconsistent: bool,
) -> Resolution:
    """Solve the clusters; ``inconsistent``: the whole requested joint action is known to break a rule."""
    n = fr.n
    dom, step, unbound, binding, moves = _domains(fr, active, act, full, totals, eps, following)
    joint = [_STAY] * n
    fell_back: set[int] = set()
    choices = removals = backtracks = solved = 0
    groups = _clusters(fr, active, step, dom, binding, moves)
    crowded: list[list[list[tuple[int, int]]]] | None = None  # per group: moves into one cell
    for g, group in enumerate(groups):
        # one cluster is the whole team, whose requests were just found inconsistent
        passes = (
            not (inconsistent and len(groups) == 1)
            and all(act[i] in dom[i] for i in group)
            and _consistent(fr, group, act, following)
        )
        if passes and (mode != "exact" or not any(i in full for i in group)):
            for i in group:
                joint[i] = act[i]
            continue
        if all(len(dom[i]) == 1 for i in group):  # decided already (everyone's last option: stay)
            for i in group:
                joint[i] = next(iter(dom[i]))
            continue
        solved += 1
        if max_backtracks < 0 and mode != "exact":
            raise WaveError(f"solve: max_backtracks must be >= 0, got {max_backtracks}")
        if mode != "exact" and not following and binding.isdisjoint(group):
            # plain movement: staying excludes nothing, so the solver needs no search (DESIGN.md 5)
            if crowded is None:
                where = {i: h for h, members in enumerate(groups) for i in members}
                crowded = [[] for _ in groups]
                for entries in moves.values():  # type: ignore[union-attr]
                    if len(entries) > 1:
                        crowded[where[entries[0][0]]].append(entries)
            vals, wts, pref, clash = _moves(group, act, dom, crowded[g])
            found, made, removed = wfc._run_universal(wts, pref, clash, rng, mode)
            choices += made
            removals += removed
            for i, k, vs in zip(group, found, vals, strict=True):
                joint[i] = vs[k]
            continue
        eng = _engine(fr, group, act, dom, step, following)
        if mode == "exact":
            assignment = _sample_exact(eng, group, dom, rng)
            for i in group:
                joint[i] = assignment[i]
            continue
        found, made, undone = wfc._run(eng, rng, mode, max_backtracks)
        choices += len(made)
        removals += len(eng.log)
        backtracks += undone
        if found is None:  # everyone staying is always consistent
            fell_back.update(i for i in group if act[i] != _STAY)
            for i in group:
                joint[i] = _STAY
        else:
            for i, k, vs in zip(group, found, eng.vals, strict=True):
                joint[i] = vs[k]

    status = [Status.INACTIVE] * n
    cause = [-1] * n
    constraint = [""] * n
    fallbacks = 0
    ends: dict[int, int] | None = None  # executed destination -> agent (one per cell), for _blame
    for i in active:
        if i in empty or i in fell_back:
            status[i] = Status.FALLBACK
            fallbacks += 1
        elif joint[i] == act[i]:
            status[i] = Status.EXECUTED
        elif act[i] not in step[i]:
            status[i], constraint[i] = Status.SUBSTITUTED, TERRAIN
        elif i in unbound:
            status[i], constraint[i] = Status.UNBOUND, BINDING
        else:
            status[i] = Status.SUBSTITUTED
            if ends is None:
                ends = {}
                for j in fr.occ.values():
                    ends.setdefault(step[j][joint[j]][0], j)
            cause[i], constraint[i] = _blame(fr, i, act[i], joint, step, dom, following, ends)
    return Resolution(
        np.array(joint, dtype=np.int64),
        tuple(requested),
        tuple(status),
        tuple(cause),
        tuple(constraint),
        choices,
        removals,
        backtracks,
        fallbacks,
        solved,
    )


def _engine(
    fr: Frame,
    group: Sequence[int],
    act: Sequence[int],
    dom: Mapping[int, Mapping[int, float]],
    step: Mapping[int, Mapping[int, tuple[int, int]]],
    following: bool,
) -> wfc._Engine:
    """The solver's tables for one cluster, built in one go (variable ``x`` is agent ``group[x]``,
    its values are ``dom[agent]``'s actions; constraints go straight into bitmasks)."""
    cell, occ = fr.cell, fr.occ
    vals = [tuple(dom[i]) for i in group]
    forbid: list[dict[int, list[int]]] = [{} for _ in group]

    def ban(x: int, k: int, y: int, m: int) -> None:
        fxy = forbid[x].get(y)
        if fxy is None:
            fxy = forbid[x][y] = [0] * len(vals[x])
            forbid[y][x] = [0] * len(vals[y])
        fxy[k] |= 1 << m
        forbid[y][x][m] |= 1 << k

    by_dest: dict[int, list[tuple[int, int]]] = {}
    offers: dict[int, list[tuple[int, int]]] = {}
    pos: dict[int, int] = {}
    for x, i in enumerate(group):
        si = step[i]
        here = cell[i]
        for k, a in enumerate(vals[x]):
            d, target = si[a]
            if d != here or following:  # without following nobody else may enter an occupied cell
                by_dest.setdefault(d, []).append((x, k))
            if target >= 0 or (following and d != here and d in occ):
                if not pos:
                    pos = {i: x for x, i in enumerate(group)}
                if target >= 0:
                    y = pos[occ[target]]
                    offers.setdefault(target, []).append((x, 1 << k))
                    for m, b in enumerate(vals[y]):
                        if b != _UP:
                            ban(x, k, y, m)
                else:  # without following, _domains removed these
                    j = occ[d]
                    y, sj = pos[j], step[j]
                    for m, b in enumerate(vals[y]):
                        if sj[b][0] == cell[j] or sj[b][0] == here:
                            ban(x, k, y, m)
    for entries in by_dest.values():
        if len(entries) > 1:
            for e, (x, k) in enumerate(entries):
                for y, m in entries[e + 1 :]:
                    if x != y:
                        ban(x, k, y, m)
    supports = [
        (x, 1 << vals[x].index(_UP), tuple(offers.get(cell[i], ())), BINDING)
        for x, i in enumerate(group)
        if _UP in dom[i] and fr.needs_boost(i)
    ]
    pref = [vals[x].index(act[i]) if act[i] in dom[i] else -1 for x, i in enumerate(group)]
    return wfc._Engine(group, vals, [list(dom[i].values()) for i in group], pref, forbid, None, supports)


def _moves(
    group: Sequence[int],
    act: Sequence[int],
    dom: Mapping[int, Mapping[int, float]],
    crowded: Sequence[Sequence[tuple[int, int]]],
) -> tuple[list[tuple[int, ...]], list[list[float]], list[int], dict[tuple[int, int], list[tuple[int, int]]]]:
    """Values, weights, preferred values and clashes (see :func:`mazesim.wfc._run_universal`) of a
    cluster without following and without bindings, where the only constraint is one agent per
    cell: ``crowded`` lists the ``(agent, action)`` moves into each cell that several may enter."""
    doms = [dom[i] for i in group]
    vals = [tuple(d) for d in doms]
    pref = []
    for v, i in zip(vals, group, strict=True):
        a = act[i]
        pref.append(v.index(a) if a in v else -1)
    # variable x is agent group[x]; a cluster that is agents 0..len-1 (often the whole team) needs no map
    pos = None if group[-1] == len(group) - 1 else {i: x for x, i in enumerate(group)}
    clash = {}
    for entries in crowded:
        if pos is None:
            xk = [(i, vals[i].index(a)) for i, a in entries]
        else:
            xk = [(x, vals[x].index(a)) for x, a in [(pos[i], a) for i, a in entries]]
        if len(xk) == 2:  # the usual case: two agents want one cell
            e, f = xk
            clash[e] = [f]
            clash[f] = [e]
        else:
            for e in xk:
                clash[e] = [f for f in xk if f is not e]  # one entry per agent
    return vals, [list(d.values()) for d in doms], pref, clash


def _sample_exact(eng: wfc._Engine, group: Sequence[int], dom, rng: np.random.Generator) -> dict:
    found = list(wfc._solutions(eng, 200_000))
    weights = [math.prod(dom[i][s[i]] for i in group) for s in found]
    u = rng.random() * sum(weights)
    acc = 0.0
    for s, w in zip(found, weights, strict=True):
        acc += w
        if u < acc:
            return s
    return found[-1]


def _blame(
    fr: Frame,
    i: int,
    a: int,
    joint: Sequence[int],
    step: Mapping[int, Mapping[int, tuple[int, int]]],
    dom: Mapping[int, Mapping[int, float]],
    following: bool,
    ends: Mapping[int, int],
) -> tuple[int, str]:
    """The agent whose executed action rules out ``a`` for agent ``i``, and the rule's name
    (``ends``: the executed joint action's destination cells -> agent)."""
    cell, occ = fr.cell, fr.occ
    d, target = step[i][a]
    if d != cell[i] and d in occ:
        j = occ[d]
        dj = step[j][joint[j]][0]
        if not following:
            return j, OCCUPIED
        if dj == cell[j]:
            return j, FOLLOWING
        if dj == cell[i]:
            return j, NO_SWAP
    j = ends.get(d, i)
    if j != i:
        return j, ONE_PER_CELL
    if target >= 0:
        return occ[target], BINDING
    if a == _UP and fr.needs_boost(i):
        partners = [j for j in occ.values() if any(step[j][b][1] == cell[i] for b in dom[j])]
        return min(partners, default=-1), BINDING
    mine = step[i][joint[i]][1]
    if mine >= 0 and mine != target:  # i is the last booster a climber has: the climb holds i to it
        j = occ[mine]
        if fr.needs_boost(j) and [k for k in occ.values() if step[k][joint[k]][1] == mine] == [i]:
            return j, BINDING
    if joint[i] == _UP:  # a partner's boost toward i holds i to its climb
        boosters = [k for k in occ.values() if step[k][joint[k]][1] == cell[i]]
        if boosters:
            return min(boosters), BINDING
    return -1, SEARCH


def is_consistent(
    layout: Layout, state: State, joint: Sequence[int] | np.ndarray, *, following: bool = False
) -> bool:
    """Whether ``joint`` (``(n_agents,)`` actions; inactive agents ignored) breaks no rule.

    Equivalently: :func:`mazesim.world.apply_joint_action` executes every action of it.
    """
    fr = frame(layout, state)
    act = [int(a) for a in joint]
    if len(act) != fr.n:
        raise WaveError(f"is_consistent: got {len(act)} actions for {fr.n} agents")
    return _consistent(fr, [i for i in range(fr.n) if fr.active[i]], act, following)


def consistent_joint_actions(
    layout: Layout, state: State, *, following: bool = False, max_nodes: int = 200_000
) -> Iterator[tuple[int, ...]]:
    """Every consistent joint action (a generator of ``n_agents``-tuples; inactive agents stay).

    Exhaustive, so only for small teams; raises :class:`mazesim.wfc.SearchLimitError` past
    ``max_nodes`` search nodes.
    """
    fr = frame(layout, state)
    active = [i for i in range(fr.n) if fr.active[i]]
    uniform = {i: dict.fromkeys(fr.legal(i), 1.0) for i in active}
    dom, step, _, _, _ = _domains(fr, active, [_STAY] * fr.n, uniform, {}, 1.0, following)
    eng = _engine(fr, active, [_STAY] * fr.n, dom, step, following)
    for s in wfc._solutions(eng, max_nodes):
        out = [_STAY] * fr.n
        for i in active:
            out[i] = int(s[i])  # type: ignore[arg-type]
        yield tuple(out)
