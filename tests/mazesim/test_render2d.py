"""The 2D view: frame shape, agents where cell_to_pixel says, doors drawn by state, PettingZoo render_test."""

from __future__ import annotations

import os

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")

import numpy as np
import pytest
from pettingzoo.test import render_test

import mazesim
from mazesim.render2d import AGENT_COLOURS, Renderer2D, Scene, agent_trust, scene_from_env
from mazesim.text import parse_text
from mazesim.world import State

DOOR_MAZE = """
#######
#0.P..#
###D###
#1.P..#
#######
"""


@pytest.fixture(scope="module")
def env():
    e = mazesim.parallel_env(scenario="tutorial")
    e.reset(seed=3)
    return e


def test_frame_shape_dtype_and_agents_at_their_pixels(env):
    view = Renderer2D(env.maze.layout, env.world.n_agents, size=(512, 400))
    frame = view.rgb_array(scene_from_env(env))
    assert frame.shape == (400, 512, 3) and frame.dtype == np.uint8
    for i, cell in enumerate(env.world.pos.tolist()):
        x, y = view.cell_to_pixel(cell)
        assert 0 <= x < 512 and 0 <= y < 400
        # the centre of the disc is the agent's colour (the id label sits a little off-centre)
        patch = frame[y - 2 : y + 3, x - 6 : x - 3].reshape(-1, 3).astype(int)
        assert np.abs(patch - np.array(AGENT_COLOURS[i])).sum(axis=1).min() < 40, (i, patch)


def test_open_door_differs_from_closed_door():
    layout, starts = parse_text(DOOR_MAZE)
    view = Renderer2D(layout, 2, size=(480, 480))
    door = layout.door_cells[0][0]
    closed = State.initial(layout, np.array([[0, 1, 1], [0, 3, 1]]))
    opened = State.initial(layout, np.array([[0, 1, 3], [0, 3, 1]]))  # agent 0 on a plate
    x, y = view.cell_to_pixel(door)
    f_closed = view.rgb_array(Scene(closed, ("none", "none")))
    f_open = view.rgb_array(Scene(opened, ("none", "none")))
    assert np.abs(f_closed[y, x].astype(int) - f_open[y, x].astype(int)).sum() > 60
    # the pressed plate looks different from a free one; a wall far away does not change
    px, py = view.cell_to_pixel((0, 3, 3))
    plate_free = view.rgb_array(Scene(closed, ("none", "none")))[py, px - view.cell // 3]
    pressed = State.initial(layout, np.array([[0, 1, 1], [0, 3, 3]]))
    plate_pressed = view.rgb_array(Scene(pressed, ("none", "none")))[py, px - view.cell // 3]
    assert np.abs(plate_free.astype(int) - plate_pressed.astype(int)).sum() > 40
    wall_x, wall_y = view.cell_to_pixel((0, 0, 0))
    assert np.array_equal(f_closed[wall_y, wall_x], f_open[wall_y, wall_x])


def test_outcome_rings_and_binding_arrow_are_drawn():
    layout, _ = parse_text(DOOR_MAZE)
    view = Renderer2D(layout, 2, size=(480, 480))
    state = State.initial(layout, np.array([[0, 1, 1], [0, 1, 2]]))
    plain = view.rgb_array(Scene(state, ("none", "none")))
    kept = view.rgb_array(Scene(state, ("kept", "withdrawn")))
    arrow = view.rgb_array(Scene(state, ("none", "none"), bindings=((0, 1),)))
    assert not np.array_equal(plain, kept)
    assert not np.array_equal(plain, arrow)
    x, y = view.cell_to_pixel((0, 1, 1))
    ring_y = y - round(view.cell * 0.45)
    green = np.array([42, 157, 63])
    assert np.abs(kept[ring_y - 2 : ring_y + 3, x].astype(int) - green).sum(axis=1).min() < 60


def test_trust_is_mean_of_others_trust():
    layout, starts = parse_text(DOOR_MAZE)
    state = State.initial(layout, starts)
    state.trust[0, 1] = (3.0, 1.0)  # agent 1 trusts agent 0 at 0.75
    assert agent_trust(state).tolist() == [0.75, 0.5]


def test_env_rgb_array_and_human_render_test():
    frame_env = mazesim.parallel_env(scenario="tutorial", render_mode="rgb_array")
    frame_env.reset(seed=0)
    frame = frame_env.render()
    assert frame.ndim == 3 and frame.shape[2] == 3 and frame.dtype == np.uint8
    frame_env.close()
    render_test(lambda render_mode=None: mazesim.env(scenario="tutorial", render_mode=render_mode))


def test_bad_view_and_render_before_reset():
    with pytest.raises(ValueError, match="view="):
        mazesim.parallel_env(view="4d")
    with pytest.raises(RuntimeError, match="reset"):
        mazesim.parallel_env(render_mode="rgb_array").render()
