"""The planning architecture: its distance fields are walking distances, its moves follow them."""

from __future__ import annotations

from collections import deque

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.nets import ArchConfig, Classifier, PlanningHead, features
from mazesim.observation import N_OBS_CHANNELS, Code
from mazesim.world import N_ACTIONS, Action


def window(cells: np.ndarray, partner: tuple[int, int] | None = None) -> torch.Tensor:
    """A compact observation (1, 9, H, W) whose own floor holds ``cells`` (other floors blocked)."""
    h, w = cells.shape
    obs = np.zeros((1, N_OBS_CHANNELS, h, w), np.uint8)
    obs[0, 0] = obs[0, 2] = Code.BLOCKED
    obs[0, 1] = cells
    if partner is not None:
        obs[0, 4][partner] = 128
    return torch.as_tensor(obs)


def bfs_distance(cells: np.ndarray, target: Code) -> np.ndarray:
    """Walking distance from every cell to the nearest ``target`` cell (inf where none is reachable):
    a breadth-first search out of the targets (which may themselves block walking, like a shut
    door) through the cells one can walk on."""
    h, w = cells.shape
    passable = ~np.isin(cells, [int(c) for c in PlanningHead.BLOCKING])
    out = np.full((h, w), np.inf)
    queue = deque()
    for r, c in np.argwhere(cells == int(target)):
        out[r, c] = 0
        queue.append((r, c))
    while queue:
        r, c = queue.popleft()
        for nr, nc in ((r - 1, c), (r + 1, c), (r, c - 1), (r, c + 1)):
            if 0 <= nr < h and 0 <= nc < w and passable[nr, nc] and out[nr, nc] == np.inf:
                out[nr, nc] = out[r, c] + 1
                queue.append((nr, nc))
    return out


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_fields_are_gamma_to_the_walking_distance(seed):
    rng = np.random.default_rng(seed)
    cells = rng.choice(
        [Code.FLOOR, Code.BLOCKED, Code.PLATE, Code.DOOR_SHUT, Code.EXIT],
        (9, 9),
        p=[0.6, 0.25, 0.05, 0.05, 0.05],
    )
    v = PlanningHead((N_OBS_CHANNELS, 9, 9), ArchConfig(kind="plan", hidden=(8,), channels=(4,))).fields(
        features(window(cells))
    )
    for k, target in enumerate(PlanningHead.TARGETS):
        if target not in (Code.PLATE, Code.DOOR_SHUT, Code.EXIT):
            continue
        want = np.where(
            np.isinf(d := bfs_distance(cells, target)), 0.0, PlanningHead.GAMMA ** np.minimum(d, 1e9)
        )
        np.testing.assert_allclose(v[0, k].numpy(), want, rtol=1e-5, atol=1e-7, err_msg=target.name)


def test_progress_says_which_moves_bring_the_agent_nearer():
    cells = np.full((7, 7), Code.BLOCKED)
    cells[3, 1:6] = Code.FLOOR  # a corridor through the centre (3, 3)
    cells[3, 5] = Code.EXIT
    net = Classifier((N_OBS_CHANNELS, 7, 7), N_ACTIONS, ArchConfig(kind="plan", hidden=(8,), channels=(4,)))
    obs = window(cells)
    _, progress = net.plan(features(obs))
    k = PlanningHead.TARGETS.index(Code.EXIT)
    moves = [a for a, _ in PlanningHead.MOVES]
    assert progress[0, moves.index(Action.EAST), k] == 1
    assert progress[0, moves.index(Action.WEST), k] == -1
    assert progress[0, moves.index(Action.NORTH), k] == 0  # into a wall: no reachable end, no progress


def test_a_plan_net_learns_to_walk_towards_a_target_and_respects_the_mask():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    net = Classifier((N_OBS_CHANNELS, 7, 7), N_ACTIONS, ArchConfig(kind="plan", hidden=(16,), channels=(4,)))
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)

    def batch(n):
        obs, labels = [], []
        for _ in range(n):
            cells = np.full((7, 7), Code.FLOOR)
            r, c = rng.integers(7, size=2)
            while (r, c) == (3, 3):
                r, c = rng.integers(7, size=2)
            cells[r, c] = Code.EXIT
            obs.append(window(cells))
            # the label: a move along the longer axis towards the exit
            labels.append(
                (Action.SOUTH if r > 3 else Action.NORTH)
                if abs(r - 3) >= abs(c - 3)
                else (Action.EAST if c > 3 else Action.WEST)
            )
        return torch.cat(obs), torch.as_tensor([int(a) for a in labels])

    for _ in range(150):
        obs, y = batch(32)
        loss = torch.nn.functional.cross_entropy(net(obs), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    obs, y = batch(200)
    with torch.no_grad():
        mask = torch.ones(200, N_ACTIONS, dtype=torch.bool)
        mask[:, int(Action.STAY)] = False
        probs = net.probs(obs, mask)
    toward = [(a, d) for a, d in PlanningHead.MOVES]
    assert (probs[:, int(Action.STAY)] == 0).all()
    # the chosen move always brings the agent nearer the exit (ties between axes are fine)
    exit_rc = [np.argwhere(o[1].numpy() == Code.EXIT)[0] for o in obs]
    chosen = probs.argmax(1).tolist()
    for (r, c), a in zip(exit_rc, chosen, strict=True):
        (dr, dc) = dict(toward)[Action(a)]
        assert abs(r - (3 + dr)) + abs(c - (3 + dc)) < abs(r - 3) + abs(c - 3), (r, c, Action(a))


@pytest.mark.parametrize("kind", ["mlp", "cnn", "plan"])
def test_arch_config_round_trips(kind):
    arch = ArchConfig(kind=kind, hidden=(8,), channels=(4,), iterations=5 if kind == "plan" else 0)
    assert ArchConfig.from_dict(arch.to_dict()) == arch
