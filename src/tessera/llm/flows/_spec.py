"""The flow document: pydantic models for nodes, ports and connections, and loading them.

A flow is a YAML or JSON document shaped after Amazon Bedrock Flows (``name``, ``nodes``,
``connections``). Loading checks only the document's shape (field names and types); the
graph rules (one Input, no cycles, every input fed once, ...) are checked by
:func:`tessera.llm.flows.validate_flow`. Every shape problem is reported at once, as a
:class:`Problem` naming the node and the field.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from tessera.errors import InvalidInputError, TesseraError
from tessera.llm._yaml import dump_yaml

__all__ = [
    "DATA_TYPES",
    "ConditionalConnection",
    "Connection",
    "ConnectionConfiguration",
    "DataConnection",
    "DataType",
    "FlowRunError",
    "FlowSpec",
    "FlowValidationError",
    "InputSpec",
    "NodeSpec",
    "OutputSpec",
    "Problem",
    "conditional_connection",
    "data_connection",
    "load_flow",
]

DataType = Literal["String", "Number", "Boolean", "Object", "Array"]
#: The value types a port may declare, with the Python types a value of each must have.
DATA_TYPES: dict[str, tuple[type, ...]] = {
    "String": (str,),
    "Number": (int, float),
    "Boolean": (bool,),
    "Object": (dict,),
    "Array": (list,),
}

#: Port names are identifiers, so condition expressions can use them as names.
PORT_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
#: Node names: letters, digits, ``_`` and ``-`` (``/`` is reserved for nested DoWhile bodies).
NODE_NAME = r"^[A-Za-z_][A-Za-z0-9_-]*$"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a flow: where (node and field) and what.

    Attributes
    ----------
    node : str or None
        The node's name (``"loop/inner"`` inside a DoWhile body), or ``None`` for a problem
        of the flow as a whole.
    field : str
        The dotted path of the offending field, such as ``"inputs.ticket.expression"``,
        ``"configuration.conditions"`` or ``"connections[c1].target"``.
    message : str
        The rule broken, the value, and how to fix it.
    """

    node: str | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"node {self.node!r}" if self.node is not None else "flow"
        return f"{where}, {self.field}: {self.message}"


class FlowValidationError(InvalidInputError):
    """A flow document breaks one or more rules; :attr:`problems` lists every one.

    Attributes
    ----------
    problems : list of Problem
    """

    def __init__(self, problems: list[Problem], *, flow: str | None = None) -> None:
        self.problems = list(problems)
        self.flow = flow
        name = f"flow {flow!r}" if flow else "the flow"
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(
            f"{name} has {len(self.problems)} problem(s); fix each and validate again:\n{lines}"
        )


class FlowRunError(TesseraError):
    """A node failed while a flow ran.

    Attributes
    ----------
    node : str
        The failing node's name.
    run_id : str
        The run's id (its trace is stored under it).
    """

    def __init__(self, message: str, *, node: str, run_id: str = "") -> None:
        super().__init__(f"node {node!r} failed: {message}")
        self.node = node
        self.run_id = run_id


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class InputSpec(_Model):
    """A node input: its name, its type and the JSONPath that selects its value.

    ``expression`` is applied to the value arriving on the input, rooted at ``$.data``.
    """

    name: str = Field(pattern=PORT_NAME)
    type: DataType
    expression: str = "$.data"


class OutputSpec(_Model):
    """A node output: its name and type."""

    name: str = Field(pattern=PORT_NAME)
    type: DataType


class NodeSpec(_Model):
    """One node of a flow.

    ``configuration`` is checked against the node type's own model at validation.
    """

    name: str = Field(pattern=NODE_NAME)
    type: str
    description: str = ""
    configuration: dict[str, Any] = Field(default_factory=dict)
    inputs: tuple[InputSpec, ...] = ()
    outputs: tuple[OutputSpec, ...] = ()

    def input(self, name: str) -> InputSpec | None:
        """The input called ``name``, or ``None``."""
        return next((port for port in self.inputs if port.name == name), None)

    def output(self, name: str) -> OutputSpec | None:
        """The output called ``name``, or ``None``."""
        return next((port for port in self.outputs if port.name == name), None)


class DataConnection(_Model):
    """Which output of the source feeds which input of the target."""

    source_output: str = Field(alias="sourceOutput")
    target_input: str = Field(alias="targetInput")


class ConditionalConnection(_Model):
    """The named condition of a Condition node that enables the target."""

    condition: str


class ConnectionConfiguration(_Model):
    """``{data: {...}}`` for a Data connection, ``{conditional: {...}}`` for a Conditional one."""

    data: DataConnection | None = None
    conditional: ConditionalConnection | None = None


class Connection(_Model):
    """An edge: a Data connection carries a value, a Conditional one enables its target."""

    name: str
    type: Literal["Data", "Conditional"]
    source: str
    target: str
    configuration: ConnectionConfiguration

    @model_validator(mode="before")
    @classmethod
    def _default_name(cls, value: Any) -> Any:
        # Default: source.output->target.input (or source.condition->target), unique when
        # the connections are.
        if isinstance(value, Mapping) and "name" not in value:
            value = dict(value)
            config = value.get("configuration")
            data = config.get("data") if isinstance(config, Mapping) else None
            conditional = config.get("conditional") if isinstance(config, Mapping) else None
            source, target = value.get("source"), value.get("target")
            if isinstance(data, Mapping):
                source = f"{source}.{data.get('sourceOutput')}"
                target = f"{target}.{data.get('targetInput')}"
            elif isinstance(conditional, Mapping):
                source = f"{source}.{conditional.get('condition')}"
            value["name"] = f"{source}->{target}"
        return value

    @model_validator(mode="after")
    def _configuration_matches_type(self) -> Connection:
        wanted = "data" if self.type == "Data" else "conditional"
        if getattr(self.configuration, wanted) is None:
            raise ValueError(
                f"a {self.type} connection needs configuration.{wanted} "
                + (
                    "({sourceOutput: ..., targetInput: ...})"
                    if wanted == "data"
                    else "({condition: <name>})"
                )
            )
        return self


class FlowSpec(_Model):
    """A whole flow document.

    Build one with :func:`load_flow` (from YAML/JSON text, a file or a dict).
    :attr:`base_dir` is the folder the document came from (relative folders in node
    configurations resolve against it), or ``None``.
    """

    name: str = Field(min_length=1)
    description: str = ""
    nodes: tuple[NodeSpec, ...]
    connections: tuple[Connection, ...] = ()
    _base_dir: Path | None = PrivateAttr(default=None)

    @property
    def base_dir(self) -> Path | None:
        """The folder of the file this flow was loaded from, or ``None``."""
        return self._base_dir

    def node(self, name: str) -> NodeSpec | None:
        """The node called ``name``, or ``None``."""
        return next((node for node in self.nodes if node.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        """The document as plain data (the field names of the YAML format)."""
        return self.model_dump(by_alias=True, mode="json")

    def to_yaml(self) -> str:
        """The document as YAML text (keys in document order)."""
        return dump_yaml(self.to_dict())


def data_connection(
    source: str, output: str, target: str, input: str, *, name: str | None = None
) -> dict[str, Any]:
    """A Data connection as document data: ``source.output`` feeds ``target.input``.

    For building flow documents in Python; ``name`` defaults as in the document.
    """
    connection: dict[str, Any] = {
        "type": "Data",
        "source": source,
        "target": target,
        "configuration": {"data": {"sourceOutput": output, "targetInput": input}},
    }
    return connection if name is None else {"name": name, **connection}


def conditional_connection(
    source: str, condition: str, target: str, *, name: str | None = None
) -> dict[str, Any]:
    """A Conditional connection as document data: ``condition`` of ``source`` enables ``target``."""
    connection: dict[str, Any] = {
        "type": "Conditional",
        "source": source,
        "target": target,
        "configuration": {"conditional": {"condition": condition}},
    }
    return connection if name is None else {"name": name, **connection}


def _problem_from_error(data: Any, error: Mapping[str, Any]) -> Problem:
    """Map one pydantic error to the node and field it concerns."""
    loc = list(error["loc"])
    node: str | None = None
    if len(loc) >= 2 and loc[0] in ("nodes", "connections") and isinstance(loc[1], int):
        items = data.get(loc[0]) if isinstance(data, Mapping) else None
        item = items[loc[1]] if isinstance(items, list) and loc[1] < len(items) else None
        name = item.get("name") if isinstance(item, Mapping) else None
        if loc[0] == "nodes":
            node = name if isinstance(name, str) else f"nodes[{loc[1]}]"
            loc = loc[2:]
        else:
            label = name if isinstance(name, str) else loc[1]
            target = item.get("target") if isinstance(item, Mapping) else None
            node = target if isinstance(target, str) else None
            loc = [f"connections[{label}]", *loc[2:]]
    parts: list[str] = []
    for part in loc:
        if isinstance(part, int):
            parts[-1:] = [f"{parts[-1]}[{part}]"] if parts else [f"[{part}]"]
        else:
            parts.append(str(part))
    field = ".".join(parts) or "document"
    value = error.get("input")
    shown = "" if error["type"] == "missing" else f" (got {value!r:.60})"
    return Problem(node, field, f"{error['msg']}{shown}")


def _parse_text(text: str) -> Any:
    try:
        if text.lstrip().startswith("{"):
            return json.loads(text)
        return yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise FlowValidationError(
            [Problem(None, "document", f"not valid YAML or JSON: {exc}")]
        ) from exc


def load_flow(source: FlowSpec | Mapping[str, Any] | str | Path) -> FlowSpec:
    """Read a flow document.

    Parameters
    ----------
    source : FlowSpec, dict, str or pathlib.Path
        A :class:`FlowSpec` (returned as is), the document as a dict, a path to a
        ``.yaml``/``.yml``/``.json`` file, or the YAML/JSON text itself.

    Returns
    -------
    FlowSpec
        With :attr:`FlowSpec.base_dir` set to the file's folder when read from a file.

    Raises
    ------
    FlowValidationError
        Listing every shape problem (unknown or missing fields, wrong types), each with
        its node and field.
    OSError
        When a path is given and the file cannot be read.
    """
    if isinstance(source, FlowSpec):
        return source
    base_dir: Path | None = None
    data: Any
    if isinstance(source, Path) or (
        isinstance(source, str)
        and "\n" not in source
        and source.strip().lower().endswith((".yaml", ".yml", ".json"))
    ):
        path = Path(source)
        data = _parse_text(path.read_text(encoding="utf-8"))
        base_dir = path.resolve().parent
    elif isinstance(source, str):
        data = _parse_text(source)
    elif isinstance(source, Mapping):
        data = dict(source)
    else:
        raise InvalidInputError(
            f"source={source!r:.60} is invalid: it must be a dict, a file path or YAML/JSON "
            "text. Pass the flow document in one of those forms."
        )
    if not isinstance(data, Mapping):
        raise FlowValidationError(
            [
                Problem(
                    None,
                    "document",
                    f"the document must be a mapping with name, nodes and connections "
                    f"(got {type(data).__name__})",
                )
            ]
        )
    try:
        spec = FlowSpec.model_validate(data)
    except ValidationError as exc:
        problems = [_problem_from_error(data, error) for error in exc.errors()]
        name = data.get("name")
        raise FlowValidationError(problems, flow=name if isinstance(name, str) else None) from None
    spec._base_dir = base_dir
    return spec
