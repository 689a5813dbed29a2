"""Resources and the references between them: creation order and cycles.

Edges run from the referrer to what it references (``Offer → Category``), so
a cycle is listed in reference order; creation order is the reverse
topological order, ties broken by kind order then name for stable plans.

Every plan orders tens of thousands of nodes, so the graph is kept as plain
adjacency (insertion-ordered) and ordered with Kahn's algorithm; networkx,
which costs more to import than the whole ordering takes, is loaded only to
analyse a graph that has a cycle (strongly connected components, one closed
path per loop), on a DiGraph built in the same node and edge order.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterable
from typing import Any

from decisionform.bundle.kinds import KIND_ORDER, KINDS, PLACEMENT, RefPath
from decisionform.bundle.model import split_address
from decisionform.bundle.references import Reference
from decisionform.errors import CycleError, Issue, quote_address


def _depends_on(ref: RefPath) -> str:
    return "Channel" if ref.target == PLACEMENT else ref.target  # a placement depends on its channel


def _ordering_refs() -> dict[str, tuple[RefPath, ...]]:
    """Per kind, the declared references that can decide an order or close a loop.

    When every declared reference points to an earlier kind or to its own kind (as the
    registry's do: Offer → Category, DecisionFlow → DecisionFlow), creation order is the
    kinds in turn (see ``_kahn``) and a loop can only run inside one kind, so only the
    references to the own kind matter. Otherwise every reference does.
    """
    kind_ordered = all(KIND_ORDER[_depends_on(ref)] <= KIND_ORDER[kind.name] for kind in KINDS for ref in kind.refs)
    return {kind.name: tuple(ref for ref in kind.refs
                             if not kind_ordered or KIND_ORDER[_depends_on(ref)] == KIND_ORDER[kind.name])
            for kind in KINDS}


ORDERING_REFS = _ordering_refs()


def _sort_key(addr: str) -> tuple[int, str]:
    kind, name = split_address(addr)
    return (KIND_ORDER.get(kind, 99), name)


class ResourceGraph:
    def __init__(self) -> None:
        self._out: dict[str, dict[str, None]] = {}  # node -> what it references, both in insertion order
        self._refs: list[Reference] = []  # every reference added, for the messages of a cycle (rare)
        self._order: list[str] | None = None  # creation order of the whole graph, once checked acyclic

    def add(self, addr: str) -> None:
        if addr not in self._out:
            self._out[addr] = {}
            self._order = None

    def add_reference(self, ref: Reference) -> None:
        target = ref.target_address()
        if target is None and ref.target_kind == "Placement":
            target = _placement_channel(ref)
        if target is None:
            return
        self.add_edge(ref.source.address, target)
        self._refs.append(ref)

    def add_edge(self, src: str, target: str) -> None:
        out = self._out.get(src)
        if out is None:
            out = self._out[src] = {}
        if target not in self._out:
            self._out[target] = {}
        out[target] = None
        self._order = None

    def _nx(self) -> Any:
        """The same graph as a networkx DiGraph (nodes and edges in insertion order)."""
        import networkx as nx

        graph = nx.DiGraph()
        graph.add_nodes_from(self._out)
        graph.add_edges_from((src, dst) for src, targets in self._out.items() for dst in targets)
        return graph

    def check_acyclic(self, relevant: set[str] | None = None) -> None:
        """Raise ``CycleError`` listing each cycle (one closed path per loop).

        With ``relevant``, only loops through one of those nodes count: a
        loop that lives wholly in the database is not this plan's doing.
        """
        order = self._kahn(self._out, _sort_key)
        if len(order) == len(self._out):
            self._order = order  # what creation_order of every node gives; kept for it
            return  # no cycle at all: the common case needs no cycle analysis
        import networkx as nx

        graph = self._nx()
        first_refs = self._first_refs()
        issues = []
        for component in nx.strongly_connected_components(graph):
            if relevant is not None and not (component & relevant):
                continue
            nodes = sorted(component, key=_sort_key)
            if len(nodes) == 1 and not graph.has_edge(nodes[0], nodes[0]):
                continue
            cycle = nx.find_cycle(graph.subgraph(component), source=nodes[0])
            issues.append(self._cycle_issue([u for u, _ in cycle] + [nodes[0]], first_refs))
        if issues:
            raise CycleError(issues)

    def _first_refs(self) -> dict[tuple[str, str], Reference]:
        """Per edge, the first reference that made it: the one a cycle's message names."""
        first: dict[tuple[str, str], Reference] = {}
        for ref in self._refs:
            target = ref.target_address()
            if target is None and ref.target_kind == "Placement":
                target = _placement_channel(ref)
            if target is not None:
                first.setdefault((ref.source.address, target), ref)
        return first

    def _cycle_issue(self, path: list[str], first_refs: dict[tuple[str, str], Reference]) -> Issue:
        hops = []
        first_loc = None
        for src, dst in itertools.pairwise(path):
            ref = first_refs.get((src, dst))
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
        chosen = self._out if nodes is None else {n: self._out[n] for n in nodes if n in self._out}
        if self._order is not None and len(chosen) == len(self._out):
            return list(self._order)  # every node: the order check_acyclic found
        order = self._kahn(chosen, _sort_key)
        if len(order) != len(chosen):
            import networkx as nx

            raise nx.NetworkXUnfeasible("Graph contains a cycle or graph changed during iteration.")
        return order

    @staticmethod
    def _kahn(out: dict[str, dict[str, None]], key: Any) -> list[str]:
        """Nodes of ``out`` (edges outside it ignored), each after everything it references;
        the smallest ``key`` first among ready nodes. Short of a node per node on a cycle.

        ``key`` is (kind order, name). References almost all point to an earlier kind
        (Offer → Category); while every edge between kinds does, that order is simply the
        kinds in turn, each sorted by name, with Kahn's algorithm needed only inside a kind
        that references itself (DecisionFlow → DecisionFlow): a 10k-node plan sorts instead
        of pushing every node through a heap.
        """
        keys = {node: key(node) for node in out}
        blocks: dict[Any, dict[str, dict[str, None]]] = {}  # kind order -> its nodes' edges inside the kind
        for node, targets in out.items():
            rank = keys[node][0]
            inner = None
            for target in targets:
                target_key = keys.get(target)
                if target_key is None:
                    continue  # outside ``out``
                if target_key[0] > rank:
                    return ResourceGraph._kahn_heap(out, keys)  # an edge to a later kind: the general way
                if target_key[0] == rank:
                    if inner is None:
                        inner = blocks.setdefault(rank, {}).setdefault(node, {})
                    inner[target] = None
        order = sorted(out, key=keys.__getitem__)
        if not blocks:
            return order
        result: list[str] = []
        for rank, nodes in itertools.groupby(order, key=lambda n: keys[n][0]):
            members = list(nodes)
            if rank in blocks:
                edges = blocks[rank]
                members = ResourceGraph._kahn_heap({n: edges.get(n, {}) for n in members}, keys)
            result += members
        return result

    @staticmethod
    def _kahn_heap(out: dict[str, dict[str, None]], keys: dict[str, Any]) -> list[str]:
        """Kahn's algorithm with a heap of ready nodes by ``keys``."""
        waiting: dict[str, int] = {}
        referrers: dict[str, list[str]] = {}
        ready = []
        for node, targets in out.items():
            count = 0
            for target in targets:
                if target in out:
                    count += 1
                    referrers.setdefault(target, []).append(node)
            if count:
                waiting[node] = count
            else:
                ready.append((keys[node], node))
        heapq.heapify(ready)
        order = []
        while ready:
            node = heapq.heappop(ready)[1]
            order.append(node)
            for referrer in referrers.get(node, ()):
                left = waiting[referrer] - 1
                waiting[referrer] = left
                if not left:
                    heapq.heappush(ready, (keys[referrer], referrer))
        return order


def _placement_channel(ref: Reference) -> str | None:
    # "Channel/Placement" depends on the channel; with "/" in channel names the
    # longest existing prefix is found by the universe; here the first split is
    # only an ordering hint, so use the part before the last "/".
    channel, sep, _ = ref.target.rpartition("/")
    return f"Channel.{channel}" if sep else None
