"""Maze Escape (v0): a team escapes a procedurally generated 3D maze — only together.

=====================  =================================================================
Import                 ``import mazesim; env = mazesim.parallel_env(scenario="tutorial")``
Actions                Discrete(12) (default) or Box(0, 1, (12,)) in superposition mode
Parallel API           Yes (native ``ParallelEnv``; AEC form through PettingZoo's conversion)
Agents                 ``agent_0`` … ``agent_{n-1}`` (2–8, set by the scenario)
Observation            Dict(observation: Box(0, 255, (9, 2v+1, 2v+1), uint8),
                       action_mask: Box(0, 1, (12,), int8))
State                  Box(0, 255, (2 * levels + 2, rows, cols), uint8)
=====================  =================================================================

**Description.** Each episode builds a maze of several floors (stairs, ledges) from the
scenario and a seed. The exit is reachable only through cooperative mechanisms: a *door* that
stays open while a partner stands on its plate, a *gate* whose levers must be pulled in the same
step, a *ledge* that one agent climbs with a partner's boost before lowering a rope for the rest.
Every maze carries a certificate that the whole team can escape and that no agent alone can.

Each action is a *promise* (Promise Theory): moving or pulling is a promise to the team; a boost
is a give-promise to a partner; climbing a ledge is the matching use-promise. Every step a
wave-function-collapse solver turns the agents' choices into one consistent joint action (no two
agents in a cell, no swaps, boosts only with a climber) and reports, per agent, whether its
promise was kept, withdrawn (by which conflict, because of whom) or unbound.

**Actions.** ``Discrete(12)``:

=====  ===========  ==============================================================
index  name         effect
=====  ===========  ==============================================================
0      stay         nothing
1–4    north …      move one cell (north = row − 1, south = row + 1, west = col − 1,
       east         east = col + 1)
5      up           stairs up; on a climb spot, climb if a neighbour boosts (or rope)
6      down         stairs down; from a ledge, down its lowered rope
7      interact     pull the lever underfoot; on a ledge, lower its rope
8–11   boost_*      boost the agent on the climb spot in that direction
=====  ===========  ==============================================================

In superposition mode (``action_mode="superposition"``) an action is a probability vector over
the same 12 actions (a *wave*); the solver collapses the most certain agent first.

Actions of agents that have already left are ignored (some wrappers keep sending them). Missing
actions for live agents, actions for unknown agents, out-of-range or wrongly typed actions, and
waves with NaN, negative weights or the wrong length raise ``ValueError`` naming the agent; the
environment is then left exactly as it was.

**Observation.** ``observation`` is the egocentric window of compact uint8 codes described in
:mod:`mazesim.observation` (cell codes of the floors below/here/above, other agents with the
observer's trust in them, own level, time and team fraction; ``mazesim.observation.one_hot``
expands it into float features); ``action_mask`` marks the actions the terrain allows
(walls, shut doors and gates, missing stairs are masked; other agents are not — the solver
handles them).

**Rewards.** Team reward by default (every agent receives it): ``exit`` for each agent that leaves,
``escape`` once when the last one leaves, minus ``step_cost`` per agent still inside, plus optional
potential-based shaping toward the exits (``rewards.shaping = c``: each agent's change in
``-c · distance to the nearest exit / (rows + cols)``, doors taken as open; it telescopes, so it
leaves the optimal policies unchanged). With ``rewards.team = false`` each agent gets its own.

**Termination and truncation.** An agent that reaches an exit is terminated and removed from
``agents``. When ``max_cycles`` steps have passed, every remaining agent is truncated.

**Infos.** ``infos[agent]`` always holds ``position`` (level, row, col after the step), ``action``
(executed after resolution), ``promise`` (arrow notation), ``outcome`` (``kept``, ``withdrawn`` or
``unbound``, with ``reason``; withdrawn promises also name the ``constraint`` and the agent
``because_of`` whom), plus ``maze_seed`` and ``step`` (one dict shared by all agents: the step's
bindings and the solver's report; treat it as read-only).

**Presets.** ``mazesim.list_scenarios()``; see ``scenarios/*.toml`` and the README.

**World state.** ``env.world`` is the current :class:`mazesim.world.State`. Consecutive states
share the arrays a step leaves unchanged (the environment never writes into a state once made), so
treat it as read-only: ``env.world.copy()`` gives one to experiment with.

**Seeding.** ``reset(seed=s)`` seeds the one generator every random choice draws from (maze,
solver noise). Without ``options["maze_seed"]`` the maze seed is drawn from the scenario's
training seeds; pass ``options={"maze_seed": k}`` to play a given (e.g. held-out) maze.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv
from pettingzoo.utils import parallel_to_aec, wrappers

from mazesim.observation import N_OBS_CHANNELS, Encoder, encode_state
from mazesim.promise_bridge import solo_promises, step_promises
from mazesim.resolver import resolve, solo_step
from mazesim.world import N_ACTIONS, Action, Frame, State, apply_joint_action, frame
from promises import PromiseLog

ACTION_MODES = ("discrete", "superposition")
_STAY, _INTERACT = int(Action.STAY), int(Action.INTERACT)


def _advance(
    before: State, fr: Frame, joint: Sequence[int], cells: list[int], coords: np.ndarray
) -> tuple[State, list[int], Frame]:
    """The state after a solo step, the agents that left, and the new state's :class:`Frame`.

    A solo step (:func:`mazesim.resolver.solo_step`) is a joint action every live agent executes
    alone and as asked, ``cells`` every agent's cell id after it, so
    :func:`mazesim.world.apply_joint_action` would execute each action as it is: moves, stairs and
    lowered ropes go to ``cells``, ``interact`` pulls a lever or lowers a rope. This does exactly
    that with plain lists; ``tests/mazesim/test_env_fast_paths.py`` checks it against the rules.
    ``coords``: ``(cells, 3)`` int64, the coordinates of each cell id. The new state shares the
    arrays of ``before`` that the step leaves as they are (the promise bookkeeping replaces the
    trust ledger when the step brings evidence), and the new frame the lists of ``fr`` likewise; nothing
    writes into a state's arrays or a frame's lists after they are made.
    """
    rules, active = fr.rules, fr.active
    gates, ropes = before.gates_open, before.ropes_down
    gates_now, ropes_now = fr.gates, fr.ropes
    if _INTERACT in joint:
        pulled: list[int] = []
        lowered: list[int] = []
        for i, a in enumerate(joint):
            if a == _INTERACT:
                here = cells[i]
                if rules.lever[here] >= 0:
                    pulled.append(here)
                else:  # a ledge whose rope is still up (the only other legal interact)
                    lowered.append(rules.ledge[here])
        if pulled:
            for g, levers in enumerate(rules.lever_cells):
                if not gates_now[g] and all(c in pulled for c in levers):
                    if gates is before.gates_open:
                        gates = gates.copy()
                    gates[g] = True
            if gates is not before.gates_open:
                gates_now = gates.tolist()
        if lowered:
            ropes = ropes.copy()
            ropes[lowered] = True
            ropes_now = ropes.tolist()
    exit_ = rules.exit
    exited = (
        [i for i, c in enumerate(cells) if exit_[c] and active[i]]
        if any(map(exit_.__getitem__, cells))
        else []
    )
    now, active_now = before.active, active
    if exited:
        now = now.copy()
        now[exited] = False
        active_now = now.tolist()
    after = State(coords.take(cells, axis=0), now, gates, ropes, before.trust, before.step + 1)
    return after, exited, Frame(rules, after, cells, (active_now, gates_now, ropes_now))


@functools.lru_cache(maxsize=8)
def _exit_distances(layout) -> list[int]:
    """Steps from every cell id to the nearest exit with every door, gate and rope passable
    (the potential of reward shaping; unreachable cells get the largest distance found + 1)."""
    from mazesim.world import rules_of

    rules = rules_of(layout)
    frontier = [c for c, is_exit in enumerate(rules.exit) if is_exit]
    dist = [-1] * len(rules.opts)
    for c in frontier:
        dist[c] = 0
    while frontier:
        nxt = []
        for u in frontier:
            for dest, *_ in rules.opts[u].values():
                if dist[dest] < 0:
                    dist[dest] = dist[u] + 1
                    nxt.append(dest)
        frontier = nxt
    far = max(dist) + 1
    return [d if d >= 0 else far for d in dist]


@functools.lru_cache(maxsize=16)
def _generate(scenario, maze_seed: int):
    """Mazes are a pure function of (scenario, seed): the last few are kept, so that resetting to
    the same mazes (a group of rollouts, a small evaluation set) skips generation. Only a few: each
    maze keeps its compiled rules (:func:`mazesim.world.rules_of`, which compiles cells as agents
    reach them, up to about 1 MB for 3 x 21 x 21) alive, and long runs over thousands of training
    seeds must not grow."""
    from mazesim.generator import generate

    return generate(scenario, maze_seed)


def env(**kwargs: Any):
    """The AEC form (PettingZoo's conversion of :func:`parallel_env`), with order enforcing."""
    aec = parallel_to_aec(parallel_env(**kwargs))
    return wrappers.OrderEnforcingWrapper(aec)


def parallel_env(scenario: Any = "tutorial", **kwargs: Any) -> raw_env:
    """The native parallel environment. See the module docstring."""
    return raw_env(scenario=scenario, **kwargs)


class raw_env(ParallelEnv):  # noqa: N801 - PettingZoo's naming convention
    """Native PettingZoo ``ParallelEnv`` of mazesim. See the module docstring."""

    metadata = {
        "name": "maze_escape_v0",
        "render_modes": ["ansi", "rgb_array", "human"],
        "is_parallelizable": True,
        "render_fps": 8,
    }

    def __init__(
        self,
        scenario: Any = "tutorial",
        *,
        max_cycles: int | None = None,
        render_mode: str | None = None,
        action_mode: str = "discrete",
        solver_mode: str = "sample",
        view: str = "2d",
        **overrides: Any,
    ) -> None:
        from mazesim.scenario import load_scenario

        if max_cycles is not None:
            overrides["max_cycles"] = max_cycles
        self.scenario = load_scenario(scenario, **overrides)
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            modes = self.metadata["render_modes"]
            raise ValueError(f"render_mode={render_mode!r} is not supported; use one of {modes} or None")
        if action_mode not in ACTION_MODES:
            raise ValueError(f"action_mode={action_mode!r} is not supported; use one of {ACTION_MODES}")
        if view not in ("2d", "3d"):
            raise ValueError(f"view={view!r} is not supported; use '2d' (pygame) or '3d' (pyglet)")
        self.render_mode = render_mode
        self.view = view
        self._viewer: Any = None
        self.action_mode = action_mode
        self.solver_mode = solver_mode
        self.max_cycles = self.scenario.max_cycles
        n = self.scenario.agents
        self.possible_agents = [f"agent_{i}" for i in range(n)]
        self._index = {a: i for i, a in enumerate(self.possible_agents)}
        self._everyone = list(range(n))  # the agents' indices when all of them are observed
        self.agents: list[str] = []
        w = 2 * self.scenario.view_radius + 1
        obs_space = spaces.Dict(
            {
                "observation": spaces.Box(0, 255, (N_OBS_CHANNELS, w, w), dtype=np.uint8),
                "action_mask": spaces.Box(0, 1, (N_ACTIONS,), dtype=np.int8),
            }
        )
        self._observation_spaces = {a: obs_space for a in self.possible_agents}
        if action_mode == "discrete":
            self._action_spaces = {a: spaces.Discrete(N_ACTIONS) for a in self.possible_agents}
        else:
            self._action_spaces = {
                a: spaces.Box(0.0, 1.0, (N_ACTIONS,), dtype=np.float32) for a in self.possible_agents
            }
        sc = self.scenario
        self.state_space = spaces.Box(0, 255, (2 * sc.levels + 2, sc.rows, sc.cols), dtype=np.uint8)
        self._rng: np.random.Generator | None = None
        self.maze = None
        self.world: State | None = None
        self.promise_log = PromiseLog()
        #: id(promise template) -> (template, its infos base); see _info_base
        self._info_bases: dict[int, tuple[dict, dict]] = {}

    # -- spaces ---------------------------------------------------------------------------------
    @functools.cache  # noqa: B019 - spaces must be the same object every call
    def observation_space(self, agent: str) -> spaces.Space:
        return self._observation_spaces[agent]

    @functools.cache  # noqa: B019
    def action_space(self, agent: str) -> spaces.Space:
        return self._action_spaces[agent]

    # -- episode ----------------------------------------------------------------------------------
    def reset(self, seed: int | None = None, options: dict | None = None):
        if seed is not None or self._rng is None:
            self._rng = np.random.default_rng(seed)
        options = options or {}
        maze_seed = options.get("maze_seed")
        if maze_seed is None:
            seeds = self.scenario.train_seeds
            maze_seed = int(seeds[int(self._rng.integers(len(seeds)))])
        self.maze = _generate(self.scenario, int(maze_seed))
        self.maze_seed = int(maze_seed)
        self.world = State.initial(self.maze.layout, self.maze.starts)
        self._frame = frame(self.maze.layout, self.world)
        self._coords = self._frame.rules.coord_array
        self._encoder = Encoder(self.maze.layout, self.scenario.view_radius, self.max_cycles)
        self.agents = list(self.possible_agents)
        self.promise_log.clear()
        observations = self._observations(self.agents)
        infos = {a: self._start_info(a) for a in self.agents}
        return observations, infos

    def step(self, actions: dict[str, Any]):
        if self.world is None:
            raise RuntimeError("step() called before reset(); call env.reset(seed=...) first")
        waves = self._validate(actions)

        layout, before, fr = self.maze.layout, self.world, self._frame
        following = self.scenario.following
        report = None
        # discrete actions come out of _validate as ints in range: checked
        solo = solo_step(fr, waves, checked=True) if self.action_mode == "discrete" else None
        if solo is None:  # the solver decides
            report = resolve(
                layout, before, waves, self._rng, mode=self.solver_mode, following=following, frame_=fr
            )
            # the resolved joint action may again be one every agent executes alone
            joint = report.joint.tolist()
            solo = solo_step(fr, joint, checked=True)
        if solo is not None:  # the common step: no partner's help, no contested cell
            executed, cells = solo
            after, exited, new = _advance(before, fr, executed, cells, self._coords)
        else:
            after, events = apply_joint_action(layout, before, joint, following=following, frame_=fr)
            executed, exited = events.executed.tolist(), events.exited
            new = Frame(fr.rules, after)
        if report is None:
            per_agent, step_info = solo_promises(after, executed, fr.active, self.promise_log)
        else:
            per_agent, step_info = step_promises(layout, before, after, report, self.promise_log, fr=fr)
        live = self.agents
        self.world = after
        self._frame = new
        rewards = self._rewards(before, after, exited, live)
        index, active = self._index, new.active
        truncated = after.step >= self.max_cycles
        if exited or truncated:
            terminations, truncations = {}, {}
            for a in live:
                terminations[a] = gone = not active[index[a]]
                truncations[a] = truncated and not gone
        else:  # the common step: nobody leaves, nobody is cut off
            terminations = dict.fromkeys(live, False)
            truncations = dict.fromkeys(live, False)
        infos = {}
        coords, cell, seed, bases = fr.rules.coords, new.cell, self.maze_seed, self._info_bases
        for a in live:
            i = index[a]
            # per_agent[i] is a cached template: its fields go into a fresh dict from a base
            template = per_agent[i]
            found = bases.get(id(template))
            if found is None or found[0] is not template:  # (ids of an unpickled env are stale)
                found = self._info_base(template)
            info = infos[a] = found[1].copy()
            info["position"] = coords[cell[i]]
            info["action"] = executed[i]
            info["maze_seed"] = seed
            info["step"] = step_info
        observations = self._observations(live)
        if truncated or exited:
            self.agents = [] if truncated else [a for a in live if active[index[a]]]
        return observations, rewards, terminations, truncations, infos

    # -- helpers ------------------------------------------------------------------------------------
    def _info_base(self, template: dict) -> tuple[dict, dict]:
        """``infos[agent]`` of a step whose promise outcome is ``template``, with ``position``,
        ``action``, ``maze_seed`` and ``step`` left to fill in (keys in their documented order),
        kept by the template's id. The entry holds the template itself, so the id cannot be reused
        while it is kept (an unpickled env's ids are stale, so :meth:`step` checks the template is
        the one kept). Nothing in a base depends on the env or the episode, so copies of an env
        may share them and episodes keep them; bounded as a guard."""
        if len(self._info_bases) >= 1 << 12:
            self._info_bases.clear()
        base = {"position": None, "action": None, "maze_seed": None, **template, "step": None}
        found = self._info_bases[id(template)] = (template, base)
        return found

    def _validate(self, actions: dict[str, Any]) -> list[Any]:
        """The waves of all agents, in index order (stay for agents that have left), or ValueError."""
        agents = self.agents
        if self.action_mode == "discrete" and type(actions) is dict and len(actions) == len(agents):
            # the common case: a plain int for every live agent and nothing else
            if len(agents) == len(self.possible_agents):
                waves = list(map(actions.get, agents))
            else:
                waves = [_STAY] * len(self.possible_agents)
                for a in agents:
                    waves[self._index[a]] = actions.get(a)
            for act in waves:
                if type(act) is not int or not 0 <= act < N_ACTIONS:
                    break
            else:
                return waves
        waves = [_STAY] * len(self.possible_agents)
        for i, wave in self._validate_all(actions).items():
            waves[i] = wave
        return waves

    def _validate_all(self, actions: dict[str, Any]) -> dict[int, Any]:
        if not isinstance(actions, dict):
            raise ValueError(f"step() takes a dict {{agent: action}}, got {type(actions).__name__}")
        for a in actions:
            if a not in self._index:
                raise ValueError(f"step(): action for unknown agent {a!r}; agents are {self.possible_agents}")
        missing = [a for a in self.agents if a not in actions]
        if missing:
            raise ValueError(f"step(): missing actions for live agents {missing}")
        waves: dict[int, Any] = {}
        for a in self.agents:
            act = actions[a]
            if self.action_mode == "discrete":
                if isinstance(act, (bool, np.bool_)) or not isinstance(act, (int, np.integer)):
                    if (
                        isinstance(act, np.ndarray)
                        and act.shape == ()
                        and np.issubdtype(act.dtype, np.integer)
                    ):
                        act = int(act)
                    else:
                        raise ValueError(
                            f"step(): action for {a} must be an int in [0, {N_ACTIONS}), got {act!r}"
                        )
                if not 0 <= int(act) < N_ACTIONS:
                    raise ValueError(f"step(): action {int(act)} for {a} is out of range [0, {N_ACTIONS})")
                waves[self._index[a]] = int(act)
            else:
                w = np.asarray(act, dtype=np.float64)
                if w.shape != (N_ACTIONS,):
                    raise ValueError(
                        f"step(): superposition for {a} must have shape ({N_ACTIONS},), got {w.shape}"
                    )
                if not np.all(np.isfinite(w)):
                    raise ValueError(f"step(): superposition for {a} contains NaN or infinity")
                if np.any(w < 0):
                    raise ValueError(f"step(): superposition for {a} has negative weights")
                waves[self._index[a]] = w
        return waves

    def _observations(self, agents: list[str]) -> dict[str, dict[str, np.ndarray]]:
        fr = self._frame
        index = self._everyone if len(agents) == fr.n else [self._index[a] for a in agents]
        obs, masks = self._encoder.observe_and_mask(self.world, index, fr)
        # rows by index: list(array) makes the same views at about twice the cost
        out = {}
        for k, a in enumerate(agents):
            out[a] = {"observation": obs[k], "action_mask": masks[k]}
        return out

    def _rewards(
        self, before: State, after: State, exited: Sequence[int], live: list[str]
    ) -> dict[str, float]:
        r = self.scenario.rewards
        active = self._frame.active  # the frame of ``after``
        inside = sum(active)
        team = r.exit * len(exited) - r.step_cost * inside
        if exited and not inside:
            team += r.escape
        shaping = self._shaping(before, after) if r.shaping else None
        if r.team:
            if shaping is not None:
                team += float(shaping.sum())
            team = float(team)
            return dict.fromkeys(live, team)
        out = {}
        for a in live:
            i = self._index[a]
            out[a] = float((r.exit if i in exited else 0.0) - (r.step_cost if active[i] else 0.0))
            if exited and not inside:
                out[a] += r.escape / len(live)
            if shaping is not None:
                out[a] += float(shaping[i])
        return out

    def _shaping(self, before: State, after: State) -> np.ndarray:
        """Potential-based shaping (Ng et al. 1999), per agent: ``c * (phi(s') - phi(s))`` with
        ``phi = -(steps from the agent to the nearest exit, doors and gates taken as open) / (rows
        + cols)`` and 0 once the agent has left. Potential differences telescope over an episode,
        so shaping does not change which policies are optimal."""
        dist = _exit_distances(self.maze.layout)
        rules = self._frame.rules
        scale = self.scenario.rewards.shaping / (self.scenario.rows + self.scenario.cols)

        def phi(state: State) -> np.ndarray:
            out = np.zeros(state.n_agents)
            for i, cell in enumerate(state.pos.tolist()):
                if state.active[i]:
                    out[i] = -dist[rules.cell_id(tuple(cell))]
            return out

        return scale * (phi(after) - phi(before))

    def _start_info(self, agent: str) -> dict:
        """``infos[agent]`` at reset (step infos are built in :meth:`step`)."""
        fr = self._frame  # the frame of self.world: positions as plain tuples
        return {
            "position": fr.rules.coords[fr.cell[self._index[agent]]],
            "action": int(Action.STAY),
            "maze_seed": self.maze_seed,
            "promise": None,
            "outcome": "none",
            "reason": "episode start",
        }

    # -- PettingZoo extras -------------------------------------------------------------------------
    def state(self) -> np.ndarray:
        if self.world is None:
            raise RuntimeError("state() called before reset()")
        return encode_state(self.maze.layout, self.world, self._encoder)

    def render(self) -> str | np.ndarray | None:
        """``ansi``: the text view; ``rgb_array``: an ``(H, W, 3)`` uint8 frame of the ``view``
        (``"2d"`` top-down, pygame; ``"3d"``, pyglet through EGL); ``human``: the same frame in a
        window opened on the first call. See :mod:`mazesim.render2d` and :mod:`mazesim.render3d`."""
        if self.render_mode is None:
            import gymnasium

            gymnasium.logger.warn("render() called without a render_mode; pass render_mode='ansi'")
            return None
        if self.world is None:
            raise RuntimeError("render() called before reset(); call env.reset(seed=...) first")
        if self.render_mode == "ansi":
            from mazesim.text import render_text

            return render_text(self.maze.layout, self.world)
        from mazesim.render2d import Viewer2D, scene_from_env

        if self._viewer is None:
            if self.view == "3d":
                from mazesim.render3d import Viewer3D

                self._viewer = Viewer3D(self.render_mode, fps=self.metadata["render_fps"])
            else:
                self._viewer = Viewer2D(self.render_mode, fps=self.metadata["render_fps"])
        return self._viewer.render(scene_from_env(self), self.maze.layout)

    def close(self) -> None:
        if self._viewer is not None:
            self._viewer.close()
            self._viewer = None
