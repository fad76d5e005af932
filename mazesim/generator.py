"""The 3D cooperative maze generator.

A maze is ``(levels, rows, cols)`` tiles with odd ``rows`` and ``cols``: maze cells sit on odd
coordinates, walls on even ones (the *coarse grid* is ``(rows // 2) x (cols // 2)`` cells per floor).

How one maze is built (every random choice from the one ``numpy.random.Generator``):

1. each floor is a random spanning tree of its coarse grid (Kruskal over shuffled walls);
2. the route: floor 0 runs between the two ends of a long tree path; the far end of floor ``l`` is
   the foot of the link to floor ``l + 1`` (stairs, or a climb spot with a ledge above for a
   boost), and the far end of the last floor holds the exit;
3. doors and gates are put on wall gaps along the route, which cuts every floor into a chain of
   **zones** (cut points balance the zones' sizes); boosts are links between floors;
4. loops are carved (each extra wall gap with probability ``scenario.braid``) and pillars inside
   fully open 2x2 blocks removed, only *inside* a zone, never across a mechanism;
5. plates (one on each side of a door, Manhattan distance >= 2 from the doorway, preferably off
   the through route), levers (two per gate on its near side, at least 3 apart) and the agents'
   starts (all in the first zone) are placed;
6. :func:`mazesim.certificate.certify` proves the team can escape and no agent alone can. A maze
   that fails is drawn again from the same generator (at most ``max_attempts`` times).

Requests that cannot fit fail at once with :class:`GenerationError` naming the field to change.

>>> from mazesim.scenario import Mechanics, Scenario
>>> sc = Scenario(name="demo", levels=2, rows=11, cols=11, agents=2, mechanics=Mechanics(doors=1, boosts=1))
>>> maze = generate(sc, 7)
>>> maze.layout.shape, maze.starts.shape, maze.certificate.valid
((2, 11, 11), (2, 3), True)
>>> generate(sc, 7).to_bytes() == maze.to_bytes()
True
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from mazesim.certificate import Certificate, LayoutError, certify
from mazesim.scenario import Scenario
from mazesim.world import Layout, Tile

#: Attempts before :func:`generate` gives up on a scenario.
MAX_ATTEMPTS = 50


class GenerationError(ValueError):
    """A scenario the generator cannot build a certified maze for; the message names the fix."""


@dataclass(frozen=True, eq=False)
class Maze:
    """One generated maze.

    ``layout``: the static tiles and groups; ``starts``: ``(n_agents, 3)`` int64 start cells;
    ``seed``: the int seed it was generated from (None when a Generator was passed);
    ``certificate``: the proof that the team can escape and no agent alone can.
    """

    scenario: Scenario
    seed: int | None
    layout: Layout
    starts: np.ndarray
    certificate: Certificate

    def __str__(self) -> str:
        from mazesim.text import render_text

        return render_text(self.layout, starts=self.starts)

    def to_bytes(self) -> bytes:
        """Canonical bytes (layout, starts, seed): equal mazes give equal bytes."""
        seed = -1 if self.seed is None else self.seed
        return (
            self.layout.to_bytes()
            + np.asarray(self.starts, dtype="<i8").tobytes()
            + np.array([seed], dtype="<i8").tobytes()
        )


def generate(
    scenario: Scenario, seed_or_rng: int | np.random.Generator, *, max_attempts: int = MAX_ATTEMPTS
) -> Maze:
    """Generate a certified maze for ``scenario``.

    ``seed_or_rng``: an int seed or the caller's ``numpy.random.Generator`` (drawn from in place).
    A hand-drawn scenario (``scenario.layout`` set) is parsed and certified instead.
    Raises :class:`GenerationError` when the request cannot fit or no certified maze was found.
    """
    seed = None if isinstance(seed_or_rng, np.random.Generator) else int(seed_or_rng)
    rng = seed_or_rng if seed is None else np.random.default_rng(seed)
    if scenario.layout is not None:
        return _hand_drawn(scenario, seed)
    _validate(scenario)
    reasons: dict[str, int] = {}
    for _ in range(max_attempts):
        built = _attempt(scenario, rng)  # type: ignore[arg-type]
        if isinstance(built, str):
            reasons[built] = reasons.get(built, 0) + 1
            continue
        layout, starts = built
        cert = certify(layout, starts)
        if cert.valid:
            return Maze(scenario, seed, layout, starts, cert)
        reasons["certificate failed"] = reasons.get("certificate failed", 0) + 1
    worst = max(reasons, key=reasons.__getitem__)
    raise GenerationError(
        f"scenario {scenario.name!r}: no certified maze in {max_attempts} attempts (most often: {worst}); "
        f"make the maze larger (rows={scenario.rows}, cols={scenario.cols}, levels={scenario.levels}) "
        f"or ask for fewer mechanics (doors={scenario.mechanics.doors}, gates={scenario.mechanics.gates}) "
        f"or agents={scenario.agents}"
    )


def max_door_gates(levels: int, rows: int, cols: int, agents: int) -> int:
    """The most doors + gates :func:`generate` accepts for this maze size (a fail-fast bound).

    Every zone needs :func:`_min_zone` coarse cells plus room for its plates, levers and starts:
    ``(levels * (rows // 2) * (cols // 2) - agents) // (min_zone + 1) - (levels - 1)``.

    >>> max_door_gates(1, 9, 9, 4), max_door_gates(1, 9, 9, 2), max_door_gates(3, 21, 21, 4)
    (3, 4, 72)
    """
    cells = levels * (rows // 2) * (cols // 2)
    return max(0, (cells - agents) // (_min_zone(agents) + 1) - (levels - 1))


def _min_zone(agents: int) -> int:
    """Fewest coarse cells of one zone (on one floor)."""
    return 2 if agents <= 2 else 3


def _validate(sc: Scenario) -> None:
    m = sc.mechanics

    def fail(msg: str) -> None:
        raise GenerationError(f"scenario {sc.name!r}: {msg}")

    for name, value in (("rows", sc.rows), ("cols", sc.cols)):
        if value < 5 or value % 2 == 0:
            fail(f"{name}={value} must be odd and >= 5 (cells on odd coordinates, walls on even ones)")
    if sc.levels < 1:
        fail(f"levels={sc.levels} must be >= 1")
    for name, value in (("doors", m.doors), ("gates", m.gates), ("boosts", m.boosts)):
        if value < 0:
            fail(f"mechanics.{name}={value} must be >= 0")
    if m.total < 1:
        fail("needs at least one mechanic so that no agent can escape alone; set mechanics.doors >= 1")
    if sc.agents < 2:
        fail(f"agents={sc.agents}: cooperative mechanics need a team; set agents >= 2")
    if m.boosts > sc.levels - 1:
        fail(f"mechanics.boosts={m.boosts} needs levels >= {m.boosts + 1} (one boost per floor link)")
    if not 0.0 <= sc.braid <= 1.0:
        fail(f"braid={sc.braid} must be in [0, 1]")
    limit = max_door_gates(sc.levels, sc.rows, sc.cols, sc.agents)
    if m.doors + m.gates > limit:
        fail(
            f"mechanics.doors + mechanics.gates = {m.doors + m.gates} do not fit: at most {limit} for "
            f"levels={sc.levels}, rows={sc.rows}, cols={sc.cols}, agents={sc.agents}; "
            "increase rows/cols or levels, or lower mechanics.doors/gates"
        )


def _hand_drawn(sc: Scenario, seed: int | None) -> Maze:
    from mazesim.text import parse_text

    where = str(sc.source) if sc.source is not None else f"scenario {sc.name!r}"
    layout, starts = parse_text(sc.layout)  # type: ignore[arg-type]
    try:
        cert = certify(layout, starts)
    except LayoutError as exc:
        raise GenerationError(f"{where}: hand-drawn layout: {exc}") from None
    if not cert.team_escapes:
        raise GenerationError(
            f"{where}: hand-drawn layout: the team cannot escape (no plan over zones and mechanisms); "
            "check that every door has a plate the team can hold and that an exit is reachable"
        )
    if any(cert.solo_escapes):
        who = [i for i, s in enumerate(cert.solo_escapes) if s]
        raise GenerationError(
            f"{where}: hand-drawn layout: agent(s) {who} can escape alone; put a mechanism "
            "(door, gate or boost) between every start and the exit"
        )
    return Maze(sc, seed, layout, starts, cert)


@lru_cache(maxsize=32)
def _edges(h: int, w: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Coarse grid edges: endpoints ``a``, ``b`` (coarse ids) and the wall cell ``(r, c)`` between."""
    idx = np.arange(h * w).reshape(h, w)
    a = np.concatenate([idx[:, :-1].ravel(), idx[:-1, :].ravel()])
    b = np.concatenate([idx[:, 1:].ravel(), idx[1:, :].ravel()])
    r = 2 * (a // w) + 1 + (b - a == w)
    c = 2 * (a % w) + 1 + (b - a == 1)
    return a, b, r, c


def _tree(h: int, w: int, rng: np.random.Generator) -> tuple[list[list[int]], np.ndarray]:
    """A random spanning tree (Kruskal); returns adjacency lists and a per-edge in-tree mask."""
    a, b, _, _ = _edges(h, w)
    parent = list(range(h * w))
    adj: list[list[int]] = [[] for _ in range(h * w)]
    in_tree = np.zeros(len(a), dtype=bool)
    al, bl = a.tolist(), b.tolist()
    for e in rng.permutation(len(a)).tolist():
        # find both roots, halving paths on the way (inline: this loop is most of a floor's cost)
        ra = u = al[e]
        while parent[ra] != ra:
            parent[ra] = parent[parent[ra]]
            ra = parent[ra]
        rb = v = bl[e]
        while parent[rb] != rb:
            parent[rb] = parent[parent[rb]]
            rb = parent[rb]
        if ra != rb:
            parent[ra] = rb
            adj[u].append(v)
            adj[v].append(u)
            in_tree[e] = True
    return adj, in_tree


def _bfs(adj: list[list[int]], root: int) -> tuple[list[int], list[int], list[int]]:
    """Breadth-first order, parents and depths of a tree from ``root``."""
    n = len(adj)
    par, depth = [-1] * n, [-1] * n
    depth[root] = 0
    order = [root]
    for u in order:
        for v in adj[u]:
            if depth[v] < 0:
                depth[v], par[v] = depth[u] + 1, u
                order.append(v)
    return order, par, depth


def _farthest(adj: list[list[int]], root: int) -> int:
    _, _, depth = _bfs(adj, root)
    return int(np.argmax(depth))


@dataclass
class _Floor:
    adj: list[list[int]]
    in_tree: np.ndarray
    path: list[int]  # coarse ids from the entry to the far end
    side: list[int]  # subtree size of path[i] with the tree rooted at the far end
    cuts: list[int]  # indices i: the edge (path[i], path[i+1]) holds a mechanism
    seg: np.ndarray  # (h * w,) segment index of every coarse cell


def _attempt(sc: Scenario, rng: np.random.Generator) -> tuple[Layout, np.ndarray] | str:
    """One try at building a maze; returns ``(layout, starts)`` or the reason it failed."""
    levels, rows, cols, n = sc.levels, sc.rows, sc.cols, sc.agents
    h, w = rows // 2, cols // 2
    m = sc.mechanics
    ea, eb, er, ec = _edges(h, w)

    floors: list[_Floor] = []
    entry = -1
    for lv in range(levels):
        adj, in_tree = _tree(h, w, rng)
        if lv == 0:
            entry = _farthest(adj, int(rng.integers(h * w)))
        _, par, depth = _bfs(adj, entry)
        far = int(np.argmax(depth))
        path = [far]
        while path[-1] != entry:
            path.append(par[path[-1]])
        path.reverse()
        # Subtree sizes with the tree rooted at the far end: side[i] is the size of the part that
        # stays with the entry when the edge (path[i], path[i+1]) is cut.
        order_far, par_far, _ = _bfs(adj, far)
        size = [1] * (h * w)
        for u in reversed(order_far[1:]):
            size[par_far[u]] += size[u]
        floors.append(_Floor(adj, in_tree, path, [size[p] for p in path], [], np.zeros(0)))
        entry = far

    # Doors and gates in a random order along the route, spread over floors by route length.
    kinds = ["door"] * m.doors + ["gate"] * m.gates
    kinds = [kinds[i] for i in rng.permutation(len(kinds)).tolist()]
    per_floor = [0] * levels
    for _ in kinds:
        lv = max(range(levels), key=lambda f: (len(floors[f].path) - 1) / (per_floor[f] + 1))
        per_floor[lv] += 1
    boost_links = set(rng.choice(levels - 1, size=m.boosts, replace=False).tolist()) if m.boosts else set()

    # Cut points: segment weights say how much room each zone needs (starts, plates, levers, exit).
    # Zones of 3+ cells let three or four agents pass each other on the way through.
    min_zone = _min_zone(n)
    k_iter = iter(kinds)
    floor_kinds = [[next(k_iter) for _ in range(per_floor[lv])] for lv in range(levels)]
    for lv, fl in enumerate(floors):
        ks = floor_kinds[lv]
        if len(fl.path) - 1 < len(ks):
            return "route too short for its mechanisms"
        weights = [2.0] * (len(ks) + 1)
        if lv == 0:
            weights[0] += n / 2
        if lv == levels - 1:
            weights[-1] += 1
        for j, kind in enumerate(ks):
            weights[j] += 1 if kind == "door" else 2
            weights[j + 1] += 1 if kind == "door" else 0
        total = h * w
        cum = np.cumsum(weights)[:-1] / sum(weights) * total
        jitter = rng.uniform(-0.25, 0.25, size=len(ks)) * total / (len(ks) + 1)
        prev, prev_size = -1, 0
        for j, target in enumerate((cum + jitter).tolist()):
            hi = len(fl.path) - 1 - (len(ks) - j)  # leave an edge for every later cut
            choices = [i for i in range(prev + 1, hi + 1) if fl.side[i] - prev_size >= min_zone]
            if not choices:
                return "zones too small"
            best = min(choices, key=lambda i: abs(fl.side[i] - target))
            fl.cuts.append(best)
            prev, prev_size = best, fl.side[best]
        if total - prev_size < min_zone:
            return "zones too small"
        seg = np.full(h * w, -1, dtype=np.int64)
        cut_edges = {(fl.path[i], fl.path[i + 1]) for i in fl.cuts}
        cut_edges |= {(b, a) for a, b in cut_edges}
        stack = []
        s = 0
        for i, p in enumerate(fl.path):
            seg[p] = s
            stack.append(p)
            if i in fl.cuts:
                s += 1
        while stack:
            u = stack.pop()
            for v in fl.adj[u]:
                if seg[v] < 0 and (u, v) not in cut_edges:
                    seg[v] = seg[u]
                    stack.append(v)
        fl.seg = seg

    tiles = np.full((levels, rows, cols), Tile.WALL, dtype=np.uint8)
    group = np.full((levels, rows, cols), -1, dtype=np.int16)
    segcell = np.full((levels, rows, cols), -1, dtype=np.int64)
    on_route = np.zeros((levels, rows, cols), dtype=bool)
    zone_base = []  # global zone index of each floor's first segment
    z = 0
    for fl in floors:
        zone_base.append(z)
        z += len(fl.cuts) + 1
    counters = {"door": 0, "gate": 0, "climb": 0}
    items: list[tuple[str, int, tuple[int, int, int], int]] = []  # kind, id, mechanism cell, near zone
    for lv, fl in enumerate(floors):
        t, sc_cells = tiles[lv], segcell[lv]
        gseg = fl.seg + zone_base[lv]
        t[1::2, 1::2] = Tile.FLOOR
        sc_cells[1::2, 1::2] = gseg.reshape(h, w)
        same = gseg[ea] == gseg[eb]
        braid = rng.random(len(ea)) < sc.braid
        open_e = (fl.in_tree | braid) & same
        t[er[open_e], ec[open_e]] = Tile.FLOOR
        sc_cells[er[open_e], ec[open_e]] = gseg[ea[open_e]]
        # Pillars inside fully open 2x2 blocks: small rooms where agents can pass each other.
        if h > 1 and w > 1:
            pil = (
                (t[1:-2:2, 2:-1:2] == Tile.FLOOR)
                & (t[3::2, 2:-1:2] == Tile.FLOOR)
                & (t[2:-1:2, 1:-2:2] == Tile.FLOOR)
                & (t[2:-1:2, 3::2] == Tile.FLOOR)
            )
            pr, pc = np.nonzero(pil)
            t[2 * pr + 2, 2 * pc + 2] = Tile.FLOOR
            sc_cells[2 * pr + 2, 2 * pc + 2] = sc_cells[2 * pr + 1, 2 * pc + 1]
        for i in range(len(fl.path)):
            p = fl.path[i]
            on_route[lv, 2 * (p // w) + 1, 2 * (p % w) + 1] = True
            if i + 1 < len(fl.path):
                q = fl.path[i + 1]
                on_route[lv, (p // w) + (q // w) + 1, (p % w) + (q % w) + 1] = True
        for j, i in enumerate(fl.cuts):
            p, q = fl.path[i], fl.path[i + 1]
            cell = (lv, (p // w) + (q // w) + 1, (p % w) + (q % w) + 1)
            kind = floor_kinds[lv][j]
            gid = counters[kind]
            counters[kind] += 1
            tiles[cell] = Tile.DOOR if kind == "door" else Tile.GATE
            group[cell] = gid
            items.append((kind, gid, cell, zone_base[lv] + j))
    # Links and the exit last: carving a floor would overwrite the ledge or stairs of the one below.
    for lv, fl in enumerate(floors):
        far = fl.path[-1]
        top = (lv, 2 * (far // w) + 1, 2 * (far % w) + 1)
        if lv == levels - 1:
            tiles[top] = Tile.EXIT
        elif lv in boost_links:
            k = counters["climb"]
            counters["climb"] += 1
            tiles[top] = Tile.CLIMB
            tiles[top[0] + 1, top[1], top[2]] = Tile.LEDGE
            group[top] = group[top[0] + 1, top[1], top[2]] = k
        else:
            tiles[top] = Tile.STAIRS_UP
            tiles[top[0] + 1, top[1], top[2]] = Tile.STAIRS_DOWN

    used = np.zeros(tiles.shape, dtype=bool)

    def candidates(zone: int, level: int) -> np.ndarray:
        mask = (tiles[level] == Tile.FLOOR) & (segcell[level] == zone) & ~used[level]
        rr, cc = np.nonzero(mask)
        return np.stack([np.full_like(rr, level), rr, cc], axis=1)

    def pick(cands: np.ndarray, near: tuple[int, int, int], min_dist: int) -> tuple[int, int, int] | None:
        """A cell at Manhattan distance >= min_dist from ``near``: off the route and close preferred."""
        d = np.abs(cands[:, 1] - near[1]) + np.abs(cands[:, 2] - near[2])
        ok = d >= min_dist
        if not ok.any():
            return None
        cands, d = cands[ok], d[ok]
        route = on_route[cands[:, 0], cands[:, 1], cands[:, 2]]
        order = np.lexsort((d, d < min_dist + 1, route))
        top = order[: min(3, len(order))]
        cell = cands[top[int(rng.integers(len(top)))]]
        return int(cell[0]), int(cell[1]), int(cell[2])

    for kind, gid, cell, near_zone in items:
        lv = cell[0]
        if kind == "door":
            for zone in (near_zone, near_zone + 1):
                plate = pick(candidates(zone, lv), cell, 2)
                if plate is None:
                    return "no room for a plate"
                tiles[plate], group[plate], used[plate] = Tile.PLATE, gid, True
        else:
            first = pick(candidates(near_zone, lv), cell, 1)
            if first is None:
                return "no room for a lever"
            tiles[first], group[first], used[first] = Tile.LEVER, gid, True
            cands = candidates(near_zone, lv)
            far_enough = np.abs(cands[:, 1] - first[1]) + np.abs(cands[:, 2] - first[2]) >= 3
            second = pick(cands[far_enough], cell, 1)
            if second is None:
                return "no room for a second lever"
            tiles[second], group[second], used[second] = Tile.LEVER, gid, True
    cands = candidates(0, 0)
    if len(cands) < n:
        return "no room for the starts"
    starts = cands[np.sort(rng.choice(len(cands), size=n, replace=False))]
    starts = starts[rng.permutation(n)].astype(np.int64)
    return Layout(tiles, group), starts
