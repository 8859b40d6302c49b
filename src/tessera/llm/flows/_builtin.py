"""The built-in node types: Input, Output, Condition, Iterator, Collector, Model, Code, DoWhile.

Prompt lives in :mod:`tessera.llm.flows._prompt_node`. Iterator and Collector only declare
their ports here: fanning out and gathering is the runner's job, since it decides which
downstream nodes run once per item.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from tessera.errors import InvalidInputError
from tessera.llm.flows._expr import check_expression, evaluate
from tessera.llm.flows._nodes import (
    ANY_TYPE,
    NodeType,
    RunContext,
    register_node_type,
)
from tessera.llm.flows._policy import code_problems
from tessera.llm.flows._spec import NodeSpec, Problem

__all__ = [
    "CodeNode",
    "CollectorNode",
    "ConditionNode",
    "DoWhileNode",
    "InputNode",
    "IteratorNode",
    "ModelNode",
    "OutputNode",
]

#: ``package.module:function`` (dotted module path, a colon, a function name).
CODE_REFERENCE = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*$"


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


@register_node_type
class InputNode(NodeType):
    """The flow's entry: its output ``document`` is the value the flow is invoked with."""

    type_name = "Input"
    required_outputs = {"document": ANY_TYPE}

    def run(self, node: NodeSpec, inputs: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        return {"document": inputs["document"]}


@register_node_type
class OutputNode(NodeType):
    """A flow result: the value on input ``document`` becomes the output named after the node."""

    type_name = "Output"
    required_inputs = {"document": ANY_TYPE}

    def run(self, node: NodeSpec, inputs: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        return {"document": inputs["document"]}


class ConditionSpec(_Config):
    """A named condition; without ``expression`` it is the default."""

    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_-]*$")
    expression: str | None = None


class ConditionConfiguration(_Config):
    conditions: list[ConditionSpec] = Field(min_length=1)


@register_node_type
class ConditionNode(NodeType):
    """Fires the first condition (in order) whose expression is true, else the default.

    The node has no data outputs: its Conditional connections enable their targets.
    """

    type_name = "Condition"
    configuration_model = ConditionConfiguration
    extra_inputs = True

    def check(self, node: NodeSpec) -> list[Problem]:
        config = self.configuration(node)
        names = [port.name for port in node.inputs]
        problems: list[Problem] = []
        seen: set[str] = set()
        defaults = [c.name for c in config.conditions if c.expression is None]
        for index, condition in enumerate(config.conditions):
            where = f"configuration.conditions[{index}]"
            if condition.name in seen:
                problems.append(
                    Problem(
                        node.name,
                        f"{where}.name",
                        f"condition name {condition.name!r} is used twice; give each its own name",
                    )
                )
            seen.add(condition.name)
            if condition.expression is not None:
                reason = check_expression(condition.expression, names)
                if reason is not None:
                    problems.append(
                        Problem(
                            node.name,
                            f"{where}.expression",
                            f"expression={condition.expression!r} is invalid: {reason}",
                        )
                    )
        if len(defaults) != 1:
            problems.append(
                Problem(
                    node.name,
                    "configuration.conditions",
                    f"exactly one default condition (a condition without expression) is "
                    f"required, found {len(defaults)}; add {{name: default}} last",
                )
            )
        return problems

    def choose(self, node: NodeSpec, inputs: dict[str, Any]) -> str:
        """The name of the condition that fires for ``inputs``."""
        config: ConditionConfiguration = self.configuration(node)
        default = ""
        for condition in config.conditions:
            if condition.expression is None:
                default = condition.name
                continue
            value = evaluate(condition.expression, inputs)
            if not isinstance(value, bool):
                raise InvalidInputError(
                    f"condition {condition.name!r}: expression={condition.expression!r} gave "
                    f"{value!r:.60} ({type(value).__name__}), not a boolean. Compare it "
                    "(== , >, in, ...) so it yields True or False."
                )
            if value:
                return condition.name
        return default

    def run(self, node: NodeSpec, inputs: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        return {}


@register_node_type
class IteratorNode(NodeType):
    """Runs the nodes downstream of ``arrayItem`` once per item of ``array``."""

    type_name = "Iterator"
    required_inputs = {"array": "Array"}
    required_outputs = {"arrayItem": ANY_TYPE, "arraySize": "Number"}


@register_node_type
class CollectorNode(NodeType):
    """Gathers the per-item values arriving on ``arrayItem`` into ``collectedArray``."""

    type_name = "Collector"
    required_inputs = {"arrayItem": ANY_TYPE, "arraySize": "Number"}
    required_outputs = {"collectedArray": "Array"}


def _params_problems(node: NodeSpec, params: dict[str, Any], field: str) -> list[Problem]:
    from tessera.llm.backends import GenerationParams

    try:
        GenerationParams.from_mapping(params)
    except (InvalidInputError, TypeError, ValueError) as exc:
        return [Problem(node.name, field, str(exc))]
    return []


class ModelConfiguration(_Config):
    model: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    system: str | None = None


@register_node_type
class ModelNode(NodeType):
    """Raw generation: the text on ``prompt`` (after an optional system message) to a model."""

    type_name = "Model"
    configuration_model = ModelConfiguration
    required_inputs = {"prompt": "String"}
    required_outputs = {"modelCompletion": "String"}

    def check(self, node: NodeSpec) -> list[Problem]:
        return _params_problems(node, self.configuration(node).params, "configuration.params")

    def run(self, node: NodeSpec, inputs: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        from tessera.llm.backends import GenerationParams

        config = self.configuration(node)
        messages = [{"role": "system", "content": config.system}] if config.system else []
        messages.append({"role": "user", "content": inputs["prompt"]})
        result = ctx.backend(config.model).chat(
            messages, GenerationParams.from_mapping(config.params)
        )
        return {"modelCompletion": result.text}


class CodeConfiguration(_Config):
    function: str = Field(pattern=CODE_REFERENCE)


@register_node_type
class CodeNode(NodeType):
    """Calls an allow-listed Python function with the inputs as keyword arguments.

    With one declared output the return value is that output; with several the function
    returns a dict with one entry per output. The allow-list rule (an exact name, or the
    public functions defined in a module for ``module:*``) is
    :func:`~tessera.llm.flows.code_allowed`'s, checked at validation and again when the
    node runs.
    """

    type_name = "Code"
    configuration_model = CodeConfiguration
    extra_inputs = True
    extra_outputs = True

    def check(self, node: NodeSpec) -> list[Problem]:
        if not node.outputs:
            return [
                Problem(
                    node.name,
                    "outputs",
                    "a Code node needs at least one output; declare what the function returns",
                )
            ]
        return []

    def check_access(self, node: NodeSpec, ctx: RunContext) -> list[Problem]:
        function = self.configuration(node).function
        return code_problems(node.name, "function", function, ctx.allowed_code)

    def run(self, node: NodeSpec, inputs: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        reference = self.configuration(node).function
        result = ctx.code(reference)(**inputs)
        if len(node.outputs) == 1:
            return {node.outputs[0].name: result}
        if not isinstance(result, dict):
            raise InvalidInputError(
                f"function={reference!r} returned {type(result).__name__}; with "
                f"{len(node.outputs)} outputs it must return a dict with keys "
                f"{[port.name for port in node.outputs]}."
            )
        return result


class DoWhileConfiguration(_Config):
    body: dict[str, Any]
    max_iterations: int = Field(alias="maxIterations", ge=1, le=10_000)
    exit_when: str = Field(alias="exitWhen")

    @field_validator("body")
    @classmethod
    def _body_is_flow(cls, value: dict[str, Any]) -> dict[str, Any]:
        from tessera.llm.flows._spec import load_flow

        load_flow(value)  # shape problems surface here; graph rules are validated later
        return value


@register_node_type
class DoWhileNode(NodeType):
    """Runs ``body`` (a flow) on a state object until ``exitWhen`` holds or ``maxIterations``.

    The state starts as the node's inputs (``{input name: value}``). Each iteration runs the
    body with the state as its Input document; the body's single Output must produce an
    object whose fields replace those of the state (only the state's own fields). Then
    ``exitWhen`` is evaluated over the state's fields and ``iteration`` (1, 2, ...); the
    loop ends when it is true or after ``maxIterations`` iterations. Outputs: any of the
    state's fields, and ``iterations`` (how many ran).
    """

    type_name = "DoWhile"
    configuration_model = DoWhileConfiguration
    extra_inputs = True
    extra_outputs = True

    def check(self, node: NodeSpec) -> list[Problem]:
        config = self.configuration(node)
        state = [port.name for port in node.inputs]
        problems: list[Problem] = []
        reason = check_expression(config.exit_when, [*state, "iteration"])
        if reason is not None:
            problems.append(
                Problem(
                    node.name,
                    "configuration.exitWhen",
                    f"expression={config.exit_when!r} is invalid: {reason}",
                )
            )
        for port in node.outputs:
            if port.name not in state and port.name != "iterations":
                problems.append(
                    Problem(
                        node.name,
                        f"outputs.{port.name}",
                        f"a DoWhile output must be one of its inputs (the loop state: "
                        f"{', '.join(state) or 'none'}) or 'iterations'",
                    )
                )
        return problems

    def run(self, node: NodeSpec, inputs: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        from tessera.llm.flows._spec import load_flow

        config = self.configuration(node)
        body = load_flow(config.body)
        state = dict(inputs)
        iteration = 0
        while iteration < config.max_iterations:
            iteration += 1
            outputs = ctx.run_subflow(body, dict(state), f"[{iteration}]")
            if len(outputs) != 1:
                raise InvalidInputError(
                    f"iteration {iteration}: the body produced {len(outputs)} outputs "
                    f"({', '.join(outputs) or 'none'}); it must produce exactly one."
                )
            update = next(iter(outputs.values()))
            unknown = sorted(set(update) - set(state)) if isinstance(update, dict) else []
            if not isinstance(update, dict) or unknown:
                raise InvalidInputError(
                    f"iteration {iteration}: the body's output {update!r:.80} must be an object "
                    f"with fields among the loop state ({', '.join(state)})"
                    + (f"; unknown: {', '.join(unknown)}" if unknown else "")
                    + ". Fix the body's Output."
                )
            state.update(update)
            done = evaluate(config.exit_when, {**state, "iteration": iteration})
            if not isinstance(done, bool):
                raise InvalidInputError(
                    f"exitWhen={config.exit_when!r} gave {done!r:.60}, not a boolean. Compare "
                    "it so it yields True or False."
                )
            if done:
                break
        results = {**state, "iterations": iteration}
        return {port.name: results[port.name] for port in node.outputs}
