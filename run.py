#!/usr/bin/env python3
"""One entry point that sets itself up: ``python3 run.py play [ARGS]`` or ``python3 run.py test [ARGS]``.

On first use it creates ``.venv`` beside this file and installs the project (with its test extra)
into it, then runs the command inside that environment. Later runs reuse the environment and
reinstall only when ``pyproject.toml`` changed. Needs nothing but Python 3.11.

    python3 run.py play --render        # python -m mazesim.play --render, in the project's venv
    python3 run.py test                 # the whole test suite (pytest, two workers)
    python3 run.py test -k wfc          # extra arguments go to pytest
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
PY = VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
STAMP = VENV / ".mazesim-installed"
# The suite runs on two worker processes (pytest-xdist); pass -n 0 to run it in one.
COMMANDS = {"play": ["-m", "mazesim.play"], "test": ["-m", "pytest", "-n", "2"]}


def ensure_venv() -> None:
    want = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if PY.exists() and STAMP.exists() and STAMP.read_text() == want:
        return
    if not PY.exists():
        print(f"run.py: creating the virtual environment in {VENV} ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    print("run.py: installing mazesim and its test tools (first run only) ...", flush=True)
    pip = [str(PY), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, "-e", f"{ROOT}[test]"], check=True)
    STAMP.write_text(want)


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in COMMANDS:
        print("usage: python3 run.py {play|test} [ARGS...]", file=sys.stderr)
        return 2
    ensure_venv()
    cmd = [str(PY), *COMMANDS[argv[0]], *argv[1:]]
    return subprocess.run(cmd, cwd=ROOT).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
