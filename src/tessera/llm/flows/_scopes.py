"""Which nodes run once per item of which Iterator.

Every node has a *scope*: the Iterators it runs inside, outermost first. A value leaving an
Iterator's ``arrayItem`` is one scope deeper than the Iterator; a value entering a
Collector's ``arrayItem`` is gathered, one scope shallower; every other connection keeps
the scope. A node's scope is the deepest of its incoming values' scopes, which must nest
(a node cannot mix the items of two unrelated Iterators).
"""

from __future__ import annotations

from typing import Any

from tessera.llm.flows._spec import Connection, FlowSpec, Problem

__all__ = ["collectors_of", "iterator_regions", "node_scopes", "value_scope"]

Scope = tuple[str, ...]


def run_order(spec: FlowSpec) -> list[str] | None:
    """Node names in dependency order (document order among independent ones); ``None``
    when the connections form a cycle."""
    import networkx as nx

    position = {node.name: i for i, node in enumerate(spec.nodes)}
    graph: Any = nx.DiGraph()
    graph.add_nodes_from(position)
    graph.add_edges_from(
        (c.source, c.target)
        for c in spec.connections
        if c.source in position and c.target in position
    )
    try:
        return list(nx.lexicographical_topological_sort(graph, key=position.__getitem__))
    except nx.NetworkXUnfeasible:
        return None


def _sent_scope(spec: FlowSpec, scopes: dict[str, Scope], connection: Connection) -> Scope:
    """The scope of the value as it leaves the source (one deeper out of ``arrayItem``)."""
    scope = scopes.get(connection.source, ())
    source = spec.node(connection.source)
    data = connection.configuration.data
    if source is not None and source.type == "Iterator" and data is not None:
        if data.source_output == "arrayItem":
            scope = (*scope, source.name)
    return scope


def _gathers(spec: FlowSpec, connection: Connection) -> bool:
    """Whether the connection feeds a Collector's ``arrayItem`` (which gathers the items)."""
    target = spec.node(connection.target)
    data = connection.configuration.data
    return bool(target and target.type == "Collector" and data and data.target_input == "arrayItem")


def value_scope(spec: FlowSpec, scopes: dict[str, Scope], connection: Connection) -> Scope:
    """The scope of the value a connection carries, as its target sees it."""
    scope = _sent_scope(spec, scopes, connection)
    return scope[:-1] if _gathers(spec, connection) else scope


def node_scopes(spec: FlowSpec) -> tuple[dict[str, Scope], list[Problem]]:
    """Every node's scope, and the problems found (mixed items, nothing to collect)."""
    order = run_order(spec)
    if order is None:
        return {}, []  # the cycle is reported by validation
    scopes: dict[str, Scope] = {}
    problems: list[Problem] = []
    for name in order:
        node = spec.node(name)
        assert node is not None
        incoming = [c for c in spec.connections if c.target == name and spec.node(c.source)]
        deepest: Scope = ()
        for connection in incoming:
            scope = value_scope(spec, scopes, connection)
            shorter, longer = sorted((deepest, scope), key=len)
            if longer[: len(shorter)] != shorter:
                problems.append(
                    Problem(
                        name,
                        "inputs",
                        f"this node mixes the items of Iterators {' > '.join(deepest)} and "
                        f"{' > '.join(scope)}; gather one with a Collector first",
                    )
                )
            deepest = longer
            if _gathers(spec, connection) and not _sent_scope(spec, scopes, connection):
                problems.append(
                    Problem(
                        name,
                        "inputs.arrayItem",
                        f"{connection.source!r} does not run per item of an Iterator, so there "
                        "is nothing to collect; connect a node downstream of an Iterator's "
                        "arrayItem",
                    )
                )
        scopes[name] = deepest
    return scopes, problems


def iterator_regions(spec: FlowSpec) -> dict[str, list[str]]:
    """For each Iterator, the nodes that run once per item (all depths), in run order."""
    scopes, _ = node_scopes(spec)
    order = run_order(spec) or []
    return {
        node.name: [name for name in order if node.name in scopes.get(name, ())]
        for node in spec.nodes
        if node.type == "Iterator"
    }


def collectors_of(spec: FlowSpec, iterator: str) -> dict[str, Connection]:
    """The Collectors that gather ``iterator``'s items, with the connection feeding each."""
    scopes, _ = node_scopes(spec)
    found: dict[str, Connection] = {}
    for connection in spec.connections:
        if _gathers(spec, connection) and spec.node(connection.source) is not None:
            if _sent_scope(spec, scopes, connection)[-1:] == (iterator,):
                found[connection.target] = connection
    return found
