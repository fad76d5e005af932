"""The environment against PettingZoo's own test functions, for every scenario preset.

Rendering runs headless here: SDL's dummy video driver for the pygame window of ``"human"`` mode.

Python warnings are errors here, except the two messages PettingZoo 1.27 emits for every dict
observation with an action mask (removed upstream after 1.27, Farama-Foundation/PettingZoo#1391).
"""

from __future__ import annotations

import os
import warnings

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")

import pytest
from pettingzoo.test import (
    api_test,
    max_cycles_test,
    parallel_api_test,
    parallel_seed_test,
    render_test,
    seed_test,
    state_test,
)

import mazesim

PRESETS = mazesim.list_scenarios()
KNOWN_PZ127_WARNINGS = (
    r"Observation is not a NumPy array",
    r"Observation space for each agent probably should be gymnasium.spaces.box or gymnasium.spaces.discrete",
)


@pytest.fixture(autouse=True)
def warnings_are_errors():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for message in KNOWN_PZ127_WARNINGS:
            warnings.filterwarnings("ignore", message=message)
        yield


def test_presets_exist():
    assert len(PRESETS) >= 6 and "tutorial" in PRESETS and "three_floor" in PRESETS


@pytest.mark.parametrize("scenario", PRESETS)
def test_parallel_api(scenario):
    parallel_api_test(mazesim.parallel_env(scenario=scenario), num_cycles=200)


@pytest.mark.parametrize("scenario", PRESETS)
def test_aec_api(scenario):
    api_test(mazesim.env(scenario=scenario), num_cycles=60)


@pytest.mark.parametrize("scenario", PRESETS)
def test_seeding(scenario):
    parallel_seed_test(lambda: mazesim.parallel_env(scenario=scenario))
    seed_test(lambda: mazesim.env(scenario=scenario), num_cycles=20)


@pytest.mark.parametrize("scenario", PRESETS)
def test_state(scenario):
    state_test(mazesim.env(scenario=scenario), mazesim.parallel_env(scenario=scenario), num_cycles=30)


@pytest.mark.parametrize("scenario", PRESETS)
def test_render(scenario):
    render_test(lambda render_mode=None: mazesim.env(scenario=scenario, render_mode=render_mode))


def test_max_cycles_on_the_package_itself():
    max_cycles_test(mazesim)
