"""Real third-party code accepts the environment: SuperSuit + Stable-Baselines3, TorchRL.

Versions known to work together are pinned in pyproject.toml's ``test`` extra.
"""

from __future__ import annotations

import gymnasium
import numpy as np
import pytest

import mazesim


def flat_box_env(scenario: str = "tutorial"):
    """The dict observation flattened to one Box (SuperSuit's black_death_v3 needs a Box)."""
    import supersuit as ss

    env = mazesim.parallel_env(scenario=scenario)
    dict_space = env.observation_space(env.possible_agents[0])
    box = gymnasium.spaces.flatten_space(dict_space)
    return ss.observation_lambda_v0(
        env,
        lambda obs, space: gymnasium.spaces.flatten(dict_space, obs).astype(np.float32),
        lambda space: gymnasium.spaces.Box(box.low, box.high, dtype=np.float32),
    )


def test_supersuit_vector_env_feeds_stable_baselines3_ppo():
    import supersuit as ss
    from stable_baselines3 import PPO

    env = ss.black_death_v3(flat_box_env())
    venv = ss.pettingzoo_env_to_vec_env_v1(env)
    venv = ss.concat_vec_envs_v1(venv, 2, num_cpus=0, base_class="stable_baselines3")
    assert venv.num_envs == 2 * len(env.possible_agents)
    model = PPO("MlpPolicy", venv, n_steps=64, batch_size=64, n_epochs=1, verbose=0, device="cpu")
    model.learn(total_timesteps=300)
    assert model.num_timesteps >= 300
    obs = venv.reset()
    actions, _ = model.predict(obs)
    assert actions.shape == (venv.num_envs,)
    venv.close()


def test_torchrl_pettingzoo_wrapper_collects_a_whole_episode():
    from torchrl.envs.libs.pettingzoo import PettingZooWrapper

    from mazesim.wrappers import NumericInfos

    env = PettingZooWrapper(
        NumericInfos(mazesim.parallel_env(scenario="tutorial", max_cycles=40)),
        group_map={"agents": ["agent_0", "agent_1"]},
        use_mask=True,
        done_on_any=False,
    )
    env.set_seed(0)
    rollout = env.rollout(max_steps=1000, break_when_any_done=False, break_when_all_done=True)
    steps = rollout.batch_size[0]
    assert 1 <= steps <= 40
    obs = rollout["agents", "observation", "observation"]
    assert obs.shape[:2] == (steps, 2)
    done = rollout["next", "agents", "done"]
    assert bool(done[-1].all())
    outcome = rollout["next", "agents", "info", "outcome"]
    assert set(outcome.unique().tolist()) <= {0, 1, 2}


@pytest.mark.parametrize("scenario", ["tutorial", "three_floor"])
def test_spaces_flatten_for_learners(scenario):
    env = mazesim.parallel_env(scenario=scenario)
    obs, _ = env.reset(seed=0)
    space = env.observation_space(env.agents[0])
    flat = gymnasium.spaces.flatten(space, obs[env.agents[0]])
    assert flat.shape == (gymnasium.spaces.flatdim(space),)
    assert gymnasium.spaces.flatten_space(space).contains(flat)
