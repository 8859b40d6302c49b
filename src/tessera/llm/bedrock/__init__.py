"""Amazon Bedrock's formats, at the edge: translators to and from tessera's own types.

Bedrock's JSON (CreatePrompt and GetPrompt bodies, CreateGuardrail bodies, Converse and
InvokeModel requests, ApplyGuardrail) is translated here; the registry, the guardrail
policies and the runtime keep one model of each concept and never branch on which format
a request came in. The HTTP routes that speak Bedrock's wire protocol are in
:mod:`tessera.llm.serve` (``_bedrock_routes``).
"""

from __future__ import annotations

__all__: list[str] = []
