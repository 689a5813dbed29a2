"""Creation order: the kind-by-kind shortcut gives exactly the order of plain Kahn with a heap.

The reference order is worked out by the textbook algorithm (ready nodes in a heap keyed by
kind order then name), written here independently of ``graph.py``.
"""

from __future__ import annotations

import heapq

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from decisionform.bundle.kinds import KIND_ORDER
from decisionform.errors import CycleError
from decisionform.planner.graph import ResourceGraph

KINDS = list(KIND_ORDER)


def reference_order(nodes: list[str], edges: list[tuple[str, str]]) -> list[str] | None:
    """Each node after what it references; smallest (kind order, name) first; None on a cycle."""
    def key(addr: str) -> tuple[int, str]:
        kind, _, name = addr.partition(".")
        return KIND_ORDER[kind], name

    deps = {n: {t for s, t in edges if s == n} for n in nodes}
    done: list[str] = []
    ready = [(key(n), n) for n in nodes if not deps[n]]
    heapq.heapify(ready)
    while ready:
        node = heapq.heappop(ready)[1]
        done.append(node)
        for other in nodes:
            if node in deps[other]:
                deps[other].discard(node)
                if not deps[other]:
                    heapq.heappush(ready, (key(other), other))
    return done if len(done) == len(nodes) else None


@st.composite
def graphs(draw: st.DrawFn, *, upward: bool) -> tuple[list[str], list[tuple[str, str]]]:
    nodes = sorted(draw(st.sets(st.builds(lambda k, n: f"{k}.{n}", st.sampled_from(KINDS),
                                          st.sampled_from("abcdefgh")), min_size=1, max_size=25)))
    pairs = st.tuples(st.sampled_from(nodes), st.sampled_from(nodes))
    edges = draw(st.lists(pairs, max_size=40))

    def allowed(src: str, dst: str) -> bool:
        src_rank, dst_rank = KIND_ORDER[src.partition(".")[0]], KIND_ORDER[dst.partition(".")[0]]
        return upward or dst_rank <= src_rank

    return nodes, [(s, t) for s, t in edges if allowed(s, t)]


def build(nodes: list[str], edges: list[tuple[str, str]]) -> ResourceGraph:
    graph = ResourceGraph()
    for node in nodes:
        graph.add(node)
    for src, dst in edges:
        graph.add_edge(src, dst)
    return graph


@settings(max_examples=300, deadline=None)
@given(st.one_of(graphs(upward=False), graphs(upward=True)))
def test_creation_order_is_kahns(graph_spec: tuple[list[str], list[tuple[str, str]]]) -> None:
    nodes, edges = graph_spec
    expected = reference_order(nodes, edges)
    graph = build(nodes, edges)
    if expected is None:
        with pytest.raises(CycleError):
            graph.check_acyclic()
        return
    graph.check_acyclic()
    assert graph.creation_order() == expected
    subset = nodes[::2]
    assert build(nodes, edges).creation_order(subset) == reference_order(
        subset, [(s, t) for s, t in edges if s in subset and t in subset])


def test_self_referencing_kind_keeps_dependencies_first() -> None:
    # flows call each other: "a" calls "z", so "z" comes first although "a" sorts first
    nodes = ["Category.c", "Offer.o", "DecisionFlow.a", "DecisionFlow.z", "DecisionFlow.m"]
    edges = [("Offer.o", "Category.c"), ("DecisionFlow.a", "DecisionFlow.z"), ("DecisionFlow.z", "Offer.o")]
    graph = build(nodes, edges)
    graph.check_acyclic()
    assert graph.creation_order() == ["Category.c", "Offer.o", "DecisionFlow.m", "DecisionFlow.z",
                                      "DecisionFlow.a"]


def test_cycle_inside_a_kind_is_reported() -> None:
    graph = build(["DecisionFlow.a", "DecisionFlow.b"], [("DecisionFlow.a", "DecisionFlow.b"),
                                                         ("DecisionFlow.b", "DecisionFlow.a")])
    with pytest.raises(CycleError, match="reference cycle"):
        graph.check_acyclic()
