"""The node plug-in contract: node types, their registry, the run context and run events.

A node type is a subclass of :class:`NodeType` registered with :func:`register_node_type`.
It declares its configuration (a pydantic model), the inputs and outputs every node of the
type must have, optional extra static checks, and how it runs. The engine knows node types
only through this registry, so new ones (Retrieval, Storage, Guardrail, ...) plug in
without editing it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from tessera.errors import InvalidInputError
from tessera.llm.flows._policy import (
    code_allowed,
    default_retrieval_roots,
    folder_refusal,
    resolve_code,
)
from tessera.llm.flows._spec import FlowSpec, NodeSpec, Problem

__all__ = [
    "ANY_TYPE",
    "EmptyConfiguration",
    "EventKind",
    "FlowEvent",
    "NodeType",
    "RunContext",
    "code_allowed",
    "folder_message",
    "get_node_type",
    "node_types",
    "register_node_type",
]

#: In :attr:`NodeType.required_inputs`/``required_outputs``: a port that may have any type.
ANY_TYPE = "Any"

EventKind = Literal[
    "flow_start",
    "node_input",
    "node_output",
    "condition",
    "guardrail",
    "flow_output",
    "flow_end",
    "error",
]


@dataclass(frozen=True)
class FlowEvent:
    """One step of a run, streamed as it happens and stored in the run's trace.

    Attributes
    ----------
    kind : str
        ``flow_start``, ``node_input``, ``node_output``, ``condition``, ``flow_output``,
        ``flow_end``, ``error``, or ``guardrail`` (a guardrail applied by the node).
    node : str or None
        The node concerned (``"loop/inner"`` inside a DoWhile body); ``None`` for
        ``flow_start`` and ``flow_end``.
    data : dict
        ``node_input``/``node_output``: the port values; ``condition``: ``{"condition":
        name}``; ``flow_output``: ``{"document": value}``; ``flow_end``: ``{"status",
        "outputs"}``; ``error``: ``{"message", "type"}``; ``guardrail``: ``{"guardrail",
        "source", "action", "text", "assessments"}``. Inside an Iterator the item index
        is under ``"item"``.
    at : str
        ISO 8601 UTC time the event happened.
    """

    kind: EventKind
    node: str | None
    data: dict[str, Any]
    at: str

    def to_dict(self) -> dict[str, Any]:
        """The event as plain data (JSON-serialisable when the values are)."""
        return {"kind": self.kind, "node": self.node, "data": self.data, "at": self.at}


class EmptyConfiguration(BaseModel):
    """The configuration of node types that take none."""

    model_config = ConfigDict(extra="forbid")


@dataclass
class RunContext:
    """What a running node may use.

    Attributes
    ----------
    run_id : str
        The run's id.
    flow : FlowSpec
        The flow being run (the DoWhile body while inside one).
    allowed_code : tuple of str
        The Code allow-list (see :func:`code_allowed`); default none.
    base_dir : pathlib.Path or None
        The folder the flow document came from; relative folders resolve against it.
    retrieval_roots : tuple of pathlib.Path
        The resolved folders retrieval may read inside of (see :meth:`readable_folder`);
        default the knowledge folders shipped with tessera.
    storage_roots : tuple of pathlib.Path
        The resolved folders Storage nodes may write and read inside of (see
        :meth:`storage_folder`); default none.
    """

    run_id: str
    flow: FlowSpec
    allowed_code: tuple[str, ...] = ()
    base_dir: Path | None = None
    retrieval_roots: tuple[Path, ...] = field(default_factory=default_retrieval_roots)
    storage_roots: tuple[Path, ...] = ()
    emitter: Callable[[FlowEvent], None] | None = None
    registry_factory: Callable[[], Any] | None = None
    backend_factory: Callable[[str | None], Any] | None = None
    subflow_runner: Callable[[FlowSpec, Any, str], dict[str, Any]] | None = None
    resume: Any = None  # a tessera.llm.flows._resume.Resume when going on from a pause
    _registry: Any = field(default=None, repr=False)

    def emit(self, event: FlowEvent) -> None:
        """Send an event to the run's stream (and trace)."""
        if self.emitter is not None:
            self.emitter(event)

    @property
    def node_label(self) -> str | None:
        """The running node's name as its events give it (``loop[2]/draft``, ``cell[0]``).

        ``None`` outside a run made by the flow runner.
        """
        engine = getattr(self.subflow_runner, "__self__", None)
        label = getattr(engine, "current_label", None)
        return label if isinstance(label, str) and label else None

    def backend(self, model_id: str | None) -> Any:
        """The model backend for ``model_id`` (``None``: the default local model)."""
        if self.backend_factory is not None:
            return self.backend_factory(model_id)
        from tessera.llm.backends import get_backend

        return get_backend(model_id)

    @property
    def registry(self) -> Any:
        """The prompt registry (:class:`tessera.llm.prompts.PromptRegistry`), opened once."""
        if self._registry is None:
            if self.registry_factory is not None:
                self._registry = self.registry_factory()
            else:
                from tessera.llm.prompts import PromptRegistry

                self._registry = PromptRegistry()
        return self._registry

    def resolve_path(self, folder: str | Path) -> Path:
        """``folder`` made absolute against :attr:`base_dir` (or the working directory)."""
        path = Path(folder).expanduser()
        if not path.is_absolute() and self.base_dir is not None:
            path = self.base_dir / path
        return path.resolve()

    def folder_refusal(self, folder: str | Path) -> str | None:
        """Why retrieval may not read ``folder`` (resolved by :meth:`resolve_path`), or None.

        The folder must lie inside one of :attr:`retrieval_roots`.
        """
        return folder_refusal(self.resolve_path(folder), self.retrieval_roots, named=folder)

    def readable_folder(self, folder: str | Path) -> Path:
        """``folder`` resolved, once :meth:`folder_refusal` finds it inside a retrieval root.

        Raises
        ------
        InvalidInputError
            When it lies outside every root (the message names the path and the fix).
        """
        reason = self.folder_refusal(folder)
        if reason is not None:
            raise InvalidInputError(folder_message(folder, reason))
        return self.resolve_path(folder)

    def storage_folder_refusal(self, folder: str | Path) -> str | None:
        """Why a Storage node may not use ``folder`` (resolved by :meth:`resolve_path`), or None.

        The folder must lie inside one of :attr:`storage_roots` (none by default).
        """
        return folder_refusal(
            self.resolve_path(folder),
            self.storage_roots,
            named=folder,
            use="Storage nodes may write",
        )

    def storage_folder(self, folder: str | Path) -> Path:
        """``folder`` resolved, once :meth:`storage_folder_refusal` finds it in a storage root.

        Raises
        ------
        InvalidInputError
            When it lies outside every root (the message names the path and the fix).
        """
        reason = self.storage_folder_refusal(folder)
        if reason is not None:
            raise InvalidInputError(folder_message(folder, reason, roots="storage"))
        return self.resolve_path(folder)

    def code(self, function: str) -> Callable[..., Any]:
        """The function ``"package.module:function"`` names, if :attr:`allowed_code` allows it.

        Raises
        ------
        InvalidInputError
            When the allow-list refuses it (see :func:`code_allowed`) or it is not callable.
        """
        return resolve_code(function, self.allowed_code)

    def run_subflow(self, spec: FlowSpec, document: Any, tag: str) -> dict[str, Any]:
        """Run ``spec`` on ``document`` inside this run (a loop body, say).

        Its events are named ``<running node><tag>/<body node>``, such as ``loop[2]/draft``.

        Returns the sub-flow's outputs by Output node name.
        """
        if self.subflow_runner is None:
            raise RuntimeError("this context was not created by the flow runner")
        return self.subflow_runner(spec, document, tag)


class NodeType:
    """Base class of node types.

    Subclasses set the class attributes and override :meth:`run` (and :meth:`check`
    for static checks beyond the configuration model and the required ports).

    Attributes
    ----------
    type_name : str
        The ``type`` written in flow documents, such as ``"Retrieval"``.
    configuration_model : type of pydantic.BaseModel
        Validates ``configuration``; its errors become problems on
        ``configuration.<field>``.
    required_inputs, required_outputs : dict of str to str
        Port name -> data type (or :data:`ANY_TYPE`) every node of the type must declare.
    extra_inputs, extra_outputs : bool
        Whether nodes may declare ports beyond the required ones (Prompt: its variables;
        Code: the function's arguments and results).
    """

    type_name: ClassVar[str]
    configuration_model: ClassVar[type[BaseModel]] = EmptyConfiguration
    required_inputs: ClassVar[dict[str, str]] = {}
    required_outputs: ClassVar[dict[str, str]] = {}
    extra_inputs: ClassVar[bool] = False
    extra_outputs: ClassVar[bool] = False

    def configuration(self, node: NodeSpec) -> Any:
        """``node.configuration`` parsed by :attr:`configuration_model`.

        Raises :class:`pydantic.ValidationError` when invalid (validation reports it first).
        """
        return self.configuration_model.model_validate(node.configuration)

    def check(self, node: NodeSpec) -> list[Problem]:
        """Extra static checks of one node; the default finds nothing."""
        return []

    def output_types(self, node: NodeSpec) -> Mapping[str, str]:
        """The data type each required output of ``node`` must declare.

        The default is :attr:`required_outputs`; a type whose outputs depend on the
        node's configuration overrides it (a Prompt node whose prompt declares an
        ``output_schema`` emits the parsed value, an Object for an object schema).
        """
        return self.required_outputs

    def output_schema(self, node: NodeSpec, output: str) -> Mapping[str, Any] | None:
        """A JSON Schema of the values ``output`` carries, when known before running.

        Validation checks the expressions of the inputs it feeds against it (each field
        a ``$.data.field`` path names must be in the schema). The default, None, says
        nothing is known.
        """
        return None

    def check_access(self, node: NodeSpec, ctx: RunContext) -> list[Problem]:
        """Checks of one node against what the operator allows; the default finds nothing.

        A node that calls code or uses files checks here, with the ``ctx`` methods its
        :meth:`run` uses (:meth:`RunContext.code`, :meth:`RunContext.readable_folder`,
        :meth:`RunContext.storage_folder` and their ``*_refusal`` forms), so that
        validating, saving and running agree. Validation passes a context that holds the
        policy (``allowed_code``, ``retrieval_roots``, ``storage_roots``, ``base_dir``) and
        runs nothing.
        """
        return []

    def run(self, node: NodeSpec, inputs: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        """Compute the node's outputs (by output name) from its input values."""
        raise NotImplementedError(f"node type {self.type_name!r} does not implement run()")


_NodeTypeT = TypeVar("_NodeTypeT", bound=type[NodeType])
_REGISTRY: dict[str, NodeType] = {}


def register_node_type(cls: _NodeTypeT) -> _NodeTypeT:
    """Class decorator: make ``cls`` available under ``cls.type_name`` in flow documents.

    Registering a second class under a name already taken replaces the first (so a
    plug-in can be reloaded); the type name must be a non-empty identifier.
    """
    name = getattr(cls, "type_name", None)
    if not isinstance(name, str) or not name.isidentifier():
        raise InvalidInputError(
            f"type_name={name!r} is invalid: a node type needs a class attribute type_name "
            "that is an identifier. Set type_name = 'MyNode' on the class."
        )
    _REGISTRY[name] = cls()
    return cls


def get_node_type(name: str) -> NodeType | None:
    """The registered node type called ``name``, or ``None``."""
    _load_builtin()
    return _REGISTRY.get(name)


def node_types() -> Mapping[str, NodeType]:
    """Every registered node type by name (read-only view)."""
    _load_builtin()
    return dict(sorted(_REGISTRY.items()))


def folder_message(
    folder: str | Path, reason: str, *, roots: Literal["retrieval", "storage"] = "retrieval"
) -> str:
    """The error for a folder outside the retrieval (or storage) roots: path, rule, fix."""
    if roots == "storage":
        fix = (
            "Store under a folder listed there, or let Storage nodes use this one: "
            "storage_roots=[...] in Python, --storage-root DIR on the command line."
        )
    else:
        fix = (
            "Move the documents under one of those folders, or let retrieval read theirs: "
            "retrieval_roots=[...] in Python, --retrieval-root DIR on the command line."
        )
    return f"folder={str(folder)!r} is invalid: {reason}. {fix}"


def configuration_problems(node: NodeSpec, node_type: NodeType) -> list[Problem]:
    """The configuration model's errors as problems on ``configuration.<field>``."""
    try:
        node_type.configuration(node)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            path = ".".join(str(part) for part in error["loc"])
            field_name = f"configuration.{path}" if path else "configuration"
            shown = "" if error["type"] == "missing" else f" (got {error.get('input')!r:.60})"
            problems.append(Problem(node.name, field_name, f"{error['msg']}{shown}"))
        return problems
    return []


def _load_builtin() -> None:
    # The built-in types register themselves on import; importing here (not at module
    # top) keeps this module importable by the built-ins themselves.
    import tessera.llm.flows._builtin  # noqa: F401
    import tessera.llm.flows._evaluation  # noqa: F401
    import tessera.llm.flows._guard_node  # noqa: F401
    import tessera.llm.flows._loop  # noqa: F401  (Bedrock's Loop, issue 23)
    import tessera.llm.flows._prompt_node  # noqa: F401
    import tessera.llm.flows._resume  # noqa: F401  (AskUser, issue 23)
    import tessera.llm.flows._retrieval  # noqa: F401
    import tessera.llm.flows._storage  # noqa: F401
    import tessera.llm.flows.inline  # noqa: F401  (InlineCode, issue 23)
