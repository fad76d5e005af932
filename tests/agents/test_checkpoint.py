"""Checkpoints: round trips, and every kind of bad file refused with a clear message, nothing executed."""

from __future__ import annotations

import io
import os
import pickle
import zipfile

import pytest
import torch

from agents.checkpoint import (
    FORMAT,
    FORMAT_VERSION,
    CheckpointError,
    Member,
    load_checkpoint,
    save_checkpoint,
)
from agents.nets import ArchConfig, Classifier
from agents.policy import NeuralPolicy, load_policy
from mazesim.observation import OBS_ENCODING_VERSION

ARCH = ArchConfig(kind="mlp", hidden=(16,))


def _net(seed=0, arch=ARCH):
    torch.manual_seed(seed)
    return Classifier((9, 7, 7), 12, arch)


@pytest.fixture
def good(tmp_path):
    path = tmp_path / "good.pt"
    save_checkpoint(
        path, [Member("imitation", _net(0), 0), Member("dqn", _net(1), 1)], {"scenario": "tutorial"}
    )
    return path


def test_round_trip_keeps_weights_methods_seeds_and_manifest(good):
    ck = load_checkpoint(good, expect_arch=ARCH)
    assert [(m.method, m.seed) for m in ck.members] == [("imitation", 0), ("dqn", 1)]
    assert ck.manifest["obs_encoding_version"] == OBS_ENCODING_VERSION and ck.manifest["command"]
    for m, seed in zip(ck.members, (0, 1), strict=True):
        for k, v in _net(seed).state_dict().items():
            torch.testing.assert_close(m.net.state_dict()[k], v)
    policy = load_policy(good)
    assert isinstance(policy, NeuralPolicy) and len(policy.ensemble) == 2
    assert policy.action_mode == "superposition"


def test_another_architecture_is_refused(good):
    with pytest.raises(CheckpointError, match="architecture"):
        load_checkpoint(good, expect_arch=ArchConfig(kind="cnn", hidden=(16,), channels=(4,)))


def test_another_observation_version_is_refused(tmp_path):
    path = tmp_path / "old.pt"
    save_checkpoint(path, [Member("imitation", _net())], {"obs_encoding_version": OBS_ENCODING_VERSION + 1})
    with pytest.raises(CheckpointError, match="observation encoding.*retrain"):
        load_checkpoint(path)


def test_weights_that_do_not_fit_the_architecture_are_refused(tmp_path):
    path = tmp_path / "mixed.pt"
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "manifest": {"obs_encoding_version": OBS_ENCODING_VERSION},
        "members": [
            {
                "method": "imitation",
                "arch": ARCH.to_dict(),
                "obs_shape": [9, 7, 7],
                "n_actions": 12,
                "state_dict": _net(arch=ArchConfig(hidden=(8,))).state_dict(),
            }
        ],
    }
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="do not fit"):
        load_checkpoint(path)


def test_truncated_file_is_refused(good, tmp_path):
    data = good.read_bytes()
    cut = tmp_path / "cut.pt"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="not a readable mazesim checkpoint"):
        load_checkpoint(cut)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (os.urandom(4096), "not a readable mazesim checkpoint"),
        (b"these are not the weights you are looking for\n" * 20, "not a readable"),
        (b"", "not a readable"),
    ],
    ids=["random-bytes", "text", "empty"],
)
def test_files_that_are_not_checkpoints_are_refused(tmp_path, content, message):
    path = tmp_path / "x.pt"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(path)
    with pytest.raises(CheckpointError):
        load_policy(path)


def test_torch_file_of_a_plain_tensor_is_refused(tmp_path):
    path = tmp_path / "tensor.pt"
    torch.save(torch.zeros(3), path)
    with pytest.raises(CheckpointError, match="not a mazesim checkpoint"):
        load_checkpoint(path)


def test_missing_file_and_unknown_policy_name(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nope.pt")
    with pytest.raises(CheckpointError, match="neither a checkpoint file nor one of"):
        load_policy("exprt")


class _Evil:
    """Unpickling this would run a shell command."""

    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (os.system, (f"touch {self.target}",))


def _raw_pickle_zip(path, obj):
    """A torch-style zip archive whose data.pkl is a plain pickle of ``obj``."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("archive/data.pkl", pickle.dumps(obj, protocol=2))
        z.writestr("archive/version", "3\n")
        z.writestr("archive/byteorder", "little")
    path.write_bytes(buf.getvalue())


@pytest.mark.parametrize("how", ["torch-save", "torch-save-nested", "raw-pickle-in-zip", "plain-pickle"])
def test_checkpoint_that_runs_code_when_unpickled_is_refused_and_nothing_runs(tmp_path, how):
    target = tmp_path / "PWNED"
    path = tmp_path / "evil.pt"
    evil = _Evil(target)
    if how == "torch-save":
        torch.save(evil, path)
    elif how == "torch-save-nested":
        payload = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "manifest": {"obs_encoding_version": OBS_ENCODING_VERSION},
            "members": [evil],
        }
        torch.save(payload, path)
    elif how == "raw-pickle-in-zip":
        _raw_pickle_zip(path, {"format": FORMAT, "x": evil})
    else:
        path.write_bytes(pickle.dumps(evil, protocol=2))
    assert not target.exists()
    with pytest.raises(CheckpointError, match="refused .*would run code"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError):
        load_policy(path)
    assert not target.exists(), "loading the checkpoint executed code"


def test_save_is_atomic_and_leaves_no_temporary_files(good, tmp_path):
    save_checkpoint(good, [Member("imitation", _net(2), 2)])
    assert load_checkpoint(good).members[0].seed == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["good.pt"]
