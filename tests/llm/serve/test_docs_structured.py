"""The HTTP section of the structured-output how-to (docs/how-to/structured-output.md)
runs as written, every command, against a real ``tessera serve`` (issue 19).

The section is read and run by the serve how-to's reader (``test_docs_serve``): each
bash command and Python script in order, each output block compared with what the
command printed (the model's text and ``…`` match anything). Only the ``## HTTP``
section is run here; the page's other sections are tested with the parts they show.
"""

from __future__ import annotations

from pathlib import Path

from test_docs_serve import Reader, read_steps, reader  # noqa: F401  (reader: a fixture)

PAGE = Path(__file__).resolve().parents[3] / "docs" / "how-to" / "structured-output.md"


def http_section(page: Path = PAGE) -> str:
    """The page's ``## HTTP`` section, up to the next ``## `` heading."""
    text = page.read_text(encoding="utf-8")
    start = text.index("\n## HTTP\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end >= 0 else len(text)]


def test_the_http_section_has_commands_and_outputs(tmp_path: Path) -> None:
    section = tmp_path / "http.md"
    section.write_text(http_section(), encoding="utf-8")
    steps = read_steps(section)
    kinds = [s.kind for s in steps]
    assert kinds.count("serve") == 1 and kinds.count("python") >= 2, kinds
    assert sum(s.text.startswith("curl ") for s in steps) >= 3
    assert sum(s.expected is not None for s in steps) >= 5


def test_every_command_of_the_http_section_runs_as_written(
    reader: Reader,  # noqa: F811
    tmp_path: Path,
) -> None:
    section = tmp_path / "http.md"
    section.write_text(http_section(), encoding="utf-8")
    served: set[int] = set()
    for step in read_steps(section):
        if step.kind == "serve":
            reader.serve(step, first_of_block=step.block not in served)
            served.add(step.block)
        else:
            reader.check(step, reader.run(step))
