"""Versioned prompt management: a registry of prompt templates with variants.

A prompt has a draft and immutable numbered versions, labels such as ``production``
(``latest`` is kept automatically) and tags. Its body is a text template or a chat
template (system + messages) with declared variables, ``{{#if}}`` blocks, and up to five
variants (a model id and inference parameters each). See :class:`PromptRegistry`.

Importing this module does not import torch; :meth:`PromptRegistry.run` loads the models
its variants name.
"""

from tessera.llm.prompts._diff import FieldChange, PromptDiff
from tessera.llm.prompts._registry import EXPORT_FORMAT, PromptRegistry, VariantRun
from tessera.llm.prompts._render import render
from tessera.llm.prompts._schema import (
    MAX_VARIANTS,
    Message,
    PromptBody,
    PromptTool,
    Variable,
    Variant,
    check_body,
)
from tessera.llm.prompts._template import parse, variables_used

__all__ = [
    "EXPORT_FORMAT",
    "FieldChange",
    "MAX_VARIANTS",
    "Message",
    "PromptBody",
    "PromptDiff",
    "PromptRegistry",
    "PromptTool",
    "Variable",
    "Variant",
    "VariantRun",
    "check_body",
    "parse",
    "render",
    "variables_used",
]
