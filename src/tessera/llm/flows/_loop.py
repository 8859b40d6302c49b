"""Bedrock's DoWhile loop: the Loop node and the LoopInput / LoopController pair inside it.

A ``Loop`` node holds a ``definition`` (``nodes`` and ``connections``, like a flow) with
exactly one ``LoopInput`` node, the body nodes, and exactly one ``LoopController`` node:

- the Loop node's inputs are the loop variables; the LoopInput node's outputs carry them
  into the body (each LoopInput output must be one of the Loop node's inputs);
- the LoopController's inputs each have a category (``configuration.categories``, the
  ``category`` of Bedrock's port): ``LoopCondition`` (read by the condition, the default),
  ``ReturnValueToLoopStart`` (its value replaces the loop variable of the same name for
  the next iteration) or ``ExitLoop`` (the value the Loop node's output of the same name
  takes when the loop ends);
- ``continueCondition`` (a named condition over the controller's inputs) is evaluated
  after each iteration: the loop runs again while it is true, at least once and at most
  ``maxIterations`` times (1 to 1,000; 10 when unset, as in Bedrock). Reaching the bound
  ends the loop with the last iteration's values, as Bedrock does, and the run's trace
  records a ``condition`` event ``{"condition": "maxIterations", "iterations": N}`` for
  the Loop node.

The body runs as a flow of its own (its events are named ``loop[k]/node``): an Input node
``loop-state`` feeds the LoopInput, and the controller's verdict goes to an Output node
``loop-result``; those two names are reserved inside a loop.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tessera.errors import InvalidInputError
from tessera.llm._db import now
from tessera.llm.flows._expr import check_expression, evaluate
from tessera.llm.flows._nodes import FlowEvent, NodeType, RunContext, register_node_type
from tessera.llm.flows._spec import FlowSpec, NodeSpec, Problem, load_flow

__all__ = ["LoopControllerNode", "LoopInputNode", "LoopNode", "loop_body"]

#: Bedrock's range for ``maxIterations``, and its default.
MAX_ITERATIONS = 1000
DEFAULT_ITERATIONS = 10
_STATE, _RESULT = "loop-state", "loop-result"
Category = Literal["LoopCondition", "ReturnValueToLoopStart", "ExitLoop"]


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class LoopConfiguration(_Config):
    definition: dict[str, Any]


class ContinueCondition(_Config):
    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_-]*$")
    expression: str


class LoopControllerConfiguration(_Config):
    continue_condition: ContinueCondition = Field(alias="continueCondition")
    max_iterations: int | None = Field(
        default=None, alias="maxIterations", ge=1, le=MAX_ITERATIONS, strict=True
    )
    categories: dict[str, Category] = Field(default_factory=dict)


def _of_type(definition: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    nodes = definition.get("nodes") or []
    return [n for n in nodes if isinstance(n, dict) and n.get("type") == kind]


def loop_body(node: NodeSpec) -> FlowSpec:
    """The flow a Loop node runs each iteration: its definition, with its entry and exit.

    Raises
    ------
    InvalidInputError
        When the definition is not a flow's shape (validation reports it first).
    """
    definition = LoopConfiguration.model_validate(node.configuration).definition
    nodes: list[dict[str, Any]] = []
    for raw in definition.get("nodes") or []:
        raw = dict(raw)
        if raw.get("type") == "LoopInput":
            raw["inputs"] = [{"name": "state", "type": "Object"}]
        elif raw.get("type") == "LoopController":
            raw["outputs"] = [{"name": "result", "type": "Object"}]
        nodes.append(raw)
    connections = list(definition.get("connections") or [])
    nodes.append(
        {"name": _STATE, "type": "Input", "outputs": [{"name": "document", "type": "Object"}]}
    )
    nodes.append(
        {"name": _RESULT, "type": "Output", "inputs": [{"name": "document", "type": "Object"}]}
    )
    for entry in _of_type(definition, "LoopInput")[:1]:
        connections.append(_wire(_STATE, "document", str(entry.get("name")), "state"))
    for controller in _of_type(definition, "LoopController")[:1]:
        connections.append(_wire(str(controller.get("name")), "result", _RESULT, "document"))
    return load_flow({"name": node.name, "nodes": nodes, "connections": connections})


def _wire(source: str, output: str, target: str, port: str) -> dict[str, Any]:
    return {
        "name": f"{source}-{target}",
        "source": source,
        "target": target,
        "type": "Data",
        "configuration": {"data": {"sourceOutput": output, "targetInput": port}},
    }


@register_node_type
class LoopNode(NodeType):
    """Bedrock's DoWhile loop (see the module docstring): runs its definition until the
    controller's ``continueCondition`` is false, or ``maxIterations`` times."""

    type_name = "Loop"
    configuration_model = LoopConfiguration
    extra_inputs = True
    extra_outputs = True

    def check(self, node: NodeSpec) -> list[Problem]:
        definition = self.configuration(node).definition
        problems: list[Problem] = []
        field = "configuration.definition.nodes"
        nodes = definition.get("nodes")
        if not isinstance(nodes, list) or not all(isinstance(n, dict) for n in nodes):
            return [Problem(node.name, field, "it must be a list of node objects")]
        names = [n.get("name") for n in nodes]
        for reserved in (_STATE, _RESULT):
            if reserved in names:
                problems.append(
                    Problem(node.name, field, f"{reserved!r} is reserved inside a loop; rename it")
                )
        entries = _of_type(definition, "LoopInput")
        controllers = _of_type(definition, "LoopController")
        for kind, found in (("LoopInput", entries), ("LoopController", controllers)):
            if len(found) != 1:
                problems.append(
                    Problem(
                        node.name,
                        field,
                        f"a Loop's definition has exactly one {kind} node, found {len(found)}; "
                        f"{'add one' if not found else 'keep one'}",
                    )
                )
        if problems:
            return problems
        variables = {port.name for port in node.inputs}
        for port in entries[0].get("inputs") or []:
            problems.append(
                Problem(
                    f"{node.name}/{entries[0].get('name')}",
                    f"inputs.{port.get('name')}",
                    "a LoopInput node has no inputs (the Loop node's inputs feed it); remove it",
                )
            )
        for port in entries[0].get("outputs") or []:
            if port.get("name") not in variables:
                problems.append(
                    Problem(
                        f"{node.name}/{entries[0].get('name')}",
                        f"outputs.{port.get('name')}",
                        f"a LoopInput output must be one of the Loop node's inputs "
                        f"({', '.join(sorted(variables)) or 'none'}); add it there or rename it",
                    )
                )
        controller = controllers[0]
        where = f"{node.name}/{controller.get('name')}"
        try:
            config = LoopControllerConfiguration.model_validate(
                controller.get("configuration") or {}
            )
        except ValidationError:
            return problems  # the body's own check reports the controller's configuration
        inputs = [p.get("name") for p in controller.get("inputs") or []]
        for port_name in config.categories:
            if port_name not in inputs:
                problems.append(
                    Problem(
                        where,
                        f"configuration.categories.{port_name}",
                        "names no input of the LoopController; declare the input or drop it",
                    )
                )
        reason = check_expression(config.continue_condition.expression, [str(n) for n in inputs])
        if reason is not None:
            problems.append(
                Problem(
                    where,
                    "configuration.continueCondition.expression",
                    f"expression={config.continue_condition.expression!r} is invalid: {reason}",
                )
            )
        exits = {n for n, c in config.categories.items() if c == "ExitLoop"}
        for port_name, category in config.categories.items():
            if category == "ReturnValueToLoopStart" and port_name not in variables:
                problems.append(
                    Problem(
                        where,
                        f"inputs.{port_name}",
                        "a ReturnValueToLoopStart input names the loop variable it updates; "
                        f"{port_name!r} is none of the Loop node's inputs "
                        f"({', '.join(sorted(variables)) or 'none'})",
                    )
                )
        for port in node.outputs:
            if port.name not in exits:
                problems.append(
                    Problem(
                        node.name,
                        f"outputs.{port.name}",
                        "a Loop output takes the value of the LoopController's ExitLoop input "
                        "of the same name; declare one with category ExitLoop",
                    )
                )
        return problems

    def body_problems(self, node: NodeSpec, policy: RunContext | None) -> list[Problem]:
        """The definition's problems as a flow of its own (named ``loop/node``)."""
        from tessera.llm.flows._validate import check_flow

        try:
            body = loop_body(node)
        except InvalidInputError as exc:
            return [Problem(node.name, "configuration.definition", str(exc))]
        return check_flow(body, policy=policy, prefix=f"{node.name}/")

    def run(self, node: NodeSpec, inputs: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        body = loop_body(node)
        controller = next(n for n in body.nodes if n.type == "LoopController")
        config = LoopControllerConfiguration.model_validate(controller.configuration)
        bound = config.max_iterations or DEFAULT_ITERATIONS
        state = dict(inputs)
        exits: dict[str, Any] = {}
        for iteration in range(1, bound + 1):
            outputs = ctx.run_subflow(body, dict(state), f"[{iteration}]")
            if _RESULT not in outputs:
                raise InvalidInputError(
                    f"iteration {iteration}: the LoopController {controller.name!r} did not run "
                    "(a condition skipped a node that feeds it); every path through the loop "
                    "body must reach the LoopController"
                )
            verdict = outputs[_RESULT]
            state.update(verdict["next"])
            exits = verdict["exit"]
            if not verdict["continue"]:
                break
        else:
            ctx.emit(
                FlowEvent(
                    "condition",
                    ctx.node_label,
                    {"condition": "maxIterations", "iterations": bound},
                    now(),
                )
            )
        return {port.name: exits[port.name] for port in node.outputs}


@register_node_type
class LoopInputNode(NodeType):
    """A Loop body's entry: its outputs are the loop variables of this iteration."""

    type_name = "LoopInput"
    required_inputs = {"state": "Object"}
    extra_outputs = True

    def run(self, node: NodeSpec, inputs: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        state = inputs["state"]
        return {port.name: state[port.name] for port in node.outputs}


@register_node_type
class LoopControllerNode(NodeType):
    """A Loop body's end: evaluates ``continueCondition`` and hands values back by category."""

    type_name = "LoopController"
    configuration_model = LoopControllerConfiguration
    extra_inputs = True
    required_outputs = {"result": "Object"}

    def run(self, node: NodeSpec, inputs: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        config = self.configuration(node)
        expression = config.continue_condition.expression
        verdict = evaluate(expression, dict(inputs))
        if not isinstance(verdict, bool):
            raise InvalidInputError(
                f"continueCondition expression={expression!r} gave {verdict!r:.60}, not a "
                "boolean; compare it so it yields true or false"
            )
        categories = config.categories
        return {
            "result": {
                "continue": verdict,
                "next": {
                    k: v for k, v in inputs.items() if categories.get(k) == "ReturnValueToLoopStart"
                },
                "exit": {k: v for k, v in inputs.items() if categories.get(k) == "ExitLoop"},
            }
        }
