"""The environment's fast paths against the general rules they shortcut, step by step.

``maze_escape_v0._advance`` (a solo step executed without ``apply_joint_action``), the cached
plain-step bookkeeping of ``promise_bridge`` and the byte-assembled observations and action masks
of ``observation.Encoder`` must give exactly what the general code gives.
"""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
from test_observation import reference_observation

import mazesim
import promises
from mazesim import maze_escape_v0 as card
from mazesim import promise_bridge
from mazesim.resolver import pass_through, solo_step
from mazesim.world import N_ACTIONS, Action, Frame, apply_joint_action

# mechanism actions more often than moves, so that levers, ropes, stairs and exits happen
_BIAS = np.ones(N_ACTIONS)
_BIAS[[Action.UP, Action.DOWN, Action.INTERACT]] = 5.0
_BIAS[Action.BOOST_NORTH :] = 3.0


def _actions(env, obs, rng: np.random.Generator) -> dict[str, int]:
    out = {}
    for a in env.agents:
        w = obs[a]["action_mask"] * _BIAS
        out[a] = int(rng.choice(N_ACTIONS, p=w / w.sum()))
    return out


@pytest.mark.parametrize("scenario", ["levers", "boost", "mixed"])
def test_solo_steps_advance_exactly_as_the_step_rules(scenario):
    """``_advance`` (a solo step executed without ``apply_joint_action``) against the rules, for
    the requested joint action and for the solver's, and its new frame against a fresh one."""
    from mazesim.expert import Expert

    env = mazesim.parallel_env(scenario=scenario)
    obs, _ = env.reset(seed=3)
    expert = Expert(env.maze)
    rng = np.random.default_rng(3)
    checked = interacts = exits = 0
    for _ in range(400):
        if not env.agents:
            obs, _ = env.reset()
            expert = Expert(env.maze)
        actions = _actions(env, obs, rng)
        if rng.random() < 0.6:  # the expert's steps, so that agents reach the exits too
            joint = expert.act(env.world)
            actions = {a: int(joint[env._index[a]]) for a in env.agents}
        before, fr, layout = env.world, env._frame, env.maze.layout
        waves = env._validate(actions)
        report = card.resolve(layout, before, waves, np.random.default_rng(0), frame_=fr)
        for joint in (waves, report.joint.tolist()):
            solo = solo_step(fr, joint)
            if solo is None:
                continue
            executed, cells = solo
            want, events = apply_joint_action(layout, before, executed, frame_=fr)
            got, exited, new = card._advance(before, fr, executed, cells, env._coords)
            assert want.equals(got) and list(events.exited) == exited
            assert events.executed.tolist() == executed
            ref = Frame(fr.rules, want)
            for name in ("cell", "active", "occ", "doors", "gates", "ropes"):
                assert getattr(new, name) == getattr(ref, name), name
            checked += 1
            interacts += int(Action.INTERACT) in executed
            exits += len(exited)
        obs = env.step(actions)[0]
    assert checked > 400 and exits > 0
    if scenario == "levers":
        assert interacts > 5


def test_cached_bookkeeping_matches_the_general_assessment():
    """Trust, infos and the step record of every step equal a fresh assessment of the step, on
    the solo path (no solver work) and on the solver's."""
    env = mazesim.parallel_env(scenario="mixed")
    obs, _ = env.reset(seed=5)
    rng = np.random.default_rng(5)
    real, real_solo = card.step_promises, card.solo_promises
    seen = {"solo": 0, "plain": 0, "other": 0}

    def check(layout, before, after, report, log, fr, per_agent, step, trust_before):
        assessments = promises.assess_step(promise_bridge.resolutions(layout, before, report, fr))
        want = promises.update_trust(trust_before, assessments, active=before.active)
        np.testing.assert_array_equal(after.trust, want)
        np.testing.assert_array_equal(before.trust, trust_before)  # a shared ledger is never written
        assert log.steps[-1] == assessments
        for a in assessments:
            info = promises.agent_info(a)
            assert {k: v for k, v in per_agent[a.agent].items() if k != "reason"} == info
        assert step["bindings"] == [list(b) for b in promises.bindings(assessments)]
        assert step["solver"] == {k: getattr(report, k) for k in step["solver"]}

    def checked(layout, before, after, report, log=None, forgetting=0.0, fr=None):
        trust_before = before.trust.copy()
        per_agent, step = real(layout, before, after, report, log, forgetting, fr)
        check(layout, before, after, report, log, fr, per_agent, step, trust_before)
        plain = promise_bridge._plain(report.requested, report.status, tuple(fr.active)) is not None
        seen["plain" if plain else "other"] += 1
        return per_agent, step

    def checked_solo(after, joint, active, log=None):
        before, fr = env.world, env._frame  # the step has not replaced them yet
        trust_before = before.trust.copy()
        per_agent, step = real_solo(after, joint, active, log)
        report = pass_through(list(active), list(joint))
        check(env.maze.layout, before, after, report, log, fr, per_agent, step, trust_before)
        seen["solo"] += 1
        return per_agent, step

    card.step_promises, card.solo_promises = checked, checked_solo
    try:
        for _ in range(300):
            if not env.agents:
                obs, _ = env.reset()
            obs = env.step(_actions(env, obs, rng))[0]
    finally:
        card.step_promises, card.solo_promises = real, real_solo
    assert seen["solo"] > 100 and seen["other"] > 10


@pytest.mark.parametrize("scenario", ["tutorial", "levers", "boost"])
def test_observations_and_masks_match_the_reference_for_every_observer(scenario):
    """Also the final observation of agents that just left (inactive observers)."""
    env = mazesim.parallel_env(scenario=scenario)
    from mazesim.expert import Expert

    obs, _ = env.reset(seed=1)
    expert = Expert(env.maze)
    rng = np.random.default_rng(1)
    v, left = env.scenario.view_radius, 0
    while env.agents:
        joint = expert.act(env.world)
        actions = {a: int(joint[env._index[a]]) for a in env.agents}
        if rng.random() < 0.3:
            actions = _actions(env, obs, rng)
        obs, _, terms, _, _ = env.step(actions)
        fr = Frame(env._frame.rules, env.world)
        for a, o in obs.items():
            i = env._index[a]
            want = reference_observation(env.maze.layout, env.world, i, v, env.max_cycles)
            np.testing.assert_array_equal(o["observation"], want, err_msg=f"{a} step {env.world.step}")
            np.testing.assert_array_equal(o["action_mask"], fr.mask(i))
            assert o["observation"].flags.writeable and o["action_mask"].dtype == np.int8
        left += sum(terms.values())
    assert left == len(env.possible_agents)


def test_infos_stay_plain_json_dicts_and_the_env_pickles_mid_episode():
    env = mazesim.parallel_env(scenario="mixed")
    obs, _ = env.reset(seed=2)
    rng = np.random.default_rng(2)
    for _ in range(30):
        obs, _, _, _, infos = env.step(_actions(env, obs, rng))
    for info in infos.values():
        assert type(info) is dict and {"position", "action", "promise", "outcome", "step"} <= set(info)
        json.dumps(info)
    clone = pickle.loads(pickle.dumps(env))
    for _ in range(150):  # long enough for doors to open and shut in the clone too
        if not env.agents:
            break
        actions = _actions(env, obs, rng)
        obs, r1, *_, i1 = env.step(actions)
        o2, r2, *_, i2 = clone.step(actions)
        assert r1 == r2 and i1 == i2
        for a in obs:
            np.testing.assert_array_equal(obs[a]["observation"], o2[a]["observation"])
            np.testing.assert_array_equal(obs[a]["action_mask"], o2[a]["action_mask"])


def test_infos_never_come_from_a_stale_template_id():
    """``infos`` are filled from bases kept by the id of their promise template; an entry whose
    id now names another template (ids of an unpickled env are stale) must not be used."""
    env = mazesim.parallel_env(scenario="mixed")
    obs, _ = env.reset(seed=4)
    rng = np.random.default_rng(4)
    fresh = mazesim.parallel_env(scenario="mixed")
    fresh.reset(seed=4)
    for _ in range(40):
        actions = _actions(env, obs, rng)
        # every template now kept is filed under the id of some other one, with a wrong base
        env._info_bases = {key: ({"outcome": "other"}, {"outcome": "wrong"}) for key in env._info_bases}
        obs, *_, infos = env.step(actions)
        want = fresh.step(actions)[-1]
        assert infos == want
        if not env.agents:
            break


def test_infos_are_fresh_dicts_with_the_maze_seed_of_their_own_env():
    """Infos come from shared bases: what a step returns is the caller's to keep and edit, and
    ``maze_seed`` is the episode's own, also for a shallow copy of the env (which shares the
    bases) after it reset to another maze."""
    import copy

    env = mazesim.parallel_env(scenario="mixed")
    obs, _ = env.reset(seed=6, options={"maze_seed": 5})
    rng = np.random.default_rng(6)
    kept = []
    for _ in range(20):
        obs, *_, infos = env.step(_actions(env, obs, rng))
        kept.append((infos, {a: (i["position"], i["action"], i["step"]) for a, i in infos.items()}))
        for info in infos.values():  # edits by the caller must not reach later steps
            info["promise"] = info["outcome"] = "edited"
            info.pop("reason", None)
    for infos, facts in kept:  # and later steps never wrote into a dict they returned
        assert {a: (i["position"], i["action"], i["step"]) for a, i in infos.items()} == facts
        assert all(info["promise"] == "edited" for info in infos.values())
    obs, *_, infos = env.step(_actions(env, obs, rng))
    assert all(info["outcome"] != "edited" and "reason" in info for info in infos.values())
    assert {info["maze_seed"] for info in infos.values()} == {5}
    twin = copy.copy(env)
    assert twin._info_bases is env._info_bases
    obs2, _ = twin.reset(seed=7, options={"maze_seed": 7})
    _, *_, infos2 = twin.step(_actions(twin, obs2, rng))
    _, *_, infos = env.step(_actions(env, obs, rng))
    assert {info["maze_seed"] for info in infos2.values()} == {7}
    assert {info["maze_seed"] for info in infos.values()} == {5}


def test_a_solo_step_may_enter_the_cell_of_an_agent_that_has_left():
    """Only agents still inside occupy cells: moving onto the exit cell where a departed agent
    stands is a solo step, whether the frame knows everyone is inside or not."""
    from mazesim.world import Layout, State, frame

    layout = Layout(np.zeros((1, 1, 3), np.uint8), np.full((1, 1, 3), -1, np.int16))
    state = State.initial(layout, np.array([[0, 0, 0], [0, 0, 1]]))
    state.active[0] = False
    fr = frame(layout, state)
    assert not fr.everyone and fr.occ == {1: 1}
    west = int(Action.WEST)
    assert solo_step(fr, [int(Action.STAY), west]) == ([0, west], [0, 0])
    assert solo_step(fr, [int(Action.STAY), west], checked=True) == ([0, west], [0, 0])
    state.active[0] = True  # now the cell is taken
    assert solo_step(frame(layout, state), [int(Action.STAY), west]) is None


def test_maze_cache_is_bounded():
    """Each cached maze keeps its compiled rules alive: the cache must stay small."""
    assert card._generate.cache_info().maxsize <= 32
