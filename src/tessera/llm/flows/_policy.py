"""What the operator lets flows do: the Code allow-list and the folders flows may use.

A flow document is data that someone else may write (a ``flows:write`` key on the HTTP
service); these are the operator's rules about what such a document may reach. Each rule
lives here once, and validation (so saving over HTTP), the nodes when they run and the
batch evaluators all apply it:

* :func:`code_refusal` / :func:`resolve_code` / :func:`code_problems`: which
  ``package.module:function`` a Code node (or a function evaluator) may call;
* :func:`folder_refusal` over :func:`check_retrieval_roots`: which folders a Retrieval node
  may read;
* :func:`folder_refusal` over :func:`check_storage_roots`: which folders a Storage node may
  write (and read back).

Allow-list entries
------------------
An entry is ``package.module:NAME`` or ``package.module:PATTERN``; the module part is
always exact (no patterns, no bare ``*``).

* ``mod:NAME`` (no ``*``, ``?`` or ``[``) allows exactly ``mod.NAME``, whatever it is: a
  function imported into ``mod``, a class, a private ``_helper``. Naming it is the
  operator's explicit choice.
* ``mod:*`` (or ``mod:clean_*``, any shell pattern over the name) allows the *public
  functions defined in* ``mod`` whose name matches: a plain or built-in function in the
  module's own namespace, whose ``__module__`` is ``mod`` and whose name does not start
  with ``_``. Names ``mod`` merely imported (``from subprocess import run``), classes,
  other callables and private helpers are refused; name them exactly to allow them.

Retrieval roots and storage roots
---------------------------------
A Retrieval or Storage node's folder is resolved (relative to the flow file's folder,
``~`` expanded, symbolic links followed) and must lie inside one of its roots:

* Retrieval reads inside the knowledge folders shipped with tessera
  (:func:`default_retrieval_roots`) and the folders the operator names
  (``retrieval_roots=``, ``--retrieval-root``);
* Storage writes and reads ``<key>.json`` / ``<key>.txt`` only inside the folders the
  operator names (``storage_roots=``, ``--storage-root``): none by default, so a flow
  writes no file until the operator names where.

The two lists are separate on purpose. Reading is not writing: a folder retrieval may
search is not one flows may change (a Storage node writing ``<key>.txt`` into a knowledge
folder would plant passages in every later search), and a folder flows may write is not
searched unless the operator names it for both.
"""

from __future__ import annotations

import fnmatch
import importlib
import inspect
import os
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from tessera._validation import bad_value
from tessera.errors import InvalidInputError
from tessera.llm.flows._spec import Problem

__all__ = [
    "Folders",
    "RetrievalRoots",
    "StorageRoots",
    "check_allowed_code",
    "check_retrieval_roots",
    "check_storage_roots",
    "code_allowed",
    "code_refusal",
    "default_retrieval_roots",
    "folder_refusal",
    "resolve_code",
]

#: Folders, or one folder: what the validators and runners take as roots.
Folders = Iterable[str | os.PathLike[str]] | str | os.PathLike[str]
#: What the validators and runners take as ``retrieval_roots``.
RetrievalRoots = Folders
#: What the validators and runners take as ``storage_roots``.
StorageRoots = Folders

_ENTRY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z0-9_*?\[\]!]+")
_PATTERN_CHARACTERS = frozenset("*?[")


def check_allowed_code(allowed_code: Iterable[str] | str) -> tuple[str, ...]:
    """``allowed_code`` as a tuple, each entry checked to be ``package.module:NAME|PATTERN``.

    Raises
    ------
    InvalidInputError
        Naming the first malformed entry (a bare ``*``, a pattern in the module part).
    """
    entries = (allowed_code,) if isinstance(allowed_code, str) else tuple(allowed_code)
    for entry in entries:
        if not isinstance(entry, str) or not _ENTRY.fullmatch(entry):
            raise bad_value(
                "allowed_code",
                entry,
                "each entry is 'package.module:function' (that one function) or "
                "'package.module:*' (the public functions defined in that module); the module "
                "part is exact",
                "Pass e.g. 'mypkg.steps:clean' or 'mypkg.steps:*'.",
            )
    return entries


def _split(entry: str) -> tuple[str, str]:
    module, _, name = entry.partition(":")
    return module, name


def _is_pattern(name: str) -> bool:
    return not _PATTERN_CHARACTERS.isdisjoint(name)


def code_refusal(function: str, allowed_code: Iterable[str]) -> str | None:
    """Why ``"package.module:function"`` may not be called under ``allowed_code``, or None.

    The one rule behind validation, Code nodes and function evaluators (see the module
    notes): an exact entry allows that name; a pattern entry allows only public functions
    defined in the module. Checking a pattern entry imports the module (it is allow-listed).

    Returns
    -------
    str or None
        ``None`` when the call is allowed, else the reason (a phrase to put after
        "function=... is not allowed:").
    """
    entries = tuple(allowed_code)
    module_name, name = _split(function)
    patterns = []
    for entry in entries:
        entry_module, entry_name = _split(entry)
        if entry_module != module_name:
            continue
        if entry_name == name:
            return None  # named exactly: the operator's explicit choice
        if _is_pattern(entry_name) and fnmatch.fnmatchcase(name, entry_name):
            patterns.append(entry)
    if not patterns:
        return f"it is not in the allow-list ({', '.join(entries) or 'empty'})"
    shown = ", ".join(patterns)
    if name.startswith("_"):
        return f"{shown} allows public functions only, and {name!r} is private"
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # noqa: BLE001 - any failure to import is a refusal with its reason
        return f"module {module_name!r} cannot be imported ({type(exc).__name__}: {exc})"
    # The module's own namespace only: no module-level __getattr__, no class attributes.
    found = vars(module).get(name)
    if found is None:
        return f"module {module_name!r} defines no function {name!r}"
    if not (inspect.isfunction(found) or inspect.isbuiltin(found)):
        return (
            f"{shown} allows functions only, and {module_name}.{name} is a "
            f"{'class' if inspect.isclass(found) else type(found).__name__}"
        )
    defined_in = getattr(found, "__module__", None)
    if defined_in != module_name:
        return (
            f"{shown} allows only functions defined in {module_name!r}, and {name!r} is "
            f"imported there from {defined_in!r}"
        )
    return None


def code_allowed(function: str, allowed_code: Iterable[str]) -> bool:
    """Whether a Code node may call ``"package.module:function"`` under ``allowed_code``.

    ``allowed_code`` entries are ``package.module:function`` (that name, whatever it is)
    or ``package.module:*`` (the public functions defined in that module, not names it
    imports, not classes, not ``_private`` ones); see :func:`code_refusal` for the reason
    of a refusal.

    Examples
    --------
    >>> code_allowed("tessera.llm.flows.examples:support_category",
    ...              ["tessera.llm.flows.examples:*"])
    True
    >>> code_allowed("tessera.llm.flows.examples:_data_path", ["tessera.llm.flows.examples:*"])
    False
    >>> code_allowed("tessera.llm.flows.examples:Path", ["tessera.llm.flows.examples:*"])
    False
    >>> code_allowed("os:system", ["tessera.llm.flows.examples:*"])
    False
    """
    return code_refusal(function, allowed_code) is None


def code_problems(
    node: str, field: str, function: str, allowed_code: Iterable[str]
) -> list[Problem]:
    """The problem of a node whose ``configuration.<field>`` names ``function``, if refused.

    Empty when :func:`code_refusal` allows ``function``; otherwise one :class:`Problem` at
    ``configuration.<field>`` that gives the reason and how the operator allows it.
    """
    reason = code_refusal(function, allowed_code)
    if reason is None:
        return []
    return [
        Problem(
            node,
            f"configuration.{field}",
            f"{field}={function!r} is not allowed: {reason}; allow it explicitly "
            f"(allowed_code=[{function!r}], --allow-code) only if you trust it",
        )
    ]


def resolve_code(function: str, allowed_code: Iterable[str]) -> Callable[..., Any]:
    """The callable ``"package.module:function"`` names, once :func:`code_refusal` allows it.

    Raises
    ------
    InvalidInputError
        When the allow-list refuses it or it names no callable.
    """
    reason = code_refusal(function, allowed_code)
    if reason is not None:
        raise InvalidInputError(
            f"function={function!r} is not allowed: {reason}. Allow it explicitly "
            f"(allowed_code=[{function!r}], --allow-code on the command line) only if you "
            "trust it."
        )
    module_name, name = _split(function)
    found = getattr(importlib.import_module(module_name), name, None)
    if not callable(found):
        raise InvalidInputError(
            f"function={function!r} is not a callable in module {module_name!r}. Fix the reference."
        )
    return found  # type: ignore[no-any-return]


def default_retrieval_roots() -> tuple[Path, ...]:
    """The knowledge folders shipped with tessera, which retrieval may always read.

    Today the shipped example's FAQ (:func:`tessera.llm.flows.examples.faq_folder`).
    """
    from tessera.llm.flows.examples import faq_folder

    return (faq_folder().resolve(),)


def check_retrieval_roots(retrieval_roots: RetrievalRoots) -> tuple[Path, ...]:
    """The folders retrieval may read: the shipped knowledge folders, then ``retrieval_roots``.

    Each root is expanded (``~``) and resolved (symbolic links followed).

    Raises
    ------
    InvalidInputError
        When a root is not an existing folder.
    """
    return _check_roots(
        "retrieval_roots",
        retrieval_roots,
        default_retrieval_roots(),
        "each root must be an existing folder (retrieval may read the folders inside it)",
        "Create the folder or fix the path (--retrieval-root DIR on the command line).",
    )


def check_storage_roots(storage_roots: StorageRoots) -> tuple[Path, ...]:
    """The folders Storage nodes may write and read inside of: ``storage_roots``, resolved.

    There is no default root: with none, a flow with a Storage node is refused.

    Raises
    ------
    InvalidInputError
        When a root is not an existing folder.
    """
    return _check_roots(
        "storage_roots",
        storage_roots,
        (),
        "each root must be an existing folder (Storage nodes may write the folders inside it)",
        "Create the folder or fix the path (--storage-root DIR on the command line).",
    )


def _check_roots(
    argument: str, given: Folders, defaults: Iterable[Path], rule: str, fix: str
) -> tuple[Path, ...]:
    """``defaults``, then each of ``given`` expanded and resolved, each once."""
    folders = (given,) if isinstance(given, str | os.PathLike) else tuple(given)
    roots = list(defaults)
    for root in folders:
        if not isinstance(root, str | os.PathLike) or not Path(root).expanduser().is_dir():
            shown = os.fspath(root) if isinstance(root, os.PathLike) else root
            raise bad_value(argument, shown, rule, fix)
        resolved = Path(root).expanduser().resolve()
        if resolved not in roots:
            roots.append(resolved)
    return tuple(roots)


def folder_refusal(
    folder: Path,
    roots: Iterable[Path],
    *,
    named: str | os.PathLike[str] | None = None,
    use: str = "retrieval may read",
) -> str | None:
    """Why a node may not use the resolved ``folder``, or None when it lies in a root.

    ``named`` is the folder as the flow wrote it, when it differs from ``folder``; ``use``
    says what the roots are for (``"retrieval may read"``, ``"Storage nodes may write"``).
    """
    allowed = tuple(roots)
    if any(folder.is_relative_to(root) for root in allowed):
        return None
    shown = ", ".join(str(root) for root in allowed) or "none"
    where = "it lies"
    if named is None or Path(named) != folder:
        where = f"it resolves to {str(folder)!r} (symbolic links followed),"
    return f"{where} outside the folders {use} ({shown})"
