"""Flow versions: flow documents in the versioned store, validated on save, resolved to run.

A :class:`FlowRegistry` is the :class:`~tessera.llm._versioned.VersionedStore` of kind
``"flow"``: each flow (by its ``name``) has a draft, numbered immutable versions and labels,
and a reference ``NAME``, ``NAME@3``, ``NAME@production``, ``NAME@latest`` or ``NAME@draft``
names what to run. Saving checks the flow against every rule first, so a version that
cannot run is never stored.

What the operator allows (the Code allow-list, the retrieval and storage roots) is a
policy of the run, checked by every run. A registry made with that policy
(``allowed_code=``, ``retrieval_roots=``, ``storage_roots=``; the HTTP service passes its
own) also refuses, at save and commit, a flow its runs would refuse; one made without (the
default, for the trusted Python API) checks the document alone.

A flow saved from a file remembers the file's folder (the ``baseDir`` key of the stored
body), so relative folders in it (a Retrieval knowledge base, a Storage folder) resolve as
they did next to the file.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tessera._validation import bad_value
from tessera.errors import ConflictError
from tessera.llm._versioned import Draft, Version, VersionedStore, check_number
from tessera.llm.flows._policy import (
    RetrievalRoots,
    StorageRoots,
    check_allowed_code,
    check_retrieval_roots,
    check_storage_roots,
)
from tessera.llm.flows._spec import FlowSpec, FlowValidationError, load_flow
from tessera.llm.flows._validate import check_flow, policy_context

__all__ = ["BASE_DIR_KEY", "RESERVED_FLOW_NAMES", "FlowRegistry", "StoredFlow"]

#: The key of a stored body that holds the folder the flow was saved from.
BASE_DIR_KEY = "baseDir"

#: Names a stored flow may not take: the HTTP service's routes under ``/v1/flows/`` use them
#: (``GET /v1/flows/traces`` would hide a flow named ``traces``).
RESERVED_FLOW_NAMES = ("invoke", "save", "traces", "validate")


def _check_not_reserved(name: str) -> None:
    if name in RESERVED_FLOW_NAMES:
        raise bad_value(
            "name",
            name,
            f"flow names {list(RESERVED_FLOW_NAMES)} are reserved for the HTTP service's routes",
            f"Rename the flow, e.g. '{name}-flow'.",
        )


#: How often save writes its draft again when another writer changes it before the commit.
_SAVE_ATTEMPTS = 3


@dataclass(frozen=True)
class StoredFlow:
    """A flow resolved from the registry.

    Attributes
    ----------
    spec : FlowSpec
        The flow (its ``base_dir`` restored when it was saved from a file).
    version : int or None
        The version number, or ``None`` for the draft.
    ref : str
        The reference it was resolved from.
    """

    spec: FlowSpec
    version: int | None
    ref: str


def _body(spec: FlowSpec) -> dict[str, Any]:
    body = spec.to_dict()
    if spec.base_dir is not None:
        body[BASE_DIR_KEY] = str(spec.base_dir)
    return body


def _spec(body: Mapping[str, Any]) -> FlowSpec:
    document = {key: value for key, value in body.items() if key != BASE_DIR_KEY}
    spec = load_flow(document)
    base_dir = body.get(BASE_DIR_KEY)
    if isinstance(base_dir, str):
        spec._base_dir = Path(base_dir)
    return spec


class FlowRegistry(VersionedStore):
    """Versioned flows in the tessera database (a :class:`VersionedStore` of kind "flow").

    Parameters
    ----------
    db : str or Path, default=None
        The SQLite file; ``None`` means ``$TESSERA_HOME/tessera.db``.
    allowed_code : iterable of str or None, default=None
        Check saved and committed flows against this Code allow-list (see
        :func:`~tessera.llm.flows.code_allowed`). When all three of ``allowed_code``,
        ``retrieval_roots`` and ``storage_roots`` are ``None``, the policy is not checked
        on save, only when a flow runs.
    retrieval_roots : iterable of str or Path, or None, default=None
        Check saved and committed flows' Retrieval folders against these roots (and the
        shipped knowledge folders).
    storage_roots : iterable of str or Path, or None, default=None
        Check saved and committed flows' Storage folders against these roots. When only
        some of the three are given, the others take their run default (no Code
        functions; the shipped knowledge folders only; no storage folder).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> flows = FlowRegistry(db=pathlib.Path(tempfile.mkdtemp()) / "f.db")
    >>> flows.save(EXAMPLE, label="production").number  # doctest: +SKIP
    1
    >>> flows.flow("support-ticket@production").name  # doctest: +SKIP
    'support-ticket'
    """

    def __init__(
        self,
        db: str | Path | None = None,
        *,
        allowed_code: Iterable[str] | None = None,
        retrieval_roots: RetrievalRoots | None = None,
        storage_roots: StorageRoots | None = None,
    ) -> None:
        self._policy: dict[str, Any] | None = None
        if not (allowed_code is None and retrieval_roots is None and storage_roots is None):
            self._policy = {
                "allowed_code": check_allowed_code(allowed_code or ()),
                "retrieval_roots": check_retrieval_roots(retrieval_roots or ()),
                "storage_roots": check_storage_roots(storage_roots or ()),
            }
        super().__init__("flow", db)

    def _require_valid(self, flow: FlowSpec | Mapping[str, Any] | str | Path) -> FlowSpec:
        """The flow if it breaks no rule (nor the registry's policy, when it has one)."""
        spec = load_flow(flow)
        policy = None
        if self._policy is not None:
            policy = policy_context(spec, **self._policy)
        problems = check_flow(spec, policy=policy)
        if problems:
            raise FlowValidationError(problems, flow=spec.name)
        return spec

    def __repr__(self) -> str:
        return f"FlowRegistry(db={str(self.db)!r})"

    def save(
        self,
        flow: FlowSpec | Mapping[str, Any] | str | Path,
        *,
        message: str = "",
        label: str | None = None,
        tags: Sequence[str] = (),
    ) -> Version:
        """Validate ``flow`` and store it as the next version of the flow of its name.

        Creates the flow on first save. Saving a document identical to the latest
        version stores nothing new and returns that version (saving is idempotent).

        Parameters
        ----------
        flow : FlowSpec, dict, str or pathlib.Path
            Anything :func:`~tessera.llm.flows.load_flow` reads.
        message : str, default=""
            Recorded with the version.
        label : str or None, default=None
            Point this label (``production``, ``staging``, ...) at the saved version.
        tags : sequence of str, default=()
            Tags of a flow created by this save.

        Raises
        ------
        FlowValidationError
            Listing every problem of the flow (the registry's policy included, when it has
            one); nothing is stored.
        """
        spec = self._require_valid(flow)
        _check_not_reserved(spec.name)
        body = _body(spec)
        if spec.name in self.names():
            versions = self.versions(spec.name)
            if versions and versions[-1].body == body:
                if label is not None:
                    self.set_label(spec.name, label, versions[-1].number)
                return self.get(spec.name, versions[-1].number)
            version = self._write_and_commit(spec.name, body, message)
        else:
            draft = super().create(spec.name, body, description=spec.description, tags=tags)
            version = super().commit(spec.name, message, base_revision=draft.revision)
        if label is not None:
            self.set_label(spec.name, label, version.number)
            version = self.get(spec.name, version.number)
        return version

    def create(
        self,
        name: str,
        body: Mapping[str, Any],
        *,
        description: str = "",
        tags: Sequence[str] = (),
    ) -> Draft:
        """Create a flow whose draft is ``body`` (a flow document named ``name``)."""
        _check_not_reserved(name)
        return super().create(
            name, self._draft_body(name, body), description=description, tags=tags
        )

    def update_draft(
        self, name: str, body: Mapping[str, Any], *, base_revision: int | None = None
    ) -> Draft:
        """Replace the draft (a flow document named ``name``; shape-checked, not run-checked).

        ``base_revision``: see :meth:`VersionedStore.update_draft`.
        """
        return super().update_draft(name, self._draft_body(name, body), base_revision=base_revision)

    def commit(self, name: str, message: str = "", *, base_revision: int | None = None) -> Version:
        """Snapshot the draft as the next version, after checking it against every rule.

        The version holds exactly the draft that was checked: when another writer changes
        the draft in between, nothing is committed (:class:`~tessera.errors.ConflictError`).
        ``base_revision``: see :meth:`VersionedStore.commit`.
        """
        if base_revision is not None:
            check_number("base_revision", base_revision)
        draft = self.draft(name)
        if base_revision is not None and base_revision != draft.revision:
            raise self._stale(name, base_revision, draft.revision, "committed")
        self._require_valid(_spec(draft.body))  # the registry's policy too, if it has one
        return super().commit(name, message, base_revision=draft.revision)

    def _write_and_commit(self, name: str, body: dict[str, Any], message: str) -> Version:
        """Write ``body`` as the draft and commit that draft (not a concurrent writer's)."""
        for _ in range(_SAVE_ATTEMPTS - 1):
            draft = super().update_draft(name, body)
            try:
                return super().commit(name, message, base_revision=draft.revision)
            except ConflictError:
                continue  # another writer changed the draft in between: write ours again
        draft = super().update_draft(name, body)
        return super().commit(name, message, base_revision=draft.revision)

    def flow(self, ref: str) -> FlowSpec:
        """The flow ``ref`` names (``NAME``, ``NAME@3``, ``NAME@label``, ``NAME@draft``)."""
        return self.stored(ref).spec

    def stored(self, ref: str) -> StoredFlow:
        """The flow ``ref`` names with its version number (``None`` for the draft)."""
        found = self.resolve(ref)
        version = found.number if isinstance(found, Version) else None
        return StoredFlow(_spec(found.body), version, ref)

    def _draft_body(self, name: str, body: Mapping[str, Any]) -> dict[str, Any]:
        spec = _spec(body)
        if spec.name != name:
            raise bad_value(
                "body.name",
                spec.name,
                f"a flow is stored under its own name, and this one is not {name!r}",
                f"Set name: {name} in the document, or store it under {spec.name!r}.",
            )
        return _body(spec)
