"""Wrappers for libraries with narrower expectations than PettingZoo itself.

:class:`NumericInfos` replaces each agent's info dict by numbers only, for libraries that turn
infos into tensors (TorchRL's ``PettingZooWrapper``)::

    from torchrl.envs.libs.pettingzoo import PettingZooWrapper
    env = PettingZooWrapper(NumericInfos(mazesim.parallel_env("tutorial")), use_mask=True)
"""

from __future__ import annotations

import numpy as np
from pettingzoo.utils import BaseParallelWrapper

#: integer codes of the ``outcome`` info: -1 at reset (no promise yet)
OUTCOME_CODES = {"kept": 0, "withdrawn": 1, "unbound": 2}


class NumericInfos(BaseParallelWrapper):
    """Infos with numbers only: ``position`` ``(3,)`` int64, ``action`` int64, ``outcome`` int64
    (:data:`OUTCOME_CODES`, -1 at reset) and ``kept`` bool. The same keys at reset and step."""

    @staticmethod
    def _convert(info: dict) -> dict:
        return {
            "position": np.asarray(info["position"], dtype=np.int64),
            "action": np.int64(info["action"]),
            "outcome": np.int64(OUTCOME_CODES.get(info["outcome"], -1)),
            "kept": np.bool_(info["outcome"] == "kept"),
        }

    def reset(self, seed=None, options=None):
        obs, infos = self.env.reset(seed=seed, options=options)
        return obs, {a: self._convert(i) for a, i in infos.items()}

    def step(self, actions):
        obs, rew, term, trunc, infos = self.env.step(actions)
        return obs, rew, term, trunc, {a: self._convert(i) for a, i in infos.items()}

    def state(self) -> np.ndarray:
        return self.env.state()
