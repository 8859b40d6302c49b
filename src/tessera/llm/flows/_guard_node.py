"""Guardrails in flows: the Guardrail node, and a guardrail attached to a Prompt node.

A guardrail is named by a registry reference (``support-bot@production``, resolved when
the node runs, in the database of the run's prompt registry) or written inline (checked
when the flow is validated, one problem per field). Every application is recorded as a
``guardrail`` event (``{guardrail, source, action, text, assessments}``) in the run's
stream and trace.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from tessera._validation import short_repr
from tessera.llm._db import now
from tessera.llm.flows._nodes import FlowEvent, NodeType, RunContext, register_node_type
from tessera.llm.flows._spec import NodeSpec, Problem

__all__ = [
    "GuardrailAttachment",
    "GuardrailConfiguration",
    "GuardrailNode",
    "apply_in_flow",
    "guard_prompt",
    "guardrail_problems",
    "prompt_guard_problems",
    "resolve_guardrail",
]

#: A guardrail as flows name it: a registry reference or an inline configuration.
GuardrailRef = str | dict[str, Any]

#: The optional inputs of a Guardrail node (both String), passed to the grounding check.
OPTIONAL_INPUTS = {"groundingSource": "grounding_source", "query": "query"}
#: The outputs a Guardrail node may declare, with their types.
OUTPUTS = {"content": "String", "action": "String", "assessments": "Object"}


def _check_ref(value: GuardrailRef) -> GuardrailRef:
    if isinstance(value, str):
        from tessera.llm._versioned import parse_ref

        parse_ref(value)  # the shape only: the registry is read when the node runs
    return value


class GuardrailConfiguration(BaseModel):
    """``configuration`` of a Guardrail node.

    Attributes
    ----------
    guardrail : str or dict
        ``NAME``, ``NAME@3``, ``NAME@label`` in the guardrail registry, or an inline
        configuration (:class:`tessera.llm.guard.GuardrailConfig`'s fields).
    source : {"input", "output"}, default="input"
        Which side the checked content is on (policies run on the sides they list).
    """

    model_config = ConfigDict(extra="forbid")
    guardrail: GuardrailRef
    source: Literal["input", "output"] = "input"

    _ref = field_validator("guardrail")(_check_ref)


class GuardrailAttachment(BaseModel):
    """``configuration.guardrail`` of a Prompt node.

    Attributes
    ----------
    guardrail : str or dict
        A registry reference or an inline configuration, as for the Guardrail node.
    applyTo : {"input", "output", "both"}, default="both"
        Check the rendered prompt's user messages before the model call (a blocked input
        is answered with the guardrail's blocked-input message and the model is not
        called; an anonymised one is sent masked), the completion after it, or both.
    groundingSource, query : str, optional
        Names of the node's inputs (prompt variables) whose values the output-side
        grounding and relevance checks compare the completion with.
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    guardrail: GuardrailRef
    apply_to: Literal["input", "output", "both"] = Field("both", alias="applyTo")
    grounding_source: str | None = Field(None, alias="groundingSource")
    query: str | None = None

    _ref = field_validator("guardrail")(_check_ref)


def guardrail_problems(node: str, field: str, value: GuardrailRef) -> list[Problem]:
    """An inline configuration's problems, one per field (``<field>.<policy>.<name>``)."""
    if isinstance(value, str):
        return []
    from tessera.llm.guard import GuardrailConfig
    from tessera.llm.guard._config import _location

    try:
        GuardrailConfig.model_validate(value)
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_url=False):
            where = _location(error["loc"])
            message = str(error["msg"]).removeprefix("Value error, ")
            shown = "" if error["type"] == "missing" else f" (got {short_repr(error['input'])})"
            problems.append(
                Problem(
                    node,
                    f"{field}.{where}" if where != "config" else field,
                    f"{message}{shown}; see docs/how-to/guardrails.md",
                )
            )
        return problems
    return []


def resolve_guardrail(value: GuardrailRef, ctx: RunContext) -> tuple[Any, str]:
    """The configuration ``value`` names, and how events name it (the ref or ``"inline"``).

    References resolve in the database of the run's prompt registry (where prompts and
    guardrails are stored together), once per node run, so a label moved during the run
    cannot change the guardrail between a node's input and output checks.
    """
    from tessera.llm.guard import GuardrailConfig, load_guardrail

    if isinstance(value, str):
        return load_guardrail(value, db=getattr(ctx.registry, "db", None)), value
    return GuardrailConfig.from_mapping(value), "inline"


def apply_in_flow(
    ctx: RunContext,
    node: NodeSpec,
    guard: tuple[Any, str],
    text: str,
    source: Literal["input", "output"],
    *,
    grounding_source: str | None = None,
    query: str | None = None,
    message: int | None = None,
) -> Any:
    """Apply a resolved guardrail to ``text``, record a ``guardrail`` event, return the result.

    ``message`` is the index of the checked chat message (a Prompt node's input side).
    """
    from tessera.llm.guard import apply_guardrail

    config, name = guard
    result = apply_guardrail(
        config, text, source=source, grounding_source=grounding_source, query=query
    )
    data: dict[str, Any] = {"guardrail": name, **result.to_dict()}
    if message is not None:
        data["message"] = message
    ctx.emit(FlowEvent("guardrail", ctx.node_label or node.name, data, now()))
    return result


def prompt_guard_problems(node: NodeSpec, attachment: GuardrailAttachment | None) -> list[Problem]:
    """Static problems of a Prompt node's attached guardrail."""
    if attachment is None:
        return []
    field = "configuration.guardrail"
    problems = guardrail_problems(node.name, f"{field}.guardrail", attachment.guardrail)
    inputs = [port.name for port in node.inputs]
    for key, name in (
        ("groundingSource", attachment.grounding_source),
        ("query", attachment.query),
    ):
        if name is None:
            continue
        if name not in inputs:
            problems.append(
                Problem(
                    node.name,
                    f"{field}.{key}",
                    f"{key}={name!r} is not an input of the node (inputs: "
                    f"{', '.join(inputs) or 'none'}); name the input whose value to use",
                )
            )
        if attachment.apply_to == "input":
            problems.append(
                Problem(
                    node.name,
                    f"{field}.{key}",
                    f"{key} feeds the output-side grounding check, but applyTo is 'input'; "
                    "set applyTo: output (or both), or remove it",
                )
            )
    return problems


def guard_prompt(
    ctx: RunContext,
    node: NodeSpec,
    attachment: GuardrailAttachment,
    messages: list[dict[str, str]],
    inputs: dict[str, Any],
    call: Callable[[list[dict[str, str]]], Any],
) -> str:
    """Run ``call(messages)`` (a model call) behind the attached guardrail; return the text.

    Input side: each user message is checked; a blocked one ends the node with the
    blocked-input message before ``call`` runs, anonymised ones are sent masked. Output
    side: the completion is checked (with the configured grounding inputs) and the
    result's text returned: unchanged, masked, or the blocked-output message.
    """
    guard = resolve_guardrail(attachment.guardrail, ctx)
    if attachment.apply_to in ("input", "both"):
        checked = []
        for index, message in enumerate(messages):
            if message["role"] == "user":
                result = apply_in_flow(ctx, node, guard, message["content"], "input", message=index)
                if result.blocked:
                    return str(result.text)
                message = {**message, "content": result.text}
            checked.append(message)
        messages = checked
    reply = call(messages)
    if attachment.apply_to == "input":
        return str(reply.text)
    grounding = inputs.get(attachment.grounding_source) if attachment.grounding_source else None
    query = inputs.get(attachment.query) if attachment.query else None
    result = apply_in_flow(
        ctx, node, guard, reply.text, "output", grounding_source=grounding, query=query
    )
    return str(result.text)


@register_node_type
class GuardrailNode(NodeType):
    """``Guardrail``: apply a guardrail to the text on ``content``.

    Inputs ``content`` (String), optional ``groundingSource`` and ``query`` (String) for
    the grounding check. Outputs (declare any of them): ``content`` (String, the text to
    use: unchanged, masked, or the blocked message), ``action`` (String, ``"NONE"`` or
    ``"INTERVENED"``, for a Condition node to branch on) and ``assessments`` (Object,
    per policy the findings).
    """

    type_name: ClassVar[str] = "Guardrail"
    configuration_model: ClassVar[type[BaseModel]] = GuardrailConfiguration
    required_inputs: ClassVar[dict[str, str]] = {"content": "String"}
    extra_inputs: ClassVar[bool] = True
    extra_outputs: ClassVar[bool] = True

    def check(self, node: NodeSpec) -> list[Problem]:
        config = GuardrailConfiguration.model_validate(node.configuration)
        problems = guardrail_problems(node.name, "configuration.guardrail", config.guardrail)
        optional = dict.fromkeys(OPTIONAL_INPUTS, "String")
        for kind, ports, allowed in (
            ("inputs", [p for p in node.inputs if p.name != "content"], optional),
            ("outputs", node.outputs, OUTPUTS),
        ):
            for port in ports:
                wanted = allowed.get(port.name)
                if wanted is None:
                    known = ", ".join(["content", *optional] if kind == "inputs" else OUTPUTS)
                    problems.append(
                        Problem(
                            node.name,
                            f"{kind}.{port.name}",
                            f"a Guardrail node has no {kind[:-1]} {port.name!r} (its {kind}: "
                            f"{known}); remove it or rename it",
                        )
                    )
                elif port.type != wanted:
                    problems.append(
                        Problem(
                            node.name,
                            f"{kind}.{port.name}.type",
                            f"type={port.type!r} is invalid: a Guardrail node's {port.name!r} "
                            f"is a {wanted}; declare type: {wanted}",
                        )
                    )
        if not node.outputs:
            problems.append(
                Problem(
                    node.name,
                    "outputs",
                    f"a Guardrail node needs at least one output (of {', '.join(OUTPUTS)}); "
                    "declare the ones you use",
                )
            )
        return problems

    def run(self, node: NodeSpec, inputs: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        config = GuardrailConfiguration.model_validate(node.configuration)
        extra = {OPTIONAL_INPUTS[k]: v for k, v in inputs.items() if k in OPTIONAL_INPUTS}
        guard = resolve_guardrail(config.guardrail, ctx)
        result = apply_in_flow(ctx, node, guard, inputs["content"], config.source, **extra)
        assessments = result.to_dict()["assessments"]
        return {"content": result.text, "action": result.action, "assessments": assessments}
