"""Flows: typed graphs of prompts, models, conditions, loops and code, validated and run locally.

A flow is a YAML or JSON document (shaped after Amazon Bedrock Flows) of nodes with typed
inputs and outputs, joined by data and conditional connections. :func:`load_flow` reads
one, :func:`validate_flow` lists every problem, :func:`run_flow` and :func:`stream_flow` run
it (events as they happen, each run stored as a trace); node types plug in through
:func:`register_node_type`.
"""

from __future__ import annotations

from tessera.llm.flows._batch import BatchMetrics, BatchRecord, BatchResult, run_batch
from tessera.llm.flows._guard_node import GuardrailNode
from tessera.llm.flows._knowledge import KnowledgeBase, Passage, knowledge_base
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
from tessera.llm.flows._resume import InputRequired, Resume
from tessera.llm.flows._retrieval import RetrievalNode
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
    conditional_connection,
    data_connection,
    load_flow,
)
from tessera.llm.flows._storage import DocumentStore, StorageNode
from tessera.llm.flows._store import FlowRegistry, StoredFlow
from tessera.llm.flows._traces import (
    Trace,
    TraceEvent,
    TraceSummary,
    TraceWriter,
    get_trace,
    list_traces,
)
from tessera.llm.flows._validate import require_valid, validate_flow

__all__ = [
    "ANY_TYPE",
    "BatchMetrics",
    "BatchRecord",
    "BatchResult",
    "Connection",
    "DocumentStore",
    "EmptyConfiguration",
    "FlowEvent",
    "FlowRegistry",
    "FlowResult",
    "FlowRunError",
    "FlowSpec",
    "FlowValidationError",
    "GuardrailNode",
    "InputRequired",
    "InputSpec",
    "KnowledgeBase",
    "NodeSpec",
    "NodeType",
    "OutputSpec",
    "Passage",
    "Problem",
    "Resume",
    "RetrievalNode",
    "RunContext",
    "StorageNode",
    "StoredFlow",
    "Trace",
    "TraceEvent",
    "TraceSummary",
    "TraceWriter",
    "code_allowed",
    "conditional_connection",
    "data_connection",
    "get_node_type",
    "get_trace",
    "knowledge_base",
    "list_traces",
    "load_flow",
    "node_types",
    "register_node_type",
    "require_valid",
    "run_batch",
    "run_flow",
    "stream_flow",
    "validate_flow",
]
