"""Bedrock Flows' CreateFlow ``definition``, to and from tessera flow documents.

Tessera's flow documents are shaped after Bedrock's (nodes with typed ports, ``Data`` and
``Conditional`` connections), so most nodes translate one to one; what names AWS
resources goes through the :class:`~tessera.llm.bedrock.Bindings` file:

==================  ==============================  ===================================
Bedrock node        tessera node                    binding
==================  ==============================  ===================================
Input, Output       Input, Output
Prompt (inline)     Prompt (``inline`` body)        ``models``: the inline ``modelId``
Prompt (resource)   Prompt (``prompt: NAME@N``)     the ARN's id is the tessera name
Condition           Condition (same expressions)
Iterator/Collector  Iterator/Collector
KnowledgeBase       Retrieval (``folder``)          ``knowledge_bases``; ``models``
Retrieval (S3)      Storage, mode read              ``s3``: ``s3://bucket`` -> folder
Storage (S3)        Storage, mode write             ``s3``
LambdaFunction      Code (``function``)             ``lambdas``: ARN -> module:function
Loop                Loop (its ``definition``)
LoopInput           LoopInput
LoopController      LoopController (port
                    ``category`` -> ``categories``)
==================  ==============================  ===================================

Port names Bedrock fixes for a node type are renamed to tessera's and back (Storage's
``objectKey`` / ``s3Uri``, Retrieval's ``objectKey`` / ``s3Content``, a KnowledgeBase's
``outputText``), in the nodes and in the connections. Agent and Lex nodes are refused at
import, naming the node. A Loop node's definition is translated node by node like the
flow's (see :mod:`tessera.llm.flows._loop` for how it runs). InlineCode
nodes become tessera's InlineCode nodes (:mod:`tessera.llm.flows.inline`), which run only
where the operator allows them.
A missing binding is a :class:`~tessera.llm.flows.FlowValidationError` whose problems
name the node and the field.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tessera._validation import bad_value
from tessera.llm.bedrock._bindings import Bindings

__all__ = ["flow_from_bedrock", "flow_to_bedrock"]

#: (Bedrock type, tessera mode) -> {Bedrock port: tessera port}.
_PORTS: dict[str, dict[str, str]] = {
    "Storage": {"objectKey": "key", "s3Uri": "location"},
    "Retrieval": {"objectKey": "key", "s3Content": "document"},
    "KnowledgeBase": {"outputText": "retrievalResults"},
    "Agent": {"agentInputText": "question", "agentResponse": "answer"},
}
_ARN = "arn:aws:bedrock:local:000000000000"
_UNSUPPORTED = {
    "Lex": "Amazon Lex bots do not run locally",
}


class _Problems:
    def __init__(self, items: list[Any] | None = None, prefix: str = "") -> None:
        self.items: list[Any] = [] if items is None else items
        self.prefix = prefix

    def add(self, node: str | None, field: str, message: str) -> None:
        from tessera.llm.flows import Problem

        where = None if node is None else f"{self.prefix}{node}"
        self.items.append(Problem(where, field, message))

    def inside(self, node: str) -> _Problems:
        """The problems of a Loop's definition, named ``loop/node``."""
        return _Problems(self.items, f"{self.prefix}{node}/")


def _ports(ports: Any, renames: Mapping[Any, Any]) -> list[dict[str, Any]]:
    out = []
    for port in ports or []:
        port = dict(port)
        port["name"] = renames.get(port.get("name"), port.get("name"))
        out.append(port)
    return out


def _bound(
    table: Mapping[str, str], key: Any, section: str, node: str, field: str, problems: _Problems
) -> str | None:
    if isinstance(key, str) and key in table:
        return table[key]
    problems.add(
        node,
        field,
        f"{key!r} has no binding: add it under {section}: in the "
        "bindings file (see the how-to 'Run a Bedrock app on Tessera')",
    )
    return None


def _inline_prompt(
    name: str,
    inline: Mapping[str, Any],
    inputs: list[dict[str, Any]],
    bindings: Bindings,
    problems: _Problems,
) -> dict[str, Any] | None:
    from tessera.errors import InvalidInputError
    from tessera.llm.bedrock._prompts import prompt_from_bedrock

    field = "configuration.prompt.sourceConfiguration.inline"
    model_id = inline.get("modelId")
    if model_id is not None and model_id not in bindings.models:
        _bound(bindings.models, model_id, "models", name, f"{field}.modelId", problems)
        return None
    template = dict(inline.get("templateConfiguration") or {})
    kind = str(inline.get("templateType", "TEXT")).lower()
    part = dict(template.get(kind) or {})
    part.setdefault("inputVariables", [{"name": p["name"]} for p in inputs])
    variant = {k: v for k, v in inline.items() if k != "templateConfiguration"}
    variant.update(name="default", templateConfiguration={kind: part})
    try:
        prompt = prompt_from_bedrock({"name": name, "variants": [variant]}, bindings=bindings)
    except InvalidInputError as exc:
        problems.add(name, field, str(exc).replace("variants[0].", ""))
        return None
    # A variable takes its input's type (a Number input renders as a number).
    body = dict(prompt.body)
    kinds = {"Number": "number", "Boolean": "boolean"}
    variables = {name: dict(v) for name, v in body.get("variables", {}).items()}
    for port in inputs:
        if port.get("name") in variables and port.get("type") in kinds:
            variables[port["name"]]["type"] = kinds[port["type"]]
    body["variables"] = variables
    from tessera.llm.prompts import check_body
    from tessera.llm.prompts._registry import normal_form

    normal: dict[str, Any] = normal_form(check_body(body, f"{name}.{field}"))
    return normal


def _node(
    node: Mapping[str, Any],
    bindings: Bindings,
    problems: _Problems,
    renamed: dict[Any, dict[Any, Any]],
) -> dict[str, Any] | None:
    name = str(node.get("name"))
    kind = node.get("type")
    config = node.get("configuration") or {}
    if kind in _UNSUPPORTED:
        problems.add(name, "type", f"{kind} nodes are not supported: {_UNSUPPORTED[kind]}")
        return None
    renames = _PORTS.get(str(kind), {})
    out: dict[str, Any] = {"name": name, "type": kind}
    inputs = _ports(node.get("inputs"), renames)
    outputs = _ports(node.get("outputs"), renames)
    if renames:
        renamed[name] = renames
    if kind in ("Input", "Output", "Iterator", "Collector", "LoopInput"):
        pass
    elif kind == "Loop":
        definition = (config.get("loop") or {}).get("definition") or {}
        if not isinstance(definition, Mapping):
            raise TypeError("configuration.loop.definition must be a JSON object")
        inner_nodes, inner_connections = _import_definition(
            definition, bindings, problems.inside(name)
        )
        out["configuration"] = {
            "definition": {"nodes": inner_nodes, "connections": inner_connections}
        }
    elif kind == "Agent":
        arn = (config.get("agent") or {}).get("agentAliasArn")
        _bound(
            bindings.agents,
            arn,
            "agents (Bedrock agents do not run locally; bind the alias to ask-user to have "
            "the node ask whoever invokes the flow)",
            name,
            "configuration.agent.agentAliasArn",
            problems,
        )
        out["type"] = "AskUser"
        out["configuration"] = {"agentAliasArn": arn}
    elif kind == "LoopController":
        controller = dict(config.get("loopController") or {})
        categories = {}
        for port in inputs:
            category = port.pop("category", None)
            if category is not None:
                categories[port.get("name")] = category
        out["configuration"] = {
            key: value
            for key, value in (
                ("continueCondition", controller.get("continueCondition")),
                ("maxIterations", controller.get("maxIterations")),
                ("categories", categories or None),
            )
            if value is not None
        }
    elif kind == "Condition":
        out["configuration"] = {
            "conditions": list((config.get("condition") or {}).get("conditions") or [])
        }
    elif kind == "Prompt":
        prompt = config.get("prompt") or {}
        source = prompt.get("sourceConfiguration") or {}
        if "resource" in source:
            arn = str((source.get("resource") or {}).get("promptArn", ""))
            ident = arn.rsplit(":prompt/", 1)[-1]
            prompt_name, _, version = ident.partition(":")
            out["configuration"] = {"prompt": f"{prompt_name}@{version or 'draft'}"}
        else:
            body = _inline_prompt(name, source.get("inline") or {}, inputs, bindings, problems)
            out["configuration"] = {"inline": body or {}}
        guard = prompt.get("guardrailConfiguration")
        if guard:
            version = str(guard.get("guardrailVersion", "DRAFT"))
            ref = f"{guard.get('guardrailIdentifier')}@{'draft' if version == 'DRAFT' else version}"
            out["configuration"]["guardrail"] = ref
    elif kind == "KnowledgeBase":
        kb = config.get("knowledgeBase") or {}
        field = "configuration.knowledgeBase"
        folder = _bound(
            bindings.knowledge_bases,
            kb.get("knowledgeBaseId"),
            "knowledge_bases",
            name,
            f"{field}.knowledgeBaseId",
            problems,
        )
        out["type"] = "Retrieval"
        out["configuration"] = {"folder": folder or "?"}
        if kb.get("numberOfResults") is not None:
            out["configuration"]["top_k"] = kb["numberOfResults"]
        if kb.get("modelId") is not None:
            model = _bound(
                bindings.models, kb["modelId"], "models", name, f"{field}.modelId", problems
            )
            out["configuration"]["model"] = model or "?"
    elif kind in ("Retrieval", "Storage"):
        section = "retrieval" if kind == "Retrieval" else "storage"
        s3 = ((config.get(section) or {}).get("serviceConfiguration") or {}).get("s3") or {}
        bucket = f"s3://{s3.get('bucketName')}"
        folder = _bound(
            bindings.s3,
            bucket,
            "s3",
            name,
            f"configuration.{section}.serviceConfiguration.s3.bucketName",
            problems,
        )
        out["type"] = "Storage"
        out["configuration"] = {
            "folder": folder or "?",
            "mode": "read" if kind == "Retrieval" else "write",
        }
    elif kind == "InlineCode":
        inline = config.get("inlineCode") or {}
        out["configuration"] = {
            "code": inline.get("code"),
            "language": inline.get("language", "Python_3"),
        }
    elif kind == "LambdaFunction":
        lambda_arn: Any = (config.get("lambdaFunction") or {}).get("lambdaArn")
        function = _bound(
            bindings.lambdas,
            lambda_arn,
            "lambdas",
            name,
            "configuration.lambdaFunction.lambdaArn",
            problems,
        )
        out["type"] = "Code"
        out["configuration"] = {"function": function or "?:?"}
    else:
        problems.add(name, "type", f"{kind!r} is not a Bedrock Flows node type")
        return None
    if inputs:
        out["inputs"] = inputs
    if outputs:
        out["outputs"] = outputs
    return out


def _import_definition(
    definition: Mapping[str, Any], bindings: Bindings, problems: _Problems
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A Bedrock ``definition``'s nodes and connections in tessera's shape."""
    renamed: dict[Any, dict[Any, Any]] = {}
    raw_nodes, raw_connections = definition.get("nodes") or [], definition.get("connections") or []
    for field, value in (
        ("definition.nodes", raw_nodes),
        ("definition.connections", raw_connections),
    ):
        if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
            raise bad_value(
                field, value, "it must be a list of JSON objects", "Fix the definition."
            )
    nodes = []
    for index, raw in enumerate(raw_nodes):
        try:
            nodes.append(_node(raw, bindings, problems, renamed))
        except (AttributeError, TypeError, ValueError) as exc:
            # A configuration of the wrong shape (a string where an object belongs, ...).
            where = str(raw.get("name", f"nodes[{index}]"))
            problems.add(
                where,
                "configuration",
                f"it has the wrong shape ({exc}); see CreateFlow's API reference",
            )
    connections = []
    for connection in raw_connections:
        connection = dict(connection)
        if not isinstance(connection.get("configuration") or {}, Mapping):
            problems.add(
                None,
                f"connections[{connection.get('name')}].configuration",
                "it must be a JSON object",
            )
            continue
        data = (connection.get("configuration") or {}).get("data")
        if data and not isinstance(data, Mapping):
            problems.add(
                None,
                f"connections[{connection.get('name')}].configuration.data",
                "it must be a JSON object",
            )
            continue
        if data:
            data = dict(data)
            source, target = connection.get("source"), connection.get("target")
            data["sourceOutput"] = renamed.get(source, {}).get(
                data.get("sourceOutput"), data.get("sourceOutput")
            )
            data["targetInput"] = renamed.get(target, {}).get(
                data.get("targetInput"), data.get("targetInput")
            )
            connection["configuration"] = {"data": data}
        connections.append(connection)
    return [n for n in nodes if n is not None], connections


def flow_from_bedrock(
    body: Mapping[str, Any], *, bindings: Bindings | None = None, name: str | None = None
) -> Any:
    """A CreateFlow body (or its ``definition``) as a tessera :class:`~tessera.llm.flows.FlowSpec`.

    Parameters
    ----------
    body : mapping
        ``{"name", "description", "definition": {"nodes", "connections"}}`` or the
        definition alone.
    bindings : Bindings or None, default=None
        Local names for the AWS resources the nodes name.
    name : str or None, default=None
        The flow's name when ``body`` has none.

    Raises
    ------
    FlowValidationError
        Every problem at once, each naming the node and the field: a missing binding, an
        unsupported node type.
    """
    from tessera.llm.flows import FlowValidationError, load_flow

    bindings = bindings or Bindings()
    if not isinstance(body, Mapping):
        raise bad_value("body", body, "it must be a JSON object", "Pass CreateFlow's body.")
    definition = body.get("definition", body)
    if not isinstance(definition, Mapping):
        raise bad_value("definition", definition, "it must be a JSON object", "Fix it.")
    problems = _Problems()
    nodes, connections = _import_definition(definition, bindings, problems)
    if problems.items:
        raise FlowValidationError(problems.items, flow=name or body.get("name"))
    document = {
        "name": name or body.get("name") or "flow",
        "description": body.get("description", ""),
        "nodes": nodes,
        "connections": connections,
    }
    return load_flow(document)


def _reverse(table: Mapping[str, str]) -> dict[Any, Any]:
    return {local: theirs for theirs, local in table.items()}


def _export_definition(
    raw_nodes: list[dict[str, Any]],
    raw_connections: list[dict[str, Any]],
    bindings: Bindings,
    problems: _Problems,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Tessera nodes and connections as a Bedrock ``definition``'s."""
    from tessera.llm.bedrock._prompts import prompt_to_bedrock

    renamed: dict[Any, dict[Any, Any]] = {}
    nodes = []
    for node in raw_nodes:
        name, kind = node["name"], node["type"]
        config = node.get("configuration") or {}
        out: dict[str, Any] = {"type": kind, "name": name}
        bedrock_kind = kind
        if kind in ("Input", "Output", "Iterator", "Collector", "LoopInput"):
            out["configuration"] = {kind[0].lower() + kind[1:]: {}}
        elif kind == "Loop":
            definition = config.get("definition") or {}
            inner_nodes, inner_connections = _export_definition(
                definition.get("nodes") or [],
                definition.get("connections") or [],
                bindings,
                problems.inside(name),
            )
            loop = {"definition": {"nodes": inner_nodes, "connections": inner_connections}}
            out["configuration"] = {"loop": loop}
        elif kind == "AskUser":
            arn = config.get("agentAliasArn") or _reverse(bindings.agents).get("ask-user")
            if arn is None:
                problems.add(
                    name,
                    "configuration.agentAliasArn",
                    "an AskUser node exports as a Bedrock Agent node and needs an agent "
                    "alias ARN; set agentAliasArn or bind one to ask-user under agents:",
                )
                continue
            bedrock_kind = "Agent"
            out["configuration"] = {"agent": {"agentAliasArn": arn}}
            renamed[name] = _reverse(_PORTS["Agent"])
        elif kind == "LoopController":
            categories = config.get("categories") or {}
            controller = {k: v for k, v in config.items() if k != "categories"}
            out["configuration"] = {"loopController": controller}
            node = dict(node)
            node["inputs"] = [
                {**p, "category": categories[p["name"]]} if p["name"] in categories else p
                for p in node.get("inputs", [])
            ]
        elif kind == "Condition":
            out["configuration"] = {"condition": {"conditions": config.get("conditions", [])}}
        elif kind == "Prompt":
            if config.get("prompt"):
                ref = str(config["prompt"])
                prompt_name, _, version = ref.partition("@")
                suffix = "" if version in ("", "draft") else f":{version}"
                source: dict[str, Any] = {
                    "resource": {"promptArn": f"{_ARN}:prompt/{prompt_name}{suffix}"}
                }
            else:
                exported = prompt_to_bedrock(name, config.get("inline") or {})
                variant = exported["variants"][0]
                inline = {k: v for k, v in variant.items() if k != "name"}
                kind_key = "text" if inline["templateType"] == "TEXT" else "chat"
                template = dict(inline["templateConfiguration"][kind_key])
                inputs_named = [{"name": p["name"]} for p in node.get("inputs", [])]
                if template.get("inputVariables") == inputs_named:
                    template.pop("inputVariables")
                inline["templateConfiguration"] = {kind_key: template}
                source = {"inline": inline}
            out["configuration"] = {"prompt": {"sourceConfiguration": source}}
            guard = config.get("guardrail")
            if isinstance(guard, str):
                ident, _, version = guard.partition("@")
                out["configuration"]["prompt"]["guardrailConfiguration"] = {
                    "guardrailIdentifier": ident,
                    "guardrailVersion": "DRAFT" if version in ("", "draft") else version,
                }
        elif kind == "Retrieval":
            kb_id = _reverse(bindings.knowledge_bases).get(config.get("folder"))
            if kb_id is None:
                problems.add(
                    name,
                    "configuration.folder",
                    "no knowledge_bases binding names "
                    "this folder; add one to export the node as a KnowledgeBase",
                )
                continue
            bedrock_kind = "KnowledgeBase"
            kb: dict[str, Any] = {"knowledgeBaseId": kb_id}
            if config.get("top_k") is not None and config.get("top_k") != 3:
                kb["numberOfResults"] = config["top_k"]
            if config.get("model"):
                kb["modelId"] = _reverse(bindings.models).get(config["model"], config["model"])
                renamed[name] = _reverse(_PORTS["KnowledgeBase"])
            out["configuration"] = {"knowledgeBase": kb}
        elif kind == "Storage":
            bucket = _reverse(bindings.s3).get(config.get("folder"))
            if bucket is None:
                problems.add(
                    name,
                    "configuration.folder",
                    "no s3 binding names this folder; add one to export the node",
                )
                continue
            bedrock_kind = "Retrieval" if config.get("mode") == "read" else "Storage"
            section = bedrock_kind.lower()
            s3 = {"s3": {"bucketName": bucket.removeprefix("s3://")}}
            out["configuration"] = {section: {"serviceConfiguration": s3}}
            renamed[name] = _reverse(_PORTS[bedrock_kind])
        elif kind == "InlineCode":
            code = {"code": config.get("code"), "language": config.get("language", "Python_3")}
            out["configuration"] = {"inlineCode": code}
        elif kind == "Code":
            arn = _reverse(bindings.lambdas).get(config.get("function"))
            if arn is None:
                problems.add(
                    name,
                    "configuration.function",
                    "no lambdas binding names this "
                    "function; add one to export the node as a LambdaFunction",
                )
                continue
            bedrock_kind = "LambdaFunction"
            out["configuration"] = {"lambdaFunction": {"lambdaArn": arn}}
        else:
            problems.add(name, "type", f"{kind} nodes have no Bedrock Flows counterpart")
            continue
        out["type"] = bedrock_kind
        renames = renamed.get(name, {})
        for side in ("inputs", "outputs"):
            if node.get(side):
                out[side] = [{**p, "name": renames.get(p["name"], p["name"])} for p in node[side]]
        nodes.append(out)
    connections = []
    for connection in raw_connections:
        data = connection["configuration"].get("data")
        conditional = connection["configuration"].get("conditional")
        entry = {
            "name": connection["name"],
            "source": connection["source"],
            "target": connection["target"],
            "type": connection["type"],
        }
        if data:
            source_out = renamed.get(connection["source"], {}).get(
                data["sourceOutput"], data["sourceOutput"]
            )
            target_in = renamed.get(connection["target"], {}).get(
                data["targetInput"], data["targetInput"]
            )
            entry["configuration"] = {
                "data": {"sourceOutput": source_out, "targetInput": target_in}
            }
        else:
            entry["configuration"] = {"conditional": {"condition": conditional["condition"]}}
        connections.append(entry)
    return nodes, connections


def flow_to_bedrock(flow: Any, *, bindings: Bindings | None = None) -> dict[str, Any]:
    """A tessera flow as a CreateFlow body (``name``, ``description``, ``definition``).

    Retrieval, Storage and Code nodes are written as the Bedrock nodes their folders or
    functions are bound to (a Retrieval folder bound as a knowledge base, a Storage folder
    as an S3 bucket, a Code function as a Lambda); a node with no such binding, and node
    types Bedrock has no counterpart for (Model, DoWhile, Guardrail, Evaluation), are
    refused naming the node.
    """
    from tessera.llm.flows import FlowValidationError, load_flow

    spec = flow if hasattr(flow, "nodes") else load_flow(flow)
    bindings = bindings or Bindings()
    problems = _Problems()
    document = spec.to_dict()
    nodes, connections = _export_definition(
        document["nodes"], document["connections"], bindings, problems
    )
    if problems.items:
        raise FlowValidationError(problems.items, flow=spec.name)
    body: dict[str, Any] = {"name": spec.name}
    if spec.description:
        body["description"] = spec.description
    body["definition"] = {"nodes": nodes, "connections": connections}
    return body
