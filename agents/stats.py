"""Statistics across training seeds: interquartile mean, stratified bootstrap intervals, probability
of improvement — the protocol of Agarwal et al. 2021, "Deep RL at the Edge of the Statistical
Precipice" (the ``rliable`` library).

Scores are arrays of shape ``(runs, tasks)``: one row per training seed, one column per task
(here: per scenario); a 1-D array is one task. ``rliable`` itself is not used: it needs ``arch``
< 8, whose 7.x releases fail to import with pandas 3. The same estimators are built from
``scipy.stats`` (:func:`~scipy.stats.trim_mean`, :func:`~scipy.stats.bootstrap`,
:func:`~scipy.stats.mannwhitneyu`):

* **IQM** — the mean of the middle 50 % of all ``runs × tasks`` scores pooled
  (``trim_mean(scores, 0.25)``: a quarter is cut from each end, rounding the cut down, as rliable
  does); 1..8 → mean(3, 4, 5, 6) = 4.5.
* **Stratified bootstrap** — each task's runs are resampled with replacement separately (tasks are
  strata), the statistic recomputed; the interval is the percentile interval of those replicates
  (rliable's default method).
* **Probability of improvement** ``P(X > Y)`` — for each task, the Mann-Whitney ``U`` of X's runs
  against Y's divided by the number of pairs, i.e. ``P(X > Y) + ½ P(X = Y)`` for one run of each
  drawn at random; averaged over tasks.

>>> import numpy as np
>>> iqm(np.arange(1.0, 9.0))
4.5
>>> probability_of_improvement([1.0, 2.0, 3.0], [2.0, 2.0])
0.5
>>> ci = iqm_interval(np.arange(20.0), np.random.default_rng(0))
>>> bool(ci.low <= ci.point <= ci.high), ci.runs
(True, 20)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

#: Bootstrap replicates (rliable's examples use 2 000 for intervals shown in papers).
RESAMPLES = 2000


class StatsError(ValueError):
    """Scores that the estimators cannot use (empty, NaN, mismatched tasks)."""


@dataclass(frozen=True)
class Interval:
    """A point estimate with its confidence interval ``[low, high]`` from ``runs`` runs per task
    (the smallest count if tasks differ)."""

    point: float
    low: float
    high: float
    runs: int

    def __str__(self) -> str:
        return f"{self.point:.3f} [{self.low:.3f}, {self.high:.3f}]"


def _as_tasks(scores: Sequence[float] | np.ndarray, name: str = "scores") -> list[np.ndarray]:
    """``scores`` ``(runs,)`` or ``(runs, tasks)`` → one 1-D float array per task."""
    a = np.asarray(scores, dtype=np.float64)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2 or a.shape[0] == 0 or a.shape[1] == 0:
        raise StatsError(f"{name} must have shape (runs,) or (runs, tasks) with runs >= 1, got {a.shape}")
    if not np.isfinite(a).all():
        raise StatsError(f"{name} contain NaN or inf; drop the runs whose metric is undefined first")
    return [a[:, t] for t in range(a.shape[1])]


def _iqm_of(*tasks: np.ndarray, axis: int = -1) -> np.ndarray:
    return stats.trim_mean(np.concatenate(tasks, axis=axis), 0.25, axis=axis)


def iqm(scores: Sequence[float] | np.ndarray) -> float:
    """Interquartile mean of all scores pooled; ``scores`` ``(runs,)`` or ``(runs, tasks)``.

    >>> iqm([[0.0, 1.0], [0.5, 0.5], [0.2, 100.0], [0.3, 0.4]])  # middle four of eight: .3 .4 .5 .5
    0.425
    """
    return float(_iqm_of(*_as_tasks(scores)))


def _interval(statistic, samples: list[np.ndarray], rng, confidence: float, resamples: int) -> Interval:
    point = float(statistic(*samples))
    runs = min(len(s) for s in samples)
    if all(np.ptp(s) == 0 for s in samples):
        # every resample equals the data: the interval is the point (scipy would warn and give NaN)
        return Interval(point, point, point, runs)
    fixed = {k: s for k, s in enumerate(samples) if len(s) < 2}
    n = len(samples)
    if fixed:
        # a one-run sample (a deterministic baseline) has nothing to resample; scipy refuses it, so
        # it is held as it is and only the others are resampled
        varying = [s for s in samples if len(s) >= 2]
        inner = statistic

        def statistic(*resampled: np.ndarray, axis: int = -1) -> np.ndarray:
            lead = resampled[0].shape[:-1]
            it = iter(resampled)
            full = [np.broadcast_to(fixed[k], (*lead, 1)) if k in fixed else next(it) for k in range(n)]
            return inner(*full, axis=axis)

        samples = varying
    res = stats.bootstrap(
        tuple(samples),
        statistic,
        n_resamples=resamples,
        confidence_level=confidence,
        method="percentile",
        vectorized=True,
        rng=rng,
    )
    return Interval(point, float(res.confidence_interval.low), float(res.confidence_interval.high), runs)


def iqm_interval(
    scores: Sequence[float] | np.ndarray,
    rng: np.random.Generator,
    *,
    confidence: float = 0.95,
    resamples: int = RESAMPLES,
) -> Interval:
    """IQM of ``scores`` ``(runs,)`` or ``(runs, tasks)`` with a stratified-bootstrap percentile
    interval (each task's runs resampled separately) drawn with ``rng``.

    >>> ci = iqm_interval([0.2, 0.4, 0.4, 0.6, 0.9], np.random.default_rng(0), resamples=500)
    >>> round(ci.point, 4), ci.low < ci.point < ci.high
    (0.4667, True)
    """
    return _interval(_iqm_of, _as_tasks(scores), rng, confidence, resamples)


def _poi_of(*samples: np.ndarray, axis: int = -1) -> np.ndarray:
    half = len(samples) // 2
    per_task = []
    for x, y in zip(samples[:half], samples[half:], strict=True):
        u = stats.mannwhitneyu(x, y, axis=axis, alternative="greater", method="asymptotic").statistic
        per_task.append(u / (x.shape[axis] * y.shape[axis]))
    return np.mean(per_task, axis=0)


def _pair(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray) -> list[np.ndarray]:
    xs, ys = _as_tasks(x, "x"), _as_tasks(y, "y")
    if len(xs) != len(ys):
        raise StatsError(f"x has {len(xs)} tasks and y has {len(ys)}; compare methods on the same tasks")
    return xs + ys


def probability_of_improvement(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray) -> float:
    """``P(X > Y) + ½ P(X = Y)`` for a random run of method X against one of Y, averaged over tasks;
    ``x`` ``(runs_x,)`` or ``(runs_x, tasks)``, ``y`` ``(runs_y,)`` or ``(runs_y, tasks)``.

    >>> probability_of_improvement([3.0, 4.0], [1.0, 2.0]), probability_of_improvement([1.0], [1.0])
    (1.0, 0.5)
    """
    return float(_poi_of(*_pair(x, y)))


def probability_of_improvement_interval(
    x: Sequence[float] | np.ndarray,
    y: Sequence[float] | np.ndarray,
    rng: np.random.Generator,
    *,
    confidence: float = 0.95,
    resamples: int = RESAMPLES,
) -> Interval:
    """:func:`probability_of_improvement` with a stratified-bootstrap percentile interval (the runs
    of each method on each task resampled separately)."""
    return _interval(_poi_of, _pair(x, y), rng, confidence, resamples)
