"""Records to token ids with labels on the assistant's tokens only.

The chat template renders the conversation; the text is cut where each assistant reply
starts and ends, and the pieces are tokenised one after the other. The prompt part is
therefore tokenised exactly as :meth:`tessera.llm.Runtime.encode` tokenises a prompt at
inference, and the reply tokens are the ones the model has to produce after it. Labels
are ``-100`` (ignored by the loss) everywhere except the assistant replies, whose
end-of-turn token is labelled too, so the model learns where to stop.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from tessera._validation import bad_value
from tessera.llm.tune._data import DataProblem, Record, check_records, read_lines

__all__ = ["IGNORE_INDEX", "Data", "Encoded", "encode_dataset", "encode_record", "length_problems"]

#: Fine-tuning data: a JSONL file, or the records themselves.
Data = str | Path | Sequence[Mapping[str, Any]]

#: The label cross-entropy ignores.
IGNORE_INDEX = -100


@dataclass(frozen=True)
class Encoded:
    """A tokenised record.

    Attributes
    ----------
    input_ids : list of int
    labels : list of int
        ``input_ids`` on assistant tokens, :data:`IGNORE_INDEX` elsewhere.
    line : int
        The record's line in its file.
    """

    input_ids: list[int]
    labels: list[int]
    line: int

    @property
    def trained_tokens(self) -> int:
        """How many tokens carry a label."""
        return sum(1 for label in self.labels if label != IGNORE_INDEX)


def _render(tokenizer: Any, messages: list[dict[str, str]], generation_prompt: bool) -> str:
    if getattr(tokenizer, "chat_template", None):
        return str(
            tokenizer.apply_chat_template(
                messages, add_generation_prompt=generation_prompt, tokenize=False
            )
        )
    # No chat template: plain turns, one a line (what Runtime.encode does for prompts).
    text = "\n".join(m["content"] for m in messages)
    return text + "\n" if generation_prompt or messages[-1]["role"] != "assistant" else text


def _end_ids(tokenizer: Any) -> set[int]:
    eos = tokenizer.eos_token_id
    if isinstance(eos, int):
        return {eos}
    return {int(i) for i in eos} if isinstance(eos, list | tuple) else set()


def encode_record(record: Record, tokenizer: Any) -> Encoded:
    """Tokenise ``record`` with the chat template; label the assistant replies only.

    Parameters
    ----------
    record : Record
    tokenizer : transformers.PreTrainedTokenizerBase
        The model's tokenizer (its chat template is used when it has one).

    Returns
    -------
    Encoded

    Raises
    ------
    InvalidInputError
        When the chat template does not render a conversation as the continuation of its
        shorter prefixes (the replies could not be located in the text).
    """
    chat = record.chat()
    ids: list[int] = []
    labels: list[int] = []
    rendered = ""
    end_ids = _end_ids(tokenizer)
    # As Runtime.encode: a chat template writes its own special tokens.
    plain = not getattr(tokenizer, "chat_template", None)
    for index, message in enumerate(chat):
        if message["role"] != "assistant":
            continue
        prompt = _render(tokenizer, chat[:index], generation_prompt=True)
        full = _render(tokenizer, chat[: index + 1], generation_prompt=False)
        if not (prompt.startswith(rendered) and full.startswith(prompt)):
            raise bad_value(
                "tokenizer.chat_template",
                "<template>",
                f"rendering record line {record.line} turn by turn does not extend the text "
                "(the template changes earlier turns when a turn is added)",
                "Fine-tune a model whose chat template appends turns (ChatML, Llama 3).",
            )
        head = tokenizer(prompt[len(rendered) :], add_special_tokens=plain and not ids)["input_ids"]
        reply = tokenizer(full[len(prompt) :], add_special_tokens=False)["input_ids"]
        # Label the reply up to and including its end-of-turn token; what the template
        # writes after it (a newline) is never generated, so it is not learnt.
        last_end = max((i for i, t in enumerate(reply) if t in end_ids), default=len(reply) - 1)
        ids += [int(t) for t in head] + [int(t) for t in reply]
        labels += [IGNORE_INDEX] * len(head)
        labels += [int(t) if i <= last_end else IGNORE_INDEX for i, t in enumerate(reply)]
        rendered = full
    return Encoded(input_ids=ids, labels=labels, line=record.line)


def length_problems(encoded: Sequence[Encoded], max_length: int) -> list[DataProblem]:
    """A problem for every record longer than ``max_length`` tokens."""
    return [
        DataProblem(
            item.line,
            "tokens",
            f"the record is {len(item.input_ids)} tokens long after the chat template, more "
            f"than max_length={max_length}. Shorten it, split the conversation, or raise "
            "max_length (at most the model's context).",
        )
        for item in encoded
        if len(item.input_ids) > max_length
    ]


def _as_line(item: Any) -> str:
    """An in-memory record as the JSONL line it stands for (checked like one)."""
    try:
        return json.dumps(item)
    except (TypeError, ValueError):
        return repr(item)  # not JSON: reported as such, with its position


def _records(data: Data, argument: str) -> tuple[str, list[Record], list[DataProblem]]:
    if isinstance(data, str | Path):
        lines = read_lines(data, argument=argument)
        source = str(data)
    elif isinstance(data, Sequence) and not isinstance(data, bytes):
        lines = [_as_line(item) for item in data]
        source = argument
    else:
        raise bad_value(
            argument,
            data,
            "it must be a JSONL file path or a list of record mappings",
            "Pass 'train.jsonl'.",
        )
    records, problems = check_records(lines)
    return source, records, [replace(p, source=source) for p in problems]


def encode_dataset(
    data: Data, tokenizer: Any, *, max_length: int, argument: str = "data"
) -> tuple[str, list[Encoded], list[DataProblem]]:
    """Check every record of ``data`` and tokenise the valid ones.

    Returns
    -------
    source : str
        The file name (or ``argument`` for in-memory records).
    encoded : list of Encoded
        The records that break no rule.
    problems : list of DataProblem
        Every problem: JSON, keys, roles, alternation, empty content, and records longer
        than ``max_length`` tokens after the chat template.
    """
    source, records, problems = _records(data, argument)
    encoded = [encode_record(r, tokenizer) for r in records]
    problems += [replace(p, source=source) for p in length_problems(encoded, max_length)]
    return source, [e for e in encoded if len(e.input_ids) <= max_length], problems
