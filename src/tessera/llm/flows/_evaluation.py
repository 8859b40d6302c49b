"""The Evaluation node: scores an output against an expected value inside the flow.

Batch runs (:func:`~tessera.llm.flows.run_batch`) either score the flow's output from
outside (``evaluator="exact"`` ...) or, with ``evaluator="flow"``, take the score an
Evaluation node computed: the record, expected value included, goes in, and the node's
``score`` reaches an Output node.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from tessera.llm.flows._batch import EVALUATORS, resolve_evaluator, score_with
from tessera.llm.flows._nodes import ANY_TYPE, NodeType, RunContext, register_node_type
from tessera.llm.flows._policy import code_problems
from tessera.llm.flows._spec import NodeSpec, Problem

__all__ = ["EvaluationConfiguration", "EvaluationNode"]


class EvaluationConfiguration(BaseModel):
    """``configuration`` of an Evaluation node.

    Attributes
    ----------
    evaluator : str, default="exact"
        ``exact``, ``contains``, ``numeric`` or an allow-listed ``package.module:function``
        returning a bool or a score in [0, 1].
    tolerance : float, default=1e-6
        Absolute tolerance of ``numeric``.
    passThreshold : float, default=1.0
        ``passed`` is true when the score reaches it.
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    evaluator: str = "exact"
    tolerance: float = Field(default=1e-6, ge=0, allow_inf_nan=False)
    pass_threshold: float = Field(default=1.0, alias="passThreshold", ge=0, le=1)


@register_node_type
class EvaluationNode(NodeType):
    """``Evaluation``: in ``output`` and ``expected`` (any type); out ``score`` (Number)
    and optionally ``passed`` (Boolean)."""

    type_name: ClassVar[str] = "Evaluation"
    configuration_model: ClassVar[type[BaseModel]] = EvaluationConfiguration
    required_inputs: ClassVar[dict[str, str]] = {"output": ANY_TYPE, "expected": ANY_TYPE}
    required_outputs: ClassVar[dict[str, str]] = {"score": "Number"}
    extra_outputs: ClassVar[bool] = True

    def check(self, node: NodeSpec) -> list[Problem]:
        config = EvaluationConfiguration.model_validate(node.configuration)
        problems = []
        if config.evaluator not in EVALUATORS and ":" not in config.evaluator:
            problems.append(
                Problem(
                    node.name,
                    "configuration.evaluator",
                    f"{config.evaluator!r} is not an evaluator; use one of "
                    f"{', '.join(EVALUATORS)} or 'package.module:function'",
                )
            )
        for port in node.outputs:
            if port.name == "passed" and port.type != "Boolean":
                problems.append(Problem(node.name, "outputs.passed.type", "passed is Boolean"))
            elif port.name not in ("score", "passed"):
                problems.append(
                    Problem(
                        node.name,
                        f"outputs.{port.name}",
                        "an Evaluation node outputs only score and passed; remove this output",
                    )
                )
        return problems

    def check_access(self, node: NodeSpec, ctx: RunContext) -> list[Problem]:
        evaluator = EvaluationConfiguration.model_validate(node.configuration).evaluator
        if ":" not in evaluator:
            return []
        return code_problems(node.name, "evaluator", evaluator, ctx.allowed_code)

    def run(self, node: NodeSpec, inputs: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        config = EvaluationConfiguration.model_validate(node.configuration)
        evaluate = resolve_evaluator(config.evaluator, config.tolerance, ctx.allowed_code)
        score = score_with(evaluate, inputs["output"], inputs["expected"])
        values = {"score": score, "passed": score >= config.pass_threshold}
        return {port.name: values[port.name] for port in node.outputs}
