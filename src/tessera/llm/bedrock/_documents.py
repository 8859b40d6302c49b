"""Converse's ``document`` and ``image`` content blocks, for local text-only models.

The local models read text, so a document block becomes text the model reads in place
of the block, and an image block is refused:

- ``txt``, ``md`` and ``csv`` documents are decoded as UTF-8 and given as they are;
  ``html`` documents are reduced to their text (tags, scripts and styles dropped). Each
  is framed as ``[document: NAME (FORMAT)]`` ... ``[end of document: NAME]``, with the
  block's ``context``, if any, on the line after the opening;
- ``pdf``, ``doc``, ``docx``, ``xls`` and ``xlsx`` documents, and sources other than
  ``bytes`` or ``text`` (``s3Location``, ``content``), are a ValidationException naming
  the block: convert them to text first;
- image, video and audio blocks are a ValidationException naming the block, as Bedrock
  answers for a model without that modality.

A document's ``name`` follows Bedrock's rule (1 to 200 ASCII letters, digits, spaces,
hyphens, parentheses and square brackets, no two spaces in a row), which also keeps
instructions out of the frame around the text.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from html.parser import HTMLParser
from typing import Any

from tessera._validation import bad_value

__all__ = ["TEXT_FORMATS", "document_text", "refuse_media"]

#: Document formats read locally.
TEXT_FORMATS = ("txt", "md", "csv", "html")
_BINARY_FORMATS = ("pdf", "doc", "docx", "xls", "xlsx")
_NAME = re.compile(r"^(?!.*\s\s)[A-Za-z0-9()\[\] -]{1,200}$")


class _HtmlText(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag in ("script", "style"):
            self._skipping += 1
        elif tag in ("br", "p", "div", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6"):
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self._skipping:
            self._skipping -= 1

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def _html_text(html: str) -> str:
    parser = _HtmlText()
    parser.feed(html)
    parser.close()
    lines = (" ".join(line.split()) for line in "".join(parser.parts).splitlines())
    return "\n".join(line for line in lines if line)


def refuse_media(where: str, kind: str) -> Exception:
    """The error for an image, video or audio block at ``where``."""
    return bad_value(
        f"{where}.{kind}",
        "...",
        f"this model doesn't support the {kind} content block: local models read text "
        f"(documents in {', '.join(TEXT_FORMATS)} are read as text)",
        f"Describe the {kind} in a text block, or leave it out.",
    )


def document_text(where: str, block: Any) -> str:
    """The text a ``document`` block at ``where`` (``messages[0].content[1]``) stands for."""
    field = f"{where}.document"
    if not isinstance(block, Mapping):
        raise bad_value(field, block, "it must be a JSON object", "Send {format, name, source}.")
    unknown = sorted(set(block) - {"format", "name", "source", "context", "citations"})
    if unknown:
        raise bad_value(f"{field}.{unknown[0]}", "...", "it is not a document field", "Drop it.")
    name = block.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise bad_value(
            f"{field}.name",
            name,
            "a document name is 1 to 200 ASCII letters, digits, spaces, hyphens, "
            "parentheses or square brackets, with no two spaces in a row",
            "Rename the document, e.g. 'report-2026'.",
        )
    kind = block.get("format", "txt")
    if kind in _BINARY_FORMATS:
        raise bad_value(
            f"{field}.format",
            kind,
            f"local models read documents in {', '.join(TEXT_FORMATS)}; {kind} files are not "
            "converted here",
            "Convert the document to text (txt, md or html) and send that.",
        )
    if kind not in TEXT_FORMATS:
        raise bad_value(
            f"{field}.format",
            kind,
            f"it must be one of {', '.join(TEXT_FORMATS + _BINARY_FORMATS)}",
            "Fix the format.",
        )
    source = block.get("source")
    if not isinstance(source, Mapping) or len(source) != 1:
        raise bad_value(
            f"{field}.source", source, "it must hold exactly one of bytes or text", "Fix it."
        )
    ((how, value),) = source.items()
    if how == "text":
        if not isinstance(value, str):
            raise bad_value(f"{field}.source.text", value, "it must be a string", "Send text.")
        text = value
    elif how == "bytes":
        if not isinstance(value, str):
            raise bad_value(
                f"{field}.source.bytes", value, "it must be base64 text", "Send the bytes."
            )
        try:
            raw = base64.b64decode(value, validate=True)
            text = raw.decode("utf-8-sig")
        except (binascii.Error, ValueError):
            raise bad_value(
                f"{field}.source.bytes",
                f"{value[:20]}...",
                f"a {kind} document must be UTF-8 text, base64-encoded",
                "Encode the file as UTF-8.",
            ) from None
    else:
        raise bad_value(
            f"{field}.source.{how}",
            "...",
            "documents are read from bytes or text here (S3 locations and content blocks "
            "are not fetched)",
            "Send the document's bytes.",
        )
    if kind == "html":
        text = _html_text(text)
    context = block.get("context")
    if context is not None and not isinstance(context, str):
        raise bad_value(f"{field}.context", context, "it must be a string", "Send text.")
    head = f"[document: {name} ({kind})]\n" + (f"{context}\n" if context else "")
    return f"{head}{text.strip()}\n[end of document: {name}]\n"
