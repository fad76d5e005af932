"""Promise graphs: one step's or a whole episode's promises as a networkx ``MultiDiGraph``.

Nodes are ``agent_<i>`` and ``team``; each promise is an edge promiser → promisee with key
``step`` and attributes ``body`` (e.g. ``"move east"``), ``polarity`` (``"+"``/``"-"``),
``outcome`` (``"kept"``, ``"withdrawn"``, ``"unbound"``), ``arrow`` (the arrow notation),
``bound`` (whether it is half of a binding made that step) and, for withdrawn promises,
``because_of`` and ``constraint`` when known.

Graphs are built on request from the stored assessments (:class:`PromiseLog`), never in the
environment's per-step path. networkx is imported inside the functions that build graphs and
matplotlib only inside :func:`draw_promise_graph`, so ``import promises`` stays light.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from promises.assessment import Assessment, Outcome, bindings
from promises.model import TEAM, agent_name

if TYPE_CHECKING:
    import networkx as nx


def add_step(graph: nx.MultiDiGraph, assessments: Sequence[Assessment], step: int) -> nx.MultiDiGraph:
    """Add one step's promises to ``graph`` as edges keyed by ``step``; returns ``graph``."""
    bound = {agent for pair in bindings(assessments) for agent in pair}
    for promise, outcome, because_of, constraint in assessments:
        attrs: dict[str, object] = {
            "body": str(promise.body),
            "polarity": promise.polarity.value,
            "outcome": outcome.value,
            "arrow": promise.arrow,
            "bound": promise.promiser in bound,
        }
        if because_of is not None:
            attrs["because_of"] = because_of
        if constraint is not None:
            attrs["constraint"] = constraint
        graph.add_edge(agent_name(promise.promiser), agent_name(promise.promisee), key=step, **attrs)
    return graph


def promise_graph(assessments: Sequence[Assessment], step: int = 0) -> nx.MultiDiGraph:
    """The promise graph of one step (see the module docstring for nodes and edge attributes).

    >>> from promises.assessment import Resolution, assess_step
    >>> step = [Resolution(0, 5, 5, partner=1, climb=True), Resolution(1, 8, 8, partner=0)]
    >>> g = promise_graph(assess_step(step))
    >>> edge = g.edges["agent_1", "agent_0", 0]
    >>> sorted(g.nodes), edge["body"], edge["outcome"], edge["bound"]
    (['agent_0', 'agent_1', 'team'], 'boost north', 'kept', True)
    """
    import networkx as nx

    graph = nx.MultiDiGraph()
    graph.add_node(TEAM)
    return add_step(graph, assessments, step)


def episode_graph(steps: Iterable[Sequence[Assessment]]) -> nx.MultiDiGraph:
    """All steps' promises in one graph; edge keys are the step indices (0, 1, ...)."""
    import networkx as nx

    graph = nx.MultiDiGraph()
    graph.add_node(TEAM)
    for t, assessments in enumerate(steps):
        add_step(graph, assessments, t)
    return graph


class PromiseLog:
    """The assessments of an episode, stored cheaply; graphs and statistics built on request.

    >>> from promises.assessment import Resolution, assess_step
    >>> log = PromiseLog()
    >>> log.record(assess_step([Resolution(0, 4, 4), Resolution(1, 4, 0, 0, "one_per_cell")]))
    >>> log.record(assess_step([Resolution(0, 0, 0), Resolution(1, 4, 4)]))
    >>> len(log), log.graph().number_of_edges(), log.kept_rate()
    (2, 4, 0.6666666666666666)
    """

    def __init__(self) -> None:
        self.steps: list[tuple[Assessment, ...]] = []

    def __len__(self) -> int:
        return len(self.steps)

    def record(self, assessments: Sequence[Assessment]) -> None:
        """Store one step's assessments."""
        self.steps.append(tuple(assessments))

    def clear(self) -> None:
        """Forget every step (at ``reset``)."""
        self.steps.clear()

    def graph(self, step: int | None = None) -> nx.MultiDiGraph:
        """The promise graph of step ``step``, or of the whole episode when ``step`` is None."""
        if step is None:
            return episode_graph(self.steps)
        return promise_graph(self.steps[step], step)

    def outcome_counts(self, include_stay: bool = False) -> dict[str, int]:
        """How many promises had each outcome (``stay`` promises left out unless asked for)."""
        counts = Counter(
            a.outcome.value for s in self.steps for a in s if include_stay or a.promise.body.type != "stay"
        )
        return {o.value: counts.get(o.value, 0) for o in Outcome}

    def kept_rate(self) -> float:
        """The fraction of promises kept, ``stay`` left out (always kept); NaN if there are none."""
        counts = self.outcome_counts()
        total = sum(counts.values())
        return counts[Outcome.KEPT.value] / total if total else math.nan


_OUTCOME_COLOURS = {"kept": "#2a9d3f", "withdrawn": "#e07b00", "unbound": "#8a8a8a"}


def draw_promise_graph(graph: nx.MultiDiGraph, path: str | Path, title: str | None = None) -> Path:
    """Draw a promise graph to a PNG file at ``path`` and return the path.

    Parallel edges with the same body, polarity and outcome are drawn as one arrow labelled
    with their count; colours show the outcome (green kept, orange withdrawn, grey unbound).
    Uses matplotlib's Agg canvas directly (no pyplot, no window, no global backend change).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    agents = sorted((n for n in graph.nodes if n != TEAM), key=lambda n: int(str(n).rsplit("_", 1)[-1]))
    pos = {TEAM: (0.0, 0.0)}
    for k, name in enumerate(agents):
        angle = 2 * math.pi * k / max(len(agents), 1) + math.pi / 2
        pos[name] = (math.cos(angle), math.sin(angle))

    groups: Counter[tuple[str, str, str, str, str]] = Counter()
    for u, v, data in graph.edges(data=True):
        groups[(u, v, data["polarity"], data["body"], data["outcome"])] += 1

    fig = Figure(figsize=(6, 6), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.set_xlim(-1.4, 1.4)
    ax.set_ylim(-1.4, 1.4)
    ax.set_aspect("equal")
    ax.axis("off")
    if title:
        ax.set_title(title)
    per_pair: Counter[tuple[str, str]] = Counter()
    for (u, v, sign, body, outcome), count in sorted(groups.items()):
        nth = per_pair[(u, v)]
        per_pair[(u, v)] += 1
        rad = 0.15 + 0.2 * nth
        (x0, y0), (x1, y1) = pos[u], pos[v]
        ax.annotate(
            "",
            xy=(x1, y1),
            xytext=(x0, y0),
            arrowprops={
                "arrowstyle": "-|>",
                "color": _OUTCOME_COLOURS[outcome],
                "lw": 1.0 + math.log1p(count),
                "connectionstyle": f"arc3,rad={rad}",
                "shrinkA": 14,
                "shrinkB": 14,
            },
        )
        mx, my = (x0 + x1) / 2 + rad * (y1 - y0) / 2, (y0 + y1) / 2 - rad * (x1 - x0) / 2
        ax.text(
            mx,
            my,
            f"{sign}{body} ×{count}",
            fontsize=7,
            ha="center",
            va="center",
            color=_OUTCOME_COLOURS[outcome],
            bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none", "alpha": 0.8},
            zorder=2,
        )
    for name, (x, y) in pos.items():
        ax.scatter([x], [y], s=900, color="#f4d35e" if name == TEAM else "#7fb3d5", zorder=3)
        ax.text(x, y, name, ha="center", va="center", fontsize=8, zorder=4)
    for outcome, colour in _OUTCOME_COLOURS.items():
        ax.plot([], [], color=colour, label=outcome)
    ax.legend(loc="lower right", fontsize=8, frameon=False)
    out = Path(path)
    fig.savefig(out, format="png")
    return out
