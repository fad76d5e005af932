"""The team as a superagent, promise graphs, the episode log, and drawing."""

from __future__ import annotations

import math

import networkx as nx
import pytest

from promises import (
    ACTION_INDEX,
    PromiseeError,
    PromiseLog,
    Resolution,
    Superagent,
    TeamPromise,
    assess_step,
    draw_promise_graph,
    episode_graph,
    promise_graph,
)

STAY, EAST, WEST = ACTION_INDEX["stay"], ACTION_INDEX["east"], ACTION_INDEX["west"]
UP, BN = ACTION_INDEX["up"], ACTION_INDEX["boost_north"]


def test_superagent_exterior_promises():
    team = Superagent.of(3, levers_per_gate=[2, 3], doors=1, climbs=2)
    assert team.members == (0, 1, 2)
    assert [(p.body, p.target, p.needs) for p in team.promises] == [
        ("escape", None, 3),
        ("open_gate", 0, 2),
        ("open_gate", 1, 3),
        ("pass_door", 0, 2),
        ("climb", 0, 2),
        ("climb", 1, 2),
    ]
    assert team.team_only() == team.promises  # each needs more than one member
    assert [p.body for p in team.beyond(2)] == ["escape", "open_gate"]
    assert team.beyond(3) == () and team.infeasible() == ()


def test_single_member_team_and_infeasible_gate():
    solo = Superagent.of(1)
    assert solo.team_only() == () and solo.promises == (TeamPromise("escape", None, 1),)
    crowded = Superagent.of(2, levers_per_gate=[3])
    assert crowded.infeasible() == (TeamPromise("open_gate", 0, 3),)
    assert str(crowded.infeasible()[0]) == "team --(+open_gate 0)--> exterior [needs 3]"


@pytest.mark.parametrize(
    ("kwargs", "error", "pattern"),
    [
        ({"n_agents": 0}, PromiseeError, "at least one agent"),
        ({"n_agents": True}, PromiseeError, "at least one agent"),
        ({"n_agents": 2, "levers_per_gate": [0]}, ValueError, "gate 0 has 0 levers"),
        ({"n_agents": 2, "doors": -1}, ValueError, "counts >= 0"),
    ],
)
def test_superagent_bad_input(kwargs, error, pattern):
    with pytest.raises(error, match=pattern):
        Superagent.of(**kwargs)


def _boost_step():
    return assess_step(
        [
            Resolution(0, UP, UP, partner=1, climb=True),
            Resolution(1, BN, BN, partner=0),
            Resolution(2, EAST, STAY, 1, "one_per_cell"),
        ]
    )


def test_step_graph_nodes_edges_attributes():
    g = promise_graph(_boost_step(), step=7)
    assert isinstance(g, nx.MultiDiGraph)
    assert set(g.nodes) == {"agent_0", "agent_1", "agent_2", "team"}
    assert g.edges["agent_0", "agent_1", 7] == {
        "body": "boost",
        "polarity": "-",
        "outcome": "kept",
        "arrow": "agent_0 --(-boost)--> agent_1",
        "bound": True,
    }
    assert g.edges["agent_1", "agent_0", 7]["polarity"] == "+"
    withdrawn = g.edges["agent_2", "team", 7]
    assert (withdrawn["outcome"], withdrawn["because_of"], withdrawn["constraint"], withdrawn["bound"]) == (
        "withdrawn",
        1,
        "one_per_cell",
        False,
    )


def test_log_builds_graphs_lazily_and_counts_outcomes():
    log = PromiseLog()
    log.record(_boost_step())
    log.record(assess_step([Resolution(0, STAY, STAY), Resolution(1, BN, STAY, unbound=True, partner=0)]))
    assert len(log) == 2
    whole = log.graph()
    assert whole.number_of_edges() == 5
    assert sorted(k for _, _, k in whole.edges(keys=True)) == [0, 0, 0, 1, 1]
    assert log.graph(1).number_of_edges() == 2
    assert nx.utils.graphs_equal(whole, episode_graph(log.steps))
    assert log.outcome_counts() == {"kept": 2, "withdrawn": 1, "unbound": 1}
    assert log.outcome_counts(include_stay=True)["kept"] == 3
    assert log.kept_rate() == 0.5
    log.clear()
    assert len(log) == 0 and math.isnan(log.kept_rate())


def test_draw_promise_graph_writes_png(tmp_path):
    log = PromiseLog()
    for _ in range(3):
        log.record(_boost_step())
    log.record(assess_step([Resolution(0, WEST, WEST), Resolution(1, BN, STAY, unbound=True, partner=0)]))
    path = draw_promise_graph(log.graph(), tmp_path / "promises.png", title="episode")
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5_000
    empty = draw_promise_graph(promise_graph([]), tmp_path / "empty.png")
    assert empty.read_bytes()[:4] == b"\x89PNG"
