"""The generic WFC solver: consistency, search, fallback, reports and bad input."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mazesim.wfc import Problem, Removal, SearchLimitError, WaveError, solutions, solve


def random_problem(seed: int) -> Problem:
    """3-5 variables, 2-4 values each, random weights (some zero), random conflicts and supports."""
    rng = np.random.default_rng(seed)
    p = Problem()
    n = int(rng.integers(3, 6))
    for x in range(n):
        k = int(rng.integers(2, 5))
        w = rng.random(k) * (rng.random(k) < 0.8)
        w[0] = max(w[0], 0.05)  # value 0 is everyone's safe fallback
        p.add_variable(x, list(range(k)), w, fallback=0)
    for x, y in itertools.combinations(range(n), 2):
        if rng.random() < 0.6:
            vx, vy = len(p._values[x]), len(p._values[y])
            pairs = [(a, b) for a in range(1, vx) for b in range(1, vy) if rng.random() < 0.4]
            p.add_conflicts(x, y, pairs, name=f"c{x}{y}")
    if rng.random() < 0.7:
        x, y, z = (int(v) for v in rng.permutation(n)[:3])
        p.add_support(x, [1], [(y, [1]), (z, [1])], name="needs")
    return p


def brute_force(p: Problem) -> list[dict]:
    names = p.variables
    doms = [[v for v in p._values[i] if p._weights[i][v] > 0] for i in range(len(names))]
    out = []
    for combo in itertools.product(*doms):
        a = dict(zip(names, combo, strict=True))
        if p.is_consistent(a):
            out.append(a)
    return out


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), mode=st.sampled_from(["sample", "greedy"]))
def test_solve_is_consistent_and_solutions_match_brute_force(seed, mode):
    p = random_problem(seed)
    exact = brute_force(p)
    assert list(solutions(p)) == exact  # same set, same (lexicographic) order
    sol = solve(p, np.random.default_rng(seed), mode=mode, max_backtracks=1000)
    if exact:
        assert not sol.fell_back
        assert sol.assignment in exact
    else:
        assert sol.fell_back and sol.assignment == {x: 0 for x in p.variables}
    for r in sol.removals:
        assert r.cause is None or r.cause in p.variables


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_same_seed_same_solution(seed):
    p = random_problem(seed)
    a = solve(p, np.random.default_rng(7))
    b = solve(p, np.random.default_rng(7))
    assert (a.assignment, a.choices, a.removals, a.backtracks, a.fell_back) == (
        b.assignment,
        b.choices,
        b.removals,
        b.backtracks,
        b.fell_back,
    )


def test_preferred_value_is_kept_while_possible_and_the_log_names_cause_and_constraint():
    p = Problem()
    p.add_variable("a", [0, 1], [0.01, 0.99], preferred=1, fallback=0)  # low entropy: goes first
    p.add_variable("b", [0, 1, 2], [0.2, 0.5, 0.3], preferred=1, fallback=0)
    p.add_conflicts("a", "b", [(1, 1)], name="same_cell")
    sol = solve(p, np.random.default_rng(0), mode="greedy")
    assert sol.assignment == {"a": 1, "b": 2}  # b's preferred value is gone: heaviest of the rest
    assert sol.choices == [("a", 1), ("b", 2)]
    assert sol.removals == [Removal("b", 1, "same_cell", "a")]


def test_sampling_follows_the_weights():
    p = Problem()
    p.add_variable("x", ["p", "q", "r"], [0.6, 0.3, 0.1])
    rng = np.random.default_rng(3)
    counts = {"p": 0, "q": 0, "r": 0}
    for _ in range(3000):
        counts[solve(p, rng).assignment["x"]] += 1
    assert abs(counts["p"] / 3000 - 0.6) < 0.04 and abs(counts["r"] / 3000 - 0.1) < 0.03


def test_zero_weight_values_are_never_chosen():
    p = Problem()
    p.add_variable("x", [0, 1, 2], [0.0, 1.0, 0.0], fallback=0)
    assert all(solve(p, np.random.default_rng(s)).assignment == {"x": 1} for s in range(20))


def test_support_needs_any_one_supporter_and_forces_the_last_one():
    p = Problem()
    p.add_variable("climber", ["stay", "up"], [0.001, 0.999], preferred="up", fallback="stay")
    p.add_variable("k1", ["stay", "boost", "walk"], [0.1, 0.2, 0.7], preferred="walk", fallback="stay")
    p.add_variable("k2", ["stay", "boost", "walk"], [0.1, 0.2, 0.7], preferred="walk", fallback="stay")
    p.add_support("climber", ["up"], [("k1", ["boost"]), ("k2", ["boost"])], name="binding")
    for seed in range(10):
        sol = solve(p, np.random.default_rng(seed))
        a = sol.assignment
        assert a["climber"] == "up" and "boost" in (a["k1"], a["k2"])
        assert p.is_consistent(a) and sol.backtracks == 0
    q = Problem()
    q.add_variable("climber", ["stay", "up"], [0.5, 0.5], fallback="stay")
    q.add_support("climber", ["up"], [], name="binding")
    assert solve(q, np.random.default_rng(0)).assignment == {"climber": "stay"}


def test_backtracking_finds_the_solution_and_the_budget_forces_a_counted_fallback():
    q = Problem()  # x = 1 looks fine to arc consistency but leaves y and z both needing 2
    q.add_variable("x", [1, 2], [0.99, 0.01], preferred=1, fallback=2)
    q.add_variable("y", [1, 2], [0.5, 0.5], fallback=1)
    q.add_variable("z", [1, 2], [0.5, 0.5], fallback=2)
    q.add_conflicts("x", "y", [(1, 1)], name="xy")
    q.add_conflicts("x", "z", [(1, 1)], name="xz")
    q.add_constraint("y", "z", lambda u, v: u != v, name="differ")
    for mode in ("sample", "greedy"):
        sol = solve(q, np.random.default_rng(0), mode=mode)  # type: ignore[arg-type]
        assert sol.assignment["x"] == 2 and q.is_consistent(sol.assignment) and not sol.fell_back
        assert sol.backtracks == 1 and sol.choices[0] == ("x", 1)
        assert Removal("x", 1, "backtrack", None) in sol.removals
    cut = solve(q, np.random.default_rng(0), max_backtracks=0)
    assert cut.fell_back and cut.assignment == {"x": 2, "y": 1, "z": 2} and cut.backtracks == 0

    p = Problem()  # pairwise different over two values: no solution at all, the search proves it
    for name in "xyz":
        p.add_variable(name, [0, 1, 2], [0, 1, 1], fallback=0)
    for a, b in itertools.combinations("xyz", 2):
        p.add_constraint(a, b, lambda u, v: u != v or u == 0, name="differ")
    sol = solve(p, np.random.default_rng(0), max_backtracks=100)
    assert sol.fell_back and sol.assignment == {"x": 0, "y": 0, "z": 0} and sol.backtracks >= 1


def test_fallback_must_exist_and_be_consistent():
    p = Problem()
    p.add_variable("x", [0, 1], [1, 1])
    p.add_support("x", [0, 1], [])
    with pytest.raises(WaveError, match="no fallback"):
        solve(p, np.random.default_rng(0))
    q = Problem()
    q.add_variable("x", [0, 1], [1, 1], fallback=1)
    q.add_support("x", [0, 1], [])
    with pytest.raises(WaveError, match="fallback assignment violates"):
        solve(q, np.random.default_rng(0))


def test_bad_problems_raise_named_errors():
    p = Problem()
    p.add_variable("x", [0, 1], [1, 1])
    with pytest.raises(WaveError, match="'x' is already defined"):
        p.add_variable("x", [0], [1])
    with pytest.raises(WaveError, match="weight of value 1 is nan"):
        p.add_variable("y", [0, 1], [1, float("nan")])
    with pytest.raises(WaveError, match="weight of value 0 is -1"):
        p.add_variable("y", [0, 1], [-1, 1])
    with pytest.raises(WaveError, match="one weight per value"):
        p.add_variable("y", [0, 1], [1])
    with pytest.raises(WaveError, match="distinct"):
        p.add_variable("y", [0, 0], [1, 1])
    with pytest.raises(WaveError, match="fallback value 5"):
        p.add_variable("y", [0, 1], [1, 1], fallback=5)
    p.add_variable("y", [0, 1, 2], [1, 1, 1])
    with pytest.raises(WaveError, match="unknown variable 'z'"):
        p.add_conflicts("x", "z", [(0, 0)])
    with pytest.raises(WaveError, match="two different variables"):
        p.add_conflicts("x", "x", [(0, 0)])
    with pytest.raises(WaveError, match="shape"):
        p.add_table("x", "y", np.ones((2, 2), bool))
    with pytest.raises(WaveError, match="names a value"):
        p.add_conflicts("x", "y", [(0, 7)])
    with pytest.raises(WaveError, match="mode"):
        solve(p, np.random.default_rng(0), mode="argmax")  # type: ignore[arg-type]


def test_solutions_has_a_node_limit():
    p = Problem()
    for x in range(8):
        p.add_variable(x, list(range(4)), [1] * 4)
    with pytest.raises(SearchLimitError, match="max_nodes"):
        list(solutions(p, max_nodes=100))
