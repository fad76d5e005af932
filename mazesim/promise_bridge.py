"""From the solver's report to the step's promises: assessments, trust, and the compact infos.

The resolver (:mod:`mazesim.resolver`) says, per agent, what it requested, what it executes,
and why a request was substituted; :mod:`promises` turns that into promises (arrow notation),
assessments (kept / withdrawn / unbound) and trust evidence. This module is the glue, so that
neither package knows the other.
"""

from __future__ import annotations

import promises
from mazesim.resolver import Resolution as SolverReport
from mazesim.resolver import Status
from mazesim.world import BOOSTS, DELTA, Action, Layout, State, Tile

_BOOSTS = frozenset(int(b) for b in BOOSTS)
_UP = int(Action.UP)
#: the boost an agent at offset (dr, dc) from a climber must give to push it
_BOOST_TOWARD = {(-int(DELTA[b][1]), -int(DELTA[b][2])): int(b) for b in BOOSTS}


def resolutions(layout: Layout, state: State, report: SolverReport) -> list[promises.Resolution]:
    """One :class:`promises.Resolution` per agent active at the start of the step.

    ``state`` is the state *before* the step. ``partner`` is the other agent of a cooperative
    half: for a boost, the agent on the target cell; for a climb, the agent actually boosting
    it, else the first adjacent agent that could have.
    """
    occ = state.occupancy()
    joint = report.joint
    out = []
    for i in range(state.n_agents):
        if not state.active[i]:
            continue
        requested = int(report.requested[i])
        partner = None
        climb = False
        l, r, c = (int(v) for v in state.pos[i])
        if requested in _BOOSTS:
            d = DELTA[requested]
            partner = occ.get((l, r + int(d[1]), c + int(d[2])))
        elif (
            requested == _UP
            and layout.tiles[l, r, c] == Tile.CLIMB
            and not state.ropes_down[layout.group[l, r, c]]
        ):
            climb = True
            candidates = []
            for (dr, dc), boost in _BOOST_TOWARD.items():
                j = occ.get((l, r + dr, c + dc))
                if j is not None:
                    candidates.append(j)
                    if int(joint[j]) == boost:
                        partner = j
                        break
            if partner is None and candidates:
                partner = min(candidates)
        cause = int(report.cause[i])
        constraint = report.constraint[i]
        out.append(
            promises.Resolution(
                agent=i,
                requested=requested,
                executed=int(joint[i]),
                because_of=cause if cause >= 0 else None,
                constraint=constraint or None,
                unbound=report.status[i] is Status.UNBOUND,
                partner=partner,
                climb=climb,
            )
        )
    return out


def reason(info: dict) -> str:
    """A readable reason for an agent's outcome."""
    outcome = info["outcome"]
    if outcome == "kept":
        return "kept"
    if outcome == "unbound":
        return "no partner made the matching half of the binding"
    who = info.get("because_of")
    what = info.get("constraint") or "solver"
    return f"withdrawn by the solver ({what}" + (f", because of agent_{who})" if who is not None else ")")


def step_promises(
    layout: Layout,
    before: State,
    after: State,
    report: SolverReport,
    log: promises.PromiseLog | None = None,
    forgetting: float = 0.0,
) -> dict:
    """Assess the step, add the evidence to ``after.trust`` in place, and build the step info.

    Returns ``{"promises", "bindings", "solver", "agents"}``: the compact JSON-serialisable form
    of :func:`promises.to_info`, the solver's counters, and per agent index the dict that goes
    into ``infos[agent]`` (``promise``, ``outcome``, ``reason`` and, where they apply,
    ``partner``, ``because_of``, ``constraint``).
    """
    assessments = promises.assess_step(resolutions(layout, before, report))
    promises.update_trust(
        after.trust, assessments, active=before.active, forgetting=forgetting, out=after.trust
    )
    if log is not None:
        log.record(assessments)
    info = promises.to_info(assessments)
    agents = {}
    for a in assessments:
        d = promises.agent_info(a)
        d["reason"] = reason(d)
        agents[a.promise.promiser] = d
    info["solver"] = {
        "choices": report.choices,
        "removals": report.removals,
        "backtracks": report.backtracks,
        "fallbacks": report.fallbacks,
        "clusters": report.clusters,
    }
    info["agents"] = agents
    return info


__all__ = ["reason", "resolutions", "step_promises"]
