"""The trust ledger: Beta counts per ordered pair of agents, turned into trust in [0, 1].

The ledger is a plain ``(n, n, 2)`` float64 array, exactly the world's ``State.trust``:
``counts[i, j] = (kept, not kept)`` for promises by agent ``i`` as assessed by agent ``j``.
Trust of ``j`` in ``i`` is the Beta posterior mean ``kept / (kept + not kept)``; the prior is
``(1, 1)`` (trust 0.5). With a forgetting rate ``f`` every count first decays toward the prior,
``c <- 1 + (1 - f) (c - 1)``, then the step's evidence is added.

Who assesses what (evidence added by :func:`update_trust` for one assessment of a promise by
agent ``i``; ``p`` is the promisee when it is an agent; "others" are the other agents active at
the start of the step):

==========================================  ==========  ============================================
promise by ``i``                            outcome     evidence
==========================================  ==========  ============================================
``+stay`` to the team                       kept        none (staying promises nothing to rely on)
solitary ``+`` to the team (move, climb,    kept        ``counts[i, j, kept] += 1`` for each other
descend, interact)                                      active agent ``j``
cooperative half (``+boost``/``-boost``)    kept        ``counts[i, p, kept] += 1`` (the partner
to partner ``p``                                        assesses it)
cooperative half to partner ``p``           unbound     ``counts[p, i, not kept] += 1``: the partner
                                                        did not make the matching half; ``i``
                                                        assesses ``p``, ``i`` is not blamed
cooperative half to the team (no partner)   any         none (nobody to assess or blame)
any promise                                 withdrawn   none: the solver, not the agent, broke it,
                                                        and the agent it yielded to promised
                                                        nothing to ``i``
==========================================  ==========  ============================================

Agents that are not active (left the maze) neither assess nor are blamed.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import Enum

import numpy as np

from promises.assessment import Assessment, Outcome
from promises.model import TEAM, Promise


class TrustError(ValueError):
    """A trust ledger of the wrong shape, or a forgetting rate outside [0, 1]."""


def new_counts(n_agents: int) -> np.ndarray:
    """A fresh ledger: ``(n_agents, n_agents, 2)`` float64 filled with the prior ``(1, 1)``.

    >>> new_counts(2).shape
    (2, 2, 2)
    """
    return np.ones((n_agents, n_agents, 2), dtype=np.float64)


def _check(counts: np.ndarray, forgetting: float) -> None:
    shape = counts.shape
    if len(shape) != 3 or shape[0] != shape[1] or shape[2] != 2:
        raise TrustError(
            f"trust counts must have shape (n_agents, n_agents, 2), got {shape}; "
            f"build them with new_counts(n_agents)"
        )
    if not 0.0 <= forgetting <= 1.0:
        raise TrustError(f"forgetting rate must be in [0, 1], got {forgetting}; 0 keeps all evidence")


def update_trust(
    counts: np.ndarray,
    assessments: Sequence[Assessment],
    *,
    active: Sequence[bool] | np.ndarray | None = None,
    forgetting: float = 0.0,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Add one step's evidence (table in the module docstring) to the Beta counts.

    ``counts``: ``(n, n, 2)`` float64; ``active``: ``(n,)`` bool, the agents active at the start
    of the step (default: all); ``out``: where to write (may be ``counts`` itself for an
    in-place update); by default a new array is returned and ``counts`` is left untouched.

    >>> from promises.assessment import Resolution, assess_step
    >>> step = assess_step([Resolution(0, 4, 4), Resolution(1, 8, 0, unbound=True, partner=2)])
    >>> c = update_trust(new_counts(3), step)
    >>> c[0, 1].tolist(), c[0, 2].tolist(), c[2, 1].tolist()
    ([2.0, 1.0], [2.0, 1.0], [1.0, 2.0])
    """
    _check(counts, forgetting)
    n = counts.shape[0]
    live = (
        (True,) * n
        if active is None
        else tuple(active.tolist() if isinstance(active, np.ndarray) else active)
    )
    if len(live) != n:
        raise TrustError(f"active must have one entry per agent ({n}), got {len(live)}")
    if out is None:
        out = np.array(counts, dtype=np.float64, order="C")
    else:
        if out.dtype != np.float64 or not out.flags.c_contiguous or out.shape != counts.shape:
            raise TrustError(
                f"out must be a C-contiguous float64 array of shape {counts.shape}, got "
                f"{out.dtype} {out.shape}; pass counts itself (e.g. state.trust) or leave out=None"
            )
        if out is not counts:
            out[...] = counts
    if forgetting:
        # 1 + (1 - f)(c - 1) == (1 - f) c + f: decay toward the prior (1, 1).
        np.multiply(out, 1.0 - forgetting, out=out)
        np.add(out, forgetting, out=out)
    add_evidence(out, assessments, live)
    return out


def add_evidence(counts: np.ndarray, assessments: Sequence[Assessment], live: tuple[bool, ...]) -> None:
    """The unchecked core of :func:`update_trust`: add one step's evidence to ``counts`` in place.

    ``counts`` must be a C-contiguous ``(n, n, 2)`` float64 array and ``live`` a tuple of ``n``
    bools; for callers (the environment's step) that own a valid ledger and call this every step.
    """
    n = len(live)
    # Counts are written through a flat memoryview of the array: a few sparse increments per
    # step cost far less this way than one numpy call each.
    flat = counts.data.cast("B").cast("d")
    for a in assessments:
        promise = a[0]
        kind = _KINDS.get(promise)
        if kind is None:
            kind = _KINDS[promise] = _evidence_kind(promise)
        if kind is _Kind.NONE:
            continue
        outcome = a[1]
        if outcome is Outcome.KEPT:
            if kind is _Kind.TEAM:
                for k in _team_offsets(live)[promise.promiser]:
                    flat[k] += 1.0
            elif live[promise.promisee]:
                flat[2 * (promise.promiser * n + promise.promisee)] += 1.0
        elif outcome is Outcome.UNBOUND and kind is _Kind.PARTNER and live[promise.promisee]:
            flat[2 * (promise.promisee * n + promise.promiser) + 1] += 1.0


class _Kind(Enum):
    NONE = 0  # no evidence
    TEAM = 1  # kept: every other active agent assesses it
    PARTNER = 2  # kept: the promisee assesses it; unbound: counts against the promisee


_KINDS: dict[Promise, _Kind] = {}
_OFFSETS: dict[tuple[bool, ...], tuple[tuple[int, ...], ...]] = {}


def _evidence_kind(promise: Promise) -> _Kind:
    if promise.body.type == "stay":
        return _Kind.NONE
    if promise.promisee != TEAM:
        return _Kind.PARTNER
    return _Kind.NONE if promise.cooperative else _Kind.TEAM


def _team_offsets(live: tuple[bool, ...]) -> tuple[tuple[int, ...], ...]:
    """For each promiser ``i``: the flat offsets of ``counts[i, j, kept]`` for its assessors ``j``."""
    found = _OFFSETS.get(live)
    if found is None:
        n = len(live)
        found = tuple(tuple(2 * (i * n + j) for j in range(n) if j != i and live[j]) for i in range(n))
        _OFFSETS[live] = found
    return found


def trust_matrix(counts: np.ndarray) -> np.ndarray:
    """``(n, n)`` float64: ``T[i, j]`` is agent ``j``'s trust in agent ``i``'s promises, in [0, 1].

    >>> trust_matrix(new_counts(2)).tolist()
    [[0.5, 0.5], [0.5, 0.5]]
    """
    return counts[..., 0] / (counts[..., 0] + counts[..., 1])


def trust_in(counts: np.ndarray, observer: int, agents: Sequence[int] | np.ndarray) -> np.ndarray:
    """``(len(agents),)`` float64: ``observer``'s trust in each of ``agents`` (for observations).

    >>> c = new_counts(3)
    >>> c[2, 0] = (3.0, 1.0)
    >>> trust_in(c, 0, [1, 2]).tolist()
    [0.5, 0.75]
    """
    c = counts[np.asarray(agents, dtype=np.intp), observer]
    return c[:, 0] / (c[:, 0] + c[:, 1])


class TrustLedger:
    """A trust ledger wrapping a ``(n, n, 2)`` counts array (for example ``state.trust``).

    :meth:`update` writes into the wrapped array in place; ``forgetting`` is applied at each
    update.

    >>> from promises.assessment import Resolution, assess_step
    >>> ledger = TrustLedger(new_counts(2), forgetting=0.5)
    >>> ledger.update(assess_step([Resolution(0, 4, 4), Resolution(1, 0, 0)]))
    >>> ledger.trust().round(3).tolist()
    [[0.5, 0.667], [0.5, 0.5]]
    """

    def __init__(self, counts: np.ndarray, forgetting: float = 0.0) -> None:
        _check(counts, forgetting)
        self.counts = counts
        self.forgetting = forgetting

    @property
    def n_agents(self) -> int:
        """How many agents the ledger covers."""
        return self.counts.shape[0]

    def update(
        self, assessments: Sequence[Assessment], active: Sequence[bool] | np.ndarray | None = None
    ) -> None:
        """Add one step's evidence in place (see :func:`update_trust`)."""
        update_trust(self.counts, assessments, active=active, forgetting=self.forgetting, out=self.counts)

    def trust(self) -> np.ndarray:
        """``(n, n)`` float64 trust matrix (see :func:`trust_matrix`)."""
        return trust_matrix(self.counts)

    def trust_in(self, observer: int, agents: Sequence[int] | np.ndarray) -> np.ndarray:
        """``(len(agents),)`` float64 trust of ``observer`` in ``agents`` (see :func:`trust_in`)."""
        return trust_in(self.counts, observer, agents)
