"""From the solver's report to the step's promises: assessments, trust, and the compact infos.

The resolver (:mod:`mazesim.resolver`) says, per agent, what it requested, what it executes,
and why a request was substituted; :mod:`promises` turns that into promises (arrow notation),
assessments (kept / withdrawn / unbound) and trust evidence. This module is the glue, so that
neither package knows the other.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

import promises
from mazesim.resolver import Resolution as SolverReport
from mazesim.resolver import Status, pass_through
from mazesim.world import BOOSTS, DELTA, Action, Frame, Layout, Rules, State, frame
from promises.trust import add_evidence

_BOOSTS = frozenset(int(b) for b in BOOSTS)
_UP = int(Action.UP)
_UNBOUND = Status.UNBOUND
_Resolution = promises.Resolution
#: where a booster stands relative to the climber for each boost (checked in this order)
_BOOSTER_AT = tuple(((-int(DELTA[b][1]), -int(DELTA[b][2])), int(b)) for b in BOOSTS)


def resolutions(
    layout: Layout, state: State, report: SolverReport, fr: Frame | None = None
) -> list[promises.Resolution]:
    """One :class:`promises.Resolution` per agent active at the start of the step.

    ``state`` is the state *before* the step (``fr`` its :class:`~mazesim.world.Frame`, if the
    caller has it). ``partner`` is the other agent of a cooperative half: for a boost, the agent
    on the target cell; for a climb, the agent actually boosting it, else the first adjacent agent
    that could have.
    """
    fr = fr if fr is not None else frame(layout, state)
    rules, occ, cell = fr.rules, fr.occ, fr.cell
    joint = report.joint.tolist()
    rows = zip(
        fr.active, report.requested, joint, report.cause, report.constraint, report.status, strict=True
    )
    out = []
    for i, (active, requested, executed, cause, constraint, status) in enumerate(rows):
        if not active:
            continue
        partner = None
        climb = False
        if requested in _BOOSTS:
            target = rules.opts[cell[i]].get(requested)
            partner = occ.get(target[3]) if target is not None else None
        elif requested == _UP and fr.needs_boost(i):
            climb = True
            l, r, c = rules.coords[cell[i]]
            candidates = []
            for (dr, dc), boost in _BOOSTER_AT:
                j = occ.get(rules.cell_id((l, r + dr, c + dc))) if _inside(rules, l, r + dr, c + dc) else None
                if j is not None:
                    candidates.append(j)
                    if joint[j] == boost:
                        partner = j
                        break
            if partner is None and candidates:
                partner = min(candidates)
        out.append(
            _Resolution(
                i,
                requested,
                executed,
                cause if cause >= 0 else None,
                constraint or None,
                status is _UNBOUND,
                partner,
                climb,
            )
        )
    return out


def _inside(rules: Rules, l: int, r: int, c: int) -> bool:
    _, rows, cols = rules.shape
    return 0 <= r < rows and 0 <= c < cols


_REASONS: dict[tuple, str] = {}
#: assessments are interned by the promises package, so each agent-info dict is built once
_AGENT_INFOS: dict[promises.Assessment, dict] = {}


def reason(info: dict) -> str:
    """A readable reason for an agent's outcome (cached: a few distinct strings per episode)."""
    key = (info["outcome"], info.get("constraint"), info.get("because_of"))
    text = _REASONS.get(key)
    if text is None:
        outcome, what, who = key
        if outcome == "kept":
            text = "kept"
        elif outcome == "unbound":
            text = "no partner made the matching half of the binding"
        else:
            text = f"withdrawn by the solver ({what or 'solver'}" + (
                f", because of agent_{who})" if who is not None else ")"
            )
        _REASONS[key] = text
    return text


_EXECUTED = Status.EXECUTED
#: (agent, action) -> the interned assessment of a solitary promise kept as made
_KEPT: dict[tuple[int, int], promises.Assessment] = {}


class _Plain(NamedTuple):
    """What a plain step (every live agent kept a solitary promise) adds up to, for reuse."""

    assessments: tuple[promises.Assessment, ...]
    per_agent: dict[int, dict]
    bindings: tuple[tuple[int, int], ...]
    evidence: np.ndarray | None  # (n, n, 2) increments of the trust counts; None: no evidence


#: (requested, status, active) of a plain step -> its cached outcome. A plain step's assessments
#: depend on nothing else, so a random walk repeats a few hundred keys. Bounded only as a guard.
_PLAIN: dict[tuple, _Plain] = {}
_PLAIN_LIMIT = 1 << 12
#: (joint, active) of a solo step -> its plain outcome (the same entries as ``_PLAIN``, keyed
#: without the statuses, which a solo step's ``active`` decides) and its solver counters (none)
_SOLO: dict[tuple, tuple[_Plain, dict]] = {}


def _plain(requested: tuple[int, ...], status: tuple[Status, ...], active: tuple[bool, ...]) -> _Plain | None:
    """The outcome of a plain step: every live agent executed its own request, and none of them
    boosts (``up`` is then never a climb on a partner's boost, which would need one). Such a
    step's assessments are solitary promises kept as made, so they depend on nothing but these
    three tuples and are cached; None for any other step."""
    key = (requested, status, active)
    plain = _PLAIN.get(key)
    if plain is not None:
        return plain
    out = []
    for i, (live, a, st) in enumerate(zip(active, requested, status, strict=True)):
        if not live:
            continue
        if st is not _EXECUTED or a in _BOOSTS:
            return None
        found = _KEPT.get((i, a))
        if found is None:
            found = _KEPT[(i, a)] = promises.assess(_Resolution(i, a, a))
        out.append(found)
    assessments = tuple(out)
    evidence = np.zeros((len(active), len(active), 2))  # this step's evidence on a zero ledger
    add_evidence(evidence, assessments, active)
    if len(_PLAIN) >= _PLAIN_LIMIT:
        _PLAIN.clear()
    plain = _PLAIN[key] = _Plain(
        assessments,
        _agent_infos(assessments),
        tuple(promises.bindings(assessments)),
        evidence if evidence.any() else None,
    )
    return plain


def _agent_infos(assessments: tuple) -> dict[int, dict]:
    per_agent = {}
    for a in assessments:
        template = _AGENT_INFOS.get(a)
        if template is None:
            template = _AGENT_INFOS[a] = promises.agent_info(a)
            template["reason"] = reason(template)
        per_agent[a.promise.promiser] = template
    return per_agent


def step_promises(
    layout: Layout,
    before: State,
    after: State,
    report: SolverReport,
    log: promises.PromiseLog | None = None,
    forgetting: float = 0.0,
    fr: Frame | None = None,
) -> tuple[dict[int, dict], dict]:
    """Assess the step, add the evidence to ``after.trust``, and describe the step.

    ``after.trust`` may be ``before.trust`` itself: the ledgers of consecutive states are shared
    while nothing changes them, and the evidence then goes into a new array set as ``after.trust``
    (also when the step brings evidence and ``after.trust`` is its own array).

    Returns ``(per_agent, step)``. ``per_agent[i]`` is what goes into ``infos[agent_i]``:
    ``promise`` (arrow notation), ``outcome`` (kept / withdrawn / unbound), ``reason`` and, where
    they apply, ``partner``, ``because_of``, ``constraint`` — shared, cached dicts (the outer one
    too): copy them, never modify them. ``step`` is JSON-serialisable: the step's bindings as
    ``[giver, user]`` pairs and the solver's counters.
    """
    active = tuple(fr.active if fr is not None else before.active.tolist())
    plain = None if forgetting else _plain(report.requested, report.status, active)
    if plain is not None:
        return _keep(plain, after, log, _solver_report(report))
    assessments = promises.assess_step(resolutions(layout, before, report, fr))
    if after.trust is before.trust:  # shared (see maze_escape_v0._advance): never written into
        after.trust = before.trust.copy()
    if forgetting:
        promises.update_trust(
            after.trust, assessments, active=before.active, forgetting=forgetting, out=after.trust
        )
    else:  # the env owns a valid ledger: skip update_trust's checks on the hot path
        add_evidence(after.trust, assessments, active)
    if log is not None:
        log.record(assessments)
    step = {
        "bindings": [list(b) for b in promises.bindings(assessments)],
        "solver": _solver_report(report),
    }
    return _agent_infos(assessments), step


def solo_promises(
    after: State, joint: Sequence[int], active: Sequence[bool], log: promises.PromiseLog | None = None
) -> tuple[dict[int, dict], dict]:
    """:func:`step_promises` of a solo step (:func:`mazesim.resolver.solo_step`): ``joint``
    executed as requested by the agents live before it (``active``), no solver work."""
    key = (tuple(joint), tuple(active))
    found = _SOLO.get(key)
    if found is None:
        report = pass_through(list(active), list(joint))
        found = (_plain(report.requested, report.status, key[1]), _solver_report(report))
        if len(_SOLO) >= _PLAIN_LIMIT:
            _SOLO.clear()
        _SOLO[key] = found
    plain, solver = found
    return _keep(plain, after, log, dict(solver))


def _keep(
    plain: _Plain, after: State, log: promises.PromiseLog | None, solver: dict
) -> tuple[dict[int, dict], dict]:
    """Add a plain step's evidence to ``after.trust`` (as a new array), log its assessments, and
    return what :func:`step_promises` returns (``solver``: the step's fresh solver counters)."""
    # Each count gets at most one increment (of 1.0) per step, so adding the increments as one
    # array gives exactly what add_evidence gives.
    if plain.evidence is not None:
        after.trust = np.add(after.trust, plain.evidence)
    if log is not None:
        log.record(plain.assessments)
    bindings = [list(b) for b in plain.bindings] if plain.bindings else []
    return plain.per_agent, {"bindings": bindings, "solver": solver}


def _solver_report(report: SolverReport) -> dict:
    """The resolver's report as the plain dict ``infos`` carries under ``"solver"``."""
    return {
        "choices": report.choices,
        "removals": report.removals,
        "backtracks": report.backtracks,
        "fallbacks": report.fallbacks,
        "clusters": report.clusters,
    }


__all__ = ["reason", "resolutions", "solo_promises", "step_promises"]
