"""Flows: typed graphs of prompts, models, conditions, loops and code, validated and run locally.

A flow is a YAML or JSON document (shaped after Amazon Bedrock Flows) of nodes with typed
inputs and outputs, joined by data and conditional connections. :func:`load_flow` reads
one, :func:`validate_flow` lists every problem, :func:`run_flow` and :func:`stream_flow` run
it (events as they happen, each run stored as a trace); node types plug in through
:func:`register_node_type`.
"""

from __future__ import annotations

from tessera.llm.flows._nodes import (
    ANY_TYPE,
    EmptyConfiguration,
    FlowEvent,
    NodeType,
    RunContext,
    code_allowed,
    get_node_type,
    node_types,
    register_node_type,
)
from tessera.llm.flows._run import FlowResult, run_flow, stream_flow
from tessera.llm.flows._spec import (
    Connection,
    FlowRunError,
    FlowSpec,
    FlowValidationError,
    InputSpec,
    NodeSpec,
    OutputSpec,
    Problem,
    load_flow,
)
from tessera.llm.flows._validate import require_valid, validate_flow

__all__ = [
    "ANY_TYPE",
    "Connection",
    "EmptyConfiguration",
    "FlowEvent",
    "FlowResult",
    "FlowRunError",
    "FlowSpec",
    "FlowValidationError",
    "InputSpec",
    "NodeSpec",
    "NodeType",
    "OutputSpec",
    "Problem",
    "RunContext",
    "code_allowed",
    "get_node_type",
    "load_flow",
    "node_types",
    "register_node_type",
    "require_valid",
    "run_flow",
    "stream_flow",
    "validate_flow",
]
