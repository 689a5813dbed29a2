"""A thin wrapper around networkx: resources and the references between them.

Edges run from the referrer to what it references (``Offer → Category``), so
a cycle is listed in reference order; creation order is the reverse
topological order, ties broken by kind order then name for stable plans.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable

import networkx as nx

from decisionform.bundle.kinds import KIND_ORDER
from decisionform.bundle.model import split_address
from decisionform.bundle.references import Reference
from decisionform.errors import CycleError, Issue, quote_address


def _sort_key(addr: str) -> tuple[int, str]:
    kind, name = split_address(addr)
    return (KIND_ORDER.get(kind, 99), name)


class ResourceGraph:
    def __init__(self) -> None:
        self._g: nx.DiGraph = nx.DiGraph()

    def add(self, addr: str) -> None:
        self._g.add_node(addr)

    def add_reference(self, ref: Reference) -> None:
        target = ref.target_address()
        if target is None and ref.target_kind == "Placement":
            target = _placement_channel(ref)
        if target is None:
            return
        src = ref.source.address
        self._g.add_edge(src, target)
        self._g.edges[src, target].setdefault("refs", []).append(ref)

    def add_edge(self, src: str, target: str) -> None:
        self._g.add_edge(src, target)

    def check_acyclic(self, relevant: set[str] | None = None) -> None:
        """Raise ``CycleError`` listing each cycle (one closed path per loop).

        With ``relevant``, only loops through one of those nodes count: a
        loop that lives wholly in the database is not this plan's doing.
        """
        issues = []
        for component in nx.strongly_connected_components(self._g):
            if relevant is not None and not (component & relevant):
                continue
            nodes = sorted(component, key=_sort_key)
            if len(nodes) == 1 and not self._g.has_edge(nodes[0], nodes[0]):
                continue
            cycle = nx.find_cycle(self._g.subgraph(component), source=nodes[0])
            issues.append(self._cycle_issue([u for u, _ in cycle] + [nodes[0]]))
        if issues:
            raise CycleError(issues)

    def _cycle_issue(self, path: list[str]) -> Issue:
        hops = []
        first_loc = None
        for src, dst in itertools.pairwise(path):
            refs: list[Reference] = self._g.edges[src, dst].get("refs", [])
            ref = refs[0] if refs else None
            loc = ref.location() if ref else None
            first_loc = first_loc or loc
            where = f" at {loc}" if loc else " (in the database)"
            field = f".{ref.field}" if ref else ""
            hops.append(f"{quote_address(*split_address(src))}{field}{where} → "
                        f"{quote_address(*split_address(dst))}")
        chain = " → ".join(quote_address(*split_address(a)) for a in path)
        message = "reference cycle: " + chain + "\n      " + "\n      ".join(hops)
        return Issue(message, first_loc)

    def creation_order(self, nodes: Iterable[str] | None = None) -> list[str]:
        """Dependencies first (Category before Offer ...); among ready nodes, kind order then name."""
        graph = self._g if nodes is None else self._g.subgraph(nodes)
        return list(nx.lexicographical_topological_sort(graph.reverse(copy=False), key=_sort_key))


def _placement_channel(ref: Reference) -> str | None:
    # "Channel/Placement" depends on the channel; with "/" in channel names the
    # longest existing prefix is found by the universe; here the first split is
    # only an ordering hint, so use the part before the last "/".
    channel, sep, _ = ref.target.rpartition("/")
    return f"Channel.{channel}" if sep else None
