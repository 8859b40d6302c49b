"""Static checks of a flow: every problem at once, each with its node and field.

The rules: exactly one Input and at least one Output; known node types with valid
configurations and the ports their type requires; unique names; connections between
existing nodes, outputs and inputs of matching types; each input fed by exactly one data
connection; conditional connections from a Condition's named condition; no cycles (loops
are DoWhile nodes, whose body is validated as a flow of its own); every node reachable
from the Input; a node mixes only the items of nested Iterators, and a Collector gathers
per-item values; valid JSONPath and condition expressions; and the operator's policy (see
:mod:`tessera.llm.flows._policy`): Code functions in the allow-list, Retrieval folders
inside the retrieval roots, Storage folders inside the storage roots.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from tessera.errors import InvalidInputError
from tessera.llm.flows._jsonpath import compile_path
from tessera.llm.flows._nodes import ANY_TYPE, NodeType, RunContext, configuration_problems
from tessera.llm.flows._policy import (
    RetrievalRoots,
    StorageRoots,
    check_allowed_code,
    check_retrieval_roots,
    check_storage_roots,
)
from tessera.llm.flows._schema_paths import path_problem
from tessera.llm.flows._scopes import node_scopes
from tessera.llm.flows._spec import Connection, FlowSpec, FlowValidationError, NodeSpec, Problem

__all__ = ["check_flow", "policy_context", "require_valid", "validate_flow"]


def policy_context(
    spec: FlowSpec,
    *,
    allowed_code: Iterable[str] = (),
    retrieval_roots: RetrievalRoots = (),
    storage_roots: StorageRoots = (),
) -> RunContext:
    """A context holding the run policy, for :meth:`NodeType.check_access` (runs nothing).

    ``allowed_code``, ``retrieval_roots`` and ``storage_roots`` are checked here (malformed
    entries, missing roots raise :class:`~tessera.errors.InvalidInputError`); the packaged
    knowledge folders are always among the retrieval roots.
    """
    return RunContext(
        run_id="validation",
        flow=spec,
        allowed_code=check_allowed_code(allowed_code),
        base_dir=spec.base_dir,
        retrieval_roots=check_retrieval_roots(retrieval_roots),
        storage_roots=check_storage_roots(storage_roots),
    )


def _connection_node(spec: FlowSpec, connection: Connection) -> str | None:
    """The node a connection problem is reported on: its target, else its source."""
    for name in (connection.target, connection.source):
        if spec.node(name) is not None:
            return name
    return None


def _check_ports(node: NodeSpec, node_type: NodeType) -> list[Problem]:
    problems: list[Problem] = []
    for kind, ports, required, extra_ok in (
        ("inputs", node.inputs, node_type.required_inputs, node_type.extra_inputs),
        ("outputs", node.outputs, node_type.output_types(node), node_type.extra_outputs),
    ):
        names = [port.name for port in ports]
        for name in sorted({n for n in names if names.count(n) > 1}):
            problems.append(Problem(node.name, f"{kind}.{name}", f"{kind[:-1]} declared twice"))
        for name, data_type in required.items():
            port = next((p for p in ports if p.name == name), None)
            if port is None:
                wanted = "any type" if data_type == ANY_TYPE else f"type: {data_type}"
                problems.append(
                    Problem(
                        node.name,
                        f"{kind}.{name}",
                        f"a {node.type} node needs the {kind[:-1]} {name!r}; declare "
                        f"{{name: {name}, {wanted}}}",
                    )
                )
            elif data_type != ANY_TYPE and port.type != data_type:
                problems.append(
                    Problem(
                        node.name,
                        f"{kind}.{name}.type",
                        f"type={port.type!r} is invalid: a {node.type} node's {name!r} is a "
                        f"{data_type}; declare type: {data_type}",
                    )
                )
        if not extra_ok:
            for name in names:
                if name not in required:
                    allowed = ", ".join(required) or "none"
                    problems.append(
                        Problem(
                            node.name,
                            f"{kind}.{name}",
                            f"a {node.type} node has no {kind[:-1]} {name!r} (its {kind}: "
                            f"{allowed}); remove it or rename it",
                        )
                    )
    for port in node.inputs:
        try:
            compile_path(port.expression)
        except InvalidInputError as exc:
            problems.append(Problem(node.name, f"inputs.{port.name}.expression", str(exc)))
    return problems


def _check_node(node: NodeSpec, policy: RunContext | None) -> list[Problem]:
    from tessera.llm.flows._builtin import DoWhileNode
    from tessera.llm.flows._loop import LoopNode
    from tessera.llm.flows._nodes import get_node_type, node_types

    node_type = get_node_type(node.type)
    if node_type is None:
        known = ", ".join(node_types())
        return [
            Problem(
                node.name,
                "type",
                f"type={node.type!r} is not a known node type (known: {known}); fix the type "
                "or register the plug-in before validating",
            )
        ]
    problems = _check_ports(node, node_type)
    config_problems = configuration_problems(node, node_type)
    problems += config_problems
    if config_problems:
        return problems
    problems += node_type.check(node)
    if policy is not None:
        problems += node_type.check_access(node, policy)
    if isinstance(node_type, LoopNode):
        problems += node_type.body_problems(node, policy)
    if isinstance(node_type, DoWhileNode):
        from tessera.llm.flows._spec import load_flow

        body = load_flow(node_type.configuration(node).body)
        # The body runs with the loop's context: its policy and its flow file's folder.
        body_problems = check_flow(body, policy=policy, prefix=f"{node.name}/")
        for entry in (n for n in body.nodes if n.type == "Input"):
            declared = entry.output("document")
            if declared is not None and declared.type != "Object":
                body_problems.append(
                    Problem(
                        f"{node.name}/{entry.name}",
                        "outputs.document.type",
                        f"type={declared.type!r} is invalid: a DoWhile body's Input receives the "
                        "loop state, an Object; declare type: Object",
                    )
                )
        outputs = [n for n in body.nodes if n.type == "Output"]
        if len(outputs) > 1:
            body_problems.append(
                Problem(
                    node.name,
                    "configuration.body.nodes",
                    f"a DoWhile body has exactly one Output (the new loop state), found "
                    f"{len(outputs)}",
                )
            )
        problems += body_problems
    return problems


def _type_problem(spec: FlowSpec, connection: Connection) -> Problem | None:
    """A mismatch between the source output's type and what the target input selects."""
    assert connection.configuration.data is not None
    source = spec.node(connection.source)
    target = spec.node(connection.target)
    if source is None or target is None:
        return None
    output = source.output(connection.configuration.data.source_output)
    port = target.input(connection.configuration.data.target_input)
    if output is None or port is None:
        return None
    try:
        steps = compile_path(port.expression).steps
    except InvalidInputError:
        return None  # reported on the expression itself
    from tessera.llm.flows._nodes import get_node_type

    source_type = get_node_type(source.type)
    schema = source_type.output_schema(source, output.name) if source_type else None
    if schema is not None:
        found = path_problem(schema, steps, port.type)
        if found is not None:
            return Problem(
                target.name,
                f"inputs.{port.name}.expression",
                f"expression={port.expression!r} is invalid: {found} of "
                f"{source.name}.{output.name}; select a field the schema declares",
            )
    if not steps:
        if output.type == port.type:
            return None
        rule = f"it receives {source.name}.{output.name}, a {output.type}"
    else:
        needed = "Object" if isinstance(steps[0], str) else "Array"
        if output.type == needed:
            return None  # the selected part's type is checked when the value arrives
        rule = (
            f"its expression {port.expression!r} selects from an {needed} but "
            f"{source.name}.{output.name} is a {output.type}"
        )
    return Problem(
        target.name,
        f"inputs.{port.name}.type",
        f"type={port.type!r} does not match: {rule}; make the types agree or select the "
        "right part with the expression",
    )


def _check_connections(spec: FlowSpec) -> list[Problem]:
    from tessera.llm.flows._builtin import ConditionNode
    from tessera.llm.flows._nodes import get_node_type

    problems: list[Problem] = []
    names = [c.name for c in spec.connections]
    for name in sorted({n for n in names if names.count(n) > 1}):
        first = next(c for c in spec.connections if c.name == name)
        problems.append(
            Problem(
                _connection_node(spec, first),
                f"connections[{name}].name",
                "connection name used twice; rename one",
            )
        )
    feeds: dict[tuple[str, str], list[str]] = defaultdict(list)
    for connection in spec.connections:
        where = f"connections[{connection.name}]"
        owner = _connection_node(spec, connection)
        source = spec.node(connection.source)
        target = spec.node(connection.target)
        for end, node in (("source", source), ("target", target)):
            if node is None:
                known = ", ".join(n.name for n in spec.nodes)
                value = getattr(connection, end)
                problems.append(
                    Problem(
                        owner,
                        f"{where}.{end}",
                        f"{end}={value!r} is not a node of the flow (nodes: {known})",
                    )
                )
        data = connection.configuration.data
        if connection.type == "Data" and data is not None:
            if source is not None and source.output(data.source_output) is None:
                outputs = ", ".join(p.name for p in source.outputs) or "none"
                problems.append(
                    Problem(
                        source.name,
                        f"{where}.configuration.data.sourceOutput",
                        f"sourceOutput={data.source_output!r} is not an output of "
                        f"{source.name!r} (outputs: {outputs})",
                    )
                )
            if target is not None and target.input(data.target_input) is None:
                inputs = ", ".join(p.name for p in target.inputs) or "none"
                problems.append(
                    Problem(
                        target.name,
                        f"{where}.configuration.data.targetInput",
                        f"targetInput={data.target_input!r} is not an input of "
                        f"{target.name!r} (inputs: {inputs})",
                    )
                )
            elif target is not None:
                feeds[(target.name, data.target_input)].append(connection.name)
            mismatch = _type_problem(spec, connection)
            if mismatch is not None:
                problems.append(mismatch)
        conditional = connection.configuration.conditional
        if connection.type == "Conditional" and conditional is not None and source is not None:
            source_type = get_node_type(source.type)
            if not isinstance(source_type, ConditionNode):
                problems.append(
                    Problem(
                        source.name,
                        f"{where}.source",
                        f"a Conditional connection must start at a Condition node, not a "
                        f"{source.type} node; use a Data connection",
                    )
                )
            else:
                conditions = source.configuration.get("conditions")
                known_names = [c.get("name") for c in conditions or [] if isinstance(c, Mapping)]
                if conditional.condition not in known_names:
                    problems.append(
                        Problem(
                            source.name,
                            f"{where}.configuration.conditional.condition",
                            f"condition={conditional.condition!r} is not a condition of "
                            f"{source.name!r} (conditions: {', '.join(map(str, known_names))})",
                        )
                    )
    for (target_name, port_name), sources in sorted(feeds.items()):
        if len(sources) > 1:
            problems.append(
                Problem(
                    target_name,
                    f"inputs.{port_name}",
                    f"{len(sources)} connections feed this input ({', '.join(sources)}); an "
                    "input takes exactly one, so keep one (branches end in their own Output)",
                )
            )
    for node in spec.nodes:
        if node.type == "Input":
            continue
        for port in node.inputs:
            if (node.name, port.name) not in feeds:
                problems.append(
                    Problem(
                        node.name,
                        f"inputs.{port.name}",
                        "no data connection feeds this input; connect an output to it",
                    )
                )
    return problems


def _graph(spec: FlowSpec) -> Any:
    import networkx as nx

    graph = nx.DiGraph()
    graph.add_nodes_from(node.name for node in spec.nodes)
    for connection in spec.connections:
        if spec.node(connection.source) and spec.node(connection.target):
            graph.add_edge(connection.source, connection.target)
    return graph


def _check_graph(spec: FlowSpec) -> list[Problem]:
    import networkx as nx

    problems: list[Problem] = []
    graph = _graph(spec)
    for cycle in sorted(sorted(c) for c in nx.strongly_connected_components(graph)):
        if len(cycle) > 1 or graph.has_edge(cycle[0], cycle[0]):
            problems.append(
                Problem(
                    cycle[0],
                    "connections",
                    f"the nodes {', '.join(cycle)} form a cycle; flows are acyclic, loop with "
                    "a DoWhile node instead",
                )
            )
    inputs = [node for node in spec.nodes if node.type == "Input"]
    if len(inputs) == 1:
        reachable = nx.descendants(graph, inputs[0].name) | {inputs[0].name}
        for node in spec.nodes:
            if node.name not in reachable:
                problems.append(
                    Problem(
                        node.name,
                        "connections",
                        f"no path from the Input {inputs[0].name!r} reaches this node; "
                        "connect it or remove it",
                    )
                )
    problems += node_scopes(spec)[1]
    return problems


def check_flow(spec: FlowSpec, *, policy: RunContext | None, prefix: str = "") -> list[Problem]:
    """Every problem of ``spec`` (see :func:`validate_flow`), as a list; empty when valid.

    ``policy`` (from :func:`policy_context`) holds what the operator allows; ``None`` checks
    the document alone (the Code allow-list and the retrieval roots are then left to the run).
    """
    problems: list[Problem] = []
    names = [node.name for node in spec.nodes]
    for name in sorted({n for n in names if names.count(n) > 1}):
        problems.append(Problem(name, "name", "two nodes have this name; node names are unique"))
    input_nodes = [node.name for node in spec.nodes if node.type == "Input"]
    if not input_nodes:
        problems.append(Problem(None, "nodes", "a flow needs exactly one Input node; add one"))
    for extra in input_nodes[1:]:
        problems.append(
            Problem(
                extra,
                "type",
                f"a flow has exactly one Input node; {input_nodes[0]!r} is already one",
            )
        )
    if not any(node.type == "Output" for node in spec.nodes):
        problems.append(Problem(None, "nodes", "a flow needs at least one Output node; add one"))
    for node in spec.nodes:
        problems += _check_node(node, policy)
    problems += _check_connections(spec)
    problems += _check_graph(spec)
    if prefix:
        problems = [
            Problem(f"{prefix}{p.node}", p.field, p.message)
            if p.node
            else Problem(prefix.rstrip("/"), f"configuration.body.{p.field}", p.message)
            for p in problems
        ]
    return problems


def validate_flow(
    spec: FlowSpec | Mapping[str, Any] | str | Path,
    *,
    allowed_code: Iterable[str] = (),
    retrieval_roots: RetrievalRoots = (),
    storage_roots: StorageRoots = (),
) -> list[Problem]:
    """Check a flow against every rule; return every problem at once.

    Parameters
    ----------
    spec : FlowSpec, dict, str or pathlib.Path
        The flow, or anything :func:`~tessera.llm.flows.load_flow` reads (shape problems
        of the document are returned like the others).
    allowed_code : iterable of str, default=()
        What Code nodes (and Evaluation nodes' function evaluators) may call:
        ``"package.module:function"`` (that function) or ``"package.module:*"`` (the public
        functions defined in that module; see :func:`~tessera.llm.flows.code_allowed`).
        A call outside it is a problem.
    retrieval_roots : iterable of str or pathlib.Path, default=()
        Folders Retrieval nodes may read inside of, besides the knowledge folders shipped
        with tessera. A Retrieval folder that resolves (symbolic links followed) outside
        every root is a problem on ``configuration.folder``.
    storage_roots : iterable of str or pathlib.Path, default=()
        Folders Storage nodes may write and read inside of; none by default, so a Storage
        node is a problem on ``configuration.folder`` until its folder (resolved, symbolic
        links followed) lies inside one.

    Returns
    -------
    list of Problem
        Empty when the flow is valid; otherwise each problem with its node and field.

    Raises
    ------
    OSError
        When ``spec`` is a path that cannot be read.
    InvalidInputError
        When an ``allowed_code`` entry is malformed or a root is not a folder.
    """
    from tessera.llm.flows._spec import load_flow

    try:
        flow = load_flow(spec)
    except FlowValidationError as exc:
        return list(exc.problems)
    policy = policy_context(
        flow,
        allowed_code=allowed_code,
        retrieval_roots=retrieval_roots,
        storage_roots=storage_roots,
    )
    return check_flow(flow, policy=policy)


def require_valid(
    spec: FlowSpec | Mapping[str, Any] | str | Path,
    *,
    allowed_code: Iterable[str] = (),
    retrieval_roots: RetrievalRoots = (),
    storage_roots: StorageRoots = (),
) -> FlowSpec:
    """The loaded flow if it breaks no rule, else :class:`FlowValidationError` listing all.

    Parameters are those of :func:`validate_flow`.
    """
    from tessera.llm.flows._spec import load_flow

    flow = load_flow(spec)
    policy = policy_context(
        flow,
        allowed_code=allowed_code,
        retrieval_roots=retrieval_roots,
        storage_roots=storage_roots,
    )
    problems = check_flow(flow, policy=policy)
    if problems:
        raise FlowValidationError(problems, flow=flow.name)
    return flow
