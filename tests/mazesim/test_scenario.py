"""Scenario loading and validation: presets, error messages that name file/field/allowed, overrides."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mazesim.scenario import (
    SCENARIO_DIR,
    Mechanics,
    Scenario,
    ScenarioError,
    list_scenarios,
    load_scenario,
)

REQUIRED_PRESETS = {"tutorial", "levers", "boost", "mixed", "three_floor", "escape4", "handdrawn_tutorial"}

BASE = """\
description = "test scenario"
levels = 2
rows = 11
cols = 11
agents = 2
train_seeds = { start = 0, stop = 100 }
heldout_seeds = { start = 1000, stop = 1010 }

[mechanics]
doors = 1
gates = 0
boosts = 1
"""


def write(tmp_path: Path, text: str, name: str = "case.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def with_top(key_value: str) -> str:
    """BASE with one top-level line replaced or added (top-level keys precede the tables)."""
    key = key_value.split("=")[0].strip()
    lines = [ln for ln in BASE.splitlines() if ln.split("=")[0].strip() != key]
    return key_value + "\n" + "\n".join(lines) + "\n"


def with_mech(doors: int, gates: int, boosts: int) -> str:
    return (
        BASE.split("[mechanics]")[0] + f"[mechanics]\ndoors = {doors}\ngates = {gates}\nboosts = {boosts}\n"
    )


# --- presets -------------------------------------------------------------------------------------


def test_list_scenarios_has_the_presets_tutorial_first() -> None:
    names = list_scenarios()
    assert names[0] == "tutorial"
    assert set(names) >= REQUIRED_PRESETS
    assert names[1:] == sorted(names[1:])
    assert set(names) == {p.stem for p in SCENARIO_DIR.glob("*.toml")}


@pytest.mark.parametrize("name", sorted(REQUIRED_PRESETS))
def test_every_preset_loads_with_description_and_disjoint_seeds(name: str) -> None:
    sc = load_scenario(name)
    assert sc.name == name
    assert sc.source == SCENARIO_DIR / f"{name}.toml"
    assert len(sc.description) > 20
    assert len(sc.train_seeds) > 0 and len(sc.heldout_seeds) > 0
    assert not set(sc.train_seeds) & set(sc.heldout_seeds)
    assert sc.mechanics.total >= 1
    assert sc.mechanics.boosts <= sc.levels - 1
    # Re-validating a loaded scenario gives it back unchanged.
    assert load_scenario(sc) == sc


def test_preset_contents_match_the_brief() -> None:
    tut = load_scenario("tutorial")
    assert (tut.levels, tut.agents, tut.mechanics) == (1, 2, Mechanics(doors=1))
    assert load_scenario("levers").mechanics == Mechanics(gates=1)
    boost = load_scenario("boost")
    assert (boost.levels, boost.agents, boost.mechanics) == (2, 2, Mechanics(boosts=1))
    mixed = load_scenario("mixed")
    assert (mixed.levels, mixed.agents, mixed.mechanics) == (2, 3, Mechanics(1, 1, 1))
    three = load_scenario("three_floor")
    assert (three.levels, three.rows, three.cols, three.agents) == (3, 21, 21, 4)
    assert three.mechanics == Mechanics(1, 1, 1)
    esc = load_scenario("escape4")
    assert esc.agents == 4 and esc.levels >= 3 and esc.mechanics.total >= 4


def test_handdrawn_preset_takes_sizes_from_the_drawing() -> None:
    sc = load_scenario("handdrawn_tutorial")
    assert sc.layout is not None and len(sc.layout) == 2
    assert (sc.levels, sc.rows, sc.cols, sc.agents) == (2, 5, 9, 2)
    assert sc.mechanics == Mechanics(doors=1)


def test_load_by_path_str_and_path(tmp_path: Path) -> None:
    path = write(tmp_path, BASE, "my_maze.toml")
    by_path = load_scenario(path)
    by_str = load_scenario(str(path))
    assert by_path == by_str
    assert by_path.name == "my_maze"
    assert (by_path.levels, by_path.mechanics) == (2, Mechanics(doors=1, boosts=1))
    assert by_path.train_seeds == range(0, 100) and by_path.heldout_seeds == range(1000, 1010)
    assert by_path.source == path


def test_defaults_fill_missing_fields(tmp_path: Path) -> None:
    sc = load_scenario(write(tmp_path, "[mechanics]\ndoors = 1\n", "minimal.toml"))
    default = Scenario(name="minimal", mechanics=Mechanics(doors=1), source=sc.source)
    assert sc == default


# --- errors: file, field, allowed ----------------------------------------------------------------

BAD_CASES = [
    # (toml text, field, substring naming what is allowed)
    (with_top("levels = 5"), "levels", "1..4"),
    (with_top("levels = 0"), "levels", "1..4"),
    (with_top("rows = 10"), "rows", "odd integers 7..81"),
    (with_top("rows = 5"), "rows", "7..81"),
    (with_top("cols = 83"), "cols", "7..81"),
    (with_top("cols = 11.0"), "cols", "integers 7..81"),
    (with_top("agents = 1"), "agents", "2..8"),
    (with_top("agents = 9"), "agents", "2..8"),
    (with_top('agents = "two"'), "agents", "integers 2..8"),
    (with_top("agents = true"), "agents", "integers 2..8"),
    (with_top("view_radius = 0"), "view_radius", "1..10"),
    (with_top("view_radius = 11"), "view_radius", "1..10"),
    (with_top("max_cycles = 0"), "max_cycles", "1..100000"),
    (with_top("max_cycles = 100001"), "max_cycles", "1..100000"),
    (with_top("braid = 1.5"), "braid", "0.0..1.0"),
    (with_top("braid = -0.1"), "braid", "0.0..1.0"),
    (with_top("following = 1"), "following", "true, false"),
    (with_top("leave_together = 'yes'"), "leave_together", "true, false"),
    (with_top("description = 3"), "description", "text"),
    (with_top("name = 3"), "name", "text"),
    (with_top("agent = 2"), "agent", "Did you mean 'agents'"),
    (with_top("train_seeds = { start = 5, stop = 5 }"), "train_seeds", "0 <= A < B"),
    (with_top("train_seeds = { start = -1, stop = 5 }"), "train_seeds", "0 <= A < B"),
    (with_top("train_seeds = { start = 0 }"), "train_seeds", "start = A, stop = B"),
    (with_top("train_seeds = { begin = 0, stop = 5 }"), "train_seeds.begin", "start, stop"),
    (with_top("train_seeds = 5"), "train_seeds", "start = A, stop = B"),
    (with_top("heldout_seeds = { start = 50, stop = 150 }"), "heldout_seeds", "disjoint from train_seeds"),
    (with_mech(5, 0, 0), "mechanics.doors", "0..4"),
    (with_mech(0, -1, 1), "mechanics.gates", "0..4"),
    (with_mech(0, 0, 0), "mechanics", "at least one"),
    (with_mech(1, 0, 2), "mechanics.boosts", "at most levels - 1 = 1"),
    (
        BASE.replace("[mechanics]", "[mechanics]\ndoor = 1"),
        "mechanics.door",
        "Did you mean 'mechanics.doors'",
    ),
    (BASE + "\n[rewards]\nstep_cost = -0.5\n", "rewards.step_cost", ">= 0.0"),
    (BASE + "\n[rewards]\nteam = 1\n", "rewards.team", "true, false"),
    (BASE + "\n[rewards]\nexit = nan\n", "rewards.exit", "finite"),
    (BASE + "\n[rewards]\nbonus = 1\n", "rewards.bonus", "escape"),
    (BASE + "\n[rules]\nx = 1\n", "rules", "Allowed fields"),
    (with_top("mechanics = 3").split("[mechanics]")[0], "mechanics", "allowed keys: doors, gates, boosts"),
    (with_top("layout = 'abc'"), "layout", "one per floor"),
]


@pytest.mark.parametrize(("text", "field", "allowed"), BAD_CASES)
def test_bad_file_names_file_field_and_allowed(tmp_path: Path, text: str, field: str, allowed: str) -> None:
    path = write(tmp_path, text, "bad_case.toml")
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    msg = str(info.value)
    assert "bad_case.toml" in msg
    assert f"'{field}'" in msg
    assert allowed in msg
    assert info.value.field == field


def test_too_many_agents_for_the_start_zone(tmp_path: Path) -> None:
    # 9x9: ((9-1)//2)**2 // 4 = 4 agents at most.
    text = with_top("rows = 9").replace("cols = 11", "cols = 9").replace("agents = 2", "agents = 5")
    with pytest.raises(ScenarioError, match=r"room_case\.toml: field 'agents'.*at most .* = 4"):
        load_scenario(write(tmp_path, text, "room_case.toml"))
    text4 = text.replace("agents = 5", "agents = 4")
    assert load_scenario(write(tmp_path, text4, "room_ok.toml")).agents == 4


def test_mechanics_that_cannot_be_separated(tmp_path: Path) -> None:
    # 1 floor of 7x7: 1 * (3 + 3) // 4 = 1 door or gate at most.
    text = "rows = 7\ncols = 7\nlevels = 1\n[mechanics]\ndoors = 1\ngates = 1\n"
    with pytest.raises(ScenarioError, match=r"fit_case\.toml: field 'mechanics\.doors'.*<= .* = 1"):
        load_scenario(write(tmp_path, text, "fit_case.toml"))
    ok = load_scenario(write(tmp_path, text.replace("gates = 1", "gates = 0"), "fit_ok.toml"))
    assert ok.mechanics == Mechanics(doors=1)


def test_unknown_field_lists_all_allowed_fields(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError) as info:
        load_scenario(write(tmp_path, with_top("view_raduis = 3"), "typo.toml"))
    msg = str(info.value)
    assert "Did you mean 'view_radius'" in msg
    for name in ("levels", "rows", "cols", "agents", "mechanics", "rewards", "train_seeds", "layout"):
        assert name in msg
    assert "source" not in msg.split("Allowed fields:")[1]


@pytest.mark.parametrize(
    "text",
    ["levels = = 2\n", "levels = 2\nlevels = 3\n", "[mechanics\ndoors = 1\n", 'description = "open\n'],
)
def test_malformed_toml_is_a_scenario_error_with_position(tmp_path: Path, text: str) -> None:
    with pytest.raises(ScenarioError) as info:
        load_scenario(write(tmp_path, text, "broken.toml"))
    msg = str(info.value)
    assert "broken.toml" in msg and "malformed TOML" in msg
    assert "line " in msg and "column " in msg
    # No chained traceback from inside tomllib.
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_missing_file_and_unknown_name(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="no such scenario file"):
        load_scenario(tmp_path / "nope.toml")
    with pytest.raises(ScenarioError) as info:
        load_scenario("tutorail")
    msg = str(info.value)
    assert "'tutorail'" in msg and "Did you mean 'tutorial'" in msg
    for name in list_scenarios():
        assert name in msg


# --- overrides -----------------------------------------------------------------------------------


def test_overrides_apply_and_merge_sub_tables() -> None:
    base = load_scenario("mixed")
    sc = load_scenario("mixed", agents=4, mechanics={"doors": 2}, rewards={"shaping": 0.5}, braid=0)
    assert sc.agents == 4 and sc.braid == 0.0
    assert sc.mechanics == dataclasses.replace(base.mechanics, doors=2)
    assert sc.rewards == dataclasses.replace(base.rewards, shaping=0.5)
    assert load_scenario("mixed", mechanics=Mechanics(gates=2)).mechanics == Mechanics(gates=2)
    seeds = load_scenario("tutorial", train_seeds=range(5, 10), heldout_seeds={"start": 10, "stop": 12})
    assert seeds.train_seeds == range(5, 10) and seeds.heldout_seeds == range(10, 12)
    assert load_scenario(base, view_radius=5) == dataclasses.replace(base, view_radius=5)


@pytest.mark.parametrize(
    ("overrides", "field", "allowed"),
    [
        ({"agents": 9}, "agents", "2..8"),
        ({"levels": 1}, "mechanics.boosts", "at most levels - 1 = 0"),
        ({"mechanics": {"boosts": 7}}, "mechanics.boosts", "0..4"),
        ({"mechanics": {"door": 1}}, "mechanics.door", "Did you mean 'mechanics.doors'"),
        ({"max_cyles": 50}, "max_cyles", "Did you mean 'max_cycles'"),
        ({"train_seeds": range(0, 10, 2)}, "train_seeds", "start = A, stop = B"),
        ({"heldout_seeds": range(0, 5)}, "heldout_seeds", "disjoint"),
        ({"rows": 12}, "rows", "odd integers 7..81"),
        ({"source": "x"}, "source", "Allowed fields"),
    ],
)
def test_overrides_are_validated_like_the_file(overrides: dict, field: str, allowed: str) -> None:
    with pytest.raises(ScenarioError) as info:
        load_scenario("mixed", **overrides)
    msg = str(info.value)
    assert "mixed.toml" in msg and "with overrides" in msg
    assert f"'{field}'" in msg and allowed in msg


def test_code_built_scenario_is_validated() -> None:
    sc = Scenario(name="mine", levels=1, mechanics=Mechanics(boosts=1))
    with pytest.raises(ScenarioError, match=r"scenario 'mine': field 'mechanics\.boosts'"):
        load_scenario(sc)
    good = Scenario(name="mine", levels=2, mechanics=Mechanics(boosts=1))
    assert load_scenario(good) == good


# --- hand-drawn layouts --------------------------------------------------------------------------


def drawn_file(tmp_path: Path, floor: str, extra: str = "") -> Path:
    text = f"description = 'drawn'\n{extra}layout = [\n'''\n{floor}\n''',\n]\n"
    return write(tmp_path, text, "drawn_case.toml")


def test_handdrawn_file_loads(tmp_path: Path) -> None:
    sc = load_scenario(drawn_file(tmp_path, "#########\n#0P.D.P1E\n#########"))
    assert (sc.levels, sc.rows, sc.cols, sc.agents, sc.mechanics) == (1, 3, 9, 2, Mechanics(doors=1))


def test_handdrawn_errors_name_the_file_field_and_position(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError) as info:
        load_scenario(drawn_file(tmp_path, "#########\n#0P.D.P1E\n###x#####"))
    msg = str(info.value)
    assert "drawn_case.toml" in msg and "'layout'" in msg
    assert "floor 0, row 2, col 3" in msg and "'x'" in msg
    with pytest.raises(ScenarioError, match=r"'layout'.*no door, gate or climb spot"):
        load_scenario(drawn_file(tmp_path, "#####\n#0.1E\n#####"))
    with pytest.raises(ScenarioError, match=r"'layout'.*agents = 1; allowed: agents 2\.\.8"):
        load_scenario(drawn_file(tmp_path, "########\n#0P.D.PE\n########"))


def test_handdrawn_sizes_must_agree(tmp_path: Path) -> None:
    path = drawn_file(tmp_path, "#########\n#0P.D.P1E\n#########", extra="rows = 3\nagents = 2\n")
    assert load_scenario(path).rows == 3
    with pytest.raises(ScenarioError, match=r"field 'agents': 3 disagrees with the drawn layout; allowed: 2"):
        load_scenario("handdrawn_tutorial", agents=3)
    with pytest.raises(ScenarioError, match=r"field 'mechanics\.gates': 1 disagrees.*allowed: 0"):
        load_scenario("handdrawn_tutorial", mechanics={"gates": 1})
    with pytest.raises(ScenarioError, match=r"drawn_case\.toml: field 'cols': 11 disagrees"):
        load_scenario(drawn_file(tmp_path, "#########\n#0P.D.P1E\n#########", extra="cols = 11\n"))


# --- property: any in-range values load back exactly ---------------------------------------------


@st.composite
def valid_values(draw: st.DrawFn) -> dict:
    levels = draw(st.integers(1, 4))
    rows = draw(st.integers(3, 40)) * 2 + 1
    cols = draw(st.integers(3, 40)) * 2 + 1
    room = ((rows - 1) // 2) * ((cols - 1) // 2) // 4
    fit = levels * ((rows - 1) // 2 + (cols - 1) // 2) // 4
    doors = draw(st.integers(0, min(4, fit)))
    gates = draw(st.integers(0, min(4, fit - doors)))
    boosts = draw(st.integers(0, min(4, levels - 1)))
    if doors + gates + boosts == 0:
        doors = 1  # at least one mechanism; fit >= 1 for every size >= 7
    start = draw(st.integers(0, 10**6))
    length = draw(st.integers(1, 10**4))
    return {
        "levels": levels,
        "rows": rows,
        "cols": cols,
        "agents": draw(st.integers(2, min(8, room))),
        "view_radius": draw(st.integers(1, 10)),
        "max_cycles": draw(st.integers(10, 100_000)),
        "braid": draw(st.floats(0, 1)),
        "mechanics": Mechanics(doors, gates, boosts),
        "train_seeds": range(start, start + length),
        "heldout_seeds": range(start + length, start + length + draw(st.integers(1, 100))),
    }


@settings(max_examples=40, deadline=None)
@given(values=valid_values())
def test_any_valid_values_round_trip_through_a_file(
    tmp_path_factory: pytest.TempPathFactory, values: dict
) -> None:
    lines = [f"{k} = {v!r}" for k, v in values.items() if not isinstance(v, range | Mechanics)]
    for key in ("train_seeds", "heldout_seeds"):
        lines.append(f"{key} = {{ start = {values[key].start}, stop = {values[key].stop} }}")
    m = values["mechanics"]
    lines.append(f"[mechanics]\ndoors = {m.doors}\ngates = {m.gates}\nboosts = {m.boosts}")
    path = write(tmp_path_factory.mktemp("prop"), "\n".join(lines) + "\n", "prop.toml")
    sc = load_scenario(path)
    for key, value in values.items():
        assert getattr(sc, key) == value
    # The same values as overrides give the same scenario.
    assert (
        dataclasses.replace(load_scenario("tutorial", **values), name="prop", description="", source=path)
        == sc
    )
