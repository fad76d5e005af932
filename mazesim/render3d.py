"""3D view of a maze with pyglet (OpenGL 3.3 shaders), rendered offscreen through EGL.

Floors are stacked :data:`LEVEL_HEIGHT` apart, walls are blocks, stairs are steps, agents are
coloured spheres standing on a ring that shows the outcome of their last promise (the colours of
:mod:`mazesim.render2d`). Floors above the camera's focus (the lowest floor with an agent on it)
are drawn translucent so the team stays visible. The camera orbits the team's centre as the
episode goes on (the angle is a function of the step, so a frame is a pure function of its
scene).

Static geometry (floor slabs, walls, tiles) is built once per layout into one vertex list per
floor; per frame only doors, gates, ropes and agents are drawn (one shared sphere and ring mesh,
moved by a uniform). The frame is read back with ``glReadPixels``.

Headless: pyglet is imported lazily, in headless mode (EGL) unless the caller already imported
``pyglet.window``; a hidden window with an explicit 8-bit RGBA + 24-bit depth configuration is the
render target (the default can be RGB565, which gives wrong colours). Mesa's EGL comes from the
Debian packages ``libegl1 libegl-mesa0 libgl1 libgl1-mesa-dri libgbm1``.

Example::

    import mazesim
    from mazesim.render2d import scene_from_env
    from mazesim.render3d import Renderer3D

    env = mazesim.parallel_env(scenario="mixed")
    env.reset(seed=0)
    view = Renderer3D(env.maze.layout, n_agents=3, size=(256, 256))
    frame = view.rgb_array(scene_from_env(env))     # (256, 256, 3) uint8
    view.close()
"""

from __future__ import annotations

import ctypes
import math
import sys
from typing import Any

import numpy as np

from mazesim.render2d import (
    AGENT_COLOURS,
    CLIMB,
    DOOR,
    EXIT,
    FLOOR,
    GATE,
    OUTCOME_COLOURS,
    PLATE,
    ROPE,
    STAIRS,
    Colour,
    Scene,
    show,
)
from mazesim.world import Cell, Layout, Tile, doors_open

#: Vertical distance between floors, in cells.
LEVEL_HEIGHT = 3.2
WALL_HEIGHT = 0.8
AGENT_RADIUS = 0.33
BACKGROUND_3D: Colour = (236, 238, 242)
WALL_3D: Colour = (150, 160, 178)
WALL_TOP: Colour = (84, 94, 112)
TRANSLUCENT_ALPHA = 0.18
EGL_PACKAGES = "libegl1 libegl-mesa0 libgl1 libgl1-mesa-dri libgbm1"

_VERTEX = """
#version 330 core
in vec3 position;
in vec3 normal;
in vec3 colour;
uniform mat4 mvp;
uniform vec3 offset;
uniform vec4 tint;
out vec4 v_colour;
void main() {
    gl_Position = mvp * vec4(position + offset, 1.0);
    float light = 0.5 + 0.5 * max(dot(normalize(normal), normalize(vec3(0.35, 1.0, 0.55))), 0.0);
    v_colour = vec4(colour * tint.rgb * light, tint.a);
}
"""
_FRAGMENT = """
#version 330 core
in vec4 v_colour;
out vec4 frag;
void main() { frag = v_colour; }
"""


class RenderUnavailableError(RuntimeError):
    """OpenGL through EGL cannot be started; the message names the packages to install."""


def import_pyglet() -> Any:
    """Import pyglet with its GL module, headless (EGL) unless ``pyglet.window`` is already loaded."""
    import pyglet

    if "pyglet.window" not in sys.modules:
        pyglet.options["headless"] = True
        pyglet.options["shadow_window"] = False
    try:
        import pyglet.gl  # noqa: F401
        import pyglet.window  # noqa: F401
    except Exception as exc:  # pyglet raises several kinds here (ImportError, OSError, its own)
        raise RenderUnavailableError(
            f"the 3D view needs OpenGL through EGL, which failed to load ({exc}); "
            f"on Debian/Ubuntu install: apt-get install {EGL_PACKAGES}"
        ) from exc
    return pyglet


class _Mesh:
    """Triangles being collected: positions, normals and colours, flattened for a vertex list."""

    def __init__(self) -> None:
        self.pos: list[float] = []
        self.nrm: list[float] = []
        self.col: list[float] = []

    def tri(self, a: tuple, b: tuple, c: tuple, n: tuple, colour: Colour) -> None:
        rgb = (colour[0] / 255, colour[1] / 255, colour[2] / 255)
        for p in (a, b, c):
            self.pos.extend(p)
            self.nrm.extend(n)
            self.col.extend(rgb)

    def quad(self, a: tuple, b: tuple, c: tuple, d: tuple, n: tuple, colour: Colour) -> None:
        self.tri(a, b, c, n, colour)
        self.tri(a, c, d, n, colour)

    def box(
        self,
        x0: float,
        y0: float,
        z0: float,
        x1: float,
        y1: float,
        z1: float,
        colour: Colour,
        top: Colour | None = None,
        skip: frozenset[str] = frozenset(),
    ) -> None:
        """An axis-aligned box; ``skip`` names sides not to emit (``n s w e``), hidden by walls."""
        self.quad((x0, y1, z0), (x0, y1, z1), (x1, y1, z1), (x1, y1, z0), (0, 1, 0), top or colour)
        if "n" not in skip:
            self.quad((x0, y0, z0), (x0, y1, z0), (x1, y1, z0), (x1, y0, z0), (0, 0, -1), colour)
        if "s" not in skip:
            self.quad((x0, y0, z1), (x1, y0, z1), (x1, y1, z1), (x0, y1, z1), (0, 0, 1), colour)
        if "w" not in skip:
            self.quad((x0, y0, z0), (x0, y0, z1), (x0, y1, z1), (x0, y1, z0), (-1, 0, 0), colour)
        if "e" not in skip:
            self.quad((x1, y0, z0), (x1, y1, z0), (x1, y1, z1), (x1, y0, z1), (1, 0, 0), colour)

    def __len__(self) -> int:
        return len(self.pos) // 3


class Renderer3D:
    """Draws :class:`~mazesim.render2d.Scene` frames of one layout in 3D; static geometry cached.

    ``size``: ``(width, height)`` of the frame. Raises :class:`RenderUnavailableError` when
    OpenGL through EGL cannot start. Call :meth:`close` to release the GL context.
    """

    def __init__(self, layout: Layout, n_agents: int, size: tuple[int, int] = (256, 256)) -> None:
        self.pyglet = pyglet = import_pyglet()
        gl = self.gl = pyglet.gl
        self.layout = layout
        self.n_agents = n_agents
        self.size = (int(size[0]), int(size[1]))
        config = gl.Config(
            red_size=8, green_size=8, blue_size=8, alpha_size=8, depth_size=24, double_buffer=False
        )
        try:
            self._window = pyglet.window.Window(*self.size, visible=False, config=config)
        except Exception as exc:
            raise RenderUnavailableError(
                f"could not open a hidden {self.size[0]}×{self.size[1]} OpenGL window through EGL ({exc}); "
                f"on Debian/Ubuntu install: apt-get install {EGL_PACKAGES}"
            ) from exc
        self._window.switch_to()
        from pyglet.graphics.shader import Shader, ShaderProgram

        self._program = ShaderProgram(Shader(_VERTEX, "vertex"), Shader(_FRAGMENT, "fragment"))
        self._buffer = (ctypes.c_ubyte * (self.size[0] * self.size[1] * 4))()
        self._build()

    # -- geometry ----------------------------------------------------------------------------------
    def _vlist(self, mesh: _Mesh) -> Any:
        if not len(mesh):
            return None
        return self._program.vertex_list(
            len(mesh),
            self.gl.GL_TRIANGLES,
            position=("f", mesh.pos),
            normal=("f", mesh.nrm),
            colour=("f", mesh.col),
        )

    def _build(self) -> None:
        layout = self.layout
        tiles = layout.tiles
        levels, rows, cols = layout.shape
        wall = tiles == Tile.WALL
        self._levels = []
        for lv in range(levels):
            m = _Mesh()
            base = lv * LEVEL_HEIGHT
            m.box(0, base - 0.12, 0, cols, base, rows, (200, 196, 188), top=FLOOR)
            for r, c in np.argwhere(wall[lv]).tolist():
                skip = frozenset(
                    side
                    for side, (rr, cc) in (
                        ("n", (r - 1, c)),
                        ("s", (r + 1, c)),
                        ("w", (r, c - 1)),
                        ("e", (r, c + 1)),
                    )
                    if 0 <= rr < rows and 0 <= cc < cols and wall[lv, rr, cc]
                )
                m.box(c, base, r, c + 1, base + WALL_HEIGHT, r + 1, WALL_3D, top=WALL_TOP, skip=skip)
            for r, c in np.argwhere(~wall[lv]).tolist():
                _tile_geometry(m, Tile(int(tiles[lv, r, c])), base, r, c)
            self._levels.append(self._vlist(m))
        self._doors = [self._cells_mesh(cells, DOOR, 0.85, 0.3) for cells in layout.door_cells]
        self._gates = [self._cells_mesh(cells, GATE, 0.9, 0.12, bars=True) for cells in layout.gate_cells]
        self._ropes = []
        for lv, r, c in layout.climb_cells:
            m = _Mesh()
            top = (lv + 1) * LEVEL_HEIGHT
            m.box(c + 0.45, lv * LEVEL_HEIGHT, r + 0.45, c + 0.55, top, r + 0.55, ROPE)
            self._ropes.append(self._vlist(m))
        body = _Mesh()
        _sphere(body, AGENT_RADIUS, 10, 16)
        self._body = self._vlist(body)
        ring = _Mesh()
        _ring(ring, 0.36, 0.48, 24)
        self._ring = self._vlist(ring)

    def _cells_mesh(
        self, cells: tuple[Cell, ...], colour: Colour, height: float, thick: float, bars: bool = False
    ) -> Any:
        tiles = self.layout.tiles
        m = _Mesh()
        for lv, r, c in cells:
            base = lv * LEVEL_HEIGHT
            horiz = c > 0 and tiles[lv, r, c - 1] == Tile.WALL  # barrier runs west-east
            if bars:
                for k in range(4):
                    t = 0.14 + 0.24 * k
                    if horiz:
                        m.box(c + t - 0.04, base, r + 0.46, c + t + 0.04, base + height, r + 0.54, colour)
                    else:
                        m.box(c + 0.46, base, r + t - 0.04, c + 0.54, base + height, r + t + 0.04, colour)
            elif horiz:
                m.box(c, base, r + 0.5 - thick / 2, c + 1, base + height, r + 0.5 + thick / 2, colour)
            else:
                m.box(c + 0.5 - thick / 2, base, r, c + 0.5 + thick / 2, base + height, r + 1, colour)
        return self._vlist(m)

    # -- camera ------------------------------------------------------------------------------------
    def camera(self, scene: Scene) -> np.ndarray:
        """``(4, 4)`` float64 view-projection matrix for ``scene`` (row-major, column vectors)."""
        levels, rows, cols = self.layout.shape
        state = scene.state
        active = state.active
        if active.any():
            p = state.pos[active].astype(np.float64)
            target = np.array(
                [p[:, 2].mean() + 0.5, p[:, 0].mean() * LEVEL_HEIGHT + 0.5, p[:, 1].mean() + 0.5]
            )
        else:
            target = np.array([cols / 2, (levels - 1) * LEVEL_HEIGHT / 2, rows / 2])
        # Look a little toward the maze's middle, so the team never sits at the frame's edge.
        target[[0, 2]] = 0.7 * target[[0, 2]] + 0.3 * np.array([cols / 2, rows / 2])
        distance = 0.8 * max(rows, cols) + 2.0 * levels + 4.0
        azimuth = math.radians(30.0) + 0.02 * state.step
        elevation = math.radians(60.0)
        eye = target + distance * np.array(
            [
                math.cos(elevation) * math.sin(azimuth),
                math.sin(elevation),
                math.cos(elevation) * math.cos(azimuth),
            ]
        )
        aspect = self.size[0] / self.size[1]
        return _perspective(45.0, aspect, 0.5, distance * 3 + 50) @ _look_at(eye, target)

    def cell_to_pixel(
        self, cell: Cell | tuple[int, int, int], scene: Scene, height: float = AGENT_RADIUS + 0.05
    ) -> tuple[int, int]:
        """``(x, y)``: the frame pixel where the point ``height`` above ``cell``'s centre appears."""
        lv, r, c = (int(v) for v in cell)
        p = self.camera(scene) @ np.array([c + 0.5, lv * LEVEL_HEIGHT + height, r + 0.5, 1.0])
        ndc = p[:3] / p[3]
        x = (ndc[0] + 1) / 2 * self.size[0]
        y = (1 - ndc[1]) / 2 * self.size[1]
        return int(x), int(y)

    # -- frame -------------------------------------------------------------------------------------
    def rgb_array(self, scene: Scene) -> np.ndarray:
        """``(height, width, 3)`` uint8 frame of ``scene``."""
        gl = self.gl
        layout, state = self.layout, scene.state
        self._window.switch_to()
        prog = self._program
        gl.glViewport(0, 0, *self.size)
        bg = BACKGROUND_3D
        gl.glClearColor(bg[0] / 255, bg[1] / 255, bg[2] / 255, 1.0)
        gl.glClear(gl.GL_COLOR_BUFFER_BIT | gl.GL_DEPTH_BUFFER_BIT)
        gl.glEnable(gl.GL_DEPTH_TEST)
        gl.glEnable(gl.GL_CULL_FACE)
        gl.glDisable(gl.GL_BLEND)
        gl.glDepthMask(gl.GL_TRUE)
        prog.use()
        prog["mvp"] = tuple(self.camera(scene).T.flatten().tolist())
        prog["offset"] = (0.0, 0.0, 0.0)
        prog["tint"] = (1.0, 1.0, 1.0, 1.0)
        active = state.active
        focus = int(state.pos[active, 0].min()) if active.any() else 0
        occ = state.occupancy()
        open_doors = doors_open(layout, occ)
        opaque = [lv for lv in range(len(self._levels)) if lv <= focus]
        above = [lv for lv in range(len(self._levels)) if lv > focus]

        def mechanisms(levels: list[int]) -> None:
            for g, vl in enumerate(self._doors):
                if vl is not None and not open_doors[g] and layout.door_cells[g][0][0] in levels:
                    vl.draw(gl.GL_TRIANGLES)
            for g, vl in enumerate(self._gates):
                if vl is not None and not state.gates_open[g] and layout.gate_cells[g][0][0] in levels:
                    vl.draw(gl.GL_TRIANGLES)
            for k, vl in enumerate(self._ropes):
                if state.ropes_down[k] and layout.climb_cells[k][0] in levels:
                    vl.draw(gl.GL_TRIANGLES)

        for lv in opaque:
            self._levels[lv].draw(gl.GL_TRIANGLES)
        mechanisms(opaque)
        for i, (lv, r, c) in enumerate(state.pos.tolist()):
            if not active[i]:
                continue
            base = lv * LEVEL_HEIGHT
            prog["offset"] = (c + 0.5, base + 0.012, r + 0.5)
            outcome = scene.outcomes[i] if i < len(scene.outcomes) else "none"
            if outcome in OUTCOME_COLOURS:
                prog["tint"] = (*(v / 255 for v in OUTCOME_COLOURS[outcome]), 1.0)
                self._ring.draw(gl.GL_TRIANGLES)
            prog["offset"] = (c + 0.5, base + AGENT_RADIUS + 0.04, r + 0.5)
            prog["tint"] = (*(v / 255 for v in AGENT_COLOURS[i % len(AGENT_COLOURS)]), 1.0)
            self._body.draw(gl.GL_TRIANGLES)
        if above:
            prog["offset"] = (0.0, 0.0, 0.0)
            prog["tint"] = (1.0, 1.0, 1.0, TRANSLUCENT_ALPHA)
            gl.glEnable(gl.GL_BLEND)
            gl.glBlendFunc(gl.GL_SRC_ALPHA, gl.GL_ONE_MINUS_SRC_ALPHA)
            gl.glDepthMask(gl.GL_FALSE)
            for lv in above:
                self._levels[lv].draw(gl.GL_TRIANGLES)
            mechanisms(above)
            gl.glDepthMask(gl.GL_TRUE)
        gl.glFinish()
        w, h = self.size
        gl.glPixelStorei(gl.GL_PACK_ALIGNMENT, 1)
        gl.glReadPixels(0, 0, w, h, gl.GL_RGBA, gl.GL_UNSIGNED_BYTE, self._buffer)
        rgba = np.frombuffer(self._buffer, dtype=np.uint8).reshape(h, w, 4)
        return np.ascontiguousarray(rgba[::-1, :, :3])

    def close(self) -> None:
        """Release the GL objects and the hidden window."""
        if self._window is not None:
            self._window.switch_to()
            for vl in [*self._levels, *self._doors, *self._gates, *self._ropes, self._body, self._ring]:
                if vl is not None:
                    vl.delete()
            self._program.delete()
            self._window.close()
            self._window = None


def _tile_geometry(m: _Mesh, t: Tile, base: float, r: int, c: int) -> None:
    """The static decoration of one non-wall tile."""
    y = base + 0.005
    if t == Tile.STAIRS_UP:
        for k in range(4):
            m.box(c + 0.1, base, r + 0.1 + 0.2 * k, c + 0.9, base + 0.15 * (k + 1), r + 0.3 + 0.2 * k, STAIRS)
    elif t == Tile.STAIRS_DOWN:
        m.quad(
            (c + 0.1, y, r + 0.1),
            (c + 0.1, y, r + 0.9),
            (c + 0.9, y, r + 0.9),
            (c + 0.9, y, r + 0.1),
            (0, 1, 0),
            (50, 74, 110),
        )
    elif t == Tile.PLATE:
        m.box(c + 0.12, base, r + 0.12, c + 0.88, base + 0.06, r + 0.88, PLATE)
    elif t == Tile.LEVER:
        m.box(c + 0.3, base, r + 0.3, c + 0.7, base + 0.12, r + 0.7, GATE)
        m.box(c + 0.45, base, r + 0.45, c + 0.55, base + 0.6, r + 0.55, (70, 60, 90))
    elif t in (Tile.CLIMB, Tile.LEDGE):
        m.quad(
            (c + 0.06, y, r + 0.06),
            (c + 0.06, y, r + 0.94),
            (c + 0.94, y, r + 0.94),
            (c + 0.94, y, r + 0.06),
            (0, 1, 0),
            CLIMB,
        )
    elif t == Tile.EXIT:
        m.box(c + 0.06, base, r + 0.06, c + 0.94, base + 0.08, r + 0.94, EXIT)
        m.box(c + 0.3, base, r + 0.3, c + 0.7, base + 0.9, r + 0.7, (120, 210, 150))


def _sphere(m: _Mesh, radius: float, stacks: int, slices: int) -> None:
    def point(i: int, j: int) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
        theta = math.pi * i / stacks
        phi = 2 * math.pi * j / slices
        n = (math.sin(theta) * math.cos(phi), math.cos(theta), math.sin(theta) * math.sin(phi))
        return (n[0] * radius, n[1] * radius, n[2] * radius), n

    white = (255, 255, 255)
    for i in range(stacks):
        for j in range(slices):
            (a, na), (b, _), (c, _), (d, _) = (
                point(i, j),
                point(i + 1, j),
                point(i + 1, j + 1),
                point(i, j + 1),
            )
            # Counter-clockwise seen from outside; normals per face from the first corner.
            if i > 0:
                m.tri(a, d, c, na, white)
            if i < stacks - 1:
                m.tri(a, c, b, na, white)
    _smooth_normals(m, radius)


def _smooth_normals(m: _Mesh, radius: float) -> None:
    pos = np.asarray(m.pos).reshape(-1, 3)
    m.nrm = (pos / radius).reshape(-1).tolist()


def _ring(m: _Mesh, inner: float, outer: float, slices: int) -> None:
    white = (255, 255, 255)
    for j in range(slices):
        a0, a1 = 2 * math.pi * j / slices, 2 * math.pi * (j + 1) / slices
        p = [(rad * math.cos(a), 0.0, rad * math.sin(a)) for a in (a0, a1) for rad in (inner, outer)]
        m.quad(p[0], p[2], p[3], p[1], (0, 1, 0), white)


def _look_at(eye: np.ndarray, target: np.ndarray) -> np.ndarray:
    f = target - eye
    f /= np.linalg.norm(f)
    s = np.cross(f, np.array([0.0, 1.0, 0.0]))
    s /= np.linalg.norm(s)
    u = np.cross(s, f)
    m = np.eye(4)
    m[0, :3], m[1, :3], m[2, :3] = s, u, -f
    m[:3, 3] = -m[:3, :3] @ eye
    return m


def _perspective(fov_deg: float, aspect: float, near: float, far: float) -> np.ndarray:
    f = 1.0 / math.tan(math.radians(fov_deg) / 2)
    m = np.zeros((4, 4))
    m[0, 0], m[1, 1] = f / aspect, f
    m[2, 2], m[2, 3] = (far + near) / (near - far), 2 * far * near / (near - far)
    m[3, 2] = -1.0
    return m


class Viewer3D:
    """An env's 3D view: ``rgb_array`` frames, or shown in a pygame window in ``human`` mode.

    The 3D frame is always rendered offscreen (EGL) and, in ``human`` mode, shown in the same
    kind of window as the 2D view, so keys and window handling are the same for both views.
    """

    def __init__(self, render_mode: str, size: tuple[int, int] | None = None, fps: float = 8.0) -> None:
        self.render_mode = render_mode
        self.size = size or (640, 480)
        self.fps = fps
        self._renderer: Renderer3D | None = None
        self._window: Any = None
        self._clock: Any = None

    def renderer(self, layout: Layout, n_agents: int) -> Renderer3D:
        if self._renderer is None or self._renderer.layout is not layout:
            if self._renderer is not None:
                self._renderer.close()
            self._renderer = Renderer3D(layout, n_agents, self.size)
        return self._renderer

    def render(self, scene: Scene, layout: Layout) -> np.ndarray | None:
        frame = self.renderer(layout, scene.state.n_agents).rgb_array(scene)
        if self.render_mode == "rgb_array":
            return frame
        from mazesim.render2d import import_pygame

        pg = import_pygame()
        show(
            self, pg.image.frombuffer(frame.tobytes(), (frame.shape[1], frame.shape[0]), "RGB"), "mazesim 3D"
        )
        return None

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None
        if self._window is not None:
            from mazesim.render2d import import_pygame

            import_pygame().display.quit()
            self._window = None
