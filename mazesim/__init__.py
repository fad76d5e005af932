"""mazesim: cooperative 3D maze escapes for multi-agent reinforcement learning.

The package works as a PettingZoo environment module::

    import mazesim
    env = mazesim.parallel_env(scenario="tutorial")      # native ParallelEnv
    aec = mazesim.env(scenario="three_floor")             # AEC form
    mazesim.list_scenarios()                              # preset names

See :mod:`mazesim.maze_escape_v0` for the environment card. The names are resolved lazily, so
``import mazesim.world`` (the pure rules) does not import PettingZoo.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"
__all__ = ["env", "list_scenarios", "load_scenario", "parallel_env", "raw_env"]

_HOMES = {
    "env": "mazesim.maze_escape_v0",
    "parallel_env": "mazesim.maze_escape_v0",
    "raw_env": "mazesim.maze_escape_v0",
    "list_scenarios": "mazesim.scenario",
    "load_scenario": "mazesim.scenario",
}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        value = getattr(importlib.import_module(_HOMES[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'mazesim' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_HOMES])
