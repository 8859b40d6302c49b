"""Flows that ask the person running them: the AskUser node, pausing, and resuming.

An ``AskUser`` node sends its ``question`` (a String input) to whoever runs the flow and
outputs their reply as ``answer``. The first time it runs in a run there is no reply yet,
so the run stops with :class:`InputRequired`, which names the node (as its events name it,
``loop[2]/ask`` inside a loop) and carries the question. To go on, run the flow again on
the same input with a :class:`Resume` holding the replies so far and the outputs of every
node that finished before the pause (the ``node_output`` events of the paused run): those
nodes are not run again (their recorded outputs are used, so a model is not asked twice
and nothing is stored twice), conditions are evaluated again on the same values, and each
AskUser node with a reply outputs it.

This is Bedrock Flows' multi-turn conversation (``INPUT_REQUIRED`` with an
``executionId``), where an Agent node asks for more input; an Agent node bound to
``ask-user`` imports as an AskUser node (see :mod:`tessera.llm.bedrock`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from tessera.llm.flows._nodes import NodeType, RunContext, register_node_type
from tessera.llm.flows._spec import FlowRunError, NodeSpec

__all__ = ["AskUserNode", "InputRequired", "Resume"]


@dataclass(frozen=True)
class Resume:
    """What a paused run had when it stopped, to go on from there.

    Attributes
    ----------
    answers : dict of str to Any
        A reply per AskUser node, by the node's label (its name as events give it).
    recorded : dict of str to dict
        The outputs of each node that finished, by label (``node_output`` events' data).
    """

    answers: Mapping[str, Any] = field(default_factory=dict)
    recorded: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


class InputRequired(FlowRunError):
    """A flow run stopped at an AskUser node with no reply yet.

    Attributes
    ----------
    node : str
        The AskUser node's label (``loop[2]/ask`` inside a loop).
    question : Any
        The value on its ``question`` input.
    node_name : str
        The node's own name (the label's last part, without an iteration tag).
    """

    def __init__(self, *, node: str, question: Any, node_name: str, run_id: str = "") -> None:
        super().__init__(
            f"it asks for input: {question!r:.120}; run the flow again with a Resume whose "
            "answers hold the reply under this node",
            node=node,
            run_id=run_id,
        )
        self.question = question
        self.node_name = node_name
        self.reported = False  # whether the run's events said so already


class AskUserConfiguration(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    #: The Bedrock Agent alias the node was imported from, kept for export.
    agent_alias_arn: str | None = Field(default=None, alias="agentAliasArn")


@register_node_type
class AskUserNode(NodeType):
    """Asks whoever runs the flow: ``question`` goes out, the reply comes back as ``answer``.

    Inputs besides ``question`` (Bedrock's ``promptAttributes`` and ``sessionAttributes``)
    are accepted and not used.
    """

    type_name = "AskUser"
    configuration_model = AskUserConfiguration
    required_inputs = {"question": "String"}
    required_outputs = {"answer": "String"}
    extra_inputs = True

    def run(self, node: NodeSpec, inputs: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        label = ctx.node_label or node.name
        answers = ctx.resume.answers if ctx.resume is not None else {}
        if label not in answers:
            raise InputRequired(
                node=label, question=inputs["question"], node_name=node.name, run_id=ctx.run_id
            )
        return {"answer": answers[label]}
