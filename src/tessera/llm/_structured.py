"""Structured output: token masks that keep a generation inside a JSON Schema, grammar or regex.

The masks come from llguidance (chosen by measurement among llguidance, xgrammar and
outlines-core; see docs/explanation/structured.md). This module is the one place that
talks to it; decoding (:mod:`tessera.llm.medusa._decode`) sees only the two types below.

Public surface (re-exported from :mod:`tessera.llm`)
-----------------------------------------------------
``compile_constraint(tokenizer, *, json_schema=None, grammar=None, regex=None,
vocab_size=None, eos_token_ids=None) -> Constraint``
    Validate and compile one constraint, once, before any decoding. Raises
    :class:`~tessera.errors.InvalidInputError` naming ``json_schema``, ``grammar`` or
    ``regex``. :meth:`tessera.llm.Runtime.constraint` calls it with the runtime's
    tokenizer, vocabulary size and EOS tokens (and caches nothing else).

``Constraint`` (immutable, shareable between threads and generations)
    ``.kind``: ``"json_schema"``, ``"grammar"`` or ``"regex"``; ``.source``: what was
    given (the schema as a dict, the grammar or regex text); ``.vocab_size``;
    ``.start() -> ConstraintState``: a fresh state for one generation;
    ``.check_text(text) -> None``: raise unless ``text`` is a complete match (for a
    JSON Schema: parses and validates with :mod:`jsonschema`).

``ConstraintState`` (one per generation, not thread-safe)
    ``.allowed() -> numpy.ndarray`` of bool, shape ``(vocab_size,)``: the tokens that
    may come next (EOS included only when the text so far is a complete match);
    ``.mask_logits(logits) -> Tensor``: ``logits`` (last dimension ``vocab_size``) in
    float32 with forbidden tokens set to ``-inf``;
    ``.consume(tokens) -> None``: advance by accepted tokens (raises
    :class:`~tessera.errors.TesseraError` for a token the constraint forbids);
    ``.forced() -> list[int]``: the tokens the constraint forces next (fast-forward
    tokens; may be empty);
    ``.valid_prefix(tokens) -> int``: how many leading ``tokens`` the constraint allows
    from here (the state does not move);
    ``.rollback(count) -> None``: undo the last ``count`` consumed tokens;
    ``.complete`` (bool): the text so far is a complete match (the generation may end);
    ``.finished`` (bool): nothing but EOS may follow (the generation must end).

Decoding contract (what :meth:`Runtime.generate` does): choose each token from
``mask_logits``; stop when the token is EOS, when ``finished`` is true after consuming,
or at ``max_new_tokens`` (finish reason ``"length"``: the text may be an incomplete
match).
"""

from __future__ import annotations

import json
import re
import threading
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from tessera._validation import bad_value, short_repr
from tessera.errors import InvalidInputError, TesseraError
from tessera.llm._torch import require

if TYPE_CHECKING:
    from numpy.typing import NDArray
    from torch import Tensor

__all__ = ["KINDS", "Constraint", "ConstraintState", "compile_constraint", "pick_constraint"]

#: The keyword arguments that name a constraint, in the order errors list them.
KINDS = ("json_schema", "grammar", "regex")

#: How JSON is laid out: one line, Python's json.dumps separators. A fixed layout makes
#: the punctuation and keys forced (drafted for free with Medusa) and leaves a small model
#: no room to loop on whitespace; a schema's "x-guidance" key overrides it.
JSON_OPTIONS: dict[str, Any] = {
    "whitespace_flexible": False,
    "item_separator": ", ",
    "key_separator": ": ",
}

_tokenizers: weakref.WeakKeyDictionary[Any, dict[tuple[int, tuple[int, ...]], Any]] = (
    weakref.WeakKeyDictionary()
)
_tokenizers_lock = threading.Lock()


def _engine() -> Any:
    return require("llguidance")


def _engine_tokenizer(tokenizer: Any, vocab_size: int, eos: tuple[int, ...]) -> Any:
    """llguidance's view of ``tokenizer`` (about a second to build; cached per tokenizer)."""
    require("llguidance")
    import llguidance.hf

    with _tokenizers_lock:
        per = _tokenizers.setdefault(tokenizer, {})
        key = (vocab_size, eos)
        if key not in per:
            try:
                per[key] = llguidance.hf.from_tokenizer(
                    tokenizer, n_vocab=vocab_size, eos_token=list(eos) if eos else None
                )
            except ValueError as exc:
                raise bad_value(
                    "tokenizer",
                    type(tokenizer).__name__,
                    f"structured output needs a fast (Rust) Hugging Face tokenizer ({exc})",
                    "Load the model with a tokenizer.json (a fast tokenizer).",
                ) from None
        return per[key]


def pick_constraint(**given: Any) -> tuple[str, Any] | None:
    """The one constraint among ``given`` (``kind=value``; None values are absent).

    Raises :class:`~tessera.errors.InvalidInputError` when more than one is set.
    """
    present = [(name, value) for name, value in given.items() if value is not None]
    if len(present) > 1:
        names = ", ".join(name for name, _ in present)
        raise bad_value(
            present[1][0],
            present[1][1],
            f"only one constraint applies to a generation, but {names} were all passed",
            "Pass exactly one of json_schema=, grammar=, regex= (or a compiled constraint=).",
        )
    return present[0] if present else None


def _schema_dict(schema: Any) -> dict[str, Any]:
    if isinstance(schema, str):
        try:
            schema = json.loads(schema)
        except json.JSONDecodeError as exc:
            raise bad_value(
                "json_schema",
                schema,
                f"it is a string but not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})",
                "Pass the schema as a dict, or its JSON text.",
            ) from None
    if isinstance(schema, bool):
        schema = {} if schema else {"not": {}}
    if not isinstance(schema, Mapping):
        raise bad_value(
            "json_schema",
            schema,
            "it must be a JSON Schema: a dict (or its JSON text)",
            'Pass e.g. {"type": "object", "properties": {"name": {"type": "string"}}}.',
        )
    try:
        plain: dict[str, Any] = json.loads(json.dumps(schema))
    except (TypeError, ValueError) as exc:
        raise bad_value(
            "json_schema", schema, f"it is not JSON data ({exc})", "Use only JSON values."
        ) from None
    import jsonschema

    validator = jsonschema.validators.validator_for(plain)
    try:
        validator.check_schema(plain)
    except jsonschema.SchemaError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "the top level"
        raise bad_value(
            "json_schema",
            plain,
            f"it is not a valid JSON Schema: {exc.message} (at {where})",
            "Fix the schema so that jsonschema's check_schema accepts it.",
        ) from None
    _check_patterns(plain)
    return plain


# Control characters named in a pattern (\x00-\x1f, \u0000-\u001f, or literally): the
# engine matches such patterns against the JSON-escaped text, so its output could break
# the pattern (e.g. "[\x00-\x1f]" let it write backslashes).
_CONTROL_IN_PATTERN = re.compile(
    r"\\x[01][0-9a-fA-F]|\\x\{0*[01]?[0-9a-fA-F]\}|\\u00[01][0-9a-fA-F]|\\c[A-Za-z]|[\x00-\x1f]"
)


def _check_patterns(schema: Any, path: str = "") -> None:
    """Refuse ``pattern`` / ``patternProperties`` regexes that name control characters."""
    stack: list[tuple[Any, str]] = [(schema, path)]
    while stack:
        node, where = stack.pop()
        if isinstance(node, dict):
            patterns = []
            if isinstance(node.get("pattern"), str):
                patterns.append((node["pattern"], f"{where}/pattern"))
            if isinstance(node.get("patternProperties"), dict):
                patterns += [(p, f"{where}/patternProperties") for p in node["patternProperties"]]
            for pattern, at in patterns:
                if _CONTROL_IN_PATTERN.search(pattern):
                    raise bad_value(
                        "json_schema",
                        pattern,
                        f"the pattern at {at or '/'} names control characters "
                        "(U+0000-U+001F), which tessera cannot enforce inside JSON strings",
                        "Leave control characters out of the pattern (\\t, \\n and \\r "
                        "written as such are fine).",
                    )
            stack.extend((value, f"{where}/{key}") for key, value in node.items())
        elif isinstance(node, list):
            stack.extend((value, f"{where}/{i}") for i, value in enumerate(node))


def _first_line(message: str) -> str:
    line = message.strip().splitlines()[0] if message.strip() else "the engine refused it"
    return line.strip().rstrip(".")


@dataclass(frozen=True, eq=False)
class Constraint:
    """A compiled constraint: build it with :func:`compile_constraint` (or
    :meth:`tessera.llm.Runtime.constraint`); start one state per generation.

    Attributes
    ----------
    kind : {"json_schema", "grammar", "regex"}
    source : dict or str
        The JSON Schema (as a dict), the Lark grammar or the regex.
    vocab_size : int
        Length of the masks (the model's logits).
    eos_token_ids : tuple of int
        Tokens that end a generation; allowed only after a complete match.
    """

    kind: str
    source: Any
    vocab_size: int
    eos_token_ids: tuple[int, ...]
    _grammar: str = field(repr=False)
    _tokenizer: Any = field(repr=False)

    def start(self) -> ConstraintState:
        """A fresh state for one generation (nothing consumed yet)."""
        matcher = _engine().LLMatcher(self._tokenizer, self._grammar, log_level=0)
        return ConstraintState(self, matcher)

    def check_text(self, text: str) -> None:
        """Raise :class:`~tessera.errors.InvalidInputError` unless ``text`` is a complete
        match (a JSON Schema's text must parse and validate)."""
        if self.kind == "json_schema":
            import jsonschema

            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                raise bad_value("text", text, f"it is not JSON ({exc.msg})", "") from None
            try:
                jsonschema.validate(value, self.source)
            except jsonschema.ValidationError as exc:
                raise bad_value("text", text, f"it does not validate: {exc.message}", "") from None
            return
        state = self.start()
        ids = self._tokenizer.tokenize_str(text)
        if state.valid_prefix(ids) != len(ids):
            raise bad_value("text", text, f"it does not match the {self.kind}", "")
        state.consume(ids)
        if not state.complete:
            raise bad_value("text", text, f"it is an incomplete match of the {self.kind}", "")


class ConstraintState:
    """Where one generation stands in its constraint; see the module docstring."""

    def __init__(self, constraint: Constraint, matcher: Any) -> None:
        self.constraint = constraint
        self._matcher = matcher
        self._mask: NDArray[np.bool_] | None = None
        self.consumed = 0

    def allowed(self) -> NDArray[np.bool_]:
        """Bool mask over the vocabulary: True for each token that may come next.

        Computed once per position (consuming or rolling back clears it); do not modify.
        """
        if self._mask is None:
            bits = np.frombuffer(self._matcher.compute_bitmask(), dtype=np.uint8)
            mask = np.unpackbits(bits, bitorder="little")[: self.constraint.vocab_size]
            self._mask = mask.astype(np.bool_)
        return self._mask

    def mask_logits(self, logits: Tensor) -> Tensor:
        """``logits`` as float32 with every forbidden token at ``-inf``."""
        torch = require("torch")
        allowed = torch.from_numpy(self.allowed()).to(logits.device)
        return logits.float().masked_fill(~allowed, float("-inf"))

    def consume(self, tokens: Sequence[int]) -> None:
        """Advance by ``tokens`` (each must be allowed where it stands)."""
        if not tokens:
            return
        self._mask = None
        if not self._matcher.consume_tokens([int(t) for t in tokens]):
            raise TesseraError(
                f"the {self.constraint.kind} constraint refused token(s) {list(tokens)}: "
                f"{_first_line(self._matcher.get_error())}"
            )
        self.consumed += len(tokens)

    def forced(self) -> list[int]:
        """Tokens the constraint forces next (llguidance's fast-forward tokens)."""
        return [int(t) for t in self._matcher.compute_ff_tokens()]

    def valid_prefix(self, tokens: Sequence[int]) -> int:
        """How many leading ``tokens`` the constraint allows from here (no state change)."""
        if not tokens:
            return 0
        return int(self._matcher.validate_tokens([int(t) for t in tokens]))

    def rollback(self, count: int) -> None:
        """Undo the last ``count`` consumed tokens."""
        if count:
            self._mask = None
            self._matcher.rollback(int(count))
            self.consumed -= count

    @property
    def complete(self) -> bool:
        """Whether the tokens so far form a complete match (the generation may end)."""
        return bool(self._matcher.is_accepting())

    @property
    def finished(self) -> bool:
        """Whether nothing but EOS may follow (the generation must end)."""
        return bool(self._matcher.is_stopped())


def compile_constraint(
    tokenizer: Any,
    *,
    json_schema: Mapping[str, Any] | str | bool | None = None,
    grammar: str | None = None,
    regex: str | None = None,
    vocab_size: int | None = None,
    eos_token_ids: Sequence[int] | None = None,
) -> Constraint:
    """Validate and compile exactly one constraint for ``tokenizer``'s vocabulary.

    Parameters
    ----------
    tokenizer : transformers.PreTrainedTokenizerFast
        The model's tokenizer.
    json_schema : dict or str, optional
        A JSON Schema (a dict, or its JSON text). Checked with :mod:`jsonschema`'s
        meta-schema, then compiled; keywords the engine cannot enforce are refused by
        name. The output is laid out on one line (``", "`` and ``": "`` separators).
    grammar : str, optional
        A context-free grammar in Lark syntax (llguidance's dialect: ``start: ...``,
        ``/regex/`` terminals, ``%json {...}`` for an embedded schema), or in llama.cpp's
        GBNF (recognised by ``::=``; converted to Lark).
    regex : str, optional
        A regular expression (Rust ``regex`` syntax) that the whole output must match.
    vocab_size : int, optional
        Length of the model's logits (default: the tokenizer's length).
    eos_token_ids : sequence of int, optional
        Tokens that end a generation (default: the tokenizer's EOS).

    Returns
    -------
    Constraint

    Raises
    ------
    tessera.errors.InvalidInputError
        Naming the argument: none or more than one constraint, an invalid schema, a
        keyword the engine cannot enforce, a grammar or regex that does not parse, or one
        that matches no text at all.
    tessera.errors.MissingExtraError
        Without llguidance (the ``llm`` extra).
    """
    picked = pick_constraint(json_schema=json_schema, grammar=grammar, regex=regex)
    if picked is None:
        raise bad_value(
            "json_schema",
            None,
            "a constraint is needed",
            "Pass one of json_schema=, grammar=, regex=.",
        )
    kind, value = picked
    ll = _engine()
    source: Any
    if kind == "json_schema":
        source = _schema_dict(value)
        text = ll.LLMatcher.grammar_from_json_schema(json.dumps(source), defaults=JSON_OPTIONS)
    else:
        if not isinstance(value, str) or not value.strip() and kind == "grammar":
            raise bad_value(
                kind,
                value,
                "it must be a non-empty string",
                'Pass e.g. grammar=\'start: "yes" | "no"\'.'
                if kind == "grammar"
                else "Pass e.g. regex=r'[0-9]{3}-[0-9]{4}'.",
            )
        source = value
        if kind == "regex":
            text = ll.LLMatcher.grammar_from_regex(value)
        else:
            lark = value
            if "::=" in value:
                from llguidance.gbnf_to_lark import gbnf_to_lark

                try:
                    lark = gbnf_to_lark(value)
                except Exception as exc:  # the converter raises plain exceptions
                    raise bad_value(
                        "grammar", value, f"it is not valid GBNF ({exc})", "Fix the grammar."
                    ) from None
            text = ll.LLMatcher.grammar_from_lark(lark)
    vocab = int(vocab_size) if vocab_size is not None else len(tokenizer)
    if eos_token_ids is None:
        eos_id = getattr(tokenizer, "eos_token_id", None)
        eos_token_ids = [eos_id] if isinstance(eos_id, int) else []
    eos = tuple(sorted({int(i) for i in eos_token_ids}))
    engine_tokenizer = _engine_tokenizer(tokenizer, vocab, eos)
    is_error, messages = ll.LLMatcher.validate_grammar_with_warnings(text, engine_tokenizer)
    if is_error:
        reason = _first_line(messages[0] if messages else "")
        if kind == "json_schema":
            rule = f"tessera cannot enforce it: {reason}"
            fix = (
                "Remove or rewrite that keyword (docs/how-to/structured-output.md lists "
                "what is enforced)."
            )
        else:
            rule = f"it does not compile: {reason}"
            fix = "Fix the grammar." if kind == "grammar" else "Fix the regex."
        raise bad_value(kind, source, rule, fix)
    constraint = Constraint(kind, source, vocab, eos, text, engine_tokenizer)
    state = constraint.start()
    state.allowed()
    if state._matcher.is_error():
        raise bad_value(
            kind,
            source,
            "it matches no text at all",
            "Fix it so that at least one string matches (e.g. no empty character class, "
            "no rule that only refers to itself).",
        )
    return constraint


def describe(constraint: Constraint) -> str:
    """A short label for messages: the kind and the start of the source."""
    return f"{constraint.kind}={short_repr(constraint.source, 40)}"


def check_constraint(value: Any) -> Constraint:
    """Return ``value`` if it is a :class:`Constraint`, else raise naming ``constraint``."""
    if not isinstance(value, Constraint):
        raise InvalidInputError(
            f"constraint={short_repr(value)} is invalid: it must be a tessera.llm.Constraint. "
            "Build one with runtime.constraint(json_schema=...)."
        )
    return value
