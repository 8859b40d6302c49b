"""The Retrieval node: search a knowledge base folder, optionally answer from what it found.

The search itself is :class:`tessera.llm.flows.KnowledgeBase` (BM25 over a folder of
Markdown and text documents, one cached index per folder).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from tessera.llm.flows._knowledge import format_passages, knowledge_base
from tessera.llm.flows._nodes import (
    ANY_TYPE,
    NodeType,
    RunContext,
    folder_message,
    register_node_type,
)
from tessera.llm.flows._spec import NodeSpec, Problem

__all__ = ["DEFAULT_INSTRUCTIONS", "RetrievalConfiguration", "RetrievalNode"]


#: How the Retrieval node asks a model to answer from the passages.
DEFAULT_INSTRUCTIONS = (
    "Answer the question using only the numbered passages. Be brief. If the passages do not "
    "contain the answer, say that you do not know."
)


class RetrievalConfiguration(BaseModel):
    """``configuration`` of a Retrieval node.

    Attributes
    ----------
    folder : str
        The knowledge base folder (relative to the flow file's folder). Resolved, it must
        lie inside a retrieval root: a knowledge folder shipped with tessera or one the
        operator names (``retrieval_roots=``, ``--retrieval-root``).
    top_k : int, default=3
        How many passages to retrieve (1 to 50).
    model : str or None, default=None
        A model id (``"tessera"``, ``"tessera:<folder>"``, ``"<endpoint>:<model>"``): the
        node then outputs the model's answer grounded in the passages instead of them.
    params : dict, default={}
        Generation parameters for the answer (``tessera.llm.backends.GenerationParams``
        fields; ``max_tokens`` defaults to 128 here).
    instructions : str
        The system message of the answer.
    """

    model_config = ConfigDict(extra="forbid")

    folder: str = Field(min_length=1)
    top_k: int = Field(default=3, ge=1, le=50)
    model: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    instructions: str = DEFAULT_INSTRUCTIONS


def _generation_params(params: dict[str, Any]) -> Any:
    from tessera.llm.backends import GenerationParams

    return GenerationParams.from_mapping({"max_tokens": 128, **params})


@register_node_type
class RetrievalNode(NodeType):
    """``Retrieval``: search a folder of documents with BM25 (and optionally answer).

    The folder must lie inside the run's retrieval roots (:attr:`RunContext.retrieval_roots`),
    checked at validation and again when the node runs.

    Input ``retrievalQuery`` (String). Output ``retrievalResults``: an Array of passages
    (``{text, source, title, score, position, line}``, best first) or, when ``model`` is
    configured, a String answer grounded in them. An optional String output ``context``
    carries the passages numbered for a prompt (``[1] title (source)`` then the text).
    """

    type_name: ClassVar[str] = "Retrieval"
    configuration_model: ClassVar[type[BaseModel]] = RetrievalConfiguration
    required_inputs: ClassVar[dict[str, str]] = {"retrievalQuery": "String"}
    required_outputs: ClassVar[dict[str, str]] = {"retrievalResults": ANY_TYPE}
    extra_outputs: ClassVar[bool] = True

    def check(self, node: NodeSpec) -> list[Problem]:
        config = RetrievalConfiguration.model_validate(node.configuration)
        problems = []
        results = node.output("retrievalResults")
        wanted = "String" if config.model else "Array"
        if results is not None and results.type != wanted:
            why = "the model's answer" if config.model else "a list of passages"
            problems.append(
                Problem(
                    node.name,
                    "outputs.retrievalResults.type",
                    f"is {results.type!r} but this node outputs {why}; declare it as {wanted!r}",
                )
            )
        for output in node.outputs:
            if output.name == "context" and output.type != "String":
                problems.append(
                    Problem(node.name, "outputs.context.type", "context is String text")
                )
            elif output.name not in ("retrievalResults", "context"):
                problems.append(
                    Problem(
                        node.name,
                        f"outputs.{output.name}",
                        "a Retrieval node outputs only retrievalResults and context; "
                        "remove this output",
                    )
                )
        if config.params:
            try:
                _generation_params(config.params)
            except (TypeError, ValueError) as exc:  # InvalidInputError is a ValueError
                problems.append(Problem(node.name, "configuration.params", str(exc)))
        return problems

    def check_access(self, node: NodeSpec, ctx: RunContext) -> list[Problem]:
        folder = RetrievalConfiguration.model_validate(node.configuration).folder
        reason = ctx.folder_refusal(folder)
        if reason is not None:
            return [Problem(node.name, "configuration.folder", folder_message(folder, reason))]
        resolved = ctx.resolve_path(folder)
        if not resolved.is_dir():  # issue 23: validate said "valid" for a missing folder
            message = (
                f"folder={folder!r} is invalid: the knowledge folder {str(resolved)!r} does not "
                "exist or is not a folder. Create it (with the documents to search) or fix "
                "the path (relative paths start at the flow file's folder)."
            )
            return [Problem(node.name, "configuration.folder", message)]
        return []

    def run(self, node: NodeSpec, inputs: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        config = RetrievalConfiguration.model_validate(node.configuration)
        query = inputs["retrievalQuery"]
        # Checked again here: a run may get a context validation never saw (a stored flow).
        folder = ctx.readable_folder(config.folder)
        passages = knowledge_base(folder).search(query, config.top_k)
        outputs: dict[str, Any] = {}
        if node.output("context") is not None:
            outputs["context"] = format_passages(passages)
        if config.model is None:
            outputs["retrievalResults"] = [asdict(p) for p in passages]
            return outputs
        messages = [
            {"role": "system", "content": config.instructions},
            {
                "role": "user",
                "content": f"Passages:\n{format_passages(passages) or '(none found)'}\n\n"
                f"Question: {query}",
            },
        ]
        reply = ctx.backend(config.model).chat(messages, _generation_params(config.params))
        outputs["retrievalResults"] = reply.text.strip()
        return outputs
