"""The joint-action resolver: properties on random small worlds, hand-built cases, bad input."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mazesim.resolver import (
    Status,
    WaveError,
    consistent_joint_actions,
    is_consistent,
    resolve,
    solo_step,
)
from mazesim.world import (
    BOOSTS,
    N_ACTIONS,
    Action,
    Layout,
    State,
    Tile,
    action_mask,
    apply_joint_action,
    doors_open,
)

A = Action
MODES = ["sample", "greedy", "exact"]


def random_world(seed: int, max_agents: int = 6) -> tuple[Layout, State]:
    """A 2-level 4x5 world: floors, walls, a door with plates, a lever gate, stairs and a climb
    spot with its ledge above; agents crowd around the climb spot so bindings happen often."""
    rng = np.random.default_rng(seed)
    shape = (2, 4, 5)
    tiles = np.where(rng.random(shape) < 0.2, Tile.WALL, Tile.FLOOR).astype(np.uint8)
    group = np.full(shape, -1, np.int16)
    spots = [tuple(int(v) for v in c) for c in rng.permutation(np.argwhere(np.ones((4, 5))))]
    (cr, cc), (sr, sc), (dr, dc), (p1r, p1c), (p2r, p2c), (lr, lc), (gr, gc) = spots[:7]
    for cell, tile, g in (
        ((0, cr, cc), Tile.CLIMB, 0),
        ((1, cr, cc), Tile.LEDGE, 0),
        ((0, sr, sc), Tile.STAIRS_UP, -1),
        ((1, sr, sc), Tile.STAIRS_DOWN, -1),
        ((0, dr, dc), Tile.DOOR, 0),
        ((0, p1r, p1c), Tile.PLATE, 0),
        ((1, p2r, p2c), Tile.PLATE, 0),
        ((1, lr, lc), Tile.LEVER, 0),
        ((1, gr, gc), Tile.GATE, 0),
    ):
        tiles[cell], group[cell] = tile, g
    for r, c in ((cr - 1, cc), (cr + 1, cc), (cr, cc - 1), (cr, cc + 1)):
        if 0 <= r < 4 and 0 <= c < 5 and tiles[0, r, c] == Tile.WALL and rng.random() < 0.8:
            tiles[0, r, c], group[0, r, c] = Tile.FLOOR, -1  # room for boosters
    layout = Layout(tiles, group)
    free = [tuple(int(v) for v in c) for c in np.argwhere(tiles != Tile.WALL)]
    near = [c for c in free if c[0] == 0 and abs(c[1] - cr) + abs(c[2] - cc) <= 1]
    far = [c for c in free if c not in near]
    n = int(rng.integers(2, max_agents + 1))
    picks = [near[k] for k in rng.permutation(len(near))[: int(rng.integers(0, min(3, n) + 1))]]
    picks += [far[k] for k in rng.permutation(len(far))[: n - len(picks)]]
    state = State.initial(layout, np.array(picks))
    state.active[:] = rng.random(len(picks)) < 0.9
    state.gates_open[:] = rng.random(1) < 0.3
    state.ropes_down[:] = rng.random(1) < 0.3
    return layout, state


def random_waves(seed: int, layout: Layout, state: State, *, p_int: float = 0.5, dense: bool = False) -> list:
    """Per agent: a (mostly legal) action, or a full wave (sparse unless ``dense``)."""
    rng = np.random.default_rng(seed + 1)
    waves: list = []
    for i in range(state.n_agents):
        legal = np.flatnonzero(action_mask(layout, state, i))
        if rng.random() < p_int:
            waves.append(int(rng.choice(legal) if rng.random() < 0.85 else rng.integers(N_ACTIONS)))
        else:
            w = rng.random(N_ACTIONS)
            if not dense:
                w *= rng.random(N_ACTIONS) < 0.35
                w[rng.choice(legal)] += 0.5
            waves.append(w)
    return waves


def offered(layout: Layout, state: State, waves: list, eps: float = 1e-3) -> list[set[int]]:
    """The actions each agent's wave allows (legal, positive weight, stay always)."""
    out = []
    for i, w in enumerate(waves):
        legal = set(np.flatnonzero(action_mask(layout, state, i)).tolist())
        mine = {w} if isinstance(w, int) else set(np.flatnonzero(w > 0).tolist())
        out.append((mine & legal) | {int(A.STAY)})
    return out


def executes_everything(layout: Layout, state: State, joint, following: bool) -> bool:
    _, events = apply_joint_action(layout, state, np.asarray(joint), following=following)
    return np.array_equal(events.executed, np.asarray(joint))


def inactive_stay(state: State, joint) -> bool:
    return all(joint[i] == A.STAY for i in range(state.n_agents) if not state.active[i])


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_compiled_rules_agree_with_the_reference_rules(seed):
    """The compiled tables of mazesim.world against the cell-by-cell reference statement."""
    from reference_rules import action_mask, boost_target, destination, needs_boost

    from mazesim.world import frame

    layout, state = random_world(seed)
    fr = frame(layout, state)
    _, rows, cols = layout.shape
    for i in np.flatnonzero(state.active):
        i = int(i)
        mask = action_mask(layout, state, i)
        here = tuple(int(v) for v in state.pos[i])
        legal = fr.legal(i)
        for a in range(N_ACTIONS):
            dest = destination(layout, state, i, a)
            no_effect = a in (A.UP, A.DOWN) and dest == here
            assert (a in legal) == bool(mask[a] and not no_effect), (i, A(a).name)
            if a in legal:
                d, target = legal[a]
                lv, rem = divmod(d, rows * cols)
                assert (lv, *divmod(rem, cols)) == (here if a in BOOSTS else dest)
                t = boost_target(state, i, a)
                assert (target >= 0) == (t is not None)
                if t is not None:
                    lv, rem = divmod(target, rows * cols)
                    assert (lv, *divmod(rem, cols)) == t
        assert fr.needs_boost(i) == needs_boost(layout, state, i, A.UP)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), mode=st.sampled_from(MODES), following=st.booleans())
def test_no_constraint_is_ever_violated_and_the_world_executes_the_result(seed, mode, following):
    layout, state = random_world(seed)
    waves = random_waves(seed, layout, state)
    res = resolve(layout, state, waves, np.random.default_rng(seed), mode=mode, following=following)
    joint = res.joint.tolist()
    assert res.joint.dtype == np.int64 and res.joint.shape == (state.n_agents,)
    assert is_consistent(layout, state, joint, following=following)
    assert executes_everything(layout, state, joint, following)  # the rules and the solver agree
    assert inactive_stay(state, joint)
    allowed = offered(layout, state, waves)
    for i in range(state.n_agents):
        if state.active[i]:
            assert joint[i] in allowed[i]  # the solver never imposes an action nobody offered
            o = res.outcome(i)
            assert (o.status == Status.EXECUTED) == (o.executed == o.requested)
            if o.status == Status.SUBSTITUTED and o.constraint not in ("terrain", "search"):
                assert 0 <= o.cause < state.n_agents and o.cause != i
            if o.status == Status.SUBSTITUTED and mode != "exact" and not res.backtracks:
                assert o.constraint != "search"  # without backtracking every withdrawal has a culprit
        else:
            assert res.status[i] == Status.INACTIVE
    assert res.fallbacks == sum(s == Status.FALLBACK for s in res.status)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), mode=st.sampled_from(MODES), following=st.booleans())
def test_a_consistent_joint_action_passes_through_unchanged_without_draws(seed, mode, following):
    layout, state = random_world(seed)
    waves = random_waves(seed, layout, state)
    wanted = resolve(layout, state, waves, np.random.default_rng(seed), following=following).joint.tolist()
    rng = np.random.default_rng(seed)
    before = rng.bit_generator.state
    res = resolve(layout, state, wanted, rng, mode=mode, following=following)
    assert res.joint.tolist() == wanted
    assert all(s in (Status.EXECUTED, Status.INACTIVE) for s in res.status)
    assert rng.bit_generator.state == before


@settings(max_examples=80, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_a_solo_step_is_consistent_and_executed_to_the_cells_it_names(seed):
    """``solo_step`` (the environment's fast path) accepts only joint actions that break no rule
    under either following rule and need no partner; the world executes them to its cells."""
    from mazesim.world import frame

    layout, state = random_world(seed)
    fr = frame(layout, state)
    # the frame's occupancy and doors (made without a dict while everyone is inside) as the rules say
    occupied = state.occupancy()
    assert fr.everyone == bool(state.active.all())
    assert fr.occ == {fr.rules.cell_id(c): i for c, i in occupied.items()}
    assert fr.doors == doors_open(layout, occupied).tolist()
    rng = np.random.default_rng(seed)
    accepted = 0
    for k in range(20):
        joint = [int(a) for a in random_waves(seed + k, layout, state, p_int=1.0)]
        if rng.random() < 0.5:  # also joint actions that the resolver made consistent
            joint = resolve(layout, state, joint, np.random.default_rng(k)).joint.tolist()
        solo = solo_step(fr, joint)
        if solo is None:
            continue
        accepted += 1
        assert solo_step(fr, joint, checked=True) == solo  # the environment's call: ints in range
        act, cells = solo
        assert act == [a if state.active[i] else int(A.STAY) for i, a in enumerate(joint)]
        assert all(a not in BOOSTS for a in act)
        for following in (False, True):
            assert is_consistent(layout, state, act, following=following)
            after, events = apply_joint_action(layout, state, np.asarray(act), following=following)
            assert events.executed.tolist() == act
            assert [tuple(p) for p in after.pos.tolist()] == [fr.rules.coords[c] for c in cells]
        assert resolve(layout, state, joint, np.random.default_rng(0)).joint.tolist() == act
    # the bad inputs of resolve's plain path are not solo steps: resolve decides or raises
    assert solo_step(fr, [1.5] * state.n_agents) is None
    assert solo_step(fr, [N_ACTIONS] * state.n_agents) is None
    assert solo_step(fr, [0] * (state.n_agents + 1)) is None
    if accepted == 0:  # every world has some: all agents staying is always a solo step
        assert solo_step(fr, [int(A.STAY)] * state.n_agents) is not None


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), mode=st.sampled_from(MODES), following=st.booleans())
def test_same_inputs_and_seed_give_the_same_result(seed, mode, following):
    layout, state = random_world(seed)
    waves = random_waves(seed, layout, state)
    a = resolve(layout, state, waves, np.random.default_rng(seed), mode=mode, following=following)
    b = resolve(layout, state.copy(), [w.copy() if isinstance(w, np.ndarray) else w for w in waves],
                np.random.default_rng(seed), mode=mode, following=following)  # fmt: skip
    for field in (
        "requested",
        "status",
        "cause",
        "constraint",
        "choices",
        "removals",
        "backtracks",
        "fallbacks",
    ):
        assert getattr(a, field) == getattr(b, field)
    assert np.array_equal(a.joint, b.joint)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), following=st.booleans())
def test_renaming_agents_permutes_the_result_in_greedy_mode(seed, following):
    layout, state = random_world(seed)
    waves = random_waves(seed, layout, state, p_int=0.0, dense=True)  # distinct weights: no ties
    perm = np.random.default_rng(seed + 2).permutation(state.n_agents)
    renamed = State(
        state.pos[perm], state.active[perm], state.gates_open, state.ropes_down, state.trust[perm][:, perm]
    )
    a = resolve(layout, state, waves, np.random.default_rng(1), mode="greedy", following=following)
    b = resolve(
        layout,
        renamed,
        [waves[k] for k in perm],
        np.random.default_rng(2),
        mode="greedy",
        following=following,
    )
    assert b.joint.tolist() == a.joint[perm].tolist()
    assert list(b.status) == [a.status[k] for k in perm]


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), mode=st.sampled_from(MODES), following=st.booleans())
def test_results_are_among_the_brute_force_consistent_joint_actions(seed, mode, following):
    layout, state = random_world(seed, max_agents=5)
    waves = random_waves(seed, layout, state)
    legal = [
        np.flatnonzero(action_mask(layout, state, i)).tolist() if state.active[i] else [int(A.STAY)]
        for i in range(state.n_agents)
    ]
    if np.prod([len(x) for x in legal]) > 3000:
        legal = [sorted(s) if state.active[i] else [0] for i, s in enumerate(offered(layout, state, waves))]
    brute = {
        combo for combo in itertools.product(*legal) if executes_everything(layout, state, combo, following)
    }
    everything = set(consistent_joint_actions(layout, state, following=following))
    assert brute <= everything  # the enumerator finds all of them ...
    assert all(executes_everything(layout, state, c, following) for c in everything)  # ... and only them
    res = resolve(layout, state, waves, np.random.default_rng(seed), mode=mode, following=following)
    assert tuple(res.joint.tolist()) in everything
    allowed = offered(layout, state, waves)
    if all(set(legal[i]) >= allowed[i] for i in range(state.n_agents) if state.active[i]):
        assert tuple(res.joint.tolist()) in brute


def test_exact_mode_samples_in_proportion_to_the_product_of_weights():
    layout = Layout(np.zeros((1, 1, 3), np.uint8), np.full((1, 1, 3), -1, np.int16))
    state = State.initial(layout, np.array([[0, 0, 0], [0, 0, 2]]))
    w0 = np.zeros(N_ACTIONS)
    w0[[A.STAY, A.EAST]] = 0.3, 0.7
    w1 = np.zeros(N_ACTIONS)
    w1[[A.STAY, A.WEST]] = 0.4, 0.6
    # consistent: (stay, stay) .12, (east, stay) .28, (stay, west) .18; (east, west) collides
    rng = np.random.default_rng(0)
    counts: dict[tuple[int, ...], int] = {}
    for _ in range(2000):
        j = tuple(resolve(layout, state, [w0, w1], rng, mode="exact").joint.tolist())
        counts[j] = counts.get(j, 0) + 1
    assert set(counts) == {(0, 0), (4, 0), (0, 3)}
    assert abs(counts[(4, 0)] / 2000 - 0.28 / 0.58) < 0.04


# ---- hand-built cases ------------------------------------------------------------------------

F, W, C, T = Tile.FLOOR, Tile.WALL, Tile.CLIMB, Tile.LEDGE


def climb_world(*starts, rope_down: bool = False) -> tuple[Layout, State]:
    """Level 0: ``. C .`` in a row with a floor south of the climb spot; level 1: ``# T #``."""
    tiles = np.array([[[F, C, F], [W, F, W]], [[W, T, W], [W, W, W]]], np.uint8)
    group = np.full(tiles.shape, -1, np.int16)
    group[0, 0, 1] = group[1, 0, 1] = 0
    layout = Layout(tiles, group)
    state = State.initial(layout, np.array(starts))
    state.ropes_down[:] = rope_down
    return layout, state


def test_boost_and_climb_bind_and_the_world_executes_them():
    layout, state = climb_world((0, 0, 1), (0, 0, 0))
    res = resolve(layout, state, [A.UP, A.BOOST_EAST], np.random.default_rng(0))
    assert res.joint.tolist() == [A.UP, A.BOOST_EAST]
    new, _ = apply_joint_action(layout, state, res.joint)
    assert tuple(new.pos[0]) == (1, 0, 1)


def test_unbound_halves_are_reported_as_unbound():
    layout, state = climb_world((0, 0, 1), (0, 0, 0))
    res = resolve(layout, state, [A.UP, A.STAY], np.random.default_rng(0))
    assert res.joint.tolist() == [A.STAY, A.STAY]
    assert res.outcome(0)[3:] == (Status.UNBOUND, -1, "binding")
    res = resolve(layout, state, [A.STAY, A.BOOST_EAST], np.random.default_rng(0))
    assert res.outcome(1)[2:] == (A.STAY, Status.UNBOUND, -1, "binding")


def test_a_withdrawn_boost_names_the_partner():
    layout, state = climb_world((0, 0, 1), (0, 0, 0))
    climber = np.zeros(N_ACTIONS)
    climber[[A.STAY, A.UP]] = 0.9, 0.1  # offers to climb, but would rather stay (and is surer)
    booster = np.zeros(N_ACTIONS)
    booster[[A.STAY, A.BOOST_EAST]] = 0.4, 0.6
    res = resolve(layout, state, [climber, booster], np.random.default_rng(0), mode="greedy")
    assert res.joint.tolist() == [A.STAY, A.STAY]
    assert res.outcome(0).status == Status.EXECUTED
    assert res.outcome(1)[1:] == (A.BOOST_EAST, A.STAY, Status.SUBSTITUTED, 0, "binding")


def test_any_one_of_two_boosters_binds_the_climb():
    layout, state = climb_world((0, 0, 1), (0, 0, 0), (0, 0, 2))
    for seed in range(10):
        res = resolve(layout, state, [A.UP, A.BOOST_EAST, A.BOOST_WEST], np.random.default_rng(seed))
        assert res.joint.tolist() == [A.UP, A.BOOST_EAST, A.BOOST_WEST]
    res = resolve(layout, state, [A.UP, A.WEST, A.BOOST_WEST], np.random.default_rng(0))
    assert res.joint.tolist() == [A.UP, A.STAY, A.BOOST_WEST]  # west is off the map for agent 1
    assert res.outcome(0).status == Status.EXECUTED


def test_a_lowered_rope_needs_no_boost():
    layout, state = climb_world((0, 0, 1), (0, 0, 0), rope_down=True)
    res = resolve(layout, state, [A.UP, A.STAY], np.random.default_rng(0))
    assert res.joint.tolist() == [A.UP, A.STAY]


def corridor(n: int, length: int) -> tuple[Layout, State]:
    layout = Layout(np.zeros((1, 1, length), np.uint8), np.full((1, 1, length), -1, np.int16))
    return layout, State.initial(layout, np.array([[0, 0, c] for c in range(n)]))


def test_following_rule():
    layout, state = corridor(3, 4)  # agents at 0, 1, 2; cell 3 free
    train = [A.EAST, A.EAST, A.EAST]
    res = resolve(layout, state, train, np.random.default_rng(0))
    assert res.joint.tolist() == [A.STAY, A.STAY, A.EAST]
    assert res.outcome(0)[3:] == (Status.SUBSTITUTED, 1, "occupied")
    res = resolve(layout, state, train, np.random.default_rng(0), following=True)
    assert res.joint.tolist() == train
    assert executes_everything(layout, state, res.joint, True)
    swap = [A.EAST, A.WEST, A.STAY]  # a swap is never allowed, so neither can move
    res = resolve(layout, state, swap, np.random.default_rng(0), following=True)
    assert res.joint.tolist() == [A.STAY, A.STAY, A.STAY]
    assert [res.outcome(i)[4:] for i in (0, 1)] == [(1, "following"), (0, "following")]
    layout, state = corridor(2, 4)
    back = np.zeros(N_ACTIONS)
    back[[A.WEST, A.EAST]] = 0.6, 0.4  # agent 1 would rather go back, but agent 0 is surer
    res = resolve(layout, state, [A.EAST, back], np.random.default_rng(0), following=True, mode="greedy")
    assert res.joint.tolist() == [A.EAST, A.EAST]
    assert res.outcome(1)[1:] == (A.WEST, A.EAST, Status.SUBSTITUTED, 0, "no_swap")


def test_moves_into_walls_and_illegal_actions_become_stay():
    layout, state = corridor(2, 4)
    res = resolve(layout, state, {0: A.NORTH, 1: A.INTERACT}, np.random.default_rng(0))
    assert res.joint.tolist() == [A.STAY, A.STAY]
    assert res.outcome(0)[3:] == (Status.SUBSTITUTED, -1, "terrain")


def test_a_wave_with_no_legal_weight_falls_back_and_is_counted():
    layout, state = corridor(2, 4)
    w = np.zeros(N_ACTIONS)
    w[A.NORTH] = 1.0  # a wall
    for mode in MODES:
        res = resolve(layout, state, [w, A.EAST], np.random.default_rng(0), mode=mode)
        assert res.joint.tolist() == [A.STAY, A.EAST]
        assert res.status[0] == Status.FALLBACK and res.requested[0] == A.NORTH
        assert res.fallbacks == 1


def test_search_fallback_is_counted_when_the_backtrack_budget_is_spent():
    # With following, a crowded 3x3 room can need backtracking (agents that must make way run
    # out of cells); the first such case among a few seeded rooms is cut off with no budget.
    layout = Layout(np.zeros((1, 3, 3), np.uint8), np.full((1, 3, 3), -1, np.int16))
    cells = [(0, r, c) for r in range(3) for c in range(3)]
    for seed in range(300):
        rng = np.random.default_rng(seed)
        state = State.initial(layout, np.array([cells[k] for k in rng.permutation(9)[:8]]))
        waves: list = []
        for _ in range(8):
            if rng.random() < 0.5:
                waves.append(int(rng.integers(1, 5)))
            else:
                w = rng.random(N_ACTIONS) * (rng.random(N_ACTIONS) < 0.5)
                w[A.STAY] = 0.0
                w[rng.integers(1, 5)] += 0.3
                waves.append(w)
        res = resolve(layout, state, waves, np.random.default_rng(seed), following=True)
        if res.backtracks:
            break
    else:
        pytest.fail("no seeded room needed backtracking")
    assert res.fallbacks == 0 and is_consistent(layout, state, res.joint, following=True)
    cut = resolve(layout, state, waves, np.random.default_rng(seed), following=True, max_backtracks=0)
    assert cut.backtracks == 0 and cut.fallbacks >= 1
    assert cut.fallbacks == sum(s == Status.FALLBACK for s in cut.status)
    assert all(cut.joint[i] == A.STAY for i in range(8) if cut.status[i] == Status.FALLBACK)
    assert is_consistent(layout, state, cut.joint, following=True)


@pytest.mark.parametrize(
    ("waves", "match"),
    [
        ([np.full(N_ACTIONS, np.nan), 0], "agent 0: wave holds NaN"),
        ([0, -np.ones(N_ACTIONS)], "agent 1: wave holds a negative weight"),
        ([0, np.ones(N_ACTIONS - 1)], "agent 1: wave has shape"),
        ([0, np.zeros(N_ACTIONS)], "agent 1: wave is all zeros"),
        ([0, N_ACTIONS], "agent 1: action 12 is out of range"),
        ([0, "north"], "agent 1: wave 'north'"),
        ([0], "got 1 waves for 2 agents"),
        ({0: 0, 5: 1}, "key 5 is not an agent"),
        ({"agent_0": 0}, "key 'agent_0' is not an agent"),
        ("ab", "waves must be a dict"),
    ],
)
def test_bad_waves_raise_errors_that_name_the_agent(waves, match):
    layout, state = corridor(2, 4)
    with pytest.raises(WaveError, match=match):
        resolve(layout, state, waves, np.random.default_rng(0))


def test_bad_options_raise():
    layout, state = corridor(2, 4)
    with pytest.raises(WaveError, match="mode"):
        resolve(layout, state, [0, 0], np.random.default_rng(0), mode="best")  # type: ignore[arg-type]
    with pytest.raises(WaveError, match="eps"):
        resolve(layout, state, [0, 0], np.random.default_rng(0), eps=0.5)
