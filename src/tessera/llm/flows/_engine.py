"""The engine that runs one flow graph: dependency order, conditions, per-item fan-out.

A node runs when every data input has a value and, if Conditional connections point at
it, one of them fired; otherwise it is skipped, and so is anything that depends on it.
An Iterator runs the nodes inside its scope once per item (their events carry ``[i]``
after the node name); a Collector gathers, in item order, the values that reached it
(items skipped by a condition inside the loop are left out). A DoWhile node runs its body
through :meth:`RunContext.run_subflow` (events named ``loop[k]/node``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tessera.errors import InvalidInputError
from tessera.llm._db import now
from tessera.llm.flows._jsonpath import compile_path
from tessera.llm.flows._nodes import FlowEvent, RunContext, get_node_type
from tessera.llm.flows._resume import InputRequired
from tessera.llm.flows._scopes import collectors_of, iterator_regions, run_order
from tessera.llm.flows._spec import DATA_TYPES, Connection, FlowRunError, FlowSpec, NodeSpec

__all__ = ["Engine", "type_ok"]

# Keys of the values table that are not ports: a Collector's per-item values waiting to be
# gathered, and the condition a Condition node fired (per item inside an Iterator).
_GATHERED = "\x00gathered"
_FIRED = "\x00fired"


def type_ok(value: Any, data_type: str) -> bool:
    if data_type == "Number" and isinstance(value, bool):
        return False
    return isinstance(value, DATA_TYPES[data_type])


def _type_error(what: str, value: Any, data_type: str) -> InvalidInputError:
    return InvalidInputError(
        f"{what}={value!r:.80} has type {type(value).__name__}, but it is declared {data_type}. "
        "Fix the value upstream, the expression that selects it, or the declared type."
    )


class Engine:
    """Runs graphs for one flow run, sending events to ``emit``."""

    def __init__(self, ctx: RunContext, emit: Callable[[FlowEvent], None]) -> None:
        self.ctx = ctx
        self.emit_event = emit
        self.current_label = ""

    def run_subflow(self, spec: FlowSpec, document: Any, tag: str) -> dict[str, Any]:
        """Run a DoWhile body; its events are named ``<loop node label><tag>/<node>``."""
        return self.run_graph(spec, document, f"{self.current_label}{tag}/")

    def emit(self, kind: Any, node: str | None, data: dict[str, Any]) -> None:
        self.emit_event(FlowEvent(kind, node, data, now()))

    def run_graph(self, spec: FlowSpec, document: Any, prefix: str) -> dict[str, Any]:
        """Run ``spec`` on ``document``; return its outputs by Output node name."""
        order = run_order(spec)
        assert order is not None  # validation rejects cycles
        state = _State(spec, document, prefix, iterator_regions(spec))
        self._execute(state, order, values={}, status={}, suffix="")
        return state.outputs

    def _execute(
        self,
        state: _State,
        order: list[str],
        values: dict[tuple[str, str], Any],
        status: dict[str, str],
        suffix: str,
    ) -> None:
        handled_inside = {name for it in order if it in state.regions for name in state.regions[it]}
        for name in order:
            if name in handled_inside:
                continue
            node = state.spec.node(name)
            assert node is not None
            if not self._enabled(state, node, values, status):
                status[name] = "skipped"
                continue
            label = f"{state.prefix}{name}{suffix}"
            outer_label, self.current_label = self.current_label, label
            try:
                inputs = self._gather(state, node, values, label)
                self.emit("node_input", label, inputs)
                recorded = self._recorded(node, label)
                if recorded is not None:  # finished before a pause: not run again
                    outputs = dict(recorded)
                else:
                    outputs = self._run_node(state, node, inputs, values, status, suffix, label)
                outputs = self._check_outputs(node, outputs, label)
            except InputRequired as asking:
                # An AskUser node's pause: said once, where it happened (not again by the
                # Loop around it), so a runner that cannot resume reports it like any stop.
                if not asking.reported:
                    asking.reported = True
                    self.emit("error", label, {"message": str(asking), "type": "InputRequired"})
                raise
            except FlowRunError:
                raise
            except Exception as exc:
                message = str(exc) or type(exc).__name__
                self.emit("error", label, {"message": message, "type": type(exc).__name__})
                raise FlowRunError(message, node=label, run_id=self.ctx.run_id) from exc
            finally:
                self.current_label = outer_label
            status[name] = "done"
            for port, value in outputs.items():
                values[(name, port)] = value
            self.emit("node_output", label, outputs)
            if node.type == "Output":
                state.record_output(name, outputs["document"], per_item=bool(suffix))
                if not state.prefix:  # a DoWhile body's Output is loop state, not a result
                    self.emit("flow_output", label, {"document": outputs["document"]})

    def _recorded(self, node: NodeSpec, label: str) -> Any:
        """The outputs a paused run recorded for ``label``; None for structural nodes."""
        resume = self.ctx.resume
        if resume is None or node.type in ("Condition", "Iterator", "Collector", "Input"):
            return None
        return resume.recorded.get(label)

    def _enabled(
        self,
        state: _State,
        node: NodeSpec,
        values: dict[tuple[str, str], Any],
        status: dict[str, str],
    ) -> bool:
        incoming = [c for c in state.spec.connections if c.target == node.name]
        fired_any = False
        has_conditional = False
        for connection in incoming:
            if connection.type == "Conditional":
                has_conditional = True
                assert connection.configuration.conditional is not None
                fired = values.get((connection.source, _FIRED))
                if status.get(connection.source) == "done" and (
                    fired == connection.configuration.conditional.condition
                ):
                    fired_any = True
            elif status.get(connection.source) != "done":
                return False  # a data source was skipped: nothing to run on
        return fired_any or not has_conditional

    def _gather(
        self, state: _State, node: NodeSpec, values: dict[tuple[str, str], Any], label: str
    ) -> dict[str, Any]:
        if node.type == "Input":
            document = state.document
            output = node.output("document")
            if output is not None and not type_ok(document, output.type):
                raise _type_error("inputs", document, output.type)
            return {"document": document}
        inputs: dict[str, Any] = {}
        for connection in state.spec.connections:
            data = connection.configuration.data
            if connection.target != node.name or data is None:
                continue
            port = node.input(data.target_input)
            assert port is not None
            if node.type == "Collector" and port.name == "arrayItem":
                inputs[port.name] = values[(node.name, _GATHERED)]
                continue
            value = self._arriving(state, connection, values)
            inputs[port.name] = value
        return inputs

    def _arriving(
        self, state: _State, connection: Connection, values: dict[tuple[str, str], Any]
    ) -> Any:
        """The value a data connection delivers: selected by the input's JSONPath, checked."""
        data = connection.configuration.data
        target = state.spec.node(connection.target)
        assert data is not None and target is not None
        port = target.input(data.target_input)
        assert port is not None
        value = compile_path(port.expression).select(
            values[(connection.source, data.source_output)]
        )
        if not type_ok(value, port.type):
            raise _type_error(f"input {port.name!r}", value, port.type)
        return value

    def _run_node(
        self,
        state: _State,
        node: NodeSpec,
        inputs: dict[str, Any],
        values: dict[tuple[str, str], Any],
        status: dict[str, str],
        suffix: str,
        label: str,
    ) -> dict[str, Any]:
        from tessera.llm.flows._builtin import ConditionNode

        node_type = get_node_type(node.type)
        assert node_type is not None
        if isinstance(node_type, ConditionNode):
            chosen = node_type.choose(node, inputs)
            values[(node.name, _FIRED)] = chosen
            self.emit("condition", label, {"condition": chosen})
            return {}
        if node.type == "Iterator":
            return self._iterate(state, node, inputs["array"], values, status, suffix)
        if node.type == "Collector":
            return {"collectedArray": list(inputs["arrayItem"])}
        return node_type.run(node, inputs, self.ctx)

    def _iterate(
        self,
        state: _State,
        node: NodeSpec,
        array: list[Any],
        values: dict[tuple[str, str], Any],
        status: dict[str, str],
        suffix: str,
    ) -> dict[str, Any]:
        region = state.regions[node.name]
        collectors = collectors_of(state.spec, node.name)
        for collector in collectors:
            values[(collector, _GATHERED)] = []
        item_port = node.output("arrayItem")
        assert item_port is not None
        for index, item in enumerate(array):
            if not type_ok(item, item_port.type):
                raise _type_error(f"item {index}", item, item_port.type)
            item_values = dict(values)
            item_values[(node.name, "arrayItem")] = item
            item_values[(node.name, "arraySize")] = len(array)
            item_status = dict(status)
            item_status[node.name] = "done"
            self._execute(state, region, item_values, item_status, f"{suffix}[{index}]")
            for collector, connection in collectors.items():
                if item_status.get(connection.source) != "done":
                    continue  # this item's branch was skipped by a condition
                value = self._arriving(state, connection, item_values)
                values[(collector, _GATHERED)].append(value)
        for name in region:
            status[name] = "done"
        return {"arrayItem": None, "arraySize": len(array)}

    def _check_outputs(self, node: NodeSpec, outputs: Any, label: str) -> dict[str, Any]:
        if not isinstance(outputs, dict):
            raise InvalidInputError(
                f"the {node.type} node returned {type(outputs).__name__}, not a dict of outputs"
            )
        if node.type in ("Iterator", "Output"):
            return dict(outputs) if node.type == "Output" else {"arraySize": outputs["arraySize"]}
        checked: dict[str, Any] = {}
        for port in node.outputs:
            if port.name not in outputs:
                raise InvalidInputError(
                    f"the {node.type} node produced no value for output {port.name!r} "
                    f"(it produced: {', '.join(outputs) or 'nothing'})"
                )
            if not type_ok(outputs[port.name], port.type):
                raise _type_error(f"output {port.name!r}", outputs[port.name], port.type)
            checked[port.name] = outputs[port.name]
        return checked


class _State:
    """One graph's run: its spec, input document, event name prefix and outputs."""

    def __init__(
        self, spec: FlowSpec, document: Any, prefix: str, regions: dict[str, list[str]]
    ) -> None:
        self.spec = spec
        self.document = document
        self.prefix = prefix
        self.regions = regions
        self.outputs: dict[str, Any] = {}

    def record_output(self, name: str, document: Any, *, per_item: bool) -> None:
        if per_item:
            self.outputs.setdefault(name, []).append(document)
        else:
            self.outputs[name] = document
