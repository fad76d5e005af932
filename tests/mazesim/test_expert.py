"""The expert escapes every generated maze within its budget, with consistent actions, from any state."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from strategies import scenarios

from mazesim.expert import Expert, ExpertRun, solve, step_budget
from mazesim.generator import Maze, generate
from mazesim.scenario import Mechanics, Scenario
from mazesim.world import Action, State, action_mask, apply_joint_action


def replay_consistent(maze: Maze, run: ExpertRun) -> None:
    """Every joint action is executed exactly as given: no conflicts, every boost bound to a climb."""
    state = State.initial(maze.layout, maze.starts)
    for t, joint in enumerate(run.actions):
        for i in np.flatnonzero(state.active):
            assert action_mask(maze.layout, state, int(i))[joint[i]], f"step {t}: agent {i} illegal action"
        state, events = apply_joint_action(maze.layout, state, joint)
        was_active = run.active[t]
        assert np.array_equal(events.executed[was_active], joint[was_active]), f"step {t}: {joint} changed"
        assert np.array_equal(state.pos, run.positions[t + 1])


@settings(max_examples=30, deadline=None)
@given(sc=scenarios(), seed=st.integers(0, 2**31 - 1))
def test_expert_escapes_every_maze_within_the_budget(sc: Scenario, seed: int) -> None:
    maze = generate(sc, seed)
    run = solve(maze)
    assert run.escaped, f"expert stuck after {run.steps} steps"
    assert run.steps <= step_budget(sc)
    assert run.actions.shape == (run.steps, sc.agents)
    assert run.positions.shape == (run.steps + 1, sc.agents, 3)
    assert not run.active[-1].any() and run.active[0].all()
    replay_consistent(maze, run)


#: (levels, rows, cols, agents, (doors, gates, boosts), braid, seed) of mazes the expert once looped on
LOOPED_ON = [
    # An agent in the doorway waits for an idle agent in the dead end behind it, which waits for the
    # plate holder; the holder steps aside and walks straight back every step.
    pytest.param(2, 9, 9, 4, (2, 2, 0), 0.3, 2771, id="doorway-behind-plate-holder"),
    pytest.param(3, 9, 9, 4, (2, 2, 2), 0.3, 655181706, id="doorway-behind-plate-holder-3-floors"),
    # The exit lies past the plate: holder and early walker swapped roles every step.
    pytest.param(1, 15, 11, 4, (1, 0, 0), 0.6, 1541574287, id="exit-past-the-plate"),
]


@pytest.mark.parametrize(("levels", "rows", "cols", "agents", "mechanics", "braid", "seed"), LOOPED_ON)
def test_expert_escapes_mazes_it_once_looped_on(levels, rows, cols, agents, mechanics, braid, seed) -> None:
    sc = Scenario(
        name="prop",
        levels=levels,
        rows=rows,
        cols=cols,
        agents=agents,
        mechanics=Mechanics(*mechanics),
        braid=braid,
    )
    maze = generate(sc, seed)
    run = solve(maze)
    assert run.escaped, f"expert stuck after {run.steps} steps"
    assert run.steps <= step_budget(sc)
    replay_consistent(maze, run)
    assert np.array_equal(solve(maze).actions, run.actions)  # deterministic: same maze, same plan


def random_walk(maze: Maze, steps: int, rng: np.random.Generator) -> State:
    """A state reached by random legal actions (what a poor learner might visit)."""
    state = State.initial(maze.layout, maze.starts)
    for _ in range(steps):
        joint = np.zeros(state.n_agents, dtype=np.int64)
        for i in range(state.n_agents):
            legal = np.flatnonzero(action_mask(maze.layout, state, i))
            joint[i] = rng.choice(legal)
        state, _ = apply_joint_action(maze.layout, state, joint)
    return state


def finish(maze: Maze, state: State, limit: int) -> State:
    expert = Expert(maze)
    while state.active.any() and limit > 0:
        state, _ = apply_joint_action(maze.layout, state, expert.act(state))
        limit -= 1
    return state


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), walk=st.integers(5, 60))
def test_expert_finishes_from_states_a_learner_reaches(seed: int, walk: int) -> None:
    sc = Scenario(
        name="t", levels=2, rows=11, cols=11, agents=3, mechanics=Mechanics(doors=1, gates=1, boosts=1)
    )
    maze = generate(sc, seed)
    state = random_walk(maze, walk, np.random.default_rng(seed))
    assume(state.active.all())  # an agent that wandered out early may strand the others
    assert not finish(maze, state, step_budget(sc)).active.any()


def test_expert_finishes_from_the_middle_of_its_own_run() -> None:
    sc = Scenario(
        name="t", levels=3, rows=15, cols=15, agents=4, mechanics=Mechanics(doors=2, gates=1, boosts=1)
    )
    maze = generate(sc, 21)
    run = solve(maze)
    assert run.escaped
    state = State.initial(maze.layout, maze.starts)
    for joint in run.actions[: run.steps // 2]:
        state, _ = apply_joint_action(maze.layout, state, joint)
    assert np.array_equal(
        Expert(maze).act(state), run.actions[run.steps // 2]
    )  # a pure function of the state
    assert not finish(maze, state, step_budget(sc)).active.any()


def test_plan_lines_name_agents_and_roles() -> None:
    sc = Scenario(name="t", levels=2, rows=11, cols=11, agents=2, mechanics=Mechanics(doors=1, boosts=1))
    run = solve(generate(sc, 0))
    text = "\n".join(run.plan)
    assert "holds plate at (0, " in text and "crosses door 0" in text
    assert "boosts at climb 0" in text and "climbs to ledge 0" in text and "lowers rope 0" in text
    assert all(line.startswith("step ") for line in run.plan)


def test_no_agents_left_means_everyone_stays() -> None:
    maze = generate(Scenario(name="t", rows=9, cols=9, agents=2, mechanics=Mechanics(gates=1)), 0)
    state = State.initial(maze.layout, maze.starts)
    state.active[:] = False
    assert Expert(maze).act(state).tolist() == [Action.STAY, Action.STAY]


def test_budget_cuts_a_run_short() -> None:
    maze = generate(Scenario(name="t", rows=15, cols=15, agents=3, mechanics=Mechanics(doors=2)), 2)
    run = solve(maze, max_steps=3)
    assert run.steps == 3 and not run.escaped and run.actions.shape == (3, 3)


@pytest.mark.parametrize("name", ["tutorial", "levers", "boost", "mixed", "three_floor", "escape4"])
def test_presets_leave_the_expert_its_step_budget_and_it_escapes_their_seeds(name):
    from mazesim.scenario import load_scenario

    sc = load_scenario(name)
    assert sc.max_cycles >= step_budget(sc)
    for seed in (sc.train_seeds[0], sc.train_seeds[1], sc.heldout_seeds[0]):
        run = solve(generate(sc, seed), sc.max_cycles)
        assert run.escaped, f"{name} maze seed {seed}"
