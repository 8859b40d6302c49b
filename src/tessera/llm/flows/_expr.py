"""Safe condition expressions: comparisons, boolean logic, ``in``, arithmetic, a few functions.

Expressions are Python syntax restricted by a whitelist of syntax nodes checked before
anything runs: names (the node's inputs), literals, lists/tuples, subscripts
(``doc['key']``, ``items[0]``), comparisons, ``and``/``or``/``not``, ``+ - * / // %``,
``x if c else y`` and calls of the functions in :data:`FUNCTIONS` by name. There is no
attribute access at all (so no ``x.__class__``), no lambda, no comprehension, no keyword
arguments, no ``**``. Evaluation goes through simpleeval, which also caps string sizes.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from typing import Any

from tessera.errors import InvalidInputError

__all__ = ["FUNCTIONS", "MAX_EXPRESSION_LENGTH", "check_expression", "evaluate"]

#: Longest expression accepted, in characters.
MAX_EXPRESSION_LENGTH = 1000


def _contains(container: Any, item: Any) -> bool:
    return item in container


def _lower(text: str) -> str:
    return str(text).lower()


def _upper(text: str) -> str:
    return str(text).upper()


def _strip(text: str) -> str:
    return str(text).strip()


def _startswith(text: str, prefix: str) -> bool:
    return str(text).startswith(prefix)


def _endswith(text: str, suffix: str) -> bool:
    return str(text).endswith(suffix)


#: The functions an expression may call, by name.
FUNCTIONS: dict[str, Callable[..., Any]] = {
    "abs": abs,
    "bool": bool,
    "contains": _contains,
    "endswith": _endswith,
    "float": float,
    "int": int,
    "len": len,
    "lower": _lower,
    "max": max,
    "min": min,
    "round": round,
    "startswith": _startswith,
    "str": str,
    "strip": _strip,
    "upper": _upper,
}

_ALLOWED_NODES: tuple[type[ast.AST], ...] = (
    ast.Expression,
    ast.BoolOp,
    ast.And,
    ast.Or,
    ast.UnaryOp,
    ast.Not,
    ast.USub,
    ast.UAdd,
    ast.BinOp,
    ast.Add,
    ast.Sub,
    ast.Mult,
    ast.Div,
    ast.FloorDiv,
    ast.Mod,
    ast.Compare,
    ast.Eq,
    ast.NotEq,
    ast.Lt,
    ast.LtE,
    ast.Gt,
    ast.GtE,
    ast.In,
    ast.NotIn,
    ast.IfExp,
    ast.Constant,
    ast.Name,
    ast.Load,
    ast.List,
    ast.Tuple,
    ast.Subscript,
    ast.Call,
)
_CONSTANTS = {"True": True, "False": False, "None": None}


def _describe(node: ast.AST) -> str:
    if isinstance(node, ast.Attribute):
        return f"attribute access (.{node.attr})"
    if isinstance(node, ast.Lambda):
        return "lambda"
    if isinstance(node, ast.ListComp | ast.SetComp | ast.DictComp | ast.GeneratorExp):
        return "a comprehension"
    if isinstance(node, ast.Pow):
        return "the ** operator"
    return f"{type(node).__name__} syntax"


@lru_cache(maxsize=2048)
def _parse(text: str, names: frozenset[str]) -> tuple[ast.Expression | None, str | None]:
    """The checked tree, or ``None`` and the reason it was refused."""
    if len(text) > MAX_EXPRESSION_LENGTH:
        return None, f"it is longer than {MAX_EXPRESSION_LENGTH} characters"
    if not text.strip():
        return None, "it is empty"
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        return None, f"it is not a valid expression ({exc.msg})"
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED_NODES):
            return None, f"{_describe(node)} is not allowed"
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
                shown = node.func.id if isinstance(node.func, ast.Name) else ast.unparse(node.func)
                allowed = ", ".join(sorted(FUNCTIONS))
                return None, f"calling {shown!r} is not allowed (functions: {allowed})"
            if node.keywords or any(isinstance(arg, ast.Starred) for arg in node.args):
                return None, "keyword and starred arguments are not allowed"
        elif isinstance(node, ast.Name):
            if node.id.startswith("_"):
                return None, f"the name {node.id!r} is not allowed (names starting with _)"
            known = node.id in names or node.id in FUNCTIONS or node.id in _CONSTANTS
            if not known:
                shown = ", ".join(sorted(names)) or "none"
                return None, f"{node.id!r} is not one of the node's inputs ({shown})"
        elif isinstance(node, ast.Constant) and not isinstance(
            node.value, str | int | float | bool | type(None)
        ):
            return None, f"the constant {node.value!r} is not allowed"
    return tree, None


def check_expression(text: Any, names: Iterable[str]) -> str | None:
    """Why ``text`` is not a safe expression over ``names``, or ``None`` when it is."""
    if not isinstance(text, str):
        return f"it must be a string, not {type(text).__name__}"
    return _parse(text, frozenset(names))[1]


def evaluate(text: str, names: Mapping[str, Any]) -> Any:
    """Evaluate the safe expression ``text`` with ``names`` bound.

    Raises
    ------
    InvalidInputError
        When the expression is refused (see the module notes) or fails while evaluating
        (a type error, division by zero, a missing key, a too-long string).
    """
    from simpleeval import EvalWithCompoundTypes

    tree, reason = _parse(text, frozenset(names))
    if tree is None:
        raise InvalidInputError(
            f"expression={text!r:.120} is invalid: {reason}. Use comparisons, and/or/not, in, "
            "arithmetic and the listed functions over the node's inputs."
        )
    evaluator = EvalWithCompoundTypes(
        functions=dict(FUNCTIONS), names={**_CONSTANTS, **dict(names)}
    )
    try:
        return evaluator.eval(text.strip(), previously_parsed=tree.body)
    except Exception as exc:  # simpleeval raises its own and the operators' errors
        raise InvalidInputError(
            f"expression={text!r:.120} failed: {type(exc).__name__}: {exc}. Check the input "
            "values it was given or guard the expression."
        ) from None
