"""Model backends: one interface over the local runtime and OpenAI-compatible servers.

Prompts, flows and the HTTP service name models by id and call them through
:func:`get_backend`::

    from tessera.llm.backends import GenerationParams, get_backend

    reply = get_backend("tessera").chat(
        [{"role": "user", "content": "Name a colour."}], GenerationParams(max_tokens=16)
    )

Ids: ``"tessera"`` (the embedded model), ``"tessera:<folder or .gguf>"``, or
``"<endpoint>:<model>"`` for a server registered with :func:`register_endpoint` (vLLM,
llama.cpp, Ollama, or another ``tessera serve``). Importing this module does not import
torch; the local model loads on first use.
"""

from tessera.llm.backends._base import (
    Backend,
    ChatResult,
    ChatStream,
    GenerationParams,
    StopCutter,
)
from tessera.llm.backends._local import LocalBackend
from tessera.llm.backends._openai import EndpointError, OpenAIBackend
from tessera.llm.backends._registry import Endpoint, endpoints, get_backend, register_endpoint

__all__ = [
    "Backend",
    "ChatResult",
    "ChatStream",
    "Endpoint",
    "EndpointError",
    "GenerationParams",
    "LocalBackend",
    "OpenAIBackend",
    "StopCutter",
    "endpoints",
    "get_backend",
    "register_endpoint",
]
