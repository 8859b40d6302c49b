"""InlineCode nodes (Bedrock Flows' inline Python): opt-in, in a limited subprocess.

A flow's ``InlineCode`` node holds Python source. It runs only where the operator allows
the runner, :func:`python`, like any Code function: ``--allow-code
tessera.llm.flows.inline:python`` (``allowed_code=`` in Python). Each run starts a fresh
``python -I`` subprocess whose address space, CPU time and file writes are limited
(``RLIMIT_AS``, ``RLIMIT_CPU``, ``RLIMIT_FSIZE``) and which is killed past its time limit.
It starts in an empty scratch folder, the node's inputs are its variables, and the value of
the code's last line, if it is an expression, is the node's output ``response`` (as
Bedrock's). The limits contain mistakes
and runaway code; they are not a sandbox against hostile code (the subprocess runs as the
server's user, with its network): allow inline code only for flows you trust.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from tessera.errors import InvalidInputError
from tessera.llm.flows._nodes import NodeType, RunContext, register_node_type
from tessera.llm.flows._spec import NodeSpec, Problem

__all__ = ["OPT_IN", "InlineCodeConfiguration", "InlineCodeNode", "python"]

#: The ``allowed_code`` entry that lets InlineCode nodes run.
OPT_IN = "tessera.llm.flows.inline:python"

_RUNNER = r"""
import ast, json, sys
request = json.load(sys.stdin)
tree = ast.parse(request["code"], "<inline code>")
last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
scope = dict(request["inputs"])
exec(compile(tree, "<inline code>", "exec"), scope)
value = eval(compile(ast.Expression(last.value), "<inline code>", "eval"), scope) if last else None
sys.stdout.write(json.dumps({"response": value}))
"""


class InlineCodeConfiguration(BaseModel):
    """``configuration`` of an InlineCode node.

    Attributes
    ----------
    code : str
        Python source; its last line's value (an expression) is the output.
    language : {"Python_3"}
        Bedrock's only language.
    timeout_s : float, default=5
        Wall-clock and CPU limit of one run, in seconds (0.1 to 60).
    memory_mb : int, default=512
        Address-space limit of the subprocess, in MiB (64 to 8192).
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    code: str = Field(min_length=1, max_length=100_000)
    language: Literal["Python_3"] = "Python_3"
    timeout_s: float = Field(5.0, ge=0.1, le=60.0)
    memory_mb: int = Field(512, ge=64, le=8192)


def python(
    code: str, inputs: dict[str, Any], *, timeout_s: float = 5.0, memory_mb: int = 512
) -> Any:
    """Run ``code`` with ``inputs`` as its variables in a limited subprocess; its last value.

    Raises
    ------
    InvalidInputError
        The code failed (its error's last line), ran past ``timeout_s``, or returned a
        value that is not JSON.
    """

    def limits() -> None:  # runs in the child, before Python starts
        import resource

        memory = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        cpu = max(1, int(timeout_s + 0.999))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
        resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    import tempfile

    request = json.dumps({"code": code, "inputs": inputs}, default=str)
    try:
        with tempfile.TemporaryDirectory(prefix="tessera-inline-") as scratch:
            done = subprocess.run(
                [sys.executable, "-I", "-c", _RUNNER],
                input=request.encode("utf-8"),
                capture_output=True,
                timeout=timeout_s,
                cwd=scratch,  # an empty folder of its own, removed afterwards
                preexec_fn=limits,  # noqa: PLW1509 - no threads are started in the child
                check=False,
            )
    except subprocess.TimeoutExpired:
        raise InvalidInputError(
            f"the inline code ran past timeout_s={timeout_s:g} s and was stopped. Make it "
            "faster, or raise timeout_s in the node's configuration."
        ) from None
    if done.returncode != 0:
        error = done.stderr.decode("utf-8", "replace").strip().splitlines()
        why = error[-1] if error else f"exit status {done.returncode}"
        raise InvalidInputError(f"the inline code failed: {why[:300]}. Fix the code.")
    try:
        return json.loads(done.stdout)["response"]
    except (ValueError, KeyError):
        raise InvalidInputError(
            "the inline code's value is not JSON (numbers, strings, lists, dicts, booleans or "
            "None). Make its last line such a value."
        ) from None


@register_node_type
class InlineCodeNode(NodeType):
    """``InlineCode``: Python source run in a limited subprocess (see the module)."""

    type_name: ClassVar[str] = "InlineCode"
    configuration_model: ClassVar[type[BaseModel]] = InlineCodeConfiguration
    extra_inputs: ClassVar[bool] = True
    extra_outputs: ClassVar[bool] = True

    def check(self, node: NodeSpec) -> list[Problem]:
        config = InlineCodeConfiguration.model_validate(node.configuration)
        problems = []
        try:
            compile(config.code, f"<{node.name}>", "exec")
        except SyntaxError as exc:
            problems.append(
                Problem(
                    node.name, "configuration.code", f"is not Python: {exc.msg} (line {exc.lineno})"
                )
            )
        extra = [p.name for p in node.outputs if p.name != "response"]
        if extra:
            problems.append(
                Problem(
                    node.name,
                    f"outputs.{extra[0]}",
                    "an InlineCode node outputs only 'response'; rename or remove it",
                )
            )
        return problems

    def check_access(self, node: NodeSpec, ctx: RunContext) -> list[Problem]:
        if OPT_IN in ctx.allowed_code:
            return []
        return [
            Problem(
                node.name,
                "type",
                "InlineCode nodes run only where the operator allows "
                f"them: --allow-code {OPT_IN} (allowed_code=[{OPT_IN!r}]); allow it "
                "only for flows you trust",
            )
        ]

    def run(self, node: NodeSpec, inputs: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        if OPT_IN not in ctx.allowed_code:  # checked again: a stored flow may meet a new policy
            raise InvalidInputError(self.check_access(node, ctx)[0].message)
        config = InlineCodeConfiguration.model_validate(node.configuration)
        value = python(config.code, inputs, timeout_s=config.timeout_s, memory_mb=config.memory_mb)
        return {"response": value}
