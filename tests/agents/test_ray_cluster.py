"""agents.sweep on a real two-node Ray cluster on this machine (head + worker node via ``ray start``,
127.0.0.1, token authentication on, one CPU each so trials spread over both nodes).

Checks: trials run on both nodes and give exactly the metrics of a local run; a client without the
cluster's token is refused with one clear line; killing the worker node in the middle of a sweep
loses no trial (the trials it ran are run again on the head). The cluster is stopped whatever
happens: only the processes it started are ended (found by its own temp folder and port, never by
name, since ``ray stop`` would also end other Ray clusters on the machine).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from agents import sweep as sw

pytest.importorskip("ray", reason="Ray is the optional extra mazesim[ray]")

REPO = Path(__file__).resolve().parents[2]
RAY = str(Path(sys.executable).with_name("ray"))
TINY = "steps = 3, episodes = 2, dagger_rounds = 0, eval_episodes = 2, eval_every = 3, "
TINY += "hidden = [16], batch_size = 16"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_table() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, command line) of every process we can read."""
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        table[int(entry.name)] = (ppid, cmd)
    return table


def with_descendants(roots: set[int], table: dict[int, tuple[int, str]]) -> set[int]:
    found = set(roots)
    grew = True
    while grew:
        kids = {pid for pid, (ppid, _) in table.items() if ppid in found} - found
        found |= kids
        grew = bool(kids)
    return found


def end(pids: set[int], grace: float = 5.0) -> None:
    """SIGTERM, then SIGKILL whatever is left after ``grace`` seconds."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 0.0)):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and any(Path(f"/proc/{p}").exists() for p in pids):
            time.sleep(0.1)


class Cluster:
    """A head and a worker node started with ``ray start``; ``env`` is what a driver needs."""

    def __init__(self) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="rt", dir="/tmp"))  # Ray's socket paths must stay short
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.token = secrets.token_hex(32)
        home = self.tmp / "home"  # no ~/.ray/auth_token of the user leaks into the tests
        home.mkdir()
        self.env = {
            **os.environ,
            "HOME": str(home),
            "RAY_AUTH_MODE": "token",
            "RAY_AUTH_TOKEN": self.token,
            "RAY_USAGE_STATS_ENABLED": "0",
        }
        self.worker_pids: set[int] = set()

    def markers(self, cmd: str) -> bool:
        return str(self.tmp) in cmd or f":{self.port} " in f"{cmd} " or f":{self.port}," in cmd

    def ours(self) -> set[int]:
        table = proc_table()
        roots = {pid for pid, (_, cmd) in table.items() if self.markers(cmd) and pid != os.getpid()}
        return with_descendants(roots, table) - {os.getpid()}

    def start(self) -> None:
        common = ["--node-ip-address=127.0.0.1", "--num-cpus=1", f"--temp-dir={self.tmp / 'ray'}"]
        # node death is noticed after 5 missed one-second health checks (default: 30 s)
        config = json.dumps({"health_check_period_ms": 1000, "health_check_failure_threshold": 5})
        head = [RAY, "start", "--head", f"--port={self.port}", f"--ray-client-server-port={free_port()}",
                f"--dashboard-port={free_port()}", f"--system-config={config}", "--include-dashboard=false",
                "--disable-usage-stats", *common]  # fmt: skip
        self._ray(head)
        before = self.ours()
        self._ray([RAY, "start", f"--address={self.address}", *common])
        self.worker_pids = self.ours() - before

    def _ray(self, cmd: list[str]) -> None:
        res = subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=120)
        if res.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd[:3])} failed:\n{res.stdout[-2000:]}\n{res.stderr[-2000:]}")

    def worker_raylet(self) -> int:
        table = proc_table()
        (pid,) = [p for p in self.worker_pids if "raylet/raylet" in table.get(p, (0, ""))[1]]
        return pid

    def kill_worker_node(self) -> None:
        end(with_descendants(self.worker_pids, proc_table()), grace=0.0)

    def stop(self) -> None:
        end(self.ours())
        shutil.rmtree(self.tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def cluster():
    c = Cluster()
    try:
        c.start()
        yield c
    finally:
        c.stop()


def write_sweep(path: Path, seeds: list[int], params: str = TINY) -> Path:
    path.write_text(
        f'scenarios = ["tutorial"]\nseeds = {seeds}\neval_episodes = 2\n\n'
        f'[[methods]]\nmethod = "imitation"\nparams = {{ {params} }}\n'
    )
    return path


def sweep_cmd(path: Path, out: Path, address: str) -> list[str]:
    return [sys.executable, "-m", "agents.sweep", str(path), "--sweep-dir", str(out), "--backend", "ray",
            "--address", address, "--connect-timeout", "5"]  # fmt: skip


def test_ray_sweep_spreads_over_both_nodes_and_matches_local(cluster, tmp_path):
    path = write_sweep(tmp_path / "s.toml", [0, 1, 2, 3])
    res = subprocess.run(
        sweep_cmd(path, tmp_path / "ray", cluster.address),
        env=cluster.env, cwd=REPO, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr[-3000:]
    sweep = sw.load_sweep(path)
    ray_rows = sw.collect_rows(tmp_path / "ray", sweep.trials)
    assert len(ray_rows) == 4 and all(r["status"] == "ok" for r in ray_rows)
    assert len({r["node"] for r in ray_rows}) == 2, [r["node"] for r in ray_rows]

    local_rows = sw.run_sweep(sweep, tmp_path / "local", workers=0)
    assert [r["trial_id"] for r in ray_rows] == [r["trial_id"] for r in local_rows]
    assert [r["metrics"] for r in ray_rows] == [r["metrics"] for r in local_rows]
    ray_csv = (tmp_path / "ray" / "results.csv").read_text().splitlines()
    assert (
        len(ray_csv) == 5 and ray_csv[0] == (tmp_path / "local" / "results.csv").read_text().splitlines()[0]
    )


@pytest.mark.parametrize("token", [None, "0" * 64])
def test_client_without_the_token_is_refused(cluster, tmp_path, token):
    env = {k: v for k, v in cluster.env.items() if k not in ("RAY_AUTH_TOKEN", "RAY_AUTH_MODE")}
    if token is not None:
        env.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=token)
    path = write_sweep(tmp_path / "s.toml", [0])
    start = time.monotonic()
    res = subprocess.run(
        sweep_cmd(path, tmp_path / "out", cluster.address),
        env=env, cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert res.returncode == 2
    lines = [ln for ln in res.stderr.splitlines() if ln.startswith("agents.sweep:")]
    assert len(lines) == 1 and "refused this client's token (InvalidAuthToken)" in lines[0], res.stderr[
        -2000:
    ]
    assert time.monotonic() - start < 60
    assert not list((tmp_path / "out").glob("trials/*/result.json"))


def test_worker_node_dies_mid_sweep_and_no_trial_is_lost(cluster, tmp_path):
    # longer trials, so that the worker node dies while one is running there
    longer = TINY.replace("steps = 3", "steps = 1500").replace("eval_every = 3", "eval_every = 1500")
    path = write_sweep(tmp_path / "s.toml", [10, 11, 12, 13], params=longer)
    out = tmp_path / "out"
    raylet = cluster.worker_raylet()
    proc = subprocess.Popen(
        sweep_cmd(path, out, cluster.address),
        env=cluster.env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    victim = None
    try:
        deadline = time.monotonic() + 120
        while victim is None and time.monotonic() < deadline and proc.poll() is None:
            table = proc_table()
            for f in out.glob("trials/*/attempts.jsonl"):
                pids = [json.loads(line)["pid"] for line in f.read_text().splitlines()]
                on_worker = table.get(pids[-1], (0, ""))[0] == raylet
                if on_worker and not (f.parent / sw.RESULT).exists():
                    victim = f.parent.name
            time.sleep(0.05)
        assert victim is not None, "no trial started on the worker node"
        cluster.kill_worker_node()
        stdout, stderr = proc.communicate(timeout=150)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, (stdout[-3000:], stderr[-3000:])
    sweep = sw.load_sweep(path)
    rows = sw.collect_rows(out, sweep.trials)
    assert len(rows) == 4 and all(r["status"] == "ok" for r in rows), stdout
    victim_row = next(r for r in rows if r["trial_id"] == victim)
    assert victim_row["attempts"] >= 2  # started on the dead node, finished on the head
    table_rows = (out / "results.csv").read_text().splitlines()[1:]
    assert sorted(r.split(",")[0] for r in table_rows) == sorted(t.trial_id for t in sweep.trials)
