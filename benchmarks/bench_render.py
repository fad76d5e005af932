"""Rendering throughput: 2D (pygame) and 3D (pyglet through EGL) rgb_array frames per second.

Targets: 2D 512×512 at least 500 frames/s, 3D 256×256 at least 200 frames/s.
Run: ``python benchmarks/bench_render.py [--quick] [--scenario mixed]``.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

import mazesim
from mazesim.render2d import Renderer2D, scene_from_env
from mazesim.render3d import Renderer3D


def frames_per_second(render, scene, seconds: float) -> float:
    render(scene)  # warm up (first frame builds caches)
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        render(scene)
        n += 1
    return n / (time.perf_counter() - start)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--quick", action="store_true", help="measure for 0.5 s instead of 3 s")
    p.add_argument("--scenario", default="mixed")
    args = p.parse_args()
    seconds = 0.5 if args.quick else 3.0
    env = mazesim.parallel_env(scenario=args.scenario)
    env.reset(seed=0)
    scene = scene_from_env(env)
    layout, n = env.maze.layout, env.world.n_agents
    rows = []
    r2 = Renderer2D(layout, n, size=(512, 512))
    rows.append(("2d pygame", "512x512", frames_per_second(r2.rgb_array, scene, seconds), 500))
    r3 = Renderer3D(layout, n, size=(256, 256))
    rows.append(("3d pyglet/EGL", "256x256", frames_per_second(r3.rgb_array, scene, seconds), 200))
    r3.close()
    print(f"scenario {args.scenario}, maze {env.maze.layout.shape}, {n} agents")
    print(f"{'view':<15}{'size':>9}{'frames/s':>11}{'target':>8}")
    for view, size, fps, target in rows:
        print(f"{view:<15}{size:>9}{fps:>11.0f}{target:>8}")


if __name__ == "__main__":
    main()
