"""python -m mazesim.play end to end, headless: recordings decode to one frame per step plus one."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from mazesim import play

ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str, display: bool = False) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "SDL_VIDEODRIVER")}
    env["SDL_AUDIODRIVER"] = "dummy"
    if display:
        env["SDL_VIDEODRIVER"] = "dummy"
    return subprocess.run(
        [sys.executable, "-m", "mazesim.play", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _frames(path: Path) -> int:
    with Image.open(path) as im:
        return im.n_frames


def _steps(stdout: str) -> int:
    line = next(s for s in stdout.splitlines() if s.startswith("episode 0"))
    return int(line.rsplit(" in ", 1)[1].split()[0])


def test_records_expert_escape_of_tutorial(tmp_path):
    out = tmp_path / "escape.gif"
    r = _run("--scenario", "tutorial", "--policy", "expert", "--size", "240x200", "--record", str(out))
    assert r.returncode == 0, r.stderr
    assert "team escaped" in r.stdout, r.stdout
    assert _frames(out) == _steps(r.stdout) + 1


def test_recording_has_first_frame_plus_one_per_step(tmp_path):
    out = tmp_path / "random.gif"
    assert play.main(["--policy", "random", "--size", "160", "--record", str(out)]) == 0
    with Image.open(out) as im:
        assert im.size == (160, 160)
        n = im.n_frames
    import mazesim

    env = mazesim.parallel_env(scenario="tutorial")
    # the same seed, policy and maze: count the steps of that episode directly
    policy = play.make_policy("random", __import__("numpy").random.default_rng(0))
    obs, _ = env.reset(seed=0)
    steps = 0
    while env.agents:
        obs, *_ = env.step(policy(env, obs))
        steps += 1
    assert n == steps + 1


def test_png_record_is_the_middle_frame_of_the_episode(tmp_path):
    still, movie = tmp_path / "still.png", tmp_path / "movie.gif"
    assert play.main(["--policy", "random", "--size", "120", "--record", str(still)]) == 0
    assert play.main(["--policy", "random", "--size", "120", "--record", str(movie)]) == 0
    import numpy as np

    with Image.open(movie) as im:
        frames = []
        for k in range(im.n_frames):
            im.seek(k)
            frames.append(np.asarray(im.convert("RGB"), dtype=int))
    with Image.open(still) as png:
        assert png.format == "PNG" and png.size == (120, 120)
        got = np.asarray(png.convert("RGB"), dtype=int)
    # the GIF is palette-quantised, so compare by distance: the still is nearest the middle frame
    distance = [np.abs(got - f).mean() for f in frames]
    assert int(np.argmin(distance)) == len(frames) // 2 or distance[len(frames) // 2] == min(distance)


def test_records_3d_view(tmp_path):
    out = tmp_path / "three.gif"
    r = _run("--policy", "random", "--view", "3d", "--size", "96x64", "--record", str(out))
    assert r.returncode == 0, r.stderr
    assert _frames(out) == _steps(r.stdout) + 1


def _bad(args: list[str], needle: str, display: bool = False) -> None:
    r = _run(*args, display=display)
    assert r.returncode == 2, (r.returncode, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    assert needle in lines[0], lines[0]


def test_bad_inputs_exit_2_with_one_line(tmp_path):
    not_ckpt = tmp_path / "notes.pt"
    not_ckpt.write_text("hello")
    fake = tmp_path / "fake.pt"
    with zipfile.ZipFile(fake, "w") as z:
        z.writestr("archive/data.pkl", b"\x80\x02}q\x00.")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    _bad(["--scenario", "nope"], "nope")
    _bad(["--policy", str(tmp_path / "missing.pt")], "missing.pt")
    _bad(["--policy", str(not_ckpt)], "not a checkpoint")
    _bad(["--record", str(tmp_path / "no" / "dir" / "x.gif")], "does not exist")
    _bad(["--record", str(tmp_path / "x.avi")], "unsupported format")
    _bad(["--render"], "--record")
    _bad(["--view", "4d"], "--view")
    _bad(["--size", "12"], "--size")
    _bad(["--episodes", "0"], "--episodes")
    _bad(["--record", "/proc/mazesim-record.gif"], "not writable")  # read-only even for root
    if os.geteuid() != 0:  # permission bits do not stop root
        _bad(["--record", str(locked / "x.gif")], "not writable")
    # a checkpoint-shaped file: either the agents package loads it or says why, in one line
    r = _run("--policy", str(fake))
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_mp4_without_imageio_names_the_extra(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(play.importlib.util, "find_spec", lambda name: None)
    assert play.main(["--record", str(tmp_path / "x.mp4")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "imageio-ffmpeg" in err[0]


def test_parse_size_and_help():
    assert play.parse_size("640x480") == (640, 480)
    assert play.parse_size("512") == (512, 512)
    with pytest.raises(play.UsageError):
        play.parse_size("axb")
    text = play.build_parser().format_help()
    for word in ("--record", "--policy", "--view", "--size", "space pause", "PageUp", "b+arrow", "q/Esc"):
        assert word in text


def test_a_trained_checkpoint_plays_through_the_solver(tmp_path):
    """--policy PATH: the agents package loads it as data and it acts in superposition mode."""
    from agents.checkpoint import Member, save_checkpoint
    from agents.nets import ArchConfig, Classifier

    ckpt = tmp_path / "tiny.pt"
    save_checkpoint(ckpt, [Member("imitation", Classifier((9, 17, 17), 12, ArchConfig(hidden=(8,))))])
    policy = play.make_policy(str(ckpt), __import__("numpy").random.default_rng(0))
    assert policy.action_mode == "superposition"
    out = tmp_path / "neural.gif"
    r = _run("--policy", str(ckpt), "--size", "160", "--record", str(out))
    assert r.returncode == 0, r.stderr
    assert _frames(out) == _steps(r.stdout) + 1
    _bad(["--policy", str(ckpt), "--size", "80", "--record", str(out)], "too small")


def test_window_keys_pause_switch_and_let_a_person_control_an_agent(monkeypatch):
    """The interactive window, driven headless (SDL dummy driver) by posted key events."""
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    monkeypatch.setenv("SDL_AUDIODRIVER", "dummy")
    import mazesim
    from mazesim.world import Action

    env = mazesim.parallel_env(scenario="tutorial")
    env.reset(seed=0)
    window = play.Window(play.FrameMaker((200, 200)), "2d", fps=1000.0)
    pg = window.pg
    pg.display.init()  # events can be posted once the video system is up (the window does it on draw)

    def press(*keys: int) -> str:
        for key in keys:
            pg.event.post(pg.event.Event(pg.KEYDOWN, key=key))
        return window.wait_for_step(env, 0.0)

    try:
        assert press(pg.K_1, pg.K_RIGHT) == "step"
        assert window.controlled == 0
        assert window.human_action(env) == {"agent_0": int(Action.EAST)}
        assert window.human_action(env) == {}  # used once
        assert press(pg.K_b, pg.K_UP) == "step"
        assert window.human_action(env) == {"agent_0": int(Action.BOOST_NORTH)}
        assert press(pg.K_e) == "step" and window.human_action(env) == {"agent_0": int(Action.INTERACT)}
        assert press(pg.K_SPACE, pg.K_v, pg.K_0, pg.K_PERIOD) == "step"
        assert window.paused and window.view == "3d" and window.controlled is None
        assert press(pg.K_r) == "restart"
        assert press(pg.K_q) == "quit"
    finally:
        window.close()


def test_the_default_policy_is_the_shipped_team_and_it_escapes_the_tutorial():
    """`play` with no --policy plays agents/pretrained/tutorial.pt (superposition mode)."""
    assert play.team_checkpoint("tutorial") == str(ROOT / "agents" / "pretrained" / "tutorial.pt")
    r = _run("--episodes", "2")
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("team escaped") == 2, r.stdout
    assert "expert planner plays" not in r.stderr


def test_a_scenario_without_a_shipped_team_falls_back_to_the_expert_and_says_so(capsys):
    assert play.team_checkpoint("three_floor") == "expert"
    assert "no trained team ships for 'three_floor'" in capsys.readouterr().err
