"""The 3D view renders through EGL for real: shape, agents where the camera projects them, doors."""

from __future__ import annotations

import numpy as np
import pytest

import mazesim
from mazesim.render2d import AGENT_COLOURS, Scene, scene_from_env
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
def renderer_cls():
    from mazesim.render3d import Renderer3D, RenderUnavailableError

    try:
        probe = Renderer3D(parse_text(DOOR_MAZE)[0], 2, size=(64, 64))
    except RenderUnavailableError as exc:  # fail loudly: CI must have Mesa's EGL
        pytest.fail(f"3D rendering through EGL is unavailable: {exc}")
    probe.close()
    return Renderer3D


ROOM = """
#########
#.......#
#.0...1.#
#.......#
#...2...#
#########
"""


def test_frame_and_agents_at_projected_pixels(renderer_cls):
    layout, starts = parse_text(ROOM)
    view = renderer_cls(layout, 3, size=(256, 256))
    try:
        scene = Scene(State.initial(layout, starts), ("kept", "withdrawn", "unbound"))
        frame = view.rgb_array(scene)
        assert frame.shape == (256, 256, 3) and frame.dtype == np.uint8
        assert len(np.unique(frame.reshape(-1, 3), axis=0)) > 20  # really drew a scene, not a clear colour
        for i, cell in enumerate(starts.tolist()):
            x, y = view.cell_to_pixel(cell, scene)
            got = frame[y, x].astype(int)
            dists = [np.abs(got - np.array(c)).sum() for c in AGENT_COLOURS[:3]]
            assert int(np.argmin(dists)) == i and dists[i] < 90, (i, got, dists)
    finally:
        view.close()


def test_maze_frame(renderer_cls):
    env = mazesim.parallel_env(scenario="mixed")
    env.reset(seed=0)
    view = renderer_cls(env.maze.layout, env.world.n_agents, size=(160, 120))
    try:
        frame = view.rgb_array(scene_from_env(env))
        assert frame.shape == (120, 160, 3) and frame.dtype == np.uint8
    finally:
        view.close()


def test_open_door_differs_from_closed_door(renderer_cls):
    layout, _ = parse_text(DOOR_MAZE)
    view = renderer_cls(layout, 2, size=(200, 200))
    try:
        closed = Scene(State.initial(layout, np.array([[0, 1, 1], [0, 3, 1]])), ("none", "none"))
        opened = Scene(State.initial(layout, np.array([[0, 1, 3], [0, 3, 1]])), ("none", "none"))
        door = layout.door_cells[0][0]
        f_closed, f_open = view.rgb_array(closed), view.rgb_array(opened)
        # the camera follows the team; compare where each frame's camera sees the door
        xc, yc = view.cell_to_pixel(door, closed, height=0.0)
        xo, yo = view.cell_to_pixel(door, opened, height=0.0)
        assert np.abs(f_closed[yc, xc].astype(int) - f_open[yo, xo].astype(int)).sum() > 60
    finally:
        view.close()


def test_env_3d_rgb_array():
    env = mazesim.parallel_env(scenario="tutorial", render_mode="rgb_array", view="3d")
    env.reset(seed=1)
    frame = env.render()
    assert frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] == 3
    env.close()
