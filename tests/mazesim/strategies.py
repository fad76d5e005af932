"""Hypothesis strategies shared by the generator's and the expert's property tests."""

from __future__ import annotations

from hypothesis import strategies as st

from mazesim.generator import max_door_gates
from mazesim.scenario import Mechanics, Scenario

SIZES = (9, 11, 13, 15, 21)


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    """Scenarios within the documented bounds: levels 1-3, rows/cols in SIZES, agents 2-4, doors and
    gates 0-2 (their sum capped by :func:`max_door_gates`), boosts 0..levels-1, at least one
    mechanic, braid 0, 0.3 or 0.6."""
    levels = draw(st.integers(1, 3))
    rows, cols = draw(st.sampled_from(SIZES)), draw(st.sampled_from(SIZES))
    agents = draw(st.integers(2, 4))
    limit = min(4, max_door_gates(levels, rows, cols, agents))
    doors = draw(st.integers(0, min(2, limit)))
    gates = draw(st.integers(0, min(2, limit - doors)))
    boosts = draw(st.integers(0, levels - 1))
    if doors + gates + boosts == 0:
        doors = 1
    braid = draw(st.sampled_from([0.0, 0.3, 0.6]))
    return Scenario(
        name="prop",
        levels=levels,
        rows=rows,
        cols=cols,
        agents=agents,
        mechanics=Mechanics(doors, gates, boosts),
        braid=braid,
    )
