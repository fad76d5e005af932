r"""Text mazes: render a layout (and a state) floor by floor, and parse hand-drawn floors back.

Format of :func:`render_text`::

    level 0:
    #######
    #0.P.D<
    #######
    level 1:
    ...
    legend: # wall  . floor  ...

Glyphs are :data:`mazesim.world.TILE_GLYPHS`. With a state, active agents are digits ``0``-``9``
(agent ``i`` is ``str(i)``), a door that is open this step is ``d``, a latched gate ``g`` and a
ledge whose rope is down ``t``.

**Parsing** (:func:`parse_text`) reads the same glyphs; the lower-case ``d``/``g``/``t`` read as
``D``/``G``/``T`` (dynamic state is not part of a layout), and a digit ``k`` is the start of agent
``k`` on a floor tile. Digits must be ``0..n-1``, each once. Checks: all floors and rows the same
size; stairs up ``<`` at ``(l, r, c)`` with stairs down ``>`` at ``(l+1, r, c)`` and the reverse;
ledge ``T`` directly above climb spot ``C`` and the reverse.

**Linking rule** (which plates open which door, which levers latch which gate):

1. every 4-connected set of ``D`` cells on one floor is one door; doors are numbered in reading
   order (level, row, col) of their first cell; gates (``G``) likewise;
2. each plate belongs to the door nearest to it by walking distance on its floor (every non-wall
   cell is walkable), ties to the lower number; each lever to the nearest gate likewise;
3. climb spots are numbered in reading order; each ledge takes the number of the spot below.

A drawing may instead state groups explicitly with lines ``links door K: l,r,c l,r,c ...`` (and
``links gate K: ...``, ``links climb K: ...``) listing every cell of group ``K`` (doors and
plates, gates and levers, climb spot and ledge). Once a kind has ``links`` lines they must cover
every cell of that kind. :func:`render_text` writes such lines only for a kind whose groups the
rule above would not reproduce, so ``parse_text(render_text(layout, starts=s))`` gives back the
same layout and starts whenever the starts stand on floor tiles.

>>> layout, starts = parse_text(["#########\n#0P.D.P1E\n#########"])
>>> layout.n_doors, starts.tolist()
(1, [[0, 1, 1], [0, 1, 7]])
>>> print(render_text(layout, starts=starts).splitlines()[2])
#0P.D.P1E
"""

from __future__ import annotations

import re
import textwrap
import weakref
from collections import deque
from collections.abc import Sequence

import numpy as np

from mazesim.world import GLYPH_TILES, TILE_GLYPHS, Layout, State, Tile, doors_open

#: Lower-case glyphs written for dynamic state; they parse as the upper-case tile.
STATE_GLYPHS: dict[str, Tile] = {"d": Tile.DOOR, "g": Tile.GATE, "t": Tile.LEDGE}
LEGEND = (
    "legend: # wall  . floor  < stairs up  > stairs down  D door (d open)  P plate  L lever  "
    "G gate (g latched)  C climb spot  T ledge (t rope down)  E exit  0-9 agents"
)
_GLYPH_ARRAY = np.array([TILE_GLYPHS[Tile(i)] for i in range(len(Tile))])
_HEADER = re.compile(r"^level\s+(\d+)\s*:\s*$")
_LINKS = re.compile(r"^links\s+(door|gate|climb)\s+(\d+)\s*:(.*)$")
# kind -> (anchor tile, member tiles) for the linking rule.
_KINDS: dict[str, tuple[Tile, tuple[Tile, ...]]] = {
    "door": (Tile.DOOR, (Tile.DOOR, Tile.PLATE)),
    "gate": (Tile.GATE, (Tile.GATE, Tile.LEVER)),
    "climb": (Tile.CLIMB, (Tile.CLIMB, Tile.LEDGE)),
}

Cell = tuple[int, int, int]
_LINKS_CACHE: weakref.WeakKeyDictionary[Layout, list[str]] = weakref.WeakKeyDictionary()


class TextMazeError(ValueError):
    """A text maze cannot be parsed; the message names the floor, row, column and glyph."""


def render_text(layout: Layout, state: State | None = None, starts: np.ndarray | None = None) -> str:
    r"""Render ``layout`` floor by floor, with agents and open mechanisms from ``state`` or ``starts``.

    ``state``: a :class:`~mazesim.world.State` (open doors, latched gates, lowered ropes and the
    active agents are drawn); ``starts``: ``(n_agents, 3)`` int cells drawn as digits when no
    state is given. Returns lines without a trailing newline: ``level L:`` headers, the rows,
    ``links`` lines where the linking rule would not reproduce the groups, and a legend line.

    >>> layout, _ = parse_text("#####\n#.P.#\n#.D.#\n#.P.#\n#####")
    >>> print(render_text(layout))
    level 0:
    #####
    #.P.#
    #.D.#
    #.P.#
    #####
    legend: # wall  . floor  < stairs up  > stairs down  D door (d open)  P plate  L lever  G gate (g latched)  C climb spot  T ledge (t rope down)  E exit  0-9 agents
    """  # noqa: E501
    chars = _GLYPH_ARRAY[layout.tiles]
    if state is not None:
        if starts is not None:
            raise ValueError("render_text takes either a state or starts, not both; drop starts")
        open_doors = doors_open(layout, state.occupancy())
        for g in np.flatnonzero(open_doors):
            for cell in layout.door_cells[g]:
                chars[cell] = "d"
        for g in np.flatnonzero(state.gates_open):
            for cell in layout.gate_cells[g]:
                chars[cell] = "g"
        for k in np.flatnonzero(state.ropes_down):
            lv, r, c = layout.climb_cells[k]
            chars[lv + 1, r, c] = "t"
        agents = [(i, p) for i, p in enumerate(np.asarray(state.pos).tolist()) if state.active[i]]
    else:
        agents = list(enumerate(np.asarray(starts).tolist())) if starts is not None else []
    for i, (lv, r, c) in agents:
        if i > 9:
            raise ValueError(f"render_text draws agents as digits 0-9, so at most 10 agents; got agent {i}")
        chars[lv, r, c] = str(i)
    lines = []
    for level in range(layout.shape[0]):
        lines.append(f"level {level}:")
        lines.extend("".join(row) for row in chars[level])
    lines.extend(_links_lines(layout))
    lines.append(LEGEND)
    return "\n".join(lines)


def parse_text(floors: str | Sequence[str]) -> tuple[Layout, np.ndarray]:
    """Parse a text maze into a :class:`~mazesim.world.Layout` and the agents' starts.

    ``floors``: one string per floor, lowest first (each may start with a ``level L:`` header and
    is dedented), or one string with ``level L:`` headers such as :func:`render_text` returns.
    ``legend:`` lines are ignored; ``links`` lines set groups explicitly (module docstring).
    Returns ``(layout, starts)`` with ``starts`` ``(n_agents, 3)`` int64 in agent order.
    Raises :class:`TextMazeError` naming the floor, row, column and glyph of the first problem.

    >>> parse_text(["0<1"])
    Traceback (most recent call last):
    ...
    mazesim.text.TextMazeError: floor 0, row 0, col 1: glyph '<' (stairs up) needs '>' directly above ...
    """
    grids, links = _split(floors)
    if not grids:
        raise TextMazeError("the text maze has no floors; give one string of rows per floor")
    rows, cols = len(grids[0]), len(grids[0][0]) if grids[0] else 0
    for lv, grid in enumerate(grids):
        if len(grid) != rows or rows == 0:
            raise TextMazeError(
                f"floor {lv} has {len(grid)} rows but floor 0 has {rows}; all floors need the same size"
            )
        for r, line in enumerate(grid):
            if len(line) != cols:
                raise TextMazeError(
                    f"floor {lv}, row {r} has {len(line)} columns but row 0 of floor 0 has {cols}; "
                    "all rows need the same width"
                )
    tiles = np.zeros((len(grids), rows, cols), dtype=np.uint8)
    digits: dict[int, Cell] = {}
    allowed = "".join(GLYPH_TILES) + "".join(STATE_GLYPHS) + " and digits 0-9"
    for lv, grid in enumerate(grids):
        for r, line in enumerate(grid):
            for c, ch in enumerate(line):
                if ch in GLYPH_TILES:
                    tiles[lv, r, c] = GLYPH_TILES[ch]
                elif ch in STATE_GLYPHS:
                    tiles[lv, r, c] = STATE_GLYPHS[ch]
                elif ch.isdigit() and ch.isascii():
                    if int(ch) in digits:
                        fl, fr, fc = digits[int(ch)]
                        raise TextMazeError(
                            f"floor {lv}, row {r}, col {c}: agent '{ch}' appears twice (also at floor {fl}, "
                            f"row {fr}, col {fc}); give each agent one start"
                        )
                    digits[int(ch)] = (lv, r, c)
                else:
                    raise TextMazeError(
                        f"floor {lv}, row {r}, col {c}: unknown glyph {ch!r}; allowed: {allowed}"
                    )
    missing = sorted(set(range(len(digits))) - set(digits))
    if missing:
        raise TextMazeError(
            f"agents must be numbered 0..n-1 without gaps: found {sorted(digits)}, missing {missing}; "
            "renumber them"
        )
    _check_vertical(tiles)
    group = _default_groups(tiles)
    for kind, (anchor, members) in _KINDS.items():
        mask = np.isin(tiles, [int(t) for t in members])
        if kind in links:
            _apply_links(tiles, group, kind, links[kind], mask)
        else:
            _check_rule(tiles, group, kind, anchor, mask)
    starts = np.array([digits[i] for i in range(len(digits))], dtype=np.int64).reshape(-1, 3)
    try:
        layout = Layout(tiles, group)
    except ValueError as exc:
        raise TextMazeError(f"{exc}; fix the drawing or its 'links' lines") from None
    return layout, starts


def _split(floors: str | Sequence[str]) -> tuple[list[list[str]], dict[str, dict[int, list[str]]]]:
    """Floors as lists of rows, and the ``links`` cell strings by kind and group."""
    links: dict[str, dict[int, list[str]]] = {}
    grids: list[list[str]] = []

    def rows_of(text: str, with_headers: bool) -> None:
        current: list[str] | None = None if with_headers else []
        if current is not None:
            grids.append(current)
        for line in textwrap.dedent(text).splitlines():
            line = line.rstrip()
            stripped = line.strip()
            m = _LINKS.match(stripped)
            if m:
                links.setdefault(m.group(1), {}).setdefault(int(m.group(2)), []).extend(m.group(3).split())
            elif _HEADER.match(stripped):
                if with_headers:
                    current = []
                    grids.append(current)
            elif stripped.startswith("legend:") or not stripped:
                continue
            elif current is None:
                raise TextMazeError(
                    f"row {stripped!r} comes before the first 'level L:' header; add the header"
                )
            else:
                current.append(line)

    if isinstance(floors, str):
        has_headers = any(_HEADER.match(s.strip()) for s in floors.splitlines())
        rows_of(floors, has_headers)
    else:
        for text in floors:
            if not isinstance(text, str):
                raise TextMazeError(f"each floor must be a string of rows, got {type(text).__name__}")
            rows_of(text, False)
    return grids, links


def _check_vertical(tiles: np.ndarray) -> None:
    levels = tiles.shape[0]
    pairs = (
        (Tile.STAIRS_UP, Tile.STAIRS_DOWN, 1, "stairs up", "directly above"),
        (Tile.STAIRS_DOWN, Tile.STAIRS_UP, -1, "stairs down", "directly below"),
        (Tile.CLIMB, Tile.LEDGE, 1, "climb spot", "directly above"),
        (Tile.LEDGE, Tile.CLIMB, -1, "ledge", "directly below"),
    )
    for tile, partner, dl, name, where in pairs:
        for lv, r, c in np.argwhere(tiles == tile).tolist():
            if not 0 <= lv + dl < levels or tiles[lv + dl, r, c] != partner:
                raise TextMazeError(
                    f"floor {lv}, row {r}, col {c}: glyph {TILE_GLYPHS[tile]!r} ({name}) needs "
                    f"{TILE_GLYPHS[partner]!r} {where} (floor {lv + dl}, same row and column)"
                )


def _components(mask2d: np.ndarray) -> list[list[tuple[int, int]]]:
    """4-connected components of ``mask2d`` in reading order of their first cell."""
    seen = np.zeros_like(mask2d, dtype=bool)
    comps = []
    for r, c in np.argwhere(mask2d).tolist():
        if seen[r, c]:
            continue
        seen[r, c] = True
        comp, queue = [], deque([(r, c)])
        while queue:
            cr, cc = queue.popleft()
            comp.append((cr, cc))
            for nr, nc in ((cr - 1, cc), (cr + 1, cc), (cr, cc - 1), (cr, cc + 1)):
                if (
                    0 <= nr < mask2d.shape[0]
                    and 0 <= nc < mask2d.shape[1]
                    and mask2d[nr, nc]
                    and not seen[nr, nc]
                ):
                    seen[nr, nc] = True
                    queue.append((nr, nc))
        comps.append(comp)
    return comps


def _distances(walkable: np.ndarray, sources: list[tuple[int, int]]) -> np.ndarray:
    """``(rows, cols)`` int walking distance from the nearest source, -1 where unreachable."""
    dist = np.full(walkable.shape, -1, dtype=np.int64)
    queue = deque(sources)
    for s in sources:
        dist[s] = 0
    while queue:
        r, c = queue.popleft()
        d = dist[r, c] + 1
        for nr, nc in ((r - 1, c), (r + 1, c), (r, c - 1), (r, c + 1)):
            if (
                0 <= nr < walkable.shape[0]
                and 0 <= nc < walkable.shape[1]
                and walkable[nr, nc]
                and dist[nr, nc] < 0
            ):
                dist[nr, nc] = d
                queue.append((nr, nc))
    return dist


def _default_groups(tiles: np.ndarray) -> np.ndarray:
    """Group ids by the linking rule; -1 for a plate or lever with no reachable door or gate."""
    group = np.full(tiles.shape, -1, dtype=np.int16)
    for anchor, member in ((Tile.DOOR, Tile.PLATE), (Tile.GATE, Tile.LEVER)):
        best: dict[Cell, tuple[int, int]] = {}
        k = 0
        for lv in range(tiles.shape[0]):
            members = [tuple(rc) for rc in np.argwhere(tiles[lv] == member).tolist()]
            walkable = tiles[lv] != Tile.WALL
            for comp in _components(tiles[lv] == anchor):
                for r, c in comp:
                    group[lv, r, c] = k
                if members:
                    dist = _distances(walkable, comp)
                    for r, c in members:
                        d = int(dist[r, c])
                        if d >= 0 and (d, k) < best.get((lv, r, c), (1 << 62, 0)):
                            best[(lv, r, c)] = (d, k)
                k += 1
        for cell, (_, g) in best.items():
            group[cell] = g
    for k, (lv, r, c) in enumerate(np.argwhere(tiles == Tile.CLIMB).tolist()):
        group[lv, r, c] = k
        if lv + 1 < tiles.shape[0] and tiles[lv + 1, r, c] == Tile.LEDGE:
            group[lv + 1, r, c] = k
    return group


def _check_rule(tiles: np.ndarray, group: np.ndarray, kind: str, anchor: Tile, mask: np.ndarray) -> None:
    for lv, r, c in np.argwhere(mask & (group < 0)).tolist():
        glyph = TILE_GLYPHS[Tile(int(tiles[lv, r, c]))]
        raise TextMazeError(
            f"floor {lv}, row {r}, col {c}: glyph {glyph!r} can reach no {kind} "
            f"({TILE_GLYPHS[anchor]!r}) on its floor; draw one it can walk to, or add 'links {kind} K:' lines"
        )
    n = int(group[tiles == anchor].max(initial=-1)) + 1
    for g in range(n):
        cells = np.argwhere((group == g) & mask)
        if all(tiles[tuple(cell)] == anchor for cell in cells):
            lv, r, c = cells[0].tolist()
            other = {"door": "plate 'P'", "gate": "lever 'L'"}[kind]
            raise TextMazeError(
                f"floor {lv}, row {r}, col {c}: {kind} {TILE_GLYPHS[anchor]!r} has no {other} nearer to it "
                f"than to another {kind}; draw one, or add 'links {kind} K:' lines"
            )


def _apply_links(
    tiles: np.ndarray, group: np.ndarray, kind: str, links: dict[int, list[str]], mask: np.ndarray
) -> None:
    group[mask] = -1
    shape = tiles.shape
    for g in range(len(links)):
        if g not in links:
            raise TextMazeError(
                f"links {kind}: groups must be numbered 0..{len(links) - 1}; {kind} {g} is missing"
            )
    for g, cells in links.items():
        for text in cells:
            try:
                lv, r, c = (int(v) for v in text.split(","))
            except ValueError:
                raise TextMazeError(
                    f"links {kind} {g}: {text!r} is not a cell; write level,row,col"
                ) from None
            if not (0 <= lv < shape[0] and 0 <= r < shape[1] and 0 <= c < shape[2]) or not mask[lv, r, c]:
                raise TextMazeError(
                    f"links {kind} {g}: floor {lv}, row {r}, col {c} is not a {kind} cell; "
                    f"list only {kind} cells"
                )
            if group[lv, r, c] >= 0:
                raise TextMazeError(
                    f"links {kind} {g}: floor {lv}, row {r}, col {c} is listed twice; list it once"
                )
            group[lv, r, c] = g
    for lv, r, c in np.argwhere(mask & (group < 0)).tolist():
        glyph = TILE_GLYPHS[Tile(int(tiles[lv, r, c]))]
        raise TextMazeError(
            f"floor {lv}, row {r}, col {c}: glyph {glyph!r} is in no 'links {kind} K:' line; "
            f"once a drawing links {kind}s it must list every {kind} cell"
        )


def _links_lines(layout: Layout) -> list[str]:
    # Layouts are immutable and an env renders the same one every step: compute its lines once.
    cached = _LINKS_CACHE.get(layout)
    if cached is None:
        cached = _LINKS_CACHE[layout] = _compute_links_lines(layout)
    return cached


def _compute_links_lines(layout: Layout) -> list[str]:
    default = _default_groups(layout.tiles)
    lines = []
    for kind, (_, members) in _KINDS.items():
        mask = np.isin(layout.tiles, [int(t) for t in members])
        if np.array_equal(default[mask], layout.group[mask]):
            continue
        n = int(layout.group[mask].max(initial=-1)) + 1
        for g in range(n):
            cells = np.argwhere(mask & (layout.group == g)).tolist()
            lines.append(f"links {kind} {g}: " + " ".join(f"{lv},{r},{c}" for lv, r, c in cells))
    return lines
