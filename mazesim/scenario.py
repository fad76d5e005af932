"""Scenarios: typed, frozen configuration of a maze family, loaded from TOML files in ``scenarios/``.

The dataclasses below are the contract between the scenario files, the generator and the
environment. :func:`load_scenario` reads a preset or a file, applies keyword overrides and
validates everything at this boundary: a bad value raises :class:`ScenarioError` whose message
names the file, the field and what is allowed. Nothing downstream re-checks.

File format (keys are the :class:`Scenario` field names; every key is optional)::

    name = "tutorial"                  # default: the file name without .toml
    description = "One floor, two agents, one plate and one door."
    levels = 1                         # floors, 1..4
    rows = 9                           # odd, 7..81 (walls on even coordinates, cells on odd ones)
    cols = 9                           # odd, 7..81
    agents = 2                         # 2..8, and at most ((rows-1)//2) * ((cols-1)//2) // 4
    view_radius = 3                    # 1..10
    max_cycles = 100                   # 1..100000
    following = false                  # may an agent enter a cell that is being vacated?
    leave_together = false
    braid = 0.3                        # 0..1, fraction of dead ends opened into loops
    train_seeds = { start = 0, stop = 1000 }        # half-open, non-empty
    heldout_seeds = { start = 100000, stop = 100100 }  # disjoint from train_seeds
    layout = ['''...''', '''...''']    # optional hand-drawn floors, lowest first (see mazesim.text)

    [mechanics]                        # each 0..4, at least one in total
    doors = 1                          # doors + gates <= levels * ((rows-1)//2 + (cols-1)//2) // 4
    gates = 0
    boosts = 0                         # <= levels - 1

    [rewards]
    team = true
    exit = 1.0
    escape = 10.0
    step_cost = 0.01                   # >= 0
    shaping = 0.0                      # >= 0

With a hand-drawn ``layout``, ``levels``, ``rows``, ``cols``, ``agents`` and ``mechanics`` are
read from the drawing (see :func:`mazesim.text.parse_text`); a file may still state them, but
then they must agree with it. A drawing may be any size from 3 to 81 per side.

Overrides use the same names; sub-tables take a dict that is merged into the file's table (or a
:class:`Mechanics` / :class:`Rewards` instance that replaces it); seed ranges take a ``range`` or
a ``{"start": ..., "stop": ...}`` dict::

    load_scenario("tutorial", agents=3, mechanics={"gates": 1}, train_seeds=range(0, 10))

Example:

>>> sc = load_scenario("tutorial")
>>> sc.levels, sc.agents, sc.mechanics.doors
(1, 2, 1)
>>> load_scenario("tutorial", agents=3).agents
3
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: The folder of preset scenario files, beside the ``mazesim`` package.
SCENARIO_DIR = Path(__file__).resolve().parent.parent / "scenarios"

LEVELS = (1, 4)
SIDE = (7, 81)
DRAWN_SIDE = (3, 81)
AGENTS = (2, 8)
VIEW_RADIUS = (1, 10)
MAX_CYCLES = (1, 100_000)
PER_MECHANIC = (0, 4)


class ScenarioError(ValueError):
    """A scenario file, preset name or override is invalid.

    ``source`` is the file (or a description of where the values came from), ``field`` the
    offending field (dotted for sub-tables, empty when the whole file is at fault).
    """

    def __init__(self, source: str, field: str, message: str) -> None:
        self.source = source
        self.field = field
        where = f"{source}: field '{field}'" if field else source
        super().__init__(f"{where}: {message}")


@dataclass(frozen=True)
class Mechanics:
    """How many of each cooperative mechanism the generator places on the way out."""

    doors: int = 0  # plate-and-door pairs
    gates: int = 0  # lever gates (levers pulled in the same step)
    boosts: int = 0  # climb spots with a ledge above (boost, then lower a rope)

    @property
    def total(self) -> int:
        return self.doors + self.gates + self.boosts


@dataclass(frozen=True)
class Rewards:
    """Reward settings. With ``team`` every agent receives the team's reward."""

    team: bool = True
    exit: float = 1.0  # for each agent that leaves through an exit
    escape: float = 10.0  # once, when the whole team has left
    step_cost: float = 0.01  # per step, per agent still inside
    shaping: float = 0.0  # coefficient on progress toward the exit (potential-based)


@dataclass(frozen=True)
class Scenario:
    """One scenario: maze size, team, mechanics, rules, rewards, episode length and seeds.

    ``rows`` and ``cols`` are odd (walls on even coordinates, cells on odd ones).
    ``train_seeds`` and ``heldout_seeds`` are disjoint ranges of maze seeds.
    ``layout`` is an optional hand-drawn maze: one string per floor, lowest first.
    ``source`` is the file the scenario was loaded from (None when built in code).
    Build scenarios with :func:`load_scenario` to have them validated.
    """

    name: str
    description: str = ""
    levels: int = 1
    rows: int = 11
    cols: int = 11
    agents: int = 2
    mechanics: Mechanics = field(default_factory=Mechanics)
    view_radius: int = 3
    max_cycles: int = 200
    following: bool = False
    leave_together: bool = False
    braid: float = 0.3
    rewards: Rewards = field(default_factory=Rewards)
    train_seeds: range = range(0, 1000)
    heldout_seeds: range = range(100_000, 100_100)
    layout: tuple[str, ...] | None = None
    source: Path | None = None


_TABLES: dict[str, type] = {"mechanics": Mechanics, "rewards": Rewards}
# ``source`` is set by the loader, never by a file.
_FIELDS = tuple(f.name for f in dataclasses.fields(Scenario) if f.name != "source")


def list_scenarios() -> list[str]:
    """Names of the preset scenarios in ``scenarios/``: ``tutorial`` first, the rest sorted.

    >>> list_scenarios()[0]
    'tutorial'
    """
    names = [p.stem for p in SCENARIO_DIR.glob("*.toml")]
    return sorted(names, key=lambda n: (n != "tutorial", n))


def load_scenario(name_or_path: str | Path | Scenario, **overrides: Any) -> Scenario:
    """Load a preset (by name), a ``.toml`` file (by path) or re-validate a :class:`Scenario`.

    A string is a path when it ends in ``.toml`` or contains a path separator, else a preset
    name. ``overrides`` are scenario fields (see the module docstring for their form) and are
    validated exactly like the file's values. Raises :class:`ScenarioError` on any problem.

    >>> load_scenario("three_floor").levels
    3
    >>> try:
    ...     load_scenario("tutorial", agents=9)
    ... except ScenarioError as exc:
    ...     print(exc.field, "|", str(exc).split("agents': ")[-1])
    agents | 9 is out of range; allowed: integers 2..8
    """
    if isinstance(name_or_path, Scenario):
        raw = _as_raw(name_or_path)
        path = name_or_path.source
        origin = str(path) if path is not None else f"scenario {name_or_path.name!r}"
    else:
        path = _resolve(name_or_path)
        origin = str(path)
        raw = _read_toml(path)
        raw.setdefault("name", path.stem)
    if overrides:
        shown = ", ".join(f"{k}={v!r}" for k, v in overrides.items())
        origin = f"{origin} (with overrides {shown})"
        raw = _merge(raw, overrides)
    return _build(raw, origin, path)


def _resolve(name_or_path: str | Path) -> Path:
    text = str(name_or_path)
    if isinstance(name_or_path, Path) or text.endswith(".toml") or "/" in text or "\\" in text:
        path = Path(name_or_path)
        if not path.is_file():
            raise ScenarioError(
                str(path), "", "no such scenario file; give the path to an existing .toml file"
            )
        return path
    path = SCENARIO_DIR / f"{text}.toml"
    if not path.is_file():
        presets = list_scenarios()
        close = difflib.get_close_matches(text, presets, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ScenarioError(
            f"scenario {text!r}",
            "",
            f"unknown scenario name.{hint} Presets: {', '.join(presets)} (or give a path to a .toml file)",
        )
    return path


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(str(path), "", f"cannot read the file ({exc})") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # tomllib's message carries the position, "(at line L, column C)"; its traceback would not help.
        raise ScenarioError(str(path), "", f"malformed TOML: {exc}; fix the file at that position") from None


def _as_raw(sc: Scenario) -> dict[str, Any]:
    raw: dict[str, Any] = {name: getattr(sc, name) for name in _FIELDS}
    raw["mechanics"] = dataclasses.asdict(sc.mechanics)
    raw["rewards"] = dataclasses.asdict(sc.rewards)
    return raw


def _merge(raw: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    out = dict(raw)
    for key, value in overrides.items():
        if key in _TABLES and isinstance(value, _TABLES[key]):
            out[key] = dataclasses.asdict(value)
        elif key in _TABLES and isinstance(value, Mapping) and isinstance(out.get(key, {}), Mapping):
            out[key] = {**out.get(key, {}), **value}
        else:
            out[key] = value
    return out


def _unknown(origin: str, name: str, allowed: tuple[str, ...], prefix: str = "") -> ScenarioError:
    close = difflib.get_close_matches(name, allowed, n=1)
    hint = f" Did you mean '{prefix}{close[0]}'?" if close else ""
    return ScenarioError(origin, prefix + name, f"unknown field.{hint} Allowed fields: {', '.join(allowed)}")


def _int(origin: str, raw: Mapping[str, Any], key: str, bounds: tuple[int, int], name: str = "") -> int:
    name = name or key
    value = raw[key]
    lo, hi = bounds
    if isinstance(value, bool) or not isinstance(value, int):
        raise ScenarioError(origin, name, f"expected an integer, got {value!r}; allowed: integers {lo}..{hi}")
    if not lo <= value <= hi:
        raise ScenarioError(origin, name, f"{value} is out of range; allowed: integers {lo}..{hi}")
    return value


def _float(origin: str, raw: Mapping[str, Any], key: str, lo: float, hi: float, name: str = "") -> float:
    name = name or key
    value = raw[key]
    allowed = (
        f"numbers {lo}..{hi}" if math.isfinite(hi) else f"numbers >= {lo}" if lo > -math.inf else "numbers"
    )
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ScenarioError(origin, name, f"expected a number, got {value!r}; allowed: finite {allowed}")
    if not (math.isfinite(value) and lo <= value <= hi):
        raise ScenarioError(origin, name, f"{value} is out of range; allowed: finite {allowed}")
    return float(value)


def _bool(origin: str, raw: Mapping[str, Any], key: str, name: str = "") -> bool:
    value = raw[key]
    if not isinstance(value, bool):
        raise ScenarioError(
            origin, name or key, f"expected true or false, got {value!r}; allowed: true, false"
        )
    return value


def _str(origin: str, raw: Mapping[str, Any], key: str) -> str:
    value = raw[key]
    if not isinstance(value, str):
        raise ScenarioError(origin, key, f"expected a string, got {value!r}; allowed: any text in quotes")
    return value


def _seeds(origin: str, raw: Mapping[str, Any], key: str) -> range:
    value = raw[key]
    allowed = "a table {start = A, stop = B} of integers with 0 <= A < B (half-open)"
    if isinstance(value, range):
        if value.step != 1:
            raise ScenarioError(origin, key, f"{value!r} has a step; allowed: {allowed}")
        value = {"start": value.start, "stop": value.stop}
    if not isinstance(value, Mapping):
        raise ScenarioError(origin, key, f"expected a table, got {value!r}; allowed: {allowed}")
    for k in value:
        if k not in ("start", "stop"):
            raise _unknown(origin, k, ("start", "stop"), prefix=f"{key}.")
    if "start" not in value or "stop" not in value:
        raise ScenarioError(origin, key, f"needs both start and stop; allowed: {allowed}")
    start, stop = value["start"], value["stop"]
    for v in (start, stop):
        if isinstance(v, bool) or not isinstance(v, int):
            raise ScenarioError(
                origin, key, f"start and stop must be integers, got {v!r}; allowed: {allowed}"
            )
    if not 0 <= start < stop:
        raise ScenarioError(origin, key, f"range({start}, {stop}) is empty or negative; allowed: {allowed}")
    return range(start, stop)


def _table(origin: str, raw: Mapping[str, Any], key: str) -> dict[str, Any]:
    cls = _TABLES[key]
    value = raw.get(key, {})
    allowed = tuple(f.name for f in dataclasses.fields(cls))
    if not isinstance(value, Mapping):
        raise ScenarioError(
            origin, key, f"expected a table ([{key}]), got {value!r}; allowed keys: {', '.join(allowed)}"
        )
    for k in value:
        if k not in allowed:
            raise _unknown(origin, k, allowed, prefix=f"{key}.")
    return {**dataclasses.asdict(cls()), **value}


def _build(raw: dict[str, Any], origin: str, path: Path | None) -> Scenario:
    for key in raw:
        if key not in _FIELDS:
            raise _unknown(origin, key, _FIELDS)
    defaults = _as_raw(Scenario(name=""))
    given = dict(raw)
    vals: dict[str, Any] = {**defaults, **raw}

    name = _str(origin, vals, "name")
    description = _str(origin, vals, "description")
    mech_raw = _table(origin, vals, "mechanics")
    rew_raw = _table(origin, vals, "rewards")
    rewards = Rewards(
        team=_bool(origin, rew_raw, "team", "rewards.team"),
        exit=_float(origin, rew_raw, "exit", -math.inf, math.inf, "rewards.exit"),
        escape=_float(origin, rew_raw, "escape", -math.inf, math.inf, "rewards.escape"),
        step_cost=_float(origin, rew_raw, "step_cost", 0.0, math.inf, "rewards.step_cost"),
        shaping=_float(origin, rew_raw, "shaping", 0.0, math.inf, "rewards.shaping"),
    )
    mechanics = Mechanics(
        **{k: _int(origin, mech_raw, k, PER_MECHANIC, f"mechanics.{k}") for k in ("doors", "gates", "boosts")}
    )
    layout = vals["layout"]
    if layout is not None:
        layout, sizes, mechanics = _drawn(origin, layout, given, given.get("mechanics"))
        vals.update(sizes)
    else:
        for key in ("rows", "cols"):
            side = _int(origin, vals, key, SIDE)
            if side % 2 == 0:
                raise ScenarioError(
                    origin,
                    key,
                    f"{side} is even; allowed: odd integers {SIDE[0]}..{SIDE[1]} (walls sit on even rows)",
                )
        levels = _int(origin, vals, "levels", LEVELS)
        rows, cols = vals["rows"], vals["cols"]
        agents = _int(origin, vals, "agents", AGENTS)
        room = ((rows - 1) // 2) * ((cols - 1) // 2) // 4
        if agents > room:
            raise ScenarioError(
                origin,
                "agents",
                f"{agents} agents do not fit the start zone of a {rows}x{cols} floor; allowed: at most "
                f"((rows-1)//2) * ((cols-1)//2) // 4 = {room} (make the maze larger or the team smaller)",
            )
        _check_mechanics(origin, mechanics, levels, rows, cols)

    train = _seeds(origin, vals, "train_seeds")
    heldout = _seeds(origin, vals, "heldout_seeds")
    if train.start < heldout.stop and heldout.start < train.stop:
        raise ScenarioError(
            origin,
            "heldout_seeds",
            f"range({heldout.start}, {heldout.stop}) overlaps train_seeds "
            f"range({train.start}, {train.stop}); "
            "allowed: a range disjoint from train_seeds",
        )
    return Scenario(
        name=name,
        description=description,
        levels=vals["levels"],
        rows=vals["rows"],
        cols=vals["cols"],
        agents=vals["agents"],
        mechanics=mechanics,
        view_radius=_int(origin, vals, "view_radius", VIEW_RADIUS),
        max_cycles=_int(origin, vals, "max_cycles", MAX_CYCLES),
        following=_bool(origin, vals, "following"),
        leave_together=_bool(origin, vals, "leave_together"),
        braid=_float(origin, vals, "braid", 0.0, 1.0),
        rewards=rewards,
        train_seeds=train,
        heldout_seeds=heldout,
        layout=layout,
        source=path,
    )


def _check_mechanics(origin: str, m: Mechanics, levels: int, rows: int, cols: int) -> None:
    if m.total < 1:
        raise ScenarioError(
            origin,
            "mechanics",
            "no mechanism at all, so one agent could escape alone; allowed: at least one of "
            "mechanics.doors, mechanics.gates, mechanics.boosts >= 1",
        )
    if m.boosts > levels - 1:
        raise ScenarioError(
            origin,
            "mechanics.boosts",
            f"{m.boosts} boosts need {m.boosts + 1} floors but levels = {levels}; "
            f"allowed: at most levels - 1 = "
            f"{levels - 1} (or raise levels)",
        )
    fit = levels * ((rows - 1) // 2 + (cols - 1) // 2) // 4
    if m.doors + m.gates > fit:
        raise ScenarioError(
            origin,
            "mechanics.doors",
            f"doors + gates = {m.doors + m.gates} cannot be separated in {levels} floor(s) of {rows}x{cols}; "
            "allowed: mechanics.doors + mechanics.gates <= "
            f"levels * ((rows-1)//2 + (cols-1)//2) // 4 = {fit}",
        )


def _drawn(
    origin: str, layout: Any, given: Mapping[str, Any], mech_given: Mapping[str, Any] | None
) -> tuple[tuple[str, ...], dict[str, int], Mechanics]:
    from mazesim.text import TextMazeError, parse_text

    if isinstance(layout, str) or not all(isinstance(f, str) for f in layout):
        raise ScenarioError(
            origin,
            "layout",
            "expected an array of strings, one per floor (lowest first); allowed: ['''...''', ...]",
        )
    floors = tuple(layout)
    try:
        drawn, starts = parse_text(floors)
    except TextMazeError as exc:
        raise ScenarioError(origin, "layout", f"{exc}") from None
    levels, rows, cols = drawn.shape
    sizes = {"levels": levels, "rows": rows, "cols": cols, "agents": len(starts)}
    mechanics = Mechanics(doors=drawn.n_doors, gates=drawn.n_gates, boosts=drawn.n_climbs)
    bounds = {"levels": LEVELS, "rows": DRAWN_SIDE, "cols": DRAWN_SIDE, "agents": AGENTS}
    for key, value in sizes.items():
        lo, hi = bounds[key]
        if not lo <= value <= hi:
            raise ScenarioError(
                origin,
                "layout",
                f"the drawing has {key} = {value}; allowed: {key} {lo}..{hi} for a drawn layout",
            )
        if key in given and given[key] != value:
            raise ScenarioError(
                origin,
                key,
                f"{given[key]!r} disagrees with the drawn layout; allowed: {value} (or leave it out)",
            )
    if mech_given is not None:
        for key, value in dataclasses.asdict(mechanics).items():
            if key in mech_given and mech_given[key] != value:
                raise ScenarioError(
                    origin,
                    f"mechanics.{key}",
                    f"{mech_given[key]!r} disagrees with the drawn layout; "
                    f"allowed: {value} (or leave it out)",
                )
    if mechanics.total < 1:
        raise ScenarioError(
            origin,
            "layout",
            "the drawing has no door, gate or climb spot, so one agent could escape alone; "
            "allowed: at least one "
            "mechanism (D with P, G with L, or C below T)",
        )
    return floors, sizes, mechanics
