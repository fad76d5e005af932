"""Contests for a cell, settled vectorised by the batched env, against the scalar resolver.

Random play on the generated presets only ever makes two agents race for one cell; in this crowded
room three or four agents race for one cell, and two pairs race for two cells in the same step, so
the order of the solver's draws (one noise value per contestant, clusters by their lowest member)
is checked too.
"""

from __future__ import annotations

import numpy as np
from test_batch import _assert_same

from mazesim.batch import BatchEnv
from mazesim.vector import SerialVecEnv
from mazesim.world import Action

ROOM = ("###########\n#0.1.4#...#\n#.....D.P.#\n#2.3P.#..E#\n###########",)
_MOVES = [int(a) for a in (Action.NORTH, Action.SOUTH, Action.WEST, Action.EAST)]


def _contests(benv: BatchEnv, mask: np.ndarray, actions: np.ndarray) -> list[list[int]]:
    """Per world, the number of agents moving into each contested free cell."""
    out = []
    for b in range(benv.num_envs):
        live = benv.active[b]
        occupied = set(benv.cell[b, live].tolist())
        claims: dict[int, int] = {}
        for i, a in enumerate(actions[b].tolist()):
            if live[i] and a in _MOVES and mask[b, i, a]:
                dest = int(benv.cell[b, i] + benv._dest_off[a])
                if dest not in occupied:
                    claims[dest] = claims.get(dest, 0) + 1
        out.append(sorted(n for n in claims.values() if n > 1))
    return out


def test_crowded_contests_match_serial_envs() -> None:
    benv = BatchEnv("handdrawn_tutorial", 8, layout=ROOM, max_cycles=40)
    venv = SerialVecEnv("handdrawn_tutorial", 8, layout=ROOM, max_cycles=40)
    out = venv.reset(seed=1)
    _assert_same(benv.reset(seed=1), out, -1)
    rng = np.random.default_rng(1)
    kinds = set()
    for t in range(250):
        mask = out[1]
        # moves only, so that agents crowd into the free cells between them
        weights = mask * np.array([1, 4, 4, 4, 4, 0, 0, 0, 0, 0, 0, 0])
        cum = np.cumsum(weights, axis=-1)
        actions = (cum <= rng.random(mask.shape[:-1] + (1,)) * cum[..., -1:]).sum(axis=-1)
        kinds.update(tuple(c) for c in _contests(benv, mask, actions) if c)
        out = venv.step(actions)
        _assert_same(benv.step(actions), out, t)
    assert (2, 2) in kinds  # two contests in one world
    assert any(max(k) >= 3 for k in kinds)  # three or more agents for one cell
    assert benv.fallback_count > 0 and benv.scalar_count == 0
