"""Sweeps: many training runs (method × hyperparameters × scenario × seed), each evaluated on
held-out mazes, run by local processes or on a Ray cluster, merged into one table.

    python -m agents.sweep sweeps/tiny.toml --dry-run                 # list the trials, run nothing
    python -m agents.sweep sweeps/tiny.toml --workers 2               # local process pool
    python -m agents.sweep sweeps/tiny.toml --backend ray --address 10.0.0.5:6379

A sweep file (TOML)::

    name = "tiny"                  # default sweep folder: runs/sweeps/<name>
    scenarios = ["tutorial"]       # each trial's --scenario (preset name or .toml path)
    seeds = [0, 1]                 # training seeds (--seed)
    eval_episodes = 10             # each trial is evaluated on the first N held-out mazes
    eval_seed = 0                  # --seed of that evaluation (solver noise)

    [[methods]]                    # one entry per arm; the list may repeat a method
    method = "imitation"           # agents/train_<method>.py
    label = "imitation"            # its name in tables (default: method)
    params = { steps = 50, episodes = 8 }    # the script's options (``eval_every`` or ``eval-every``)
    grid = { lr = [1e-3, 3e-4] }             # every combination of these lists becomes trials
    seeds = [0, 1, 2]              # optional: overrides the top-level seeds for this arm
    scenarios = ["tutorial"]       # optional: overrides the top-level scenarios
    eval_episodes = 20             # optional: overrides the top-level eval_episodes

    [[methods]]                    # a warm-started arm
    method = "grpo"
    init = "imitation"             # optional: the label of another arm (see "Warm starts" below)
    params = { steps = 20000, lr = 1e-4 }

Option values are TOML scalars or lists (for ``nargs`` options such as ``hidden = [64, 64]``);
``true`` passes a flag (``no_shaping = true``), ``false`` leaves it out. Everything is checked
before anything runs: unknown methods, options the training script's parser does not know,
values it rejects, duplicate trials, ``init`` references that do not resolve.

**Warm starts** (``init = "<label>"``): each trial of the arm starts from the trained member of
the one trial of arm ``<label>`` with the same scenario and seed (``--init
<sweep>/trials/<dependency id>/last.pt``; every grid point of the arm shares it), e.g. RL
fine-tuning of an imitation member, as ``agents/pretrained/build.sh`` does. The file is rejected
unless there is exactly one such trial for every trial of the arm (a grid or a repeated label on
the referenced arm makes it ambiguous), and if the label is unknown, the arm's own, part of a cycle
of ``init`` references, or if ``init`` or an architecture option (``arch``, ``hidden``, ``channels``,
``iterations``: the warm start keeps the checkpoint's architecture) is among the arm's params.
Trials run in **stages**: stage 0 holds the trials without ``init``, stage ``k`` those whose
dependency is in stage ``k-1``; each stage runs on the backend when the previous one is over, and
a trial is only started once its dependency has a row with status ``ok``. If the dependency
failed, the trial becomes a failed row ``dependency <id> failed`` without running; if it has no
row yet (an interrupted sweep, ``--max-trials``), the trial stays to do.

Each trial is one training run, ``agents.train_<method>.main([... --run-dir
<sweep>/trials/<id>])``, then :func:`agents.evaluate.evaluate` of its ``last.pt`` on the
held-out mazes. Its result row — trial id, method, label, scenario, seed, hyperparameters,
metrics, node and host it ran on, wall time, ``status`` ``ok``/``failed`` and the error — is
written atomically to ``<sweep>/trials/<id>/result.json`` at the very end, so a trial killed half
way has none and runs again (its training script resumes from its last checkpoint).

* **Trial ids** are ``<method>-<scenario>-s<seed>-<hash>``, the hash over method, scenario,
  hyperparameters, seed and (for a warm start) the dependency's trial id: the same trial has the
  same id in every sweep file and on every machine, and a warm start from another checkpoint is
  another trial. The evaluation settings are not part of the id (they are recorded in the row).
* **Resume**: a trial with a ``result.json`` is never run again (``--retry-failed`` reruns the
  failed ones); rerunning an interrupted sweep runs only what is missing. ``--max-trials N`` stops
  after N new trials, earlier stages first (run a sweep in slices). Every start of a trial appends
  a line to ``<sweep>/trials/<id>/attempts.jsonl`` (host, pid, node), so reruns are visible.
* **Results**: every run merges all finished rows into ``<sweep>/results.csv`` and
  ``<sweep>/results.md``, one row per trial (metrics as columns, hyperparameters as JSON, the
  dependency's trial id in ``init``).
* **Failures** stay rows: a trial whose script raises becomes ``status = failed`` with the error
  (the traceback in ``<trial>/error.txt``); the other trials go on.

Backends:

* ``local`` (default): a pool of ``--workers`` processes (``spawn``); ``--workers 0`` runs the
  trials one after another in this process.
* ``ray``: one Ray task per trial (``num_cpus=1``, ``max_retries=3``: a trial whose node dies is
  run again on another node; if those retries are used up on a lost worker or node, the sweep
  submits the trial again, up to 3 times, waiting 5, 10, 15 s first). Needs the optional extra
  (``pip install 'mazesim[ray]'``) on every node and a sweep folder that every node can read
  and write (a shared file system: a warm-started trial reads its dependency's ``last.pt``,
  wherever that ran); the driver also writes each returned row, so the table is complete even
  where it is not shared. Clusters started
  with ``ray start`` require token authentication: run this command with ``RAY_AUTH_MODE=token``
  and the cluster's token in ``RAY_AUTH_TOKEN`` or ``~/.ray/auth_token``. An address that does
  not answer within ``--connect-timeout`` seconds fails with one line, as does a refused token.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import graphlib
import hashlib
import importlib
import io
import itertools
import json
import math
import os
import pkgutil
import re
import socket
import sys
import time
import tomllib
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RESULT = "result.json"
ATTEMPTS = "attempts.jsonl"
#: Ray reruns a trial whose worker or node died up to this many times.
RAY_MAX_RETRIES = 3
#: When Ray has used up those retries on a lost worker or node (retries can land on a node that
#: just died, before the cluster has noticed), the sweep submits the trial again, up to this many
#: times, waiting ``RAY_RESUBMIT_WAIT_S`` times the attempt first.
RAY_RESUBMITS = 3
RAY_RESUBMIT_WAIT_S = 5.0
#: Options the sweep sets itself; a sweep file may not set them as hyperparameters.
RESERVED = {
    "run_dir": "the sweep sets it",
    "seed": "use seeds",
    "scenario": "use scenarios",
    "init": 'use init = "<label of another arm>" in the [[methods]] entry',
}
#: Options a warm-started arm may not set: the checkpoint it starts from fixes the architecture.
ARCH_OPTIONS = ("arch", "hidden", "channels", "iterations")
#: The checkpoint a training run leaves in its run folder (what a warm start reads).
LAST = "last.pt"
#: Columns of the results table before the metrics.
ID_COLUMNS = ("trial_id", "status", "label", "method", "scenario", "seed", "params", "init")
#: Columns after the metrics.
TAIL_COLUMNS = ("node", "host", "pid", "wall_s", "attempts", "error")
_TOP_KEYS = ("name", "scenarios", "seeds", "eval_episodes", "eval_seed", "methods")
_METHOD_KEYS = ("method", "label", "init", "params", "grid", "seeds", "scenarios", "eval_episodes")


class SweepError(ValueError):
    """A sweep that cannot run: a bad sweep file, an unknown method or option, a Ray cluster that
    cannot be reached. The message names the thing and the fix."""


@dataclass(frozen=True)
class Trial:
    """One training run and its evaluation. ``params`` maps option names (``snake_case``) to values;
    ``init`` is the trial id of the trial whose ``last.pt`` this one warm-starts from (None: from
    scratch). It is an id, never a path: the sweep folder is only known at run time.

    >>> t = Trial.make("imitation", "tutorial", 3, {"steps": 5}, label="imitation")
    >>> t.trial_id.startswith("imitation-tutorial-s3-"), t.argv(Path("d"))[:4]
    (True, ['--scenario', 'tutorial', '--seed', '3'])
    >>> g = Trial.make("grpo", "tutorial", 3, {"steps": 5}, init=t.trial_id)
    >>> g.argv(Path("d"), init=Path("dep/last.pt"))[-3:]
    ['--init', 'dep/last.pt', '--no-progress']
    """

    trial_id: str
    method: str
    label: str
    scenario: str
    seed: int
    params: dict[str, Any] = field(hash=False)
    eval_episodes: int = 10
    eval_seed: int = 0
    init: str | None = None

    @classmethod
    def make(
        cls,
        method: str,
        scenario: str,
        seed: int,
        params: dict[str, Any],
        *,
        label: str | None = None,
        eval_episodes: int = 10,
        eval_seed: int = 0,
        init: str | None = None,
    ) -> Trial:
        params = {k.replace("-", "_"): v for k, v in sorted(params.items())}
        identity = {"method": method, "scenario": scenario, "seed": seed, "params": params}
        if init is not None:  # only then, so the ids of trials from scratch stay what they were
            identity["init"] = init
        key = json.dumps(identity, sort_keys=True)
        digest = hashlib.sha256(key.encode()).hexdigest()[:10]
        stem = re.sub(r"[^A-Za-z0-9_]+", "_", Path(scenario).stem)
        return cls(
            f"{method}-{stem}-s{seed}-{digest}",
            method,
            label or method,
            scenario,
            int(seed),
            params,
            eval_episodes,
            eval_seed,
            init,
        )

    def argv(self, run_dir: Path, init: Path | None = None) -> list[str]:
        """The training script's command line for this trial, writing to ``run_dir`` and, for a
        warm-started trial, starting from the checkpoint ``init`` (its dependency's ``last.pt``)."""
        if (init is None) != (self.init is None):
            raise ValueError(
                f"trial {self.trial_id}: "
                + (f"warm-starts from {self.init}; pass its checkpoint as init" if init is None
                   else "starts from scratch; it takes no init checkpoint")
            )  # fmt: skip
        argv = ["--scenario", self.scenario, "--seed", str(self.seed), "--run-dir", str(run_dir)]
        for name, value in self.params.items():
            flag = "--" + name.replace("_", "-")
            if value is True:
                argv.append(flag)
            elif value is not False:
                argv += [flag, *(str(v) for v in (value if isinstance(value, list) else [value]))]
        if init is not None:
            argv += ["--init", str(init)]
        return [*argv, "--no-progress"]


@dataclass(frozen=True)
class Sweep:
    """A parsed sweep file: its name and its trials, in file order (a warm-started trial's
    dependency is among them)."""

    name: str
    trials: tuple[Trial, ...]
    source: Path | None = None

    def stages(self) -> list[list[Trial]]:
        """The trials by stage, each in file order: stage 0 the trials without ``init``, stage
        ``k`` those whose dependency is in stage ``k - 1``.

        >>> a = Trial.make("imitation", "tutorial", 0, {})
        >>> b = Trial.make("grpo", "tutorial", 0, {}, init=a.trial_id)
        >>> [[t.method for t in stage] for stage in Sweep("s", (b, a)).stages()]
        [['imitation'], ['grpo']]
        """
        depth = _stage_of(self.trials)
        out: list[list[Trial]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
        for t in self.trials:
            out[depth[t.trial_id]].append(t)
        return out


def _stage_of(trials: Iterable[Trial]) -> dict[str, int]:
    """Trial id -> stage: 0 without ``init``, else one more than its dependency's. Raises
    :class:`SweepError` if a dependency is not among ``trials`` or the dependencies form a cycle
    (neither happens in a parsed sweep file)."""
    by_id = {t.trial_id: t for t in trials}
    depth: dict[str, int] = {}
    for trial_id in by_id:
        chain = []
        while trial_id not in depth and by_id[trial_id].init is not None:
            chain.append(trial_id)
            trial_id = by_id[trial_id].init
            if trial_id not in by_id:
                raise SweepError(
                    f"trial {chain[-1]} warm-starts from {trial_id}, which is not in the sweep; add its arm"
                )
            if trial_id in chain:
                raise SweepError(f"trial {trial_id} warm-starts from itself (a cycle of init); break it")
        level = depth.setdefault(trial_id, 0)
        for t in reversed(chain):
            level += 1
            depth[t] = level
    return depth


# ---------------------------------------------------------------------------------------------
# Sweep files


def methods_available() -> list[str]:
    """Training methods: the ``agents/train_<method>.py`` scripts.

    >>> {"imitation", "grpo", "dqn", "luffy"} <= set(methods_available())
    True
    """
    import agents

    return sorted(m.name[6:] for m in pkgutil.iter_modules(agents.__path__) if m.name.startswith("train_"))


def _script(method: str) -> Any:
    return importlib.import_module(f"agents.train_{method}")


def check_params(method: str, params: dict[str, Any], origin: str = "") -> None:
    """Raise :class:`SweepError` unless the training script of ``method`` accepts ``params``
    (names and values), checked with the script's own argument parser."""
    where = f"{origin}: " if origin else ""
    for name, value in params.items():
        if name in RESERVED:
            raise SweepError(
                f"{where}{method}: option {name!r} cannot be a hyperparameter ({RESERVED[name]})"
            )
        ok_scalar = isinstance(value, (bool, int, float, str))
        if not (
            ok_scalar or (isinstance(value, list) and all(isinstance(v, (int, float, str)) for v in value))
        ):
            raise SweepError(
                f"{where}{method}: option {name!r} = {value!r} has type {type(value).__name__}; "
                "use a number, string, boolean or list of numbers"
            )
    trial = Trial.make(method, "tutorial", 0, params)
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr):
            parsed = vars(_script(method).parse_args(trial.argv(Path("run"))))
    except SystemExit:
        message = stderr.getvalue().strip().splitlines()[-1] if stderr.getvalue().strip() else "rejected"
        known = ", ".join(sorted(set(_known_options(method)) - set(RESERVED)))
        raise SweepError(
            f"{where}{method}: {re.sub(r'^.*?error: ', '', message)} (the options of agents.train_{method} "
            f"are: {known}; see python -m agents.train_{method} --help)"
        ) from None
    for name, value in params.items():
        got = parsed.get(name)
        if not _same(got, value):
            raise SweepError(
                f"{where}{method}: option {name!r} = {value!r} is read by agents.train_{method} as "
                f"{got!r}; "
                + ("false cannot turn off an option that is not a flag" if value is False else "fix it")
            )


def _same(got: Any, value: Any) -> bool:
    if isinstance(value, list):
        return isinstance(got, list) and len(got) == len(value) and all(map(_same, got, value))
    if isinstance(got, Path):
        return str(got) == str(value)
    return got == value


def _known_options(method: str) -> list[str]:
    out = io.StringIO()
    with contextlib.suppress(SystemExit), contextlib.redirect_stdout(out):
        _script(method).parse_args(["--help"])
    return sorted(
        {o[2:].replace("-", "_") for o in re.findall(r"--[a-z][a-z0-9-]*", out.getvalue())} - {"help"}
    )


def _expect(origin: str, table: dict, key: str, kind: type, what: str) -> Any:
    value = table[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise SweepError(f"{origin}: {key} = {value!r} must be {what}")
    return value


def _int_list(origin: str, table: dict, key: str) -> list[int]:
    values = _expect(origin, table, key, list, "a list of integers")
    if not values or not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        raise SweepError(f"{origin}: {key} = {values!r} must be a non-empty list of integers")
    return values


def _str_list(origin: str, table: dict, key: str) -> list[str]:
    values = table[key]
    values = [values] if isinstance(values, str) else values
    if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
        raise SweepError(f"{origin}: {key} = {table[key]!r} must be a name or a non-empty list of names")
    return values


@dataclass(frozen=True)
class _Arm:
    """One checked ``[[methods]]`` entry, before its trials are made."""

    where: str
    method: str
    label: str
    init: str | None
    params: dict[str, Any]
    combos: list[dict[str, Any]]
    seeds: list[int]
    scenarios: list[str]
    eval_episodes: int | None = None


def parse_sweep(raw: dict[str, Any], origin: str = "<sweep>") -> Sweep:
    """A :class:`Sweep` from the sweep file's TOML tables; raises :class:`SweepError` naming the
    file, the entry and the fix for anything that would fail later.

    >>> s = parse_sweep({"seeds": [0, 1], "methods": [{"method": "imitation", "grid": {"lr": [0.1, 0.01]}}]})
    >>> len(s.trials), sorted({t.params["lr"] for t in s.trials})
    (4, [0.01, 0.1])
    >>> s = parse_sweep({"methods": [{"method": "imitation"}, {"method": "dqn", "init": "imitation"}]})
    >>> s.trials[1].init == s.trials[0].trial_id
    True
    """
    for key in raw:
        if key not in _TOP_KEYS:
            raise SweepError(f"{origin}: unknown key {key!r}; a sweep file has {', '.join(_TOP_KEYS)}")
    if "methods" not in raw or not isinstance(raw["methods"], list) or not raw["methods"]:
        raise SweepError(f'{origin}: no [[methods]] entries; add at least one with method = "imitation"')
    name = _expect(origin, raw, "name", str, "a string") if "name" in raw else Path(origin).stem
    seeds = _int_list(origin, raw, "seeds") if "seeds" in raw else [0]
    scenarios = _str_list(origin, raw, "scenarios") if "scenarios" in raw else ["tutorial"]
    episodes = _expect(origin, raw, "eval_episodes", int, "an integer") if "eval_episodes" in raw else 10
    eval_seed = _expect(origin, raw, "eval_seed", int, "an integer") if "eval_seed" in raw else 0
    if episodes < 1:
        raise SweepError(f"{origin}: eval_episodes = {episodes} must be >= 1")
    known = methods_available()
    arms = [
        _parse_arm(f"{origin}: methods[{k}]", entry, known, seeds, scenarios)
        for k, entry in enumerate(raw["methods"])
    ]
    made: dict[int, list[Trial]] = {}
    for k in _arm_order(origin, arms):  # an arm's dependencies are made before it: their ids go in its ids
        arm = arms[k]
        pool = [t for j, ts in made.items() if arms[j].label == arm.init for t in ts]
        deps = _dependencies(arm, pool)
        made[k] = []
        for scenario, combo, seed in itertools.product(arm.scenarios, arm.combos, arm.seeds):
            t = Trial.make(
                arm.method, scenario, seed, {**arm.params, **combo}, label=arm.label,
                eval_episodes=arm.eval_episodes or episodes,
                eval_seed=eval_seed, init=deps.get((scenario, seed)),
            )  # fmt: skip
            made[k].append(t)
    trials: dict[str, Trial] = {}
    for k, arm in enumerate(arms):
        for t in made[k]:
            if t.trial_id in trials:
                raise SweepError(
                    f"{arm.where}: trial {t.trial_id} ({t.label}, {t.scenario}, seed {t.seed}) is listed "
                    "twice; remove the duplicate entry or seed"
                )
            trials[t.trial_id] = t
    _check_scenarios(origin, {t.scenario for t in trials.values()})
    return Sweep(name, tuple(trials.values()))


def _parse_arm(where: str, entry: Any, known: list[str], seeds: list[int], scenarios: list[str]) -> _Arm:
    if not isinstance(entry, dict) or "method" not in entry:
        raise SweepError(f"{where}: each [[methods]] entry needs method = one of {known}")
    for key in entry:
        if key not in _METHOD_KEYS:
            raise SweepError(f"{where}: unknown key {key!r}; an entry has {', '.join(_METHOD_KEYS)}")
    method = entry["method"]
    if method not in known:
        raise SweepError(f"{where}: unknown method {method!r}; use one of {known} (agents/train_<method>.py)")
    label = _expect(where, entry, "label", str, "a string") if "label" in entry else method
    init = _expect(where, entry, "init", str, "the label of another arm") if "init" in entry else None
    params = dict(_expect(where, entry, "params", dict, "a table") if "params" in entry else {})
    grid = dict(_expect(where, entry, "grid", dict, "a table") if "grid" in entry else {})
    for g, values in grid.items():
        if not isinstance(values, list) or not values:
            raise SweepError(f"{where}: grid.{g} = {values!r} must be a non-empty list of values")
        if g in params:
            raise SweepError(f"{where}: {g!r} is both in params and in grid; keep one")
    arch = sorted({o.replace("-", "_") for o in (*params, *grid)} & set(ARCH_OPTIONS))
    if init is not None and arch:
        raise SweepError(
            f"{where}: {arch[0]!r} has no effect with init = {init!r} (the warm start keeps the "
            f"architecture of {init!r}'s checkpoint); remove it"
        )
    combos = [dict(zip(grid, c, strict=True)) for c in itertools.product(*grid.values())] or [{}]
    for combo in combos:
        check_params(method, {**params, **combo}, where)
    episodes = None
    if "eval_episodes" in entry:
        episodes = _expect(where, entry, "eval_episodes", int, "an integer")
        if episodes < 1:
            raise SweepError(f"{where}: eval_episodes = {episodes} must be >= 1")
    return _Arm(
        where,
        method,
        label,
        init,
        params,
        combos,
        _int_list(where, entry, "seeds") if "seeds" in entry else seeds,
        _str_list(where, entry, "scenarios") if "scenarios" in entry else scenarios,
        episodes,
    )


def _arm_order(origin: str, arms: Sequence[_Arm]) -> list[int]:
    """Indices of ``arms`` with every arm after the arms it warm-starts from (file order otherwise);
    raises :class:`SweepError` for an ``init`` that names no arm, the arm itself, or closes a cycle."""
    labels = sorted({a.label for a in arms})
    needs: dict[str, set[str]] = {label: set() for label in labels}
    for a in arms:
        if a.init is None:
            continue
        if a.init == a.label:
            raise SweepError(
                f"{a.where}: init = {a.init!r} is this arm's own label; an arm warm-starts from another "
                "arm's trials: set init to another entry's label, or remove it"
            )
        if a.init not in needs:
            raise SweepError(
                f"{a.where}: init = {a.init!r} is not the label of any [[methods]] entry; use one of "
                f"{labels} (an entry's label defaults to its method)"
            )
        needs[a.label].add(a.init)
    try:
        order = list(graphlib.TopologicalSorter(needs).static_order())
    except graphlib.CycleError as exc:
        cycle = " -> ".join(repr(label) for label in reversed(exc.args[1]))
        raise SweepError(
            f"{origin}: the init references form a cycle ({cycle}: each warm-starts from the next); "
            "remove init from one of these arms"
        ) from None
    rank = {label: i for i, label in enumerate(order)}
    return sorted(range(len(arms)), key=lambda k: rank[arms[k].label])


def _dependencies(arm: _Arm, pool: Sequence[Trial]) -> dict[tuple[str, int], str]:
    """``(scenario, seed) -> trial id`` of the trial each of ``arm``'s trials warm-starts from,
    found among ``pool`` (the trials of the arm named by its ``init``); empty without ``init``."""
    if arm.init is None:
        return {}
    found: dict[tuple[str, int], list[str]] = {}
    for t in pool:
        found.setdefault((t.scenario, t.seed), []).append(t.trial_id)
    out = {}
    for scenario, seed in itertools.product(arm.scenarios, arm.seeds):
        ids = found.get((scenario, seed), [])
        if not ids:
            raise SweepError(
                f"{arm.where}: arm {arm.label!r} warm-starts from arm {arm.init!r}, which has no trial on "
                f"{scenario} with seed {seed}; give {arm.init!r} that scenario and seed, or remove seed "
                f"{seed} from {arm.label!r}"
            )
        if len(ids) > 1:
            raise SweepError(
                f"{arm.where}: arm {arm.label!r} warm-starts from arm {arm.init!r}, which has {len(ids)} "
                f"trials on {scenario} with seed {seed} ({', '.join(ids)}: a grid, or entries sharing "
                f"the label); init needs exactly one: give those entries distinct labels, or warm-start "
                "from an arm without a grid"
            )
        out[(scenario, seed)] = ids[0]
    return out


def _check_scenarios(origin: str, names: Iterable[str]) -> None:
    from mazesim.scenario import ScenarioError, load_scenario

    for name in sorted(names):
        try:
            load_scenario(name)
        except ScenarioError as exc:
            raise SweepError(f"{origin}: scenario {name!r}: {exc}") from None


def load_sweep(path: str | Path) -> Sweep:
    """Read and check a sweep file (see the module docstring); raises :class:`SweepError`."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise SweepError(f"sweep file {path} does not exist; give the path of a .toml sweep file") from None
    except tomllib.TOMLDecodeError as exc:
        raise SweepError(f"{path}: not valid TOML: {exc}") from None
    sweep = parse_sweep(raw, str(path))
    return Sweep(sweep.name, sweep.trials, path)


# ---------------------------------------------------------------------------------------------
# Running one trial (in a worker process or a Ray task)


def trial_dir(sweep_dir: str | Path, trial_id: str) -> Path:
    """The run folder of a trial: ``<sweep_dir>/trials/<trial_id>``."""
    return Path(sweep_dir) / "trials" / trial_id


def read_result(folder: Path) -> dict[str, Any] | None:
    """The row in ``folder/result.json``, or None if the trial has not finished."""
    try:
        return json.loads((folder / RESULT).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_result(folder: Path, row: dict[str, Any]) -> None:
    """Write ``row`` to ``folder/result.json`` atomically (NaN as null: standard JSON)."""
    folder.mkdir(parents=True, exist_ok=True)
    _write_atomic(folder / RESULT, json.dumps(_json_safe(row), indent=1, sort_keys=True) + "\n")


def _json_safe(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    return obj


def _where() -> dict[str, Any]:
    """Where this process runs: host, pid and the Ray node id (the host outside Ray)."""
    host = socket.gethostname()
    node = host
    if "ray" in sys.modules:
        import ray

        if ray.is_initialized():
            node = ray.get_runtime_context().get_node_id()
    return {"host": host, "pid": os.getpid(), "node": node}


def base_row(trial: Trial) -> dict[str, Any]:
    """The identifying part of a trial's result row (what it is, before it runs)."""
    return {
        "trial_id": trial.trial_id,
        "method": trial.method,
        "label": trial.label,
        "scenario": trial.scenario,
        "seed": trial.seed,
        "params": trial.params,
        "init": trial.init,
        "eval": {"split": "heldout", "episodes": trial.eval_episodes, "seed": trial.eval_seed},
    }


def failed_row(trial: Trial, error: str, **extra: Any) -> dict[str, Any]:
    """The row of a trial that failed with ``error`` (no metrics)."""
    return {**base_row(trial), "status": "failed", "error": error, "metrics": {}, **extra}


def evaluate_run(trial: Trial, run_dir: Path) -> dict[str, float]:
    """The held-out metrics of ``run_dir/last.pt`` (scalars of :func:`agents.evaluate.evaluate`)."""
    from agents.evaluate import evaluate, split_seeds
    from agents.policy import load_policy
    from mazesim.scenario import load_scenario

    overrides = {"max_cycles": trial.params["max_cycles"]} if trial.params.get("max_cycles") else {}
    scenario = load_scenario(trial.scenario, **overrides)
    policy = load_policy(run_dir / LAST, seed=trial.eval_seed)
    seeds = split_seeds(scenario, "heldout", trial.eval_episodes)
    result = evaluate(policy, scenario, seeds, seed=trial.eval_seed)
    return {k: float(v) for k, v in result.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def run_trial(trial: Trial, sweep_dir: str) -> dict[str, Any]:
    """Train and evaluate ``trial`` in ``<sweep_dir>/trials/<id>`` and write its ``result.json``
    last; return the row. A warm-started trial starts from ``<sweep_dir>/trials/<init>/last.pt``
    (its dependency must have finished: :func:`run_sweep` sees to that). A trial that already has
    a result is not run again (its row is returned). Errors of the training script or the
    evaluation become a failed row."""
    folder = trial_dir(sweep_dir, trial.trial_id)
    done = read_result(folder)
    if done is not None:
        return done
    folder.mkdir(parents=True, exist_ok=True)
    where = _where()
    with (folder / ATTEMPTS).open("a") as f:
        f.write(json.dumps({"start": time.time(), **where}) + "\n")
    start = time.perf_counter()
    row = base_row(trial)
    try:
        init = None if trial.init is None else trial_dir(sweep_dir, trial.init) / LAST
        train = _script(trial.method).main(trial.argv(folder, init)) or {}
        metrics = evaluate_run(trial, folder)
        row.update(status="ok", error="", metrics=metrics)
        row["train"] = {k: v for k, v in train.items() if isinstance(v, (int, float))}
    except (Exception, SystemExit) as exc:
        text = traceback.format_exc()
        (folder / "error.txt").write_text(text)
        message = str(exc).strip().splitlines()[-1] if str(exc).strip() else ""
        row.update(status="failed", error=f"{type(exc).__name__}: {message}".rstrip(": "), metrics={})
    row.update(where, wall_s=time.perf_counter() - start, attempts=_count_lines(folder / ATTEMPTS))
    write_result(folder, row)
    return row


def _count_lines(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


# ---------------------------------------------------------------------------------------------
# Backends


def _run_local(
    trials: Sequence[Trial], sweep_dir: Path, workers: int, on_row: Callable[[Trial, dict], None]
) -> None:
    if workers == 0:
        for t in trials:
            on_row(t, run_trial(t, str(sweep_dir)))
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    # spawn: a fresh interpreter per worker, no inherited locks or torch threads from this one
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))
    try:
        before = {t.trial_id: _count_lines(trial_dir(sweep_dir, t.trial_id) / ATTEMPTS) for t in trials}
        futures = {pool.submit(run_trial, t, str(sweep_dir)): t for t in trials}
        for fut in as_completed(futures):
            t = futures[fut]
            try:
                row = fut.result()
            except Exception as exc:  # a worker process died (killed, out of memory): the pool is broken
                if _count_lines(trial_dir(sweep_dir, t.trial_id) / ATTEMPTS) == before[t.trial_id]:
                    continue  # it never started: it stays to do, for the next run
                row = failed_row(t, f"{type(exc).__name__}: worker process died: {exc}")
            on_row(t, row)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def split_address(address: str) -> tuple[str, int]:
    """``"host:port"`` → ``(host, port)``; raises :class:`SweepError` otherwise.

    >>> split_address("127.0.0.1:6379")
    ('127.0.0.1', 6379)
    """
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise SweepError(
            f"--address {address!r} is not HOST:PORT; give the Ray head's GCS address, e.g. 10.0.0.5:6379"
        )
    return host, int(port)


def connect_ray(address: str, timeout: float) -> Any:
    """``ray.init(address=...)`` that fails within about ``timeout`` seconds with one clear line
    (:class:`SweepError`) if the head does not answer or refuses this client's token."""
    host, port = split_address(address)
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as exc:
        raise SweepError(
            f"cannot reach the Ray cluster at {address} within {timeout:g} s ({exc.strerror or exc}); "
            "check the address and that `ray start --head` runs there"
        ) from None
    try:
        import ray
    except ImportError:
        raise SweepError("--backend ray needs Ray: pip install 'mazesim[ray]'") from None
    # Ray retries the first GCS call about once a second, 20 times by default: bound it
    os.environ.setdefault("RAY_gcs_server_port_wait_time_s", str(max(1, math.ceil(timeout))))
    try:
        ray.init(address=address, logging_level="ERROR", log_to_driver=False)
    except (ConnectionError, RuntimeError) as exc:
        chain = f"{exc} {exc.__cause__ or ''}"
        if "InvalidAuthToken" in chain or "AuthenticationError" in chain:
            raise SweepError(
                f"the Ray cluster at {address} refused this client's token (InvalidAuthToken); run with "
                "RAY_AUTH_MODE=token and the cluster's token in RAY_AUTH_TOKEN or ~/.ray/auth_token"
            ) from None
        raise SweepError(f"cannot connect to the Ray cluster at {address}: {exc}") from None
    return ray


def _run_ray(
    ray: Any, trials: Sequence[Trial], sweep_dir: Path, on_row: Callable[[Trial, dict], None]
) -> None:
    task = ray.remote(num_cpus=1, max_retries=RAY_MAX_RETRIES)(run_trial)
    where = str(sweep_dir.resolve())
    refs = {task.remote(t, where): t for t in trials}
    pending = list(refs)
    resubmitted: dict[str, int] = {}
    while pending:
        done, pending = ray.wait(pending, num_returns=1)
        t = refs.pop(done[0])
        try:
            row = ray.get(done[0])
        except ray.exceptions.RayError as exc:
            # run_trial turns every error of the trial itself into a row, so this is the cluster
            # losing the trial's worker or node (or an error that wraps the task: never rerun)
            k = resubmitted.get(t.trial_id, 0)
            if not isinstance(exc, ray.exceptions.RayTaskError) and k < RAY_RESUBMITS:
                resubmitted[t.trial_id] = k + 1
                time.sleep(RAY_RESUBMIT_WAIT_S * (k + 1))
                ref = task.remote(t, where)
                refs[ref] = t
                pending.append(ref)
                continue
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            row = failed_row(t, f"{type(exc).__name__}: {first}")
        on_row(t, row)


# ---------------------------------------------------------------------------------------------
# Results


def collect_rows(sweep_dir: str | Path, trials: Sequence[Trial]) -> list[dict[str, Any]]:
    """The finished rows of ``trials`` (in trial order) found under ``sweep_dir``."""
    rows = (read_result(trial_dir(sweep_dir, t.trial_id)) for t in trials)
    return [r for r in rows if r is not None]


def table(rows: Sequence[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """``(columns, cells)`` of the merged table: ids, one column per metric (union over rows,
    sorted), where the trial ran, the error."""
    metrics = sorted({k for r in rows for k in (r.get("metrics") or {})})
    columns = [*ID_COLUMNS, *metrics, *TAIL_COLUMNS]
    cells = []
    for r in rows:
        m = r.get("metrics") or {}
        flat = {**r, **m, "params": json.dumps(r.get("params", {}), sort_keys=True)}
        cells.append([_cell(flat.get(c, m.get(c))) for c in columns])
    return columns, cells


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return repr(v)
    return str(v)


def write_tables(sweep_dir: str | Path, rows: Sequence[dict[str, Any]]) -> tuple[Path, Path]:
    """Write ``results.csv`` and ``results.md`` (atomically) in ``sweep_dir``; return their paths."""
    sweep_dir = Path(sweep_dir)
    sweep_dir.mkdir(parents=True, exist_ok=True)
    columns, cells = table(rows)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(cells)
    _write_atomic(sweep_dir / "results.csv", buf.getvalue())
    md = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    md += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in cells]
    _write_atomic(sweep_dir / "results.md", "\n".join(md) + "\n")
    return sweep_dir / "results.csv", sweep_dir / "results.md"


def _md_cell(text: str) -> str:
    with contextlib.suppress(ValueError):
        text = f"{float(text):.4g}" if "." in text or "e" in text else text
    return text.replace("|", "\\|").replace("\n", " ")


def run_sweep(
    sweep: Sweep,
    sweep_dir: str | Path,
    *,
    backend: str = "local",
    workers: int = 1,
    address: str | None = None,
    connect_timeout: float = 10.0,
    max_trials: int | None = None,
    retry_failed: bool = False,
    on_row: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Run the unfinished trials of ``sweep``, stage by stage (:meth:`Sweep.stages`), and merge
    every finished row into the tables; returns the rows (trial order). A warm-started trial runs
    once its dependency's row says ``ok``, becomes a failed row if that row failed, and stays to do
    if there is none. See the module docstring for backends and resume rules."""
    sweep_dir = Path(sweep_dir)
    if backend not in ("local", "ray"):
        raise SweepError(f"backend {backend!r} is unknown; use local or ray")
    if backend == "ray" and not address:
        raise SweepError("--backend ray needs --address HOST:PORT of the Ray head")
    if workers < 0:
        raise SweepError(f"--workers {workers} must be >= 0")
    stages = sweep.stages()
    todo = [t for ts in stages for t in ts if _needs_run(trial_dir(sweep_dir, t.trial_id), retry_failed)]
    if max_trials is not None:
        todo = todo[:max_trials]
    for t in todo:
        if retry_failed and (row := read_result(trial_dir(sweep_dir, t.trial_id))) and row["status"] != "ok":
            (trial_dir(sweep_dir, t.trial_id) / RESULT).unlink()

    def finished(t: Trial, row: dict[str, Any]) -> None:
        folder = trial_dir(sweep_dir, t.trial_id)
        if read_result(folder) is None:  # it ran where this folder is not shared, died, or never ran
            write_result(folder, row)
        if on_row is not None:
            on_row(row)

    ray = connect_ray(str(address), connect_timeout) if todo and backend == "ray" else None
    try:
        todo_ids = {t.trial_id for t in todo}
        for ts in stages:
            ready = []
            for t in (t for t in ts if t.trial_id in todo_ids):
                dep = None if t.init is None else read_result(trial_dir(sweep_dir, t.init))
                if t.init is None or (dep is not None and dep.get("status") == "ok"):
                    ready.append(t)
                elif dep is not None:
                    finished(t, failed_row(t, f"dependency {t.init} failed"))
                # no row for the dependency (interrupted, or left out by max_trials): stays to do
            if ready and ray is not None:
                _run_ray(ray, ready, sweep_dir, finished)
            elif ready:
                _run_local(ready, sweep_dir, workers, finished)
    finally:
        if ray is not None:
            ray.shutdown()
        rows = collect_rows(sweep_dir, sweep.trials)
        if rows:
            write_tables(sweep_dir, rows)
    return rows


def _needs_run(folder: Path, retry_failed: bool) -> bool:
    row = read_result(folder)
    return row is None or (retry_failed and row.get("status") != "ok")


# ---------------------------------------------------------------------------------------------
# Command line


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m agents.sweep", description=__doc__.splitlines()[0])
    p.add_argument("sweep_file", type=Path, help="the sweep file (.toml)")
    p.add_argument("--sweep-dir", type=Path, default=None, help="default: runs/sweeps/<name>")
    p.add_argument("--backend", default="local", choices=("local", "ray"))
    p.add_argument("--workers", type=int, default=1, help="local processes (0: run in this process)")
    p.add_argument("--address", default=None, help="Ray head HOST:PORT (with --backend ray)")
    p.add_argument("--connect-timeout", type=float, default=10.0, help="seconds to reach the Ray head")
    p.add_argument("--max-trials", type=int, default=None, help="run at most N unfinished trials, then stop")
    p.add_argument("--retry-failed", action="store_true", help="run failed trials again")
    p.add_argument("--dry-run", action="store_true", help="list the trials and their state, run nothing")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        sweep = load_sweep(args.sweep_file)
        sweep_dir = args.sweep_dir or Path("runs") / "sweeps" / sweep.name
        if args.max_trials is not None and args.max_trials < 0:
            raise SweepError(f"--max-trials {args.max_trials} must be >= 0")
        if args.dry_run:
            for t in sweep.trials:
                row = read_result(trial_dir(sweep_dir, t.trial_id))
                state = row["status"] if row else "todo"
                after = f"  init={t.init}" if t.init else ""
                print(f"{t.trial_id}  {state:<6}  {t.label}  {json.dumps(t.params, sort_keys=True)}{after}")
            print(f"{len(sweep.trials)} trials in {sweep_dir}")
            return 0

        def report(row: dict[str, Any]) -> None:
            extra = (
                f"success_rate={row['metrics'].get('success_rate')}"
                if row["status"] == "ok"
                else row["error"]
            )
            print(f"{row['trial_id']}  {row['status']}  {extra}", flush=True)

        rows = run_sweep(
            sweep, sweep_dir, backend=args.backend, workers=args.workers, address=args.address,
            connect_timeout=args.connect_timeout, max_trials=args.max_trials,
            retry_failed=args.retry_failed, on_row=report,
        )  # fmt: skip
    except SweepError as exc:
        print(f"agents.sweep: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "agents.sweep: interrupted; finished trials are kept, rerun the command to resume",
            file=sys.stderr,
        )
        return 130
    failed = sum(r["status"] != "ok" for r in rows)
    print(
        f"{len(rows)}/{len(sweep.trials)} trials finished ({failed} failed); "
        f"table: {sweep_dir / 'results.csv'}"
    )
    incomplete = len(rows) < len(sweep.trials) and args.max_trials is None
    return 1 if failed or incomplete else 0


if __name__ == "__main__":
    # run the main of the importable module, so that workers unpickle agents.sweep.run_trial, not __main__'s
    from agents import sweep as _sweep

    sys.exit(_sweep.main())
