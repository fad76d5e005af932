"""Watch, record or join a team escaping a maze: ``python -m mazesim.play --render``.

Runs a scenario (default ``tutorial``) with a policy (default: the trained team shipped for the
scenario, see ``--policy``) and shows it in a window (``--render``), records it (``--record``),
prints it as text (``--view text --render``) or just reports the outcome of each episode.

Options::

    --scenario NAME_OR_PATH   a preset (see --list) or a scenario .toml file (default: tutorial)
    --seed N                  episode seed; episode k uses N + k (default: 0)
    --maze-seed N             play this maze seed (e.g. a held-out one)
    --policy P                team | expert | random | PATH to a trained checkpoint (default: team,
                              the ensemble shipped in agents/pretrained/<scenario>.pt; for a
                              scenario without one, the expert plays and a note says so)
    --episodes N              how many episodes (default: 1)
    --view V                  2d (pygame, default) | 3d (pyglet, EGL) | text
    --render                  show a window (or print the text view)
    --record FILE             write FILE.gif (Pillow) or FILE.mp4 (needs imageio + imageio-ffmpeg);
                              FILE.png writes one still, the middle frame (a screenshot)
    --fps F                   frames per second of the window and the recording (default: 8)
    --size W[xH]              frame size in pixels (default: fitted to the maze; 3D 640x480)
    --list                    list the presets and exit

A recording holds one frame per step plus the first frame of each episode (after ``reset``),
episodes one after another: an episode of ``T`` steps gives ``T + 1`` frames.

Keys in the window: ``space`` pause, ``.`` single step, ``r`` restart the episode, ``v`` switch
2D/3D, ``+``/``-`` faster/slower, ``1``-``8`` take control of agent N (``0`` gives it back),
``q``/``Esc`` quit. While you control an agent the team waits for you: arrows move it,
``PageUp``/``PageDown`` go up/down stairs (or climb), ``e`` interacts (lever, rope), ``b`` then an
arrow boosts a neighbour on a climb spot, ``s`` stays. The other agents follow the policy.

Checkpoints: ``--policy PATH`` takes a file written by the agents package (a torch zip archive),
loaded as data with ``agents.policy.load_policy(path)``; a neural policy plays in the
environment's superposition mode, so its action distributions are the waves the solver
collapses. Bad input (an unknown scenario or policy, a missing or invalid checkpoint, an
unwritable or unsupported record path, ``--render`` without a display) prints one line on stderr
and exits with status 2.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from mazesim.world import Action

POLICIES = ("team", "expert", "random")
VIEWS = ("2d", "3d", "text")
RECORD_FORMATS = (".gif", ".mp4", ".png")
MP4_EXTRA = "pip install imageio imageio-ffmpeg"

#: ``policy(env, observations) -> {agent: action}`` for the agents still in ``env.agents``.
Policy = Callable[[Any, dict], dict]


class UsageError(Exception):
    """Bad command-line input; the message is the one line printed before exiting with status 2."""


def build_parser() -> argparse.ArgumentParser:
    keys = (
        "keys in the window: space pause, '.' single step, r restart, v switch 2D/3D, +/- faster/slower, "
        "1-8 control agent N (arrows move, PageUp/PageDown up/down, e interact, b+arrow boost, s stay; "
        "the team waits for you), 0 release, q/Esc quit. A recording holds the first frame of each "
        "episode and one frame per step."
    )
    p = argparse.ArgumentParser(
        prog="python -m mazesim.play",
        description="Watch, record or join a mazesim team escaping a cooperative 3D maze.",
        epilog=keys,
    )
    p.add_argument(
        "--scenario", default="tutorial", help="preset name or path to a .toml (default: tutorial)"
    )
    p.add_argument("--seed", type=int, default=0, help="episode seed; episode k uses seed+k (default: 0)")
    p.add_argument("--maze-seed", type=int, default=None, help="play this maze seed instead of drawing one")
    p.add_argument(
        "--policy",
        default="team",
        help="team (the ensemble shipped for the scenario), expert, random, or PATH to a checkpoint",
    )
    p.add_argument("--episodes", type=int, default=1, help="number of episodes (default: 1)")
    p.add_argument("--view", default="2d", help="2d (pygame), 3d (pyglet through EGL) or text (default: 2d)")
    p.add_argument("--render", action="store_true", help="show the episodes in a window (text view: print)")
    p.add_argument(
        "--record",
        default=None,
        metavar="FILE",
        help="record to FILE.gif, FILE.mp4 or a still FILE.png (headless)",
    )
    p.add_argument(
        "--fps", type=float, default=8.0, help="frames per second, window and recording (default: 8)"
    )
    p.add_argument("--size", default=None, metavar="W[xH]", help="frame size in pixels (default: fitted)")
    p.add_argument("--list", action="store_true", help="list the scenario presets and exit")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    import mazesim

    if args.list:
        print("\n".join(mazesim.list_scenarios()))
        return 0
    try:
        return _run(args)
    except UsageError as exc:
        print(f"mazesim.play: {exc}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    import mazesim
    from mazesim.scenario import ScenarioError

    if args.episodes < 1:
        raise UsageError(f"--episodes must be at least 1, got {args.episodes}")
    if not args.fps > 0:
        raise UsageError(f"--fps must be positive, got {args.fps}")
    if args.view not in VIEWS:
        raise UsageError(f"unknown --view {args.view!r}; use one of {', '.join(VIEWS)}")
    size = parse_size(args.size)
    record = check_record_path(args.record) if args.record else None
    if record is not None and args.view == "text":
        raise UsageError("--record draws frames; use --view 2d or 3d with it")
    if args.render and args.view != "text":
        check_display()
    try:
        scenario = mazesim.load_scenario(args.scenario)
    except (ScenarioError, ValueError) as exc:
        raise UsageError(str(exc)) from None
    policy = make_policy(
        team_checkpoint(args.scenario) if args.policy == "team" else args.policy,
        np.random.default_rng(args.seed),
    )
    try:
        env = mazesim.parallel_env(scenario=scenario, action_mode=getattr(policy, "action_mode", "discrete"))
    except (ScenarioError, ValueError) as exc:
        raise UsageError(str(exc)) from None
    frames: list[np.ndarray] = []
    frames_for = FrameMaker(size) if (record is not None or args.render) and args.view != "text" else None
    window = Window(frames_for, args.view, args.fps) if args.render and args.view != "text" else None
    escaped = 0
    try:
        for episode in range(args.episodes):
            options = {"maze_seed": args.maze_seed} if args.maze_seed is not None else None
            result = play_episode(
                env,
                policy,
                args.seed + episode,
                options,
                frames_for=frames_for,
                frames=frames if record is not None else None,
                view=args.view,
                window=window,
                text=args.render and args.view == "text",
                fps=args.fps,
            )
            if result is None:
                break
            steps, out = result
            escaped += out
            verdict = "escaped" if out else "did not escape"
            print(
                f"episode {episode}: scenario {env.scenario.name}, maze seed {env.maze_seed}: "
                f"team {verdict} in {steps} steps"
            )
    finally:
        if window is not None:
            window.close()
        if frames_for is not None:
            frames_for.close()
        env.close()
    if record is not None:
        write_recording(record, frames, args.fps)
        if record.suffix.lower() == ".png":
            print(f"wrote frame {len(frames) // 2} of {len(frames)} to {record}")
        else:
            print(f"recorded {len(frames)} frames to {record}")
    print(f"{escaped}/{args.episodes} episodes escaped")
    return 0


# -- input checks ----------------------------------------------------------------------------------
def parse_size(text: str | None) -> tuple[int, int] | None:
    """``"640x480"`` → ``(640, 480)``, ``"512"`` → ``(512, 512)``, None → None."""
    if text is None:
        return None
    parts = text.lower().split("x")
    try:
        w, h = (int(parts[0]), int(parts[-1])) if len(parts) in (1, 2) else (0, 0)
    except ValueError:
        w = h = 0
    if not (64 <= w <= 8192 and 64 <= h <= 8192):
        raise UsageError(f"--size {text!r} is not W or WxH with 64 <= W, H <= 8192, e.g. --size 640x480")
    return w, h


def check_record_path(text: str) -> Path:
    """Check before running that ``text`` names a writable .gif or .mp4 file (and .mp4's extra)."""
    path = Path(text)
    suffix = path.suffix.lower()
    if suffix not in RECORD_FORMATS:
        raise UsageError(
            f"--record {text!r}: unsupported format {suffix or '(none)'!r}; use a .gif, .mp4 or .png file"
        )
    if suffix == ".mp4" and not (
        importlib.util.find_spec("imageio") and importlib.util.find_spec("imageio_ffmpeg")
    ):
        raise UsageError(
            f"--record {text!r}: MP4 needs imageio and imageio-ffmpeg ({MP4_EXTRA}); or record a .gif"
        )
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise UsageError(f"--record {text!r} is a directory; give a file name such as {path / 'escape.gif'}")
    if not parent.is_dir():
        raise UsageError(f"--record {text!r}: folder {str(parent)!r} does not exist; create it first")
    # Probe by opening for append: permission bits do not stop root, a read-only file system does.
    existed = path.exists()
    try:
        with open(path, "ab"):
            pass
    except OSError as exc:
        raise UsageError(f"--record {text!r} is not writable ({exc.strerror}); choose another path") from None
    if not existed:
        path.unlink(missing_ok=True)
    return path


def check_display() -> None:
    """Raise :class:`UsageError` when no window can be shown (no X11/Wayland, SDL not dummy)."""
    if sys.platform in ("darwin", "win32"):
        return
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return
    if os.environ.get("SDL_VIDEODRIVER") in ("dummy", "offscreen"):
        return
    raise UsageError(
        "--render needs a display (DISPLAY or WAYLAND_DISPLAY is unset); record instead: --record out.gif"
    )


def team_checkpoint(scenario: str) -> str:
    """The ensemble shipped for the preset ``scenario`` (``agents/pretrained/<name>.pt``) as a
    ``--policy`` value, or ``"expert"`` (with a note on stderr) where none ships, where
    ``scenario`` is a file of the user's (its maze may differ from the preset's) or where the
    agents package is not installed."""
    import mazesim

    if scenario in mazesim.list_scenarios():
        try:
            path = importlib.import_module("agents.policy").pretrained_path(scenario)
        except ModuleNotFoundError:
            path = None
        if path is not None and path.is_file():
            return str(path)
    print(f"mazesim.play: no trained team ships for {scenario!r}; the expert planner plays", file=sys.stderr)
    return "expert"


def make_policy(name: str, rng: np.random.Generator) -> Policy:
    """``expert``, ``random`` or a checkpoint path → a policy (see the module docstring)."""
    if name == "expert":
        return ExpertPolicy()
    if name == "random":
        return RandomPolicy(rng)
    path = Path(name)
    if not path.exists():
        raise UsageError(
            f"--policy {name!r} is neither {' nor '.join(POLICIES)} nor an existing checkpoint file"
        )
    if not path.is_file() or not is_checkpoint(path):
        raise UsageError(
            f"--policy {name!r} is not a checkpoint (expected a torch .pt file written by agents)"
        )
    try:
        agents_policy = importlib.import_module("agents.policy")
    except ModuleNotFoundError:
        raise UsageError(
            f"--policy {name!r}: loading checkpoints needs the agents package (pip install -e .)"
        ) from None
    try:
        return CheckpointPolicy(agents_policy.load_policy(path))
    except Exception as exc:  # any failure to load is bad input at this boundary: one line, no traceback
        raise UsageError(f"--policy {name!r} could not be loaded: {exc}") from None


class CheckpointPolicy:
    """A trained classifier or ensemble (``agents.policy.load_policy``) behind play's policy call.

    Its ``action_mode`` is the environment mode it wants: ``"superposition"`` for neural policies,
    whose action distributions become the waves the solver collapses.
    """

    def __init__(self, policy: Any) -> None:
        self.policy = policy
        self.action_mode = getattr(policy, "action_mode", "discrete")

    def __call__(self, env: Any, observations: dict) -> dict:
        from agents.rollout import stack_observations

        obs, mask = stack_observations(env, observations)
        chosen = self.policy(obs, mask, env)
        return {a: chosen[env._index[a]] for a in env.agents}


def is_checkpoint(path: Path) -> bool:
    """Whether ``path`` looks like a torch checkpoint: a zip archive with a ``data.pkl`` record."""
    if not zipfile.is_zipfile(path):
        return False
    try:
        with zipfile.ZipFile(path) as z:
            return any(n.endswith("data.pkl") for n in z.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


class ExpertPolicy:
    """The centralized expert planner (:class:`mazesim.expert.Expert`), rebuilt for each maze."""

    def __init__(self) -> None:
        self._expert: Any = None
        self._maze: Any = None

    def __call__(self, env: Any, observations: dict) -> dict:
        if self._maze is not env.maze:
            from mazesim.expert import Expert

            self._expert, self._maze = Expert(env.maze), env.maze
        joint = self._expert.act(env.world)
        return {a: int(joint[int(a.rsplit("_", 1)[1])]) for a in env.agents}


class RandomPolicy:
    """Uniformly random legal actions (from each agent's action mask), from ``rng``."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng

    def __call__(self, env: Any, observations: dict) -> dict:
        return {
            a: int(self.rng.choice(np.flatnonzero(observations[a]["action_mask"])))
            if a in observations
            else 0
            for a in env.agents
        }


# -- frames ----------------------------------------------------------------------------------------
class FrameMaker:
    """Frames of an env in either view; renderers built lazily and rebuilt for each new maze."""

    def __init__(self, size: tuple[int, int] | None) -> None:
        self.size = size
        self._r2: Any = None
        self._r3: Any = None

    def renderer(self, env: Any, view: str) -> Any:
        layout, n = env.maze.layout, env.world.n_agents
        if view == "3d":
            from mazesim.render3d import Renderer3D

            if self._r3 is None or self._r3.layout is not layout:
                if self._r3 is not None:
                    self._r3.close()
                self._r3 = Renderer3D(layout, n, self.size or (640, 480))
            return self._r3
        from mazesim.render2d import Renderer2D

        if self._r2 is None or self._r2.layout is not layout:
            try:
                self._r2 = Renderer2D(layout, n, self.size)
            except ValueError as exc:  # e.g. a --size too small for the maze: bad input, one line
                raise UsageError(f"--size: {exc}") from None
        return self._r2

    def frame(self, env: Any, view: str, team_return: float) -> np.ndarray:
        from mazesim.render2d import scene_from_env

        return self.renderer(env, view).rgb_array(scene_from_env(env, team_return))

    def close(self) -> None:
        if self._r3 is not None:
            self._r3.close()
            self._r3 = None


def write_recording(path: Path, frames: list[np.ndarray], fps: float) -> None:
    """Write ``frames`` (``(H, W, 3)`` uint8 each, same size) to a GIF (Pillow) or MP4 (imageio);
    a ``.png`` path gets one still: the middle frame of the recording (a screenshot)."""
    if path.suffix.lower() == ".png":
        from PIL import Image

        Image.fromarray(frames[len(frames) // 2]).save(path)
        return
    if path.suffix.lower() == ".mp4":
        import imageio.v2 as imageio

        with imageio.get_writer(path, fps=fps, codec="libx264", macro_block_size=1) as writer:
            for f in frames:
                writer.append_data(f)
        return
    from PIL import Image

    # One palette for every frame (from the first), so Pillow stores only what changed per frame.
    first = Image.fromarray(frames[0]).quantize(colors=128, method=Image.Quantize.MEDIANCUT)
    images = [first] + [
        Image.fromarray(f).quantize(palette=first, dither=Image.Dither.NONE) for f in frames[1:]
    ]
    images[0].save(
        path, save_all=True, append_images=images[1:], duration=round(1000 / fps), loop=0, optimize=False
    )


# -- the episode loop --------------------------------------------------------------------------------
def play_episode(
    env: Any,
    policy: Policy,
    seed: int,
    options: dict | None,
    *,
    frames_for: FrameMaker | None = None,
    frames: list[np.ndarray] | None = None,
    view: str = "2d",
    window: Window | None = None,
    text: bool = False,
    fps: float = 8.0,
) -> tuple[int, bool] | None:
    """Play one episode; returns ``(steps, escaped)``, or None when the user quit the window.

    With ``frames`` (a list) and ``frames_for``, appends the first frame and one frame per step.
    """
    start = len(frames) if frames is not None else 0

    def capture() -> None:
        if frames is not None and frames_for is not None:
            frames.append(frames_for.frame(env, window.view if window else view, team_return))

    obs, _ = env.reset(seed=seed, options=options)
    team_return = 0.0
    capture()
    while env.agents:
        if text:
            _show_text(env, team_return)
            time.sleep(1.0 / fps)
        actions = policy(env, obs)
        if window is not None:
            command = window.wait_for_step(env, team_return)
            if command == "quit":
                return None
            if command == "restart":
                if frames is not None:
                    del frames[start:]
                obs, _ = env.reset(seed=seed, options=options)
                team_return = 0.0
                capture()
                continue
            actions.update(window.human_action(env))
        obs, rewards, _, _, _ = env.step(actions)
        if rewards:
            values = list(rewards.values())
            team_return += values[0] if env.scenario.rewards.team else sum(values)
        capture()
    if text:
        _show_text(env, team_return)
    if window is not None and window.show_end(env, team_return) == "quit":
        return None
    return int(env.world.step), not bool(env.world.active.any())


def _show_text(env: Any, team_return: float) -> None:
    frame = env.render() if env.render_mode == "ansi" else _text_frame(env)
    sys.stdout.write("\x1b[2J\x1b[H" if sys.stdout.isatty() else "\n")
    sys.stdout.write(
        f"step {env.world.step}/{env.max_cycles}  maze seed {env.maze_seed}  "
        f"team reward {team_return:+.2f}\n{frame}\n"
    )
    sys.stdout.flush()


def _text_frame(env: Any) -> str:
    from mazesim.text import render_text

    return render_text(env.maze.layout, env.world)


class Window:
    """The interactive pygame window: pause, single step, restart, view switch, speed, human control."""

    def __init__(self, frames_for: FrameMaker | None, view: str, fps: float) -> None:
        from mazesim.render2d import import_pygame

        self.pg = import_pygame()
        self.frames_for = frames_for
        self.view = view
        self.fps = fps
        self.paused = False
        self.controlled: int | None = None
        self._pending: int | None = None
        self._boost = False
        self._screen: Any = None
        self._clock = self.pg.time.Clock()

    def _draw(self, env: Any, team_return: float) -> None:
        pg = self.pg
        frame = self.frames_for.frame(env, self.view, team_return)  # type: ignore[union-attr]
        surface = pg.image.frombuffer(frame.tobytes(), (frame.shape[1], frame.shape[0]), "RGB")
        if self._screen is None or self._screen.get_size() != surface.get_size():
            pg.display.init()
            self._screen = pg.display.set_mode(surface.get_size())
        status = f"mazesim {self.view.upper()}  {self.fps:g} fps"
        if self.paused:
            status += "  paused"
        if self.controlled is not None:
            status += f"  you are agent {self.controlled}"
        pg.display.set_caption(status)
        self._screen.blit(surface, (0, 0))
        pg.display.flip()

    def _key(self, key: int, env: Any) -> str | None:
        pg = self.pg
        moves = {
            pg.K_UP: Action.NORTH,
            pg.K_DOWN: Action.SOUTH,
            pg.K_LEFT: Action.WEST,
            pg.K_RIGHT: Action.EAST,
        }
        boosts = {
            pg.K_UP: Action.BOOST_NORTH,
            pg.K_DOWN: Action.BOOST_SOUTH,
            pg.K_LEFT: Action.BOOST_WEST,
            pg.K_RIGHT: Action.BOOST_EAST,
        }
        if key in (pg.K_q, pg.K_ESCAPE):
            return "quit"
        if key == pg.K_SPACE:
            self.paused = not self.paused
        elif key == pg.K_PERIOD:
            return "step"
        elif key == pg.K_r:
            return "restart"
        elif key == pg.K_v:
            self.view = "3d" if self.view == "2d" else "2d"
        elif key in (pg.K_PLUS, pg.K_EQUALS, pg.K_KP_PLUS):
            self.fps = min(60.0, self.fps * 1.5)
        elif key in (pg.K_MINUS, pg.K_KP_MINUS):
            self.fps = max(0.5, self.fps / 1.5)
        elif pg.K_1 <= key <= pg.K_8 and key - pg.K_1 < env.world.n_agents:
            self.controlled = key - pg.K_1
        elif key == pg.K_0:
            self.controlled = None
        elif self.controlled is not None:
            action = None
            if key == pg.K_b:
                self._boost = True
            elif key in moves:
                action = boosts[key] if self._boost else moves[key]
                self._boost = False
            elif key == pg.K_PAGEUP:
                action = Action.UP
            elif key == pg.K_PAGEDOWN:
                action = Action.DOWN
            elif key == pg.K_e:
                action = Action.INTERACT
            elif key == pg.K_s:
                action = Action.STAY
            if action is not None:
                self._pending = int(action)
                return "step"
        return None

    def wait_for_step(self, env: Any, team_return: float) -> str:
        """Show the current frame and handle keys until it is time for the next step."""
        last = time.monotonic()
        while True:
            self._draw(env, team_return)
            for event in self.pg.event.get():
                if event.type == self.pg.QUIT:
                    return "quit"
                if event.type == self.pg.KEYDOWN:
                    command = self._key(event.key, env)
                    if command in ("quit", "restart"):
                        return command
                    if command == "step":
                        return "step"
            waiting_for_human = self.controlled is not None and env.world.active[self.controlled]
            if not self.paused and not waiting_for_human and time.monotonic() - last >= 1.0 / self.fps:
                return "step"
            self._clock.tick(60)

    def human_action(self, env: Any) -> dict:
        """The controlled agent's pending action, if any (it then replaces the policy's)."""
        if self.controlled is None or self._pending is None:
            return {}
        name = f"agent_{self.controlled}"
        action, self._pending = self._pending, None
        return {name: action} if name in env.agents else {}

    def show_end(self, env: Any, team_return: float) -> str | None:
        """Hold the final frame for a moment (q quits)."""
        end = time.monotonic() + 1.5
        while time.monotonic() < end:
            self._draw(env, team_return)
            for event in self.pg.event.get():
                if event.type == self.pg.QUIT or (
                    event.type == self.pg.KEYDOWN and event.key in (self.pg.K_q, self.pg.K_ESCAPE)
                ):
                    return "quit"
            self._clock.tick(30)
        return None

    def close(self) -> None:
        self.pg.display.quit()


if __name__ == "__main__":
    sys.exit(main())
