"""The local runtime: a model, its tokenizer, optional Medusa heads, and ``generate``."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tessera._validation import bad_value, check_bool, check_positive_int
from tessera.errors import ContextLengthError
from tessera.llm._model import DEFAULT_MODEL, LoadedModel, load_model
from tessera.llm._sampling import check_max_tokens
from tessera.llm._torch import require, set_threads

if TYPE_CHECKING:
    from tessera.llm._structured import Constraint
    from tessera.llm.medusa import Datastore, DecodeStats, MedusaHeads, MedusaTree

__all__ = [
    "Generation",
    "Runtime",
    "TextStream",
    "default_heads_folder",
    "default_tree_nodes",
    "load",
]

#: Candidates per step when a heads folder carries accuracies but no tree, by torch
#: threads. With batch-invariant kernels a pass of a few tokens costs what a one-token
#: pass does on a CPU (products of fewer than 4 rows are padded to 4, and bf16 products
#: stay memory-bound for a few rows more), and every token beyond adds a small share of a
#: pass. 5 nodes and the root fill that flat part, and the drafted chains (below) are
#: added to them. The measured cost per token is in docs/explanation/medusa.md.
DEFAULT_TREE_NODES = {1: 5}
DEFAULT_TREE_NODES_MANY_THREADS = 5
#: Candidates per step with ``weights="q4_1"`` (rebuilt from the heads' accuracies, in
#: place of the tree saved with them): the int4 kernel de-quantises its blocks for every
#: few rows, so a pass's cost grows with each token verified instead of staying flat up to
#: 6 tokens as bf16's does; a smaller tree and a shorter drafted chain
#: (:data:`DEFAULT_LOOKUP_TOKENS_Q4_1`) fit that curve (measured on training prompts at 1
#: and 2 threads, see docs/explanation/medusa.md).
DEFAULT_TREE_NODES_Q4_1 = 2
#: Candidates per step with ``weights="q4_1"`` on tessera's AMX kernel (the whole pass in
#: C): none, the root alone. There a pass costs so little that drafting the heads' tree
#: and verifying its rows cost more than the tokens it adds, and the drafted chain alone
#: (prompt lookup, else the heads' datastore) decodes fastest (measured on a tuning split
#: of held-out prompts, kept apart from the benchmark's: docs/explanation/medusa.md).
DEFAULT_TREE_NODES_Q4_1_AMX = 0
#: Prompt-lookup tokens verified beside the heads' tree at each step, for a full-length
#: (3-token) match; shorter matches draft half as many (see
#: :func:`tessera.llm.medusa.medusa_generate`). Late tokens of a full match are still
#: accepted often enough on held-out answers to pay for their place in the pass (measured
#: in docs/explanation/medusa.md), so chains are long; the chain costs nothing when the
#: context has no match.
DEFAULT_LOOKUP_TOKENS = 12
#: Prompt-lookup tokens with ``weights="q4_1"``, whose passes cost more with every token.
DEFAULT_LOOKUP_TOKENS_Q4_1 = 6
#: With a datastore, prompt-lookup matches shorter than this are left to the datastore.
DEFAULT_LOOKUP_MIN_NGRAM = 2

Messages = Sequence[dict[str, str]]


def default_heads_folder(*, exportable: bool = False) -> Path:
    """The Medusa heads shipped for the default model (inside the installed package).

    Parameters
    ----------
    exportable : bool, default=False
        False: the heads :func:`load` uses, root-conditioned (each head also sees the
        embedding of the step's first token, which makes the heads' guesses right more often
        on held-out topics; their ``medusa.json`` holds the measured accuracies) with their
        datastore. True: plain
        Medusa-1 heads trained on the same answers, which
        :func:`tessera.llm.medusa.export_heads` can write for vLLM or FasterDecoding's
        Medusa (those engines feed the heads the hidden state alone).
    """
    check_bool("exportable", exportable)
    name = "medusa-plain" if exportable else "medusa"
    return Path(str(resources.files("tessera.llm") / "_data" / DEFAULT_MODEL / name))


@dataclass
class Generation:
    """A finished generation; ``str()`` gives the text.

    Attributes
    ----------
    text : str
        The generated text (special tokens removed).
    token_ids : list of int
        The generated tokens, EOS included when one was produced.
    prompt_tokens : int
        Tokens in the prompt after the chat template.
    seconds : float
        Wall time from the start of the prefill to the last token.
    steps : int
        Forward passes after the prefill.
    medusa : bool
        Whether Medusa heads were used.
    accepted : list of int
        Tokens gained per step (Medusa only).
    finish_reason : {"stop", "length"}
        "stop": the model produced EOS, or the constraint's match is complete;
        "length": ``max_new_tokens`` ended the generation (under a constraint, the text
        may then be an incomplete match: a JSON text that does not parse yet).
    constraint : Constraint or None
        The constraint the generation kept to.
    """

    text: str
    token_ids: list[int]
    prompt_tokens: int
    seconds: float
    steps: int
    medusa: bool
    accepted: list[int] = field(default_factory=list)
    finish_reason: str = "stop"
    constraint: Constraint | None = None

    def __str__(self) -> str:
        return self.text

    @property
    def tokens_per_second(self) -> float:
        """Generated tokens per wall-clock second (prefill included)."""
        return len(self.token_ids) / self.seconds if self.seconds > 0 else 0.0

    @property
    def mean_accepted(self) -> float:
        """Mean tokens per forward pass."""
        return len(self.token_ids) / max(self.steps, 1)

    def json(self) -> Any:
        """The text parsed as JSON (for a generation under a ``json_schema``).

        Raises
        ------
        tessera.errors.InvalidInputError
            When the text is not JSON; for a constrained generation this happens only
            when ``max_new_tokens`` cut it (``finish_reason == "length"``), and the
            message says so.
        """
        import json

        try:
            return json.loads(self.text)
        except json.JSONDecodeError as exc:
            cut = (
                f"generation stopped at the token budget ({len(self.token_ids)} tokens, "
                "finish_reason='length') before the JSON was complete"
                if self.finish_reason == "length"
                else f"it is not JSON ({exc.msg})"
            )
            raise bad_value(
                "text", self.text, cut, "Raise max_new_tokens, or pass json_schema=."
            ) from None


class TextStream(Iterator[str]):
    """The text pieces of one generation (:meth:`Runtime.stream`), as they come.

    Iterate it for the pieces; once exhausted, :attr:`finish_reason` says why it ended
    (``"stop"`` or ``"length"``, as :attr:`Generation.finish_reason`); ``None`` until
    then.
    """

    def __init__(self, pieces: Iterator[str], stats: DecodeStats) -> None:
        self._pieces = pieces
        self._stats = stats
        self.finish_reason: str | None = None

    def __iter__(self) -> TextStream:
        return self

    def __next__(self) -> str:
        try:
            return next(self._pieces)
        except StopIteration:
            self.finish_reason = self._stats.finish_reason or "stop"
            raise

    def close(self) -> None:
        """Stop generating (releases the model)."""
        close = getattr(self._pieces, "close", None)
        if close is not None:
            close()


class Runtime:
    """A loaded model ready to generate; build it with :func:`load`.

    Attributes
    ----------
    model, tokenizer
        The transformers model (evaluation mode) and tokenizer.
    name : str
        The model's name or path.
    heads : MedusaHeads or None
        Medusa heads, when the model has them.
    tree : MedusaTree or None
        The candidate tree used with the heads.
    lookup_tokens : int
        Prompt-lookup tokens verified beside the heads' tree at each Medusa step (see
        :func:`tessera.llm.medusa.medusa_generate`); 0 for the heads alone.
    datastore : Datastore or None
        Continuations from the heads' training answers, drafted when prompt lookup has
        no match (see :func:`tessera.llm.medusa.build_datastore`); None for none.
    lookup_min_ngram : int
        Shortest prompt-lookup match that is drafted from.
    """

    def __init__(
        self,
        loaded: LoadedModel,
        heads: MedusaHeads | None = None,
        tree: MedusaTree | None = None,
        lookup_tokens: int = 0,
        datastore: Datastore | None = None,
        lookup_min_ngram: int = 1,
    ) -> None:
        if heads is not None and tree is None:
            raise bad_value(
                "tree",
                None,
                "Medusa heads need the candidate tree they decode with",
                "Pass tree=tessera.llm.medusa.build_tree(accuracies, num_nodes), or load() "
                "the model with its heads folder.",
            )
        self.model = loaded.model
        self.tokenizer = loaded.tokenizer
        self.name = loaded.name
        self.folder = loaded.folder
        self.heads = heads
        self.tree = tree
        self.lookup_tokens = lookup_tokens
        self.datastore = datastore
        self.lookup_min_ngram = lookup_min_ngram

    @property
    def context_length(self) -> int:
        """The longest sequence (prompt + generated) the model accepts."""
        return int(getattr(self.model.config, "max_position_embeddings", 2048))

    @property
    def eos_token_ids(self) -> list[int]:
        """Tokens that end a generation (the tokenizer's EOS and the config's)."""
        ids: set[int] = set()
        for source in (self.tokenizer.eos_token_id, self.model.config.eos_token_id):
            if isinstance(source, int):
                ids.add(source)
            elif isinstance(source, list | tuple):
                ids.update(int(i) for i in source)
        return sorted(ids)

    def encode(self, prompt: str | Messages) -> list[int]:
        """Token ids of ``prompt`` with the chat template applied.

        A string becomes one user message; a list of ``{"role", "content"}`` mappings is
        used as is. Models without a chat template get the plain text.
        """
        if isinstance(prompt, str):
            messages: list[dict[str, str]] = [{"role": "user", "content": prompt}]
        elif isinstance(prompt, Sequence) and all(
            isinstance(m, dict) and isinstance(m.get("role"), str) and "content" in m
            for m in prompt
        ):
            messages = [
                {str(k): str(v) for k, v in m.items()} for m in prompt if isinstance(m, dict)
            ]
        else:
            raise bad_value(
                "prompt",
                prompt,
                "it must be a string or a list of {'role': ..., 'content': ...} messages",
                "Pass 'Hello' or [{'role': 'user', 'content': 'Hello'}].",
            )
        if not messages:
            raise bad_value("prompt", prompt, "it holds no message", "Pass at least one message.")
        if getattr(self.tokenizer, "chat_template", None):
            text = self.tokenizer.apply_chat_template(
                messages, add_generation_prompt=True, tokenize=False
            )
            ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        else:
            text = "\n".join(str(m["content"]) for m in messages)
            ids = self.tokenizer(text)["input_ids"]
        return [int(i) for i in ids]

    def _check_lengths(
        self,
        prompt_tokens: int,
        max_new_tokens: int,
        *,
        prompt_name: str = "prompt",
        budget_name: str = "max_new_tokens",
    ) -> None:
        """Refuse a prompt, or a prompt + budget, beyond the context (callers name the args).

        Raises :class:`~tessera.errors.ContextLengthError` (an ``InvalidInputError``).
        """
        limit = self.context_length
        error = None
        if prompt_tokens >= limit:
            error = bad_value(
                prompt_name,
                f"<{prompt_tokens} tokens>",
                f"it is longer than the model's context of {limit} tokens",
                f"Shorten the {prompt_name}.",
            )
        elif prompt_tokens + max_new_tokens > limit:
            error = bad_value(
                budget_name,
                max_new_tokens,
                f"{prompt_name} ({prompt_tokens} tokens) + {budget_name} must fit the context "
                f"of {limit} tokens",
                f"Pass {budget_name} <= {limit - prompt_tokens}.",
            )
        if error is not None:
            raise ContextLengthError(str(error))

    def token_stream(
        self,
        prompt: str | Messages,
        *,
        max_new_tokens: int = 256,
        temperature: float = 0.0,
        top_p: float = 1.0,
        top_k: int | None = None,
        medusa: bool = True,
        seed: int | None = None,
        stats: DecodeStats | None = None,
        json_schema: Any = None,
        grammar: str | None = None,
        regex: str | None = None,
        constraint: Constraint | None = None,
    ) -> Iterator[list[int]]:
        """The token ids of each decoding step (the engine under :meth:`generate`).

        Takes :meth:`generate`'s arguments. ``stats`` (a
        :class:`~tessera.llm.medusa.DecodeStats`) is filled in as decoding goes; its
        ``finish_reason`` is set when the last step has been yielded.
        """
        from tessera.llm.medusa._decode import Sampling, medusa_generate, plain_generate

        max_new_tokens = check_max_tokens(max_new_tokens, name="max_new_tokens")
        check_bool("medusa", medusa)
        heads, tree = self.heads, self.tree
        # Sampling checks the rest against the contract shared with the HTTP service and CLI.
        sampling = Sampling(temperature=temperature, top_p=top_p, top_k=top_k, seed=seed)
        compiled = self._constraint_of(json_schema, grammar, regex, constraint)
        ids = self.encode(prompt)
        self._check_lengths(len(ids), max_new_tokens)
        state = compiled.start() if compiled is not None else None
        if medusa and heads is not None and tree is not None:
            return medusa_generate(
                self.model,
                heads,
                tree,
                ids,
                max_new_tokens=max_new_tokens,
                eos_token_ids=self.eos_token_ids,
                sampling=sampling,
                stats=stats,
                lookup_tokens=self.lookup_tokens,
                lookup_min_ngram=self.lookup_min_ngram,
                datastore=self.datastore,
                constraint=state,
            )
        return plain_generate(
            self.model,
            ids,
            max_new_tokens=max_new_tokens,
            eos_token_ids=self.eos_token_ids,
            sampling=sampling,
            stats=stats,
            constraint=state,
        )

    def constraint(
        self,
        *,
        json_schema: Any = None,
        grammar: str | None = None,
        regex: str | None = None,
    ) -> Constraint:
        """Validate and compile one constraint for this model, to reuse across generations.

        Pass the result as ``constraint=`` to :meth:`generate`, :meth:`stream` or
        :meth:`token_stream`; see :func:`tessera.llm.compile_constraint` for the three
        kinds and the errors.
        """
        from tessera.llm._structured import compile_constraint

        return compile_constraint(
            self.tokenizer,
            json_schema=json_schema,
            grammar=grammar,
            regex=regex,
            vocab_size=int(self.model.get_output_embeddings().weight.shape[0]),
            eos_token_ids=self.eos_token_ids,
        )

    def _constraint_of(
        self, json_schema: Any, grammar: str | None, regex: str | None, constraint: Any
    ) -> Constraint | None:
        from tessera.llm._structured import check_constraint, pick_constraint

        picked = pick_constraint(
            json_schema=json_schema, grammar=grammar, regex=regex, constraint=constraint
        )
        if picked is None:
            return None
        if picked[0] == "constraint":
            return check_constraint(constraint)
        return self.constraint(**{picked[0]: picked[1]})

    def generate(
        self,
        prompt: str | Messages,
        *,
        max_new_tokens: int = 256,
        temperature: float = 0.0,
        top_p: float = 1.0,
        top_k: int | None = None,
        medusa: bool = True,
        seed: int | None = None,
        json_schema: Any = None,
        grammar: str | None = None,
        regex: str | None = None,
        constraint: Constraint | None = None,
    ) -> Generation:
        """Generate a reply to ``prompt``.

        The sampling parameters follow one contract (:mod:`tessera.llm._sampling`), the
        same as :class:`~tessera.llm.backends.GenerationParams`'s and the HTTP service's.

        Parameters
        ----------
        prompt : str or list of dict
            A user message, or chat messages ``[{"role": ..., "content": ...}, ...]``; the
            model's chat template is applied.
        max_new_tokens : int, default=256
            Upper bound on generated tokens (>= 1); generation also stops at EOS.
        temperature : float, default=0.0
            In [0, 2]. 0 is greedy decoding; with Medusa, greedy output is identical to
            plain greedy. Above 0, tokens are sampled (Medusa then uses typical acceptance).
        top_p : float, default=1.0
            Nucleus sampling threshold in (0, 1] (only with temperature > 0).
        top_k : int, optional
            Sample only among the ``top_k`` (>= 1) most likely tokens (only with
            temperature > 0).
        medusa : bool, default=True
            Use the Medusa heads when the model has them.
        seed : int, optional
            Seed for sampling, in [0, 2**63 - 1].
        json_schema : dict or str, optional
            Keep the output inside this JSON Schema: the text parses and validates, unless
            ``max_new_tokens`` cuts it first (then ``finish_reason == "length"``).
        grammar : str, optional
            Keep the output inside this context-free grammar (Lark syntax, or llama.cpp's
            GBNF).
        regex : str, optional
            Keep the output inside this regular expression (the whole output matches).
        constraint : Constraint, optional
            A constraint compiled once with :meth:`constraint` (cheaper when many
            generations share it). At most one of ``json_schema``, ``grammar``, ``regex``
            and ``constraint``; it is checked before any decoding (see
            :func:`tessera.llm.compile_constraint`). Greedy output under a constraint is
            the same with and without Medusa.

        Returns
        -------
        Generation

        See Also
        --------
        stream : The same generation as text pieces, as they are decoded.
        """
        from tessera.llm.medusa._decode import DecodeStats

        stats = DecodeStats()
        compiled = self._constraint_of(json_schema, grammar, regex, constraint)
        steps = self.token_stream(
            prompt,
            max_new_tokens=max_new_tokens,
            temperature=temperature,
            top_p=top_p,
            top_k=top_k,
            medusa=medusa,
            seed=seed,
            stats=stats,
            constraint=compiled,
        )
        start = time.perf_counter()
        per_step: list[int] = []
        tokens: list[int] = []
        for step in steps:
            tokens.extend(step)
            per_step.append(len(step))
        seconds = time.perf_counter() - start
        return Generation(
            text=self.tokenizer.decode(tokens, skip_special_tokens=True),
            token_ids=tokens,
            prompt_tokens=stats.prompt_tokens,
            seconds=seconds,
            steps=len(per_step),
            medusa=medusa and self.heads is not None,
            accepted=per_step,
            finish_reason=stats.finish_reason or "stop",
            constraint=compiled,
        )

    def stream(
        self,
        prompt: str | Messages,
        *,
        max_new_tokens: int = 256,
        temperature: float = 0.0,
        top_p: float = 1.0,
        top_k: int | None = None,
        medusa: bool = True,
        seed: int | None = None,
        json_schema: Any = None,
        grammar: str | None = None,
        regex: str | None = None,
        constraint: Constraint | None = None,
    ) -> TextStream:
        """Generate a reply to ``prompt`` as text pieces; takes :meth:`generate`'s arguments.

        Everything is checked (constraint included) before this returns. The pieces join
        to :meth:`generate`'s text; the stream's ``finish_reason`` is set once exhausted.
        """
        from tessera.llm.medusa._decode import DecodeStats

        stats = DecodeStats()
        steps = self.token_stream(
            prompt,
            max_new_tokens=max_new_tokens,
            temperature=temperature,
            top_p=top_p,
            top_k=top_k,
            medusa=medusa,
            seed=seed,
            stats=stats,
            json_schema=json_schema,
            grammar=grammar,
            regex=regex,
            constraint=constraint,
        )
        return TextStream(self.text_pieces(steps), stats)

    def text_pieces(self, steps: Iterator[list[int]]) -> Iterator[str]:
        """Turn the token steps of :meth:`token_stream` into text pieces, as they come.

        Decodes incrementally and holds back a piece that ends inside a multi-byte
        character, so the pieces always join to the decoded text.
        """
        tokens: list[int] = []
        sent = ""
        for step in steps:
            tokens.extend(step)
            text = self.tokenizer.decode(tokens, skip_special_tokens=True)
            if text.endswith("\ufffd"):
                continue
            if len(text) > len(sent) and text.startswith(sent):
                yield text[len(sent) :]
                sent = text
        text = self.tokenizer.decode(tokens, skip_special_tokens=True)
        if len(text) > len(sent):
            yield text[len(sent) :]


def default_tree_nodes(threads: int | None) -> int:
    """Tree size used when the heads carry no tree: see :data:`DEFAULT_TREE_NODES`."""
    count = threads if threads is not None else 2
    return DEFAULT_TREE_NODES.get(count, DEFAULT_TREE_NODES_MANY_THREADS)


def default_weights(model: str | Path | None = None, dtype: str = "bfloat16") -> str:
    """The weight format :func:`load` decodes ``model`` with when it is given none.

    ``"q4_1"`` (the GGUF file's own 4-bit blocks) for the default model in bfloat16 where
    tessera's AMX kernel runs (:func:`tessera.llm._amx.available`): there a pass's rows
    cost little more than one row, the whole pass runs in C, and q4_1 decodes fastest.
    ``"bf16"`` elsewhere (PyTorch's int4 kernel pays for every row of a pass) and for
    other models (pass ``weights="q4_1"`` for another GGUF file with Q4_1 linears).
    """
    from tessera.llm import _amx
    from tessera.llm._model import DEFAULT_MODEL

    default = model is None or model == DEFAULT_MODEL
    return "q4_1" if default and dtype == "bfloat16" and _amx.available() else "bf16"


def load(
    model: str | Path | None = None,
    *,
    heads: str | Path | None = None,
    tree_nodes: int | None = None,
    lookup_tokens: int | None = None,
    datastore: bool = True,
    dtype: str = "bfloat16",
    threads: int | None = 1,
    weights: str | None = None,
) -> Runtime:
    """Load a model (the embedded default when ``model`` is None) for generation.

    Parameters
    ----------
    model : str, pathlib.Path or None, default=None
        None for the embedded SmolLM2-135M-Instruct (its Medusa heads ship with
        tessera), a transformers model folder, or a ``.gguf`` file.
    heads : str or pathlib.Path, optional
        A Medusa heads folder (:func:`tessera.llm.medusa.save_heads`). Default: the
        shipped heads for the default model, or ``<model folder>/medusa`` when present.
    tree_nodes : int, optional
        Rebuild the candidate tree with this many nodes from the heads' accuracies, 0 for
        the root alone (only drafted chains are verified; default: the tree saved with the
        heads; if none, :data:`DEFAULT_TREE_NODES`; with ``weights="q4_1"``, when the heads
        carry accuracies, :data:`DEFAULT_TREE_NODES_Q4_1_AMX` on tessera's AMX kernel and
        :data:`DEFAULT_TREE_NODES_Q4_1` elsewhere).
    lookup_tokens : int, optional
        Prompt-lookup tokens verified beside the heads' tree at each Medusa step, 0 to 32;
        0 for the heads alone (default: :data:`DEFAULT_LOOKUP_TOKENS`, or
        :data:`DEFAULT_LOOKUP_TOKENS_Q4_1` with ``weights="q4_1"``). Greedy output is plain
        greedy output either way.
    datastore : bool, default=True
        Also draft from the heads folder's ``datastore.npz`` (n-gram continuations from
        the heads' training answers) when prompt lookup finds no match of at least
        :data:`DEFAULT_LOOKUP_MIN_NGRAM` tokens; the chain is at most ``lookup_tokens``
        long. False drafts from the prompt alone (any match length).
    dtype : {"bfloat16", "float32"}, default="bfloat16"
    threads : int or None, default=1
        torch intra-op threads. One thread is fastest for this model size on a small
        shared CPU; None keeps torch's default.
    weights : {"bf16", "q4_1"} or None, default=None
        Passed to :func:`tessera.llm.load_model`: ``"q4_1"`` decodes with the GGUF file's
        own 4-bit blocks (the default model's; on CPUs with AMX through tessera's AMX
        kernel), greedy Medusa output still equal to plain greedy output on the same
        weights. None: :func:`tessera.llm.default_weights` (``"q4_1"`` for the default model on CPUs
        with AMX, where it decodes fastest; else ``"bf16"``).

    Returns
    -------
    Runtime
    """
    if threads is not None:
        threads = check_positive_int("threads", threads)
    if weights is None:
        weights = default_weights(model, dtype)
    if lookup_tokens is None:
        lookup_tokens = DEFAULT_LOOKUP_TOKENS_Q4_1 if weights == "q4_1" else DEFAULT_LOOKUP_TOKENS
    lookup_tokens = check_positive_int("lookup_tokens", lookup_tokens, minimum=0)
    if lookup_tokens > 32:
        raise bad_value(
            "lookup_tokens",
            lookup_tokens,
            "it must be at most 32 (each token is verified in every pass that has a match)",
            "Pass lookup_tokens between 0 and 32, or leave it out for the weights' default.",
        )
    set_threads(threads)
    require("torch")
    loaded = load_model(model, dtype=dtype, weights=weights)
    folder: Path | None = None
    if heads is not None:
        folder = Path(heads)
    elif loaded.name == DEFAULT_MODEL and default_heads_folder().is_dir():
        folder = default_heads_folder()
    elif (loaded.folder / "medusa").is_dir():
        folder = loaded.folder / "medusa"
    if folder is None:
        return Runtime(loaded)
    medusa_heads, tree = prepare_heads(
        loaded.model,
        folder,
        tree_nodes,
        threads,
        default_nodes=_default_nodes(weights),
    )
    from tessera.llm.medusa._datastore import DATASTORE_FILE, Datastore

    store = None
    if datastore and (folder / DATASTORE_FILE).is_file():
        store = Datastore.load(folder / DATASTORE_FILE)
    return Runtime(
        loaded,
        medusa_heads,
        tree,
        lookup_tokens,
        datastore=store,
        lookup_min_ngram=DEFAULT_LOOKUP_MIN_NGRAM if store is not None else 1,
    )


def _default_nodes(weights: str) -> int | None:
    """The tree size of the weight format's cost curve (None: the heads' saved tree)."""
    if weights != "q4_1":
        return None
    from tessera.llm import _amx

    return DEFAULT_TREE_NODES_Q4_1_AMX if _amx.available() else DEFAULT_TREE_NODES_Q4_1


def prepare_heads(
    model: Any,
    folder: Path,
    tree_nodes: int | None,
    threads: int | None,
    *,
    default_nodes: int | None = None,
) -> tuple[Any, Any]:
    """The heads in ``folder`` ready to decode with ``model``, and their candidate tree.

    The heads take the model's dtype and, on a batch-invariant model, its linear kernels;
    the tree is the one saved with them, or built from their accuracies with
    ``tree_nodes`` nodes (default: :func:`default_tree_nodes` for ``threads``).
    ``default_nodes`` (for the weight format's cost curve) takes the place of the saved
    tree when ``tree_nodes`` is None and the heads carry accuracies.
    """
    from tessera.llm._invariant import is_batch_invariant, use_invariant_linears
    from tessera.llm.medusa._io import load_heads
    from tessera.llm.medusa._tree import MedusaTree, build_tree

    medusa_heads, metadata = load_heads(folder)
    medusa_heads.to(next(model.parameters()).dtype)
    if is_batch_invariant(model):
        # same products as the model's own linears (weights reordered once in bf16)
        use_invariant_linears(medusa_heads)
    if tree_nodes is None and default_nodes is not None and metadata.accuracies:
        tree_nodes = default_nodes
    if tree_nodes is None and metadata.tree:
        return medusa_heads, MedusaTree.from_paths(metadata.tree)
    if not metadata.accuracies:
        raise bad_value(
            "heads",
            str(folder),
            "the heads folder has neither a tree nor accuracies to build one",
            "Save the heads with HeadsMetadata(tree=...) or accuracies=....",
        )
    nodes = default_tree_nodes(threads) if tree_nodes is None else tree_nodes
    if nodes == 0:  # the root alone: only drafted chains are verified
        return medusa_heads, MedusaTree.from_paths([])
    return medusa_heads, build_tree(metadata.accuracies, nodes)
