"""The CLI reference (docs/reference/cli.md) stays complete and true to the command tree.

The tree is typer's click command built from :data:`tessera.cli._app.app` after importing the
command modules that :func:`tessera.cli._app.main` imports (read from its source, so a new
module is covered the day it is registered). No model is loaded: the command modules import
their libraries inside the commands.

* Every command path (``prompts create``, ``llm medusa train``, the groups too) is mentioned
  as ``tessera <path>`` in some section of the page, and every long option of the command
  (``--scopes``, ``--no-trace``) appears in a section that mentions it.
* The reverse: every ``tessera ...`` in the page's code names an existing command, and the
  long options written after it are options of that command (no stale names).
* The page's in-page anchors point at headings, and it links the how-to pages of the groups.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer
from hypothesis import given
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "docs" / "reference" / "cli.md"
HOW_TO = ("prompts.md", "serve.md", "guardrails.md", "fine-tune.md", "flows.md")

CODE_SPAN = re.compile(r"`([^`\n]+)`")
FENCED = re.compile(r"^```[^\n]*\n(.*?)^```", re.DOTALL | re.MULTILINE)
LONG_OPTION = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*(?![\w-])")
COMMAND_WORD = re.compile(r"[a-z][a-z0-9-]*(?:\|[a-z][a-z0-9-]*)*")  # also train|bench|export
ANCHOR_LINK = re.compile(r"\]\(#([^)\s]+)\)")


@dataclass(frozen=True)
class Command:
    """One node of the command tree: its path below ``tessera`` and its long options."""

    path: tuple[str, ...]
    options: tuple[str, ...]
    subcommands: tuple[str, ...]

    @property
    def name(self) -> str:
        return " ".join(self.path) or "(root)"


def _main_modules() -> list[str]:
    """The command modules ``tessera.cli._app.main`` imports for their registrations."""
    from tessera.cli import _app

    tree = ast.parse(inspect.getsource(_app.main))
    return [
        f"{node.module}.{alias.name}"
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module == "tessera.cli"
        for alias in node.names
    ]


def _walk(command: Any, path: tuple[str, ...]) -> list[Command]:
    children: dict[str, Any] = getattr(command, "commands", None) or {}
    options = tuple(
        opt
        for param in command.params
        if param.param_type_name == "option" and not param.hidden
        for opt in (*param.opts, *param.secondary_opts)
        if opt.startswith("--")
    )
    found = [Command(path, options, tuple(sorted(children)))]
    for name, child in sorted(children.items()):
        if not child.hidden:
            found += _walk(child, (*path, name))
    return found


def command_tree() -> list[Command]:
    """Every command of ``tessera``, the root first, as ``main()`` registers them."""
    modules = _main_modules()
    assert modules, "found no command-module imports in tessera.cli._app.main()"
    for module in modules:
        importlib.import_module(module)
    from tessera.cli._app import app

    return _walk(typer.main.get_command(app), ())


def sections(text: str) -> list[str]:
    """The page cut at its headings; the intro (before the first heading below the title) first."""
    return re.split(r"^(?=#{2,} )", text, flags=re.MULTILINE)


def _mentions(section: str, path: tuple[str, ...]) -> bool:
    if not path:
        return False
    words = r"\s+".join(re.escape(word) for word in path)
    return re.search(rf"(?<![\w.-])tessera\s+{words}(?![\w-])", section) is not None


def _has_option(text: str, option: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", text) is not None


def missing_entries(text: str, commands: list[Command]) -> list[str]:
    """What the page lacks: ``'prompts create'`` for a command, ``'keys create --scopes'``."""
    parts = sections(text)
    missing: list[str] = []
    for command in commands:
        where = [parts[0]] if not command.path else [s for s in parts if _mentions(s, command.path)]
        if not where:
            missing.append(command.name)
            continue
        body = "\n".join(where)
        missing += [f"{command.name} {o}" for o in command.options if not _has_option(body, o)]
    return missing


def code_snippets(text: str) -> list[str]:
    """Inline code spans and the lines of fenced blocks, table escapes (``\\|``) undone."""
    lines = [line for block in FENCED.findall(text) for line in block.splitlines()]
    spans = CODE_SPAN.findall(FENCED.sub("", text))
    return [snippet.replace("\\|", "|") for snippet in (*lines, *spans)]


def stale_entries(text: str, commands: list[Command]) -> list[str]:
    """``tessera ...`` in the page's code that names no command, or an option it lacks."""
    by_path = {c.path: c for c in commands}
    stale: list[str] = []
    for snippet in code_snippets(text):
        for match in re.finditer(r"(?<![\w.-])tessera\s+(.*)", snippet):
            words = match.group(1).split()
            path: tuple[str, ...] = ()
            while words and by_path[path].subcommands and COMMAND_WORD.fullmatch(words[0]):
                names = words.pop(0).split("|")
                unknown = [n for n in names if (*path, n) not in by_path]
                if unknown:
                    stale.append(f"`{snippet}`: no command {' '.join((*path, unknown[0]))!r}")
                    break
                path = (*path, names[0])
            else:
                allowed = {*by_path[path].options, "--help"}
                rest = " ".join(words)
                stale += [
                    f"`{snippet}`: {' '.join(path) or 'tessera'} has no option {option}"
                    for option in LONG_OPTION.findall(rest)
                    if option not in allowed
                ]
    return stale


def github_slug(heading: str) -> str:
    """The anchor GitHub (and python-markdown's toc) gives a heading."""
    text = heading.replace("`", "").strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


COMMANDS = command_tree()
TEXT = REFERENCE.read_text(encoding="utf-8")


def test_the_tree_holds_the_commands_of_this_session() -> None:
    """The walk reaches nested groups and typer's secondary options, so the checks bite."""
    by_name = {c.name: c for c in COMMANDS}
    for name in ("prompts create", "keys revoke", "llm medusa train", "guard check", "serve"):
        assert name in by_name, sorted(by_name)
    assert "--scopes" in by_name["keys create"].options
    assert "--no-trace" in by_name["flows run"].options
    assert "--version" in by_name["(root)"].options


def test_every_command_and_long_option_is_documented() -> None:
    missing = missing_entries(TEXT, COMMANDS)
    assert not missing, f"docs/reference/cli.md does not document: {', '.join(missing)}"


def test_the_page_names_no_command_or_option_that_does_not_exist() -> None:
    stale = stale_entries(TEXT, COMMANDS)
    assert not stale, "docs/reference/cli.md is stale:\n" + "\n".join(stale)


def test_in_page_anchors_point_at_headings_and_the_how_tos_are_linked() -> None:
    headings = re.findall(r"^#{1,6} (.+)$", TEXT, flags=re.MULTILINE)
    slugs = {github_slug(h) for h in headings}
    broken = sorted(set(ANCHOR_LINK.findall(TEXT)) - slugs)
    assert not broken, f"anchors without a heading: {broken}; headings give {sorted(slugs)}"
    unlinked = [page for page in HOW_TO if f"](../how-to/{page})" not in TEXT]
    assert not unlinked, f"link the how-to pages {unlinked} from docs/reference/cli.md"


def _documented_pairs() -> list[tuple[Command, str]]:
    return [(c, o) for c in COMMANDS for o in c.options]


@given(st.sampled_from(_documented_pairs()))
def test_an_option_struck_from_its_sections_is_reported(pair: tuple[Command, str]) -> None:
    """Metamorphic: delete one option from the sections of its command and only then is
    it missing there (other commands sharing the option name may be reported too)."""
    command, option = pair
    parts = sections(TEXT)
    pattern = re.compile(rf"(?<![\w-]){re.escape(option)}(?![\w-])")
    struck = "".join(
        pattern.sub("", part) if (_mentions(part, command.path) or not command.path) else part
        for part in parts
    )
    assert f"{command.name} {option}" in missing_entries(struck, COMMANDS)


@given(st.sampled_from([c for c in COMMANDS if c.path]))
def test_a_command_never_mentioned_is_reported(command: Command) -> None:
    """Metamorphic: rename every mention of the command and it is reported as missing,
    and a snippet calling it by the new name is reported as stale."""
    words = r"\s+".join(re.escape(word) for word in command.path)
    renamed = re.sub(rf"(?<![\w.-])tessera\s+{words}(?![\w-])", "tessera zz-renamed", TEXT)
    assert command.name in missing_entries(renamed, COMMANDS)
    assert any("zz-renamed" in entry for entry in stale_entries(renamed, COMMANDS))


def test_a_stale_option_in_an_example_is_reported() -> None:
    text = TEXT + "\n`tessera keys create ci --scope admin`\n`tessera prompts publish x`\n"
    stale = stale_entries(text, COMMANDS)
    assert any("keys create has no option --scope" in s for s in stale), stale
    assert any("no command 'prompts publish'" in s for s in stale), stale
