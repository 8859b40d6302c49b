"""Amazon Bedrock's formats, at the edge: translators to and from tessera's own types.

Bedrock's JSON (CreatePrompt and GetPrompt bodies, CreateGuardrail bodies, Converse and
InvokeModel requests, ApplyGuardrail) is translated here; the registry, the guardrail
policies and the runtime keep one model of each concept and never branch on which format
a request came in. The HTTP routes that speak Bedrock's wire protocol are in
:mod:`tessera.llm.serve` (``_bedrock_routes``). What Bedrock names that has no local
meaning (model ids, knowledge bases, buckets, Lambda functions) maps through an explicit
:class:`Bindings` file.
"""

from __future__ import annotations

from tessera.llm.bedrock._bindings import Bindings, load_bindings
from tessera.llm.bedrock._flows import flow_from_bedrock, flow_to_bedrock
from tessera.llm.bedrock._guardrails import (
    export_guardrail,
    guardrail_from_bedrock,
    guardrail_to_bedrock,
    import_guardrail,
)
from tessera.llm.bedrock._prompts import (
    BedrockPrompt,
    export_prompt,
    import_prompt,
    prompt_from_bedrock,
    prompt_to_bedrock,
)

__all__ = [
    "BedrockPrompt",
    "Bindings",
    "export_guardrail",
    "flow_from_bedrock",
    "flow_to_bedrock",
    "export_prompt",
    "guardrail_from_bedrock",
    "guardrail_to_bedrock",
    "import_guardrail",
    "import_prompt",
    "load_bindings",
    "prompt_from_bedrock",
    "prompt_to_bedrock",
]
