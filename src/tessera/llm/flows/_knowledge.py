"""A knowledge base over a folder of local documents, searched with BM25.

Documents are Markdown (``.md``) or plain text (``.txt``) files anywhere under the folder
(hidden files and folders are skipped, and so are symbolic links that lead out of it).
Markdown is split at its headings: each section is one passage, titled by its heading path
("Refunds > How long does a refund take?"); plain text is split at blank lines. A section
longer than ``max_chars`` is cut between its paragraphs. Each passage keeps its source file
(relative to the folder, with ``/``), its position in that file and the line it starts on.

Passages are indexed with ``bm25s`` (Lucene's BM25 variant, k1=1.5, b=0.75) after
lower-casing, English stop-word removal and Snowball stemming (PyStemmer), title and text
together. :func:`knowledge_base` keeps one index per folder per process and rebuilds it when
a document is added, removed or changed (size or modification time).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from tessera._validation import bad_value, check_positive_int
from tessera.errors import InvalidInputError
from tessera.llm._torch import require

__all__ = [
    "DOCUMENT_SUFFIXES",
    "KnowledgeBase",
    "Passage",
    "format_passages",
    "knowledge_base",
    "split_markdown",
    "split_text",
]

#: The file types a knowledge base reads.
DOCUMENT_SUFFIXES = (".md", ".txt")

_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_BLANK = re.compile(r"\n\s*\n")


@dataclass(frozen=True)
class Passage:
    """One searchable piece of a document.

    Attributes
    ----------
    text : str
        The passage's text (a section's body without its heading).
    source : str
        The document's path relative to the knowledge base folder, with ``/``.
    score : float
        The BM25 score for the query that found it (0.0 outside search results).
    title : str
        The heading path of a Markdown section, ``" > "``-joined ("" for plain text).
    position : int
        The passage's index among its document's passages, from 0.
    line : int
        The line of the document the passage starts on, from 1.
    """

    text: str
    source: str
    score: float = 0.0
    title: str = ""
    position: int = 0
    line: int = 1

    def cite(self) -> str:
        """``source#position``: a short, stable reference to the passage."""
        return f"{self.source}#{self.position}"


def _paragraphs(lines: list[str], first_line: int) -> Iterator[tuple[str, int]]:
    """The blank-line separated paragraphs of ``lines``, each with its first line number."""
    paragraph: list[str] = []
    start = first_line
    for number, line in enumerate([*lines, ""], start=first_line):
        if line.strip():
            if not paragraph:
                start = number
            paragraph.append(line.rstrip())
        elif paragraph:
            yield "\n".join(paragraph).strip(), start
            paragraph = []


def _chunks(lines: list[str], first_line: int, max_chars: int) -> Iterator[tuple[str, int]]:
    """Paragraphs joined into chunks of at most ``max_chars`` (a longer paragraph stays
    whole); each chunk with the line it starts on."""
    chunk: list[str] = []
    chunk_line = first_line
    for paragraph, line in _paragraphs(lines, first_line):
        if chunk and len("\n\n".join([*chunk, paragraph])) > max_chars:
            yield "\n\n".join(chunk), chunk_line
            chunk = []
        if not chunk:
            chunk_line = line
        chunk.append(paragraph)
    if chunk:
        yield "\n\n".join(chunk), chunk_line


def split_markdown(text: str, source: str, *, max_chars: int = 1000) -> list[Passage]:
    """The passages of a Markdown document: one per section, long sections cut."""
    passages: list[Passage] = []
    headings: list[tuple[int, str]] = []
    body: list[str] = []
    body_line = 1
    in_fence = False

    def flush() -> None:
        title = " > ".join(h for _, h in headings)
        for chunk, line in _chunks(body, body_line, max_chars):
            passages.append(Passage(chunk, source, title=title, position=len(passages), line=line))

    for number, raw in enumerate(text.splitlines(), start=1):
        if raw.lstrip().startswith(("```", "~~~")):
            in_fence = not in_fence
        heading = None if in_fence else _HEADING.match(raw)
        if heading is None:
            if not body:
                body_line = number
            body.append(raw)
            continue
        flush()
        level = len(heading.group(1))
        headings = [h for h in headings if h[0] < level] + [(level, heading.group(2))]
        body, body_line = [], number + 1
    flush()
    return passages


def split_text(text: str, source: str, *, max_chars: int = 1000) -> list[Passage]:
    """The passages of a plain-text document: paragraphs, joined up to ``max_chars``."""
    return [
        Passage(chunk, source, position=i, line=line)
        for i, (chunk, line) in enumerate(_chunks(text.splitlines(), 1, max_chars))
    ]


def _documents(folder: Path) -> list[Path]:
    """The documents under the (resolved) ``folder``; links that lead out of it are skipped."""
    return sorted(
        path
        for path in folder.rglob("*")
        if path.suffix.lower() in DOCUMENT_SUFFIXES
        and path.is_file()
        and not any(part.startswith(".") for part in path.relative_to(folder).parts)
        and path.resolve().is_relative_to(folder)
    )


def _fingerprint(folder: Path) -> tuple[tuple[str, int, int], ...]:
    entries = []
    for path in _documents(folder):
        stat = path.stat()
        entries.append((path.relative_to(folder).as_posix(), stat.st_size, stat.st_mtime_ns))
    return tuple(entries)


class KnowledgeBase:
    """BM25 search over the documents in one folder.

    Parameters
    ----------
    folder : str or Path
        A folder of ``.md`` and ``.txt`` files (searched recursively).
    max_chars : int, default=1000
        Sections longer than this are cut between paragraphs.

    Notes
    -----
    The index is built on first use and rebuilt whenever the folder's documents change;
    :func:`knowledge_base` shares one instance per folder. Searching is thread-safe.
    """

    def __init__(self, folder: str | Path, *, max_chars: int = 1000) -> None:
        path = Path(folder).expanduser()
        if not path.is_dir():
            raise bad_value(
                "folder",
                str(folder),
                "it must be an existing folder of .md or .txt documents",
                "Pass the path of the knowledge base folder (relative paths in a flow "
                "resolve against the flow file's folder).",
            )
        self.folder = path.resolve()
        self.max_chars = check_positive_int("max_chars", max_chars, minimum=50)
        self._lock = threading.Lock()
        self._fingerprint: tuple[tuple[str, int, int], ...] | None = None
        self._passages: tuple[Passage, ...] = ()
        self._tokenizer: Any = None
        self._index: Any = None
        self.builds = 0

    def _read(self) -> list[Passage]:
        passages: list[Passage] = []
        for path in _documents(self.folder):
            source = path.relative_to(self.folder).as_posix()
            try:
                text = path.read_text(encoding="utf-8")
            except UnicodeDecodeError as exc:
                raise InvalidInputError(
                    f"document {source!r} in folder={str(self.folder)!r} is not UTF-8 text "
                    f"({exc.reason} at byte {exc.start}). Save it as UTF-8 or move it out of "
                    "the knowledge base folder."
                ) from None
            split = split_markdown if path.suffix.lower() == ".md" else split_text
            passages.extend(split(text, source, max_chars=self.max_chars))
        return passages

    def _refresh_locked(self) -> None:
        fingerprint = _fingerprint(self.folder)
        if fingerprint == self._fingerprint:
            return
        bm25s = require("bm25s")
        stemmer = require("Stemmer").Stemmer("english")
        passages = self._read()
        tokenizer = bm25s.tokenization.Tokenizer(stemmer=stemmer, stopwords="en")
        index = None
        if passages:
            ids = tokenizer.tokenize(
                [f"{p.title}\n{p.text}" for p in passages], return_as="ids", show_progress=False
            )
            index = bm25s.BM25(k1=1.5, b=0.75, method="lucene")
            index.index(ids, show_progress=False)
        self._passages, self._tokenizer, self._index = tuple(passages), tokenizer, index
        self._fingerprint = fingerprint
        self.builds += 1

    def refresh(self) -> None:
        """Rebuild the index now if any document was added, removed or changed."""
        with self._lock:
            self._refresh_locked()

    @property
    def passages(self) -> tuple[Passage, ...]:
        """Every passage, in document order (documents sorted by path)."""
        self.refresh()
        return self._passages

    def query_tokens(self, query: str) -> list[str]:
        """The index terms of ``query`` (stemmed, stop words out, unknown terms dropped)."""
        with self._lock:
            self._refresh_locked()
            vocab = {i: t for t, i in self._tokenizer.get_vocab_dict().items()}
            ids = self._tokenizer.tokenize([query], update_vocab=False, show_progress=False)[0]
        return [vocab[i] for i in ids if vocab.get(i)]

    def _scored(self, query: str) -> tuple[tuple[Passage, ...], list[float]]:
        """The passages and their scores, read under one lock (a rebuild cannot split them)."""
        _check_query(query)
        with self._lock:
            self._refresh_locked()
            passages = self._passages
            if self._index is None:
                return passages, []
            ids = self._tokenizer.tokenize([query], update_vocab=False, show_progress=False)[0]
            if not ids:
                return passages, [0.0] * len(passages)
            return passages, [float(s) for s in self._index.get_scores(ids)]

    def scores(self, query: str) -> list[float]:
        """The BM25 score of every passage (in :attr:`passages` order) for ``query``."""
        return self._scored(query)[1]

    def search(self, query: str, top_k: int = 3) -> list[Passage]:
        """The ``top_k`` passages with the highest BM25 score for ``query``.

        Passages sharing no term with the query (score 0) are never returned, so fewer than
        ``top_k`` come back when few match; ties keep document order.

        Parameters
        ----------
        query : str
            Free text (a question, a ticket).
        top_k : int, default=3
            How many passages at most (>= 1).

        Returns
        -------
        list of Passage
            Best first, each with its ``score``.
        """
        check_positive_int("top_k", top_k)
        passages, scores = self._scored(query)
        order = sorted(range(len(scores)), key=lambda i: -scores[i])
        return [replace(passages[i], score=scores[i]) for i in order[:top_k] if scores[i] > 0]

    def __repr__(self) -> str:
        return f"KnowledgeBase({str(self.folder)!r})"


def _check_query(query: Any) -> None:
    if not isinstance(query, str) or not query.strip():
        raise bad_value(
            "query",
            query,
            "it must be a non-empty string",
            "Pass the question or text to search for.",
        )


_CACHE: dict[tuple[Path, int], KnowledgeBase] = {}
_CACHE_LOCK = threading.Lock()


def knowledge_base(folder: str | Path, *, max_chars: int = 1000) -> KnowledgeBase:
    """The process-wide :class:`KnowledgeBase` of ``folder`` (one index per folder).

    The index is kept between calls and rebuilt only when the folder's documents change.
    """
    path = Path(folder).expanduser()
    key = (path.resolve(), max_chars)
    with _CACHE_LOCK:
        found = _CACHE.get(key)
        if found is None:
            found = _CACHE[key] = KnowledgeBase(path, max_chars=max_chars)
        return found


def format_passages(passages: list[Passage]) -> str:
    """Passages numbered for a prompt: ``[1] title (source)`` then the text."""
    blocks = []
    for number, passage in enumerate(passages, start=1):
        title = f"{passage.title} " if passage.title else ""
        blocks.append(f"[{number}] {title}({passage.source})\n{passage.text}")
    return "\n\n".join(blocks)
