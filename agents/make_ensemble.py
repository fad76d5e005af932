"""Combine member checkpoints into one ensemble checkpoint.

    python -m agents.make_ensemble --out agents/pretrained/tutorial.pt \\
        runs/imitation_s0/last.pt runs/grpo_s0/last.pt runs/dqn_s0/last.pt runs/luffy_s0/last.pt

Every member of every input (a single classifier or itself an ensemble) joins the output, with
any methods, seeds and architectures. The inputs must share the observation shape, the number
of actions and the scenario (else :class:`~agents.checkpoint.CheckpointError`). The manifest of
the output records the ``combine`` rule, this command line, and per member its source file and
the command line and seed that trained it, so the ensemble can be rebuilt from scratch. Resume
state (optimisers) is not copied: an ensemble is for acting, not for resuming training.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from agents.checkpoint import CheckpointError, Member, load_checkpoint, save_checkpoint
from agents.ensemble import COMBINE_RULES


def make_ensemble(
    sources: Sequence[str | Path], out: str | Path, *, combine: str = "soft", command: str | None = None
) -> list[Member]:
    """Load every checkpoint in ``sources``, write all their members to ``out``; return the members.

    >>> import tempfile, pathlib
    >>> from agents.nets import ArchConfig, Classifier
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> for s in (0, 1):
    ...     net = Classifier((9, 7, 7), 12, ArchConfig(hidden=(8,)))
    ...     save_checkpoint(d / f"m{s}.pt", [Member("imitation", net, seed=s)], {"scenario": "tutorial"})
    >>> [m.seed for m in make_ensemble([d / "m0.pt", d / "m1.pt"], d / "ens.pt")]
    [0, 1]
    """
    if combine not in COMBINE_RULES:
        raise ValueError(f"combine={combine!r} is unknown; use one of {COMBINE_RULES}")
    if not sources:
        raise CheckpointError("make_ensemble needs at least one member checkpoint")
    members: list[Member] = []
    records = []
    scenarios = set()
    for src in sources:
        ck = load_checkpoint(src)
        scenarios.add(ck.manifest.get("scenario"))
        for m in ck.members:
            info = dict(m.info)
            info.setdefault("command", ck.manifest.get("command"))
            info["source"] = str(src)
            members.append(Member(m.method, m.net, m.seed, info))
            records.append(
                {"source": str(src), "method": m.method, "seed": m.seed, "command": info["command"]}
            )
    if len(scenarios) > 1:
        raise CheckpointError(
            f"the members were trained on different scenarios {sorted(map(str, scenarios))}; "
            "an ensemble combines members of one scenario"
        )
    shapes = {(m.net.obs_shape, m.net.n_actions) for m in members}
    if len(shapes) > 1:
        raise CheckpointError(
            f"the members disagree on observation shape / number of actions {sorted(shapes)}; "
            "retrain them on the same scenario"
        )
    manifest = {"scenario": scenarios.pop(), "combine": combine, "members": records}
    if command is not None:
        manifest["command"] = command
    save_checkpoint(out, members, manifest)
    return members


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m agents.make_ensemble", description=__doc__.splitlines()[0])
    p.add_argument("sources", nargs="+", help="member checkpoints (.pt)")
    p.add_argument("--out", required=True, help="where to write the ensemble checkpoint")
    p.add_argument("--combine", default="soft", choices=COMBINE_RULES, help="default combine rule")
    args = p.parse_args(argv)
    command = shlex.join(["python", "-m", "agents.make_ensemble", *(sys.argv[1:] if argv is None else argv)])
    try:
        members = make_ensemble(args.sources, args.out, combine=args.combine, command=command)
    except CheckpointError as exc:
        print(f"agents.make_ensemble: {exc}", file=sys.stderr)
        return 2
    size = Path(args.out).stat().st_size / 1e6
    print(f"wrote {args.out}: {len(members)} members ({size:.2f} MB)")
    for m in members:
        print(f"  {m.method:<10} seed {m.seed:<4} {m.net.arch.kind} {m.info['source']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
