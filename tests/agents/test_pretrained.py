"""The shipped tutorial team: what it is, where it came from, and that it escapes."""

from __future__ import annotations

import mazesim
from agents.checkpoint import load_checkpoint
from agents.evaluate import evaluate
from agents.policy import DEFAULT_ENSEMBLE, default_policy
from agents.report import METHODS
from mazesim.observation import OBS_ENCODING_VERSION


def test_the_shipped_team_is_one_small_member_per_method_with_its_provenance():
    assert DEFAULT_ENSEMBLE.stat().st_size < 3 * 2**20, "the shipped ensemble should stay a few MB at most"
    ck = load_checkpoint(DEFAULT_ENSEMBLE)
    assert sorted(m.method for m in ck.members) == sorted(METHODS)
    assert ck.manifest["scenario"] == "tutorial"
    assert ck.manifest["obs_encoding_version"] == OBS_ENCODING_VERSION
    assert ck.manifest["command"].startswith("python -m agents.make_ensemble")
    for record in ck.manifest["members"]:
        # every member can be retrained: its own command line and seed are recorded
        assert record["command"].startswith(f"python -m agents.train_{record['method']} ")
        assert f"--seed {record['seed']}" in record["command"]
    env = mazesim.parallel_env("tutorial")
    shape = env.observation_space(env.possible_agents[0])["observation"].shape
    assert all(tuple(m.net.obs_shape) == shape for m in ck.members)


def test_the_shipped_team_escapes_held_out_tutorial_mazes():
    """A few held-out mazes here; the README's results section has the full 100 (agents.evaluate)."""
    seeds = list(mazesim.load_scenario("tutorial").heldout_seeds)[:4]
    result = evaluate(default_policy(), "tutorial", seeds, seed=0)
    assert result["success_rate"] >= 0.75, result
