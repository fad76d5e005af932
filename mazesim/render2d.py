"""Top-down 2D view of a maze with pygame: every floor side by side, agents, bindings, trust.

The frame (``(height, width, 3)`` uint8) has three bands:

* a HUD: scenario, maze seed, step, the team's cumulative reward, and per agent its colour, id
  and *trust* (the mean trust the other agents have in it, from ``promises.trust_matrix``);
* the floors, lowest first, left to right, each captioned ``floor L``;
* a legend of every tile, the promise rings and the binding arrow.

Agents are discs in distinct colours with their index; the ring around each disc is the outcome
of its promise in the last step (green kept, orange withdrawn by the solver, grey unbound, none
at the start of an episode); a dark arrow goes from the giver to the climber of each binding made
in the last step (boost → climb). Doors, plates, gates, levers and ropes show their current state.

Everything static (walls, floors, symbols, captions, legend) is drawn once per layout, with 4×
supersampling for smooth edges, into a cached surface; a frame blits it and draws only what
moves. :meth:`Renderer2D.cell_to_pixel` maps a cell to the pixel at its centre so that tests (and
overlays) can look there.

Example (no display needed for ``rgb_array``)::

    import mazesim
    from mazesim.render2d import Renderer2D, scene_from_env

    env = mazesim.parallel_env(scenario="tutorial")
    env.reset(seed=0)
    view = Renderer2D(env.maze.layout, n_agents=2, size=(512, 512))
    frame = view.rgb_array(scene_from_env(env))   # (512, 512, 3) uint8
    x, y = view.cell_to_pixel(tuple(env.world.pos[0]))
    frame[y, x]                                    # agent 0's colour
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from mazesim.world import Cell, Layout, State, Tile, doors_open

Colour = tuple[int, int, int]

BACKGROUND: Colour = (250, 249, 246)
INK: Colour = (40, 44, 52)
MUTED_INK: Colour = (110, 114, 122)
FLOOR: Colour = (236, 233, 225)
GRID: Colour = (224, 220, 210)
WALL: Colour = (52, 58, 70)
STAIRS: Colour = (86, 124, 170)
DOOR: Colour = (156, 96, 52)
PLATE: Colour = (222, 170, 62)
PLATE_PRESSED: Colour = (172, 118, 20)
GATE: Colour = (122, 88, 160)
CLIMB: Colour = (56, 146, 138)
ROPE: Colour = (150, 104, 58)
EXIT: Colour = (52, 156, 92)
ARROW: Colour = (25, 25, 30)
#: Agent colours, one per agent index (at most 8 agents per scenario).
AGENT_COLOURS: tuple[Colour, ...] = (
    (31, 119, 180),
    (214, 39, 40),
    (148, 103, 189),
    (227, 119, 194),
    (23, 190, 207),
    (140, 86, 75),
    (57, 59, 121),
    (188, 189, 34),
)
#: Ring colours by promise outcome (the same as :func:`promises.draw_promise_graph`).
OUTCOME_COLOURS: dict[str, Colour] = {
    "kept": (42, 157, 63),
    "withdrawn": (224, 123, 0),
    "unbound": (138, 138, 138),
}
#: Cell size in pixels when no frame size is given.
DEFAULT_CELL = 32
_SUPERSAMPLE = 4


@dataclass(frozen=True)
class Scene:
    """What a frame shows besides the static layout.

    ``state``: the world state; ``outcomes``: per agent index, the outcome of its last promise
    (``kept``, ``withdrawn``, ``unbound``, or ``none`` at the start of an episode and for agents
    that have left); ``bindings``: ``(giver, user)`` pairs made in the last step;
    ``team_return``: the team's cumulative reward (None if unknown); ``title``: HUD text.
    """

    state: State
    outcomes: tuple[str, ...]
    bindings: tuple[tuple[int, int], ...] = ()
    team_return: float | None = None
    title: str = ""
    max_cycles: int | None = None


def scene_from_env(env: Any, team_return: float | None = None) -> Scene:
    """The :class:`Scene` of a mazesim env after ``reset`` (or a ``step``).

    Outcomes and bindings come from the env's promise log (its last step). ``team_return``
    defaults to the cumulative team reward reconstructed from the log (exact unless the
    scenario uses reward shaping, in which case it is None); callers that sum the rewards
    themselves (``python -m mazesim.play``) pass their own.
    """
    state: State = env.world
    n = state.n_agents
    outcomes = ["none"] * n
    bindings: tuple[tuple[int, int], ...] = ()
    steps = env.promise_log.steps
    if steps:
        from promises.assessment import bindings as step_bindings

        for a in steps[-1]:
            outcomes[a.agent] = a.outcome.value
        bindings = tuple(step_bindings(steps[-1]))
    if team_return is None:
        team_return = _team_return(env)
    title = f"{env.scenario.name}, maze {env.maze_seed}"
    return Scene(state, tuple(outcomes), bindings, team_return, title, env.max_cycles)


def _team_return(env: Any) -> float | None:
    """Sum of the team reward over the episode, from how many agents were inside at each step."""
    r = env.scenario.rewards
    if r.shaping != 0.0:
        return None
    # The log holds one assessment per agent active at the start of each step.
    inside_before = [len(s) for s in env.promise_log.steps]
    inside_after = [*inside_before[1:], int(env.world.active.sum())][: len(inside_before)]
    total = 0.0
    for before, after in zip(inside_before, inside_after, strict=True):
        total += r.exit * (before - after) - r.step_cost * after
        if after == 0 and before > 0:
            total += r.escape
    return total


def agent_trust(state: State) -> np.ndarray:
    """``(n_agents,)`` float64: the mean trust the other agents have in each agent's promises."""
    from promises.trust import trust_matrix

    t = trust_matrix(state.trust)
    n = len(t)
    if n < 2:
        return np.ones(n)
    return (t.sum(axis=1) - np.diag(t)) / (n - 1)


def import_pygame() -> Any:
    """Import pygame (the pygame-ce distribution) quietly and initialise its font module."""
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    import pygame

    if not pygame.font.get_init():
        pygame.font.init()
    return pygame


def frame_to_array(pygame: Any, surface: Any) -> np.ndarray:
    """``(h, w, 3)`` uint8 copy of a pygame surface (``tobytes`` is 3-4× faster than surfarray)."""
    w, h = surface.get_size()
    return np.frombuffer(pygame.image.tobytes(surface, "RGB"), dtype=np.uint8).reshape(h, w, 3)


class Renderer2D:
    """Draws :class:`Scene` frames of one layout; static parts cached.

    ``size``: ``(width, height)`` of the frame in pixels, or None for :data:`DEFAULT_CELL`
    pixels per cell. The floors are scaled to fit and centred.

    >>> import mazesim
    >>> env = mazesim.parallel_env(scenario="tutorial")
    >>> _ = env.reset(seed=0)
    >>> view = Renderer2D(env.maze.layout, n_agents=2, size=(320, 320))
    >>> view.rgb_array(scene_from_env(env)).shape
    (320, 320, 3)
    """

    def __init__(self, layout: Layout, n_agents: int, size: tuple[int, int] | None = None) -> None:
        if not 1 <= n_agents <= len(AGENT_COLOURS):
            raise ValueError(f"Renderer2D draws 1 to {len(AGENT_COLOURS)} agents, got n_agents={n_agents}")
        self.pygame = pg = import_pygame()
        self.layout = layout
        self.n_agents = n_agents
        levels, rows, cols = layout.shape
        self._legend_items = _legend_items()
        if size is None:
            width = 2 * 16 + levels * cols * DEFAULT_CELL + (levels - 1) * 24
            width = max(width, 480)
            self._fit(width, 10_000, fixed_cell=DEFAULT_CELL)
            height = self._used_height
        else:
            width, height = size
            if width < 64 or height < 64:
                raise ValueError(f"Renderer2D needs a frame of at least 64×64 pixels, got {width}×{height}")
        self._fit(width, height)
        self.size = (width, height)
        self._text_cache: dict[tuple[str, int, Colour, bool], Any] = {}
        self._static = pg.Surface(self.size)
        self._build_static()
        self._build_sprites()

    # -- geometry ----------------------------------------------------------------------------------
    def _fit(self, width: int, height: int, fixed_cell: int | None = None) -> None:
        levels, rows, cols = self.layout.shape
        self.font_px = max(11, min(20, round(min(width, height * 1.4) / 40)))
        self.pad = max(8, self.font_px)
        line = self.font_px + 6
        self.hud_h = 2 * line + self.pad // 2
        self.caption_h = self.font_px + 6
        item_w = self.font_px * 10
        self._legend_cols = max(1, (width - 2 * self.pad) // item_w)
        legend_rows = math.ceil(len(self._legend_items) / self._legend_cols)
        self.legend_h = legend_rows * (self.font_px + 6) + self.pad
        if self.legend_h > 0.3 * height:  # a small frame keeps its pixels for the maze
            self.legend_h = 0
        gap = self.pad * 2
        avail_w = width - 2 * self.pad - (levels - 1) * gap
        avail_h = height - self.hud_h - self.caption_h - self.legend_h - 2 * self.pad
        cell = fixed_cell or int(min(avail_w / (levels * cols), avail_h / rows))
        if cell < 3:
            raise ValueError(
                f"a {width}×{height} frame is too small for {levels} floor(s) of {rows}×{cols}; "
                "give a larger size"
            )
        self.cell = cell
        floors_w = levels * cols * cell + (levels - 1) * gap
        self._x0 = (width - floors_w) // 2
        self._y0 = self.pad + self.hud_h + self.caption_h
        self._gap = gap
        self._used_height = self._y0 + rows * cell + self.pad + self.legend_h

    def cell_to_pixel(self, cell: Cell | tuple[int, int, int]) -> tuple[int, int]:
        """``(x, y)``: the frame pixel at the centre of ``cell`` = (level, row, col); ``frame[y, x]``."""
        level, row, col = (int(v) for v in cell)
        cols = self.layout.shape[2]
        x = self._x0 + level * (cols * self.cell + self._gap) + col * self.cell + self.cell // 2
        return x, self._y0 + row * self.cell + self.cell // 2

    def _cell_origin(self, cell: Cell) -> tuple[int, int]:
        x, y = self.cell_to_pixel(cell)
        return x - self.cell // 2, y - self.cell // 2

    # -- text --------------------------------------------------------------------------------------
    def _text(self, text: str, px: int, colour: Colour = INK, bold: bool = False) -> Any:
        key = (text, px, colour, bold)
        surf = self._text_cache.get(key)
        if surf is None:
            if len(self._text_cache) > 512:
                self._text_cache.clear()
            font = _font(self.pygame, px, bold)
            surf = self._text_cache[key] = font.render(text, True, colour)
        return surf

    # -- static layer --------------------------------------------------------------------------------
    def _build_static(self) -> None:
        pg = self.pygame
        layout = self.layout
        levels, rows, cols = layout.shape
        s = self._static
        s.fill(BACKGROUND)
        c = self.cell
        self._tiles = {key: _tile_sprite(pg, key, c) for key in _TILE_KEYS}
        self._orient = _orientations(layout)
        for level in range(levels):
            x, y = self._cell_origin((level, 0, 0))
            shadow = pg.Rect(x + 2, y + 3, cols * c, rows * c)
            pg.draw.rect(s, (226, 223, 216), shadow, border_radius=3)
            for r in range(rows):
                for col in range(cols):
                    cell = (level, r, col)
                    s.blit(self._tiles[self._static_key(cell)], self._cell_origin(cell))
            caption = self._text(f"floor {level}", self.font_px, MUTED_INK, bold=True)
            s.blit(caption, (x, y - caption.get_height() - 3))
        self._draw_legend()

    def _static_key(self, cell: Cell) -> str:
        t = Tile(int(self.layout.tiles[cell]))
        if t in (Tile.DOOR, Tile.GATE):
            return f"{t.name.lower()}_shut_{self._orient[cell]}"
        return _STATIC_KEY[t]

    def _draw_legend(self) -> None:
        if not self.legend_h:
            return
        pg = self.pygame
        px = max(10, self.font_px - 2)
        sw = self.font_px + 2
        y0 = self.size[1] - self.legend_h + self.pad // 2
        col_w = (self.size[0] - 2 * self.pad) // self._legend_cols
        pg.draw.line(self._static, GRID, (self.pad, y0 - 4), (self.size[0] - self.pad, y0 - 4))
        for k, (key, label) in enumerate(self._legend_items):
            x = self.pad + (k % self._legend_cols) * col_w
            y = y0 + (k // self._legend_cols) * (self.font_px + 6)
            if key.startswith("ring_"):
                swatch = _ring_sprite(pg, OUTCOME_COLOURS[key[5:]], sw)
            elif key == "arrow":
                swatch = _arrow_swatch(pg, sw)
            elif key == "agent":
                swatch = _agent_sprite(pg, AGENT_COLOURS[0], sw, self._text("0", max(8, sw // 2), bold=True))
            else:
                swatch = _tile_sprite(pg, key, sw)
            self._static.blit(swatch, (x, y))
            text = self._text(label, px, INK)
            self._static.blit(text, (x + sw + 5, y + (sw - text.get_height()) // 2))

    def _build_sprites(self) -> None:
        pg = self.pygame
        c = self.cell
        label_px = max(8, int(c * 0.5))
        self._agents = [
            _agent_sprite(pg, AGENT_COLOURS[i], c, self._text(str(i), label_px, (255, 255, 255), bold=True))
            for i in range(self.n_agents)
        ]
        self._rings = {o: _ring_sprite(pg, col, c) for o, col in OUTCOME_COLOURS.items()}

    # -- frame ---------------------------------------------------------------------------------------
    def draw(self, scene: Scene) -> Any:
        """Draw ``scene`` and return the pygame surface (reused between calls)."""
        pg = self.pygame
        layout, state = self.layout, scene.state
        frame = getattr(self, "_frame", None)
        if frame is None:
            frame = self._frame = pg.Surface(self.size)
        frame.blit(self._static, (0, 0))
        occ = state.occupancy()
        tiles = self._tiles
        open_doors = doors_open(layout, occ)
        for g in np.flatnonzero(open_doors):
            for cell in layout.door_cells[g]:
                frame.blit(tiles[f"door_open_{self._orient[cell]}"], self._cell_origin(cell))
        for g in np.flatnonzero(state.gates_open):
            for cell in layout.gate_cells[g]:
                frame.blit(tiles[f"gate_open_{self._orient[cell]}"], self._cell_origin(cell))
            for cell in layout.lever_cells[g]:
                frame.blit(tiles["lever_pulled"], self._cell_origin(cell))
        for g in range(layout.n_doors):
            for cell in layout.plate_cells[g]:
                if cell in occ:
                    frame.blit(tiles["plate_pressed"], self._cell_origin(cell))
        for k in np.flatnonzero(state.ropes_down):
            lv, r, c = layout.climb_cells[k]
            frame.blit(tiles["ledge_rope"], self._cell_origin((lv + 1, r, c)))
        for i, p in enumerate(state.pos.tolist()):
            if not state.active[i]:
                continue
            origin = self._cell_origin(tuple(p))
            ring = self._rings.get(scene.outcomes[i]) if i < len(scene.outcomes) else None
            if ring is not None:
                frame.blit(ring, origin)
            frame.blit(self._agents[i], origin)
        for giver, user in scene.bindings:
            self._draw_binding(frame, state, giver, user)
        self._draw_hud(frame, scene)
        return frame

    def rgb_array(self, scene: Scene) -> np.ndarray:
        """``(height, width, 3)`` uint8 frame of ``scene``."""
        return frame_to_array(self.pygame, self.draw(scene))

    def _draw_binding(self, frame: Any, state: State, giver: int, user: int) -> None:
        g = tuple(int(v) for v in state.pos[giver])
        u = tuple(int(v) for v in state.pos[user])
        if u[0] != g[0]:  # the climber is already up: point at the climb spot it left
            u = (g[0], u[1], u[2])
        (x0, y0), (x1, y1) = self.cell_to_pixel(g), self.cell_to_pixel(u)
        dx, dy = x1 - x0, y1 - y0
        length = math.hypot(dx, dy)
        if length == 0:
            return
        ux, uy = dx / length, dy / length
        c = self.cell
        start = (x0 + ux * c * 0.12, y0 + uy * c * 0.12)
        tip = (x1 - ux * c * 0.30, y1 - uy * c * 0.30)
        _arrow(self.pygame, frame, start, tip, max(2.0, c * 0.11), ARROW, outline=(255, 255, 255))

    def _draw_hud(self, frame: Any, scene: Scene) -> None:
        pg = self.pygame
        state = scene.state
        px = self.font_px
        x, y = self.pad, self.pad // 2 + 2
        title = self._text(scene.title, px, INK, bold=True)
        frame.blit(title, (x, y))
        step = f"step {state.step}" + (f" / {scene.max_cycles}" if scene.max_cycles else "")
        ret = "team reward –" if scene.team_return is None else f"team reward {scene.team_return:+.2f}"
        right = self._text(f"{step}    {ret}", px, INK)
        frame.blit(right, (self.size[0] - self.pad - right.get_width(), y))
        y += px + 6
        trust = agent_trust(state)
        r = max(4, px // 2)
        for i in range(state.n_agents):
            pg.draw.circle(frame, AGENT_COLOURS[i], (x + r, y + px // 2 + 1), r)
            label = f"{i} trust {trust[i]:.2f}" if state.active[i] else f"{i} out"
            text = self._text(label, px - 1, INK if state.active[i] else MUTED_INK)
            frame.blit(text, (x + 2 * r + 4, y))
            x += 2 * r + 4 + text.get_width() + px
        pg.draw.line(frame, GRID, (self.pad, self.hud_h + 2), (self.size[0] - self.pad, self.hud_h + 2))


# -- sprites -----------------------------------------------------------------------------------------
_TILE_KEYS = (
    "floor",
    "wall",
    "stairs_up",
    "stairs_down",
    "door_shut_h",
    "door_shut_v",
    "door_open_h",
    "door_open_v",
    "plate",
    "plate_pressed",
    "lever",
    "lever_pulled",
    "gate_shut_h",
    "gate_shut_v",
    "gate_open_h",
    "gate_open_v",
    "climb",
    "ledge",
    "ledge_rope",
    "exit",
)
_STATIC_KEY = {
    Tile.FLOOR: "floor",
    Tile.WALL: "wall",
    Tile.STAIRS_UP: "stairs_up",
    Tile.STAIRS_DOWN: "stairs_down",
    Tile.PLATE: "plate",
    Tile.LEVER: "lever",
    Tile.CLIMB: "climb",
    Tile.LEDGE: "ledge",
    Tile.EXIT: "exit",
}


def _legend_items() -> list[tuple[str, str]]:
    return [
        ("wall", "wall"),
        ("floor", "floor"),
        ("stairs_up", "stairs up"),
        ("stairs_down", "stairs down"),
        ("door_shut_h", "door shut"),
        ("door_open_h", "door open"),
        ("plate", "plate free"),
        ("plate_pressed", "plate pressed"),
        ("lever", "lever"),
        ("lever_pulled", "lever pulled"),
        ("gate_shut_h", "gate shut"),
        ("gate_open_h", "gate open"),
        ("climb", "climb spot"),
        ("ledge", "ledge, rope up"),
        ("ledge_rope", "rope down"),
        ("exit", "exit"),
        ("agent", "agent (id)"),
        ("ring_kept", "promise kept"),
        ("ring_withdrawn", "withdrawn"),
        ("ring_unbound", "unbound"),
        ("arrow", "boost: giver to climber"),
    ]


def _orientations(layout: Layout) -> dict[Cell, str]:
    """For door and gate cells: ``h`` when the barrier runs west-east (passage north-south)."""
    out: dict[Cell, str] = {}
    tiles = layout.tiles
    _, rows, cols = layout.shape
    for lv, r, c in np.argwhere(np.isin(tiles, [int(Tile.DOOR), int(Tile.GATE)])).tolist():
        west = c == 0 or tiles[lv, r, c - 1] == Tile.WALL
        east = c == cols - 1 or tiles[lv, r, c + 1] == Tile.WALL
        out[(lv, r, c)] = "h" if west and east else "v"
    return out


_FONTS: dict[tuple[int, bool], Any] = {}


def _font(pygame: Any, px: int, bold: bool) -> Any:
    font = _FONTS.get((px, bold))
    if font is None:
        # pygame's bundled font, so frames look the same on every machine.
        font = _FONTS[(px, bold)] = pygame.font.Font(None, round(px * (1.45 if bold else 1.35)))
    return font


def _tile_sprite(pg: Any, key: str, size: int) -> Any:
    """One tile drawn at 4× and smoothly scaled to ``size`` pixels."""
    s = size * _SUPERSAMPLE
    surf = pg.Surface((s, s))
    surf.fill(FLOOR)

    def rect(
        x: float, y: float, w: float, h: float, colour: Colour, radius: float = 0, width: int = 0
    ) -> None:
        pg.draw.rect(
            surf, colour, pg.Rect(round(x * s), round(y * s), round(w * s), round(h * s)),
            width=width, border_radius=round(radius * s),
        )  # fmt: skip

    def poly(points: list[tuple[float, float]], colour: Colour) -> None:
        pg.draw.polygon(surf, colour, [(x * s, y * s) for x, y in points])

    def line(a: tuple[float, float], b: tuple[float, float], colour: Colour, w: float) -> None:
        pg.draw.line(surf, colour, (a[0] * s, a[1] * s), (b[0] * s, b[1] * s), max(1, round(w * s)))

    stroke = 0.07
    if key == "wall":
        surf.fill(WALL)
    else:
        pg.draw.rect(surf, GRID, surf.get_rect(), width=max(1, s // 40))
    if key == "stairs_up" or key == "stairs_down":
        for k in range(3):
            shade = tuple(int(v + (255 - v) * (0.15 + 0.22 * k)) for v in STAIRS)
            y = 0.14 + 0.24 * k if key == "stairs_up" else 0.62 - 0.24 * k
            rect(0.14, y, 0.72, 0.2, shade, radius=0.04)  # type: ignore[arg-type]
        tri = (
            [(0.5, 0.2), (0.78, 0.55), (0.22, 0.55)]
            if key == "stairs_up"
            else [(0.5, 0.8), (0.78, 0.45), (0.22, 0.45)]
        )
        poly(tri, STAIRS)
    elif key.startswith("door"):
        horiz = key.endswith("_h")
        if "shut" in key:
            rect(*((0.0, 0.3, 1.0, 0.4) if horiz else (0.3, 0.0, 0.4, 1.0)), DOOR, radius=0.06)
            line(
                *(((0.5, 0.32), (0.5, 0.68)) if horiz else ((0.32, 0.5), (0.68, 0.5))),
                (120, 70, 35),
                stroke * 0.8,
            )
        else:
            rect(*((0.0, 0.3, 0.16, 0.4) if horiz else (0.3, 0.0, 0.4, 0.16)), DOOR, radius=0.04)
            rect(*((0.84, 0.3, 0.16, 0.4) if horiz else (0.3, 0.84, 0.4, 0.16)), DOOR, radius=0.04)
            rect(0.2, 0.2, 0.6, 0.6, (225, 205, 185), radius=0.08, width=max(1, round(0.05 * s)))
    elif key.startswith("gate"):
        horiz = key.endswith("_h")
        posts = ((0.0, 0.38, 0.14, 0.24), (0.86, 0.38, 0.14, 0.24))
        if not horiz:
            posts = ((0.38, 0.0, 0.24, 0.14), (0.38, 0.86, 0.24, 0.14))
        for p in posts:
            rect(*p, GATE, radius=0.03)
        if "shut" in key:
            for k in range(5):
                t = 0.14 + 0.18 * k
                line(*(((t, 0.12), (t, 0.88)) if horiz else ((0.12, t), (0.88, t))), GATE, stroke)
            line(*(((0.05, 0.5), (0.95, 0.5)) if horiz else ((0.5, 0.05), (0.5, 0.95))), GATE, stroke * 1.4)
    elif key.startswith("plate"):
        pressed = key == "plate_pressed"
        rect(0.1, 0.1, 0.8, 0.8, PLATE_PRESSED if pressed else PLATE, radius=0.14)
        rect(0.1, 0.1, 0.8, 0.8, (150, 100, 15), radius=0.14, width=max(1, round(0.05 * s)))
        if not pressed:
            rect(0.24, 0.24, 0.52, 0.52, (240, 205, 120), radius=0.1)
    elif key.startswith("lever"):
        pulled = key == "lever_pulled"
        rect(0.2, 0.62, 0.6, 0.2, GATE, radius=0.06)
        tip = (0.78, 0.22) if pulled else (0.22, 0.22)
        line((0.5, 0.66), tip, (70, 60, 90), 0.08)
        pg.draw.circle(
            surf, (200, 60, 60) if not pulled else (60, 170, 90), (tip[0] * s, tip[1] * s), 0.11 * s
        )
    elif key == "climb":
        rect(0.08, 0.08, 0.84, 0.84, tuple(int(v + (255 - v) * 0.55) for v in CLIMB), radius=0.12)  # type: ignore[arg-type]
        for y in (0.28, 0.52):
            pg.draw.lines(
                surf,
                CLIMB,
                False,
                [(0.25 * s, (y + 0.2) * s), (0.5 * s, y * s), (0.75 * s, (y + 0.2) * s)],
                round(0.09 * s),
            )
    elif key.startswith("ledge"):
        rect(0.0, 0.0, 1.0, 1.0, tuple(int(v + (255 - v) * 0.7) for v in CLIMB))  # type: ignore[arg-type]
        rect(0.08, 0.08, 0.84, 0.84, CLIMB, radius=0.1, width=max(1, round(0.07 * s)))
        if key == "ledge_rope":
            pts = [(0.5 + 0.14 * math.sin(k * 0.9), 0.12 + 0.076 * k) for k in range(11)]
            pg.draw.lines(surf, ROPE, False, [(x * s, y * s) for x, y in pts], round(0.09 * s))
            pg.draw.circle(surf, ROPE, (0.5 * s, 0.12 * s), 0.09 * s)
        else:
            line((0.3, 0.5), (0.7, 0.5), CLIMB, 0.07)
    elif key == "exit":
        rect(0.06, 0.06, 0.88, 0.88, EXIT, radius=0.16)
        poly(
            [(0.22, 0.42), (0.52, 0.42), (0.52, 0.26), (0.8, 0.5), (0.52, 0.74), (0.52, 0.58), (0.22, 0.58)],
            (255, 255, 255),
        )
    return pg.transform.smoothscale(surf, (size, size))


def _agent_sprite(pg: Any, colour: Colour, size: int, label: Any) -> Any:
    s = size * _SUPERSAMPLE
    surf = pg.Surface((s, s), pg.SRCALPHA)
    centre = (s / 2, s / 2)
    pg.draw.circle(surf, (0, 0, 0, 50), (s / 2 + s * 0.03, s / 2 + s * 0.04), s * 0.39)
    pg.draw.circle(surf, tuple(int(v * 0.6) for v in colour), centre, s * 0.39)
    pg.draw.circle(surf, colour, centre, s * 0.39 - max(1, s * 0.035))
    out = pg.transform.smoothscale(surf, (size, size))
    out.blit(label, ((size - label.get_width()) // 2, (size - label.get_height()) // 2 + 1))
    return out


def _ring_sprite(pg: Any, colour: Colour, size: int) -> Any:
    s = size * _SUPERSAMPLE
    surf = pg.Surface((s, s), pg.SRCALPHA)
    pg.draw.circle(surf, colour, (s / 2, s / 2), s * 0.5, width=max(1, round(s * 0.12)))
    return pg.transform.smoothscale(surf, (size, size))


def _arrow_swatch(pg: Any, size: int) -> Any:
    surf = pg.Surface((size, size), pg.SRCALPHA)
    _arrow(pg, surf, (size * 0.1, size * 0.5), (size * 0.95, size * 0.5), max(2.0, size * 0.14), ARROW)
    return surf


def _arrow(
    pg: Any,
    surf: Any,
    start: tuple[float, float],
    tip: tuple[float, float],
    width: float,
    colour: Colour,
    outline: Colour | None = None,
) -> None:
    """A filled arrow polygon with anti-aliased edges (optionally outlined for contrast)."""
    dx, dy = tip[0] - start[0], tip[1] - start[1]
    length = math.hypot(dx, dy) or 1.0
    ux, uy = dx / length, dy / length
    nx, ny = -uy, ux
    head = min(length * 0.55, width * 2.6)
    hw, sw = width * 1.5, width / 2
    bx, by = tip[0] - ux * head, tip[1] - uy * head
    pts = [
        (start[0] + nx * sw, start[1] + ny * sw),
        (bx + nx * sw, by + ny * sw),
        (bx + nx * hw, by + ny * hw),
        tip,
        (bx - nx * hw, by - ny * hw),
        (bx - nx * sw, by - ny * sw),
        (start[0] - nx * sw, start[1] - ny * sw),
    ]
    if outline is not None:
        pg.draw.polygon(surf, outline, pts, width=max(1, round(width * 0.6)))
    pg.draw.polygon(surf, colour, pts)
    pg.draw.aalines(surf, colour, True, pts)


class Viewer2D:
    """An env's 2D view: ``rgb_array`` frames, or a pygame window in ``human`` mode.

    The window opens on the first :meth:`render` (never at construction), and the renderer is
    rebuilt when the env's layout changes (a new maze after ``reset``).
    """

    def __init__(self, render_mode: str, size: tuple[int, int] | None = None, fps: float = 8.0) -> None:
        self.render_mode = render_mode
        self.size = size
        self.fps = fps
        self._renderer: Renderer2D | None = None
        self._window: Any = None
        self._clock: Any = None

    def renderer(self, layout: Layout, n_agents: int) -> Renderer2D:
        if self._renderer is None or self._renderer.layout is not layout:
            self._renderer = Renderer2D(layout, n_agents, self.size)
        return self._renderer

    def render(self, scene: Scene, layout: Layout) -> np.ndarray | None:
        renderer = self.renderer(layout, scene.state.n_agents)
        if self.render_mode == "rgb_array":
            return renderer.rgb_array(scene)
        surface = renderer.draw(scene)
        show(self, surface, "mazesim")
        return None

    def close(self) -> None:
        if self._window is not None:
            self._renderer.pygame.display.quit()  # type: ignore[union-attr]
            self._window = None
        self._renderer = None


def show(viewer: Any, surface: Any, caption: str) -> None:
    """Show ``surface`` in ``viewer``'s pygame window (opened on first use), at ``viewer.fps``."""
    pg = import_pygame()
    if viewer._window is None or viewer._window.get_size() != surface.get_size():
        pg.display.init()
        viewer._window = pg.display.set_mode(surface.get_size())
        pg.display.set_caption(caption)
        viewer._clock = pg.time.Clock()
    viewer._window.blit(surface, (0, 0))
    pg.event.pump()
    pg.display.flip()
    viewer._clock.tick(viewer.fps)
