"""The prompt registry: versioned prompt bodies, rendered, compared, run and exported."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tessera.errors import InvalidInputError
from tessera.llm._versioned import Draft, VersionedStore
from tessera.llm.prompts._diff import PromptDiff, diff_bodies, load_yaml, to_yaml
from tessera.llm.prompts._render import render
from tessera.llm.prompts._schema import PromptBody, check_body

__all__ = ["EXPORT_FORMAT", "PromptRegistry", "VariantRun", "normal_form"]

#: The marker at the top of an export, checked on import.
EXPORT_FORMAT = "tessera-prompts/1"


def normal_form(prompt: PromptBody) -> dict[str, Any]:
    """The stored form of a body: every field explicit, unset optional ones left out."""
    data = prompt.model_dump(mode="json", exclude_none=True)
    if prompt.type == "text":
        data.pop("messages", None)
    return data


@dataclass(frozen=True)
class VariantRun:
    """One variant's answer in :meth:`PromptRegistry.run`.

    Attributes
    ----------
    variant, model : str
        The variant's name and the model id it ran on.
    text : str
        The reply.
    seconds : float
        Wall time of the request around the backend call (a local model is loaded before,
        so its loading time is not counted).
    prompt_tokens, completion_tokens : int
        Token counts reported by the backend.
    finish_reason : str
        ``"stop"`` or ``"length"``; ``"error"`` when the backend failed.
    error : str or None
        Why the backend failed (the server could not be reached, refused the request, ...);
        the other variants still run. None when the variant answered.
    """

    variant: str
    model: str
    text: str
    seconds: float
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str
    error: str | None = None


class PromptRegistry(VersionedStore):
    """Versioned prompts in the tessera database (a :class:`VersionedStore` of kind "prompt").

    Every body is checked on the way in (:func:`check_body`) and stored in its normal form.
    Besides the store's methods (``commit``, ``resolve``, ``set_label``, ...), a registry
    renders, compares, runs, exports and imports prompts. References are ``NAME``,
    ``NAME@3``, ``NAME@production``, ``NAME@latest`` or ``NAME@draft``.

    Parameters
    ----------
    db : str or Path, default=None
        The SQLite file; ``None`` means ``$TESSERA_HOME/tessera.db``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> registry = PromptRegistry(db=pathlib.Path(tempfile.mkdtemp()) / "p.db")
    >>> _ = registry.create("greet", {"type": "text", "text": "Hi {{name}}!",
    ...                               "variables": {"name": {}}})
    >>> registry.commit("greet", "first").number
    1
    >>> registry.render("greet@1", {"name": "Ada"})
    'Hi Ada!'

    Two editors of one draft pass the revision they read, so neither overwrites or commits
    the other's text unseen:

    >>> draft = registry.draft("greet")
    >>> draft.revision
    1
    >>> edited = registry.update_draft("greet", {"type": "text", "text": "Hello!"},
    ...                                base_revision=draft.revision)
    >>> registry.commit("greet", "stale", base_revision=draft.revision)
    Traceback (most recent call last):
    ...
    tessera.errors.ConflictError: base_revision=1: the draft of prompt 'greet' is at revision 2: ...
    >>> registry.commit("greet", "says hello", base_revision=edited.revision).number
    2
    """

    def __init__(self, db: str | Path | None = None) -> None:
        super().__init__("prompt", db)

    def __repr__(self) -> str:
        return f"PromptRegistry(db={str(self.db)!r})"

    def create(
        self,
        name: str,
        body: Mapping[str, Any] | PromptBody,
        *,
        description: str = "",
        tags: Sequence[str] = (),
    ) -> Draft:
        """Create a prompt whose draft is ``body`` (checked; no version yet)."""
        return super().create(
            name, normal_form(check_body(body)), description=description, tags=tags
        )

    def update_draft(
        self,
        name: str,
        body: Mapping[str, Any] | PromptBody,
        *,
        base_revision: int | None = None,
    ) -> Draft:
        """Replace the draft's body (checked); versions are untouched.

        With ``base_revision`` (the :attr:`Draft.revision` the change was made on) the
        write happens only if nobody changed the draft since; otherwise a
        :class:`~tessera.errors.ConflictError` names the current revision. See
        :meth:`VersionedStore.update_draft`.
        """
        return super().update_draft(
            name, normal_form(check_body(body)), base_revision=base_revision
        )

    def import_records(self, records: Sequence[Mapping[str, Any]]) -> list[str]:
        """Import :meth:`export_records` output after checking every body in it."""
        for i, record in enumerate(records):
            if not isinstance(record, Mapping):
                continue  # the store names the problem
            draft = record.get("draft")
            if isinstance(draft, Mapping) and "body" in draft:
                check_body(draft["body"], f"records[{i}].draft.body")
            for j, version in enumerate(record.get("versions") or ()):
                if isinstance(version, Mapping) and "body" in version:
                    check_body(version["body"], f"records[{i}].versions[{j}].body")
        return super().import_records(records)

    def prompt(self, ref: str) -> PromptBody:
        """The checked body that ``ref`` names."""
        return check_body(self.resolve(ref).body, ref)

    def render(
        self, ref: str, variables: Mapping[str, Any] | None = None
    ) -> str | list[dict[str, str]]:
        """Render the prompt ``ref`` names: text, or chat messages (system first).

        Raises
        ------
        InvalidInputError
            A variable not declared, a required one missing, a value of the wrong type.
        """
        return render(self.prompt(ref), variables, source=repr(ref))

    def diff(self, ref_a: str, ref_b: str) -> PromptDiff:
        """Compare two prompts (or versions of one): unified YAML diff and changed fields."""
        return diff_bodies(self.resolve(ref_a).body, self.resolve(ref_b).body, ref_a, ref_b)

    def run(
        self,
        ref: str,
        variables: Mapping[str, Any] | None = None,
        variants: Sequence[str] | None = None,
    ) -> list[VariantRun]:
        """Render ``ref`` and run it on its variants, one after the other, side by side.

        Parameters
        ----------
        ref : str
            The prompt.
        variables : mapping, default=None
            Values for the template.
        variants : sequence of str, default=None
            Which variants to run, by name; ``None`` runs them all.

        Returns
        -------
        list of VariantRun
            One per variant, in the order asked for. A text prompt is sent as one user
            message. Every variant name and model id is checked before the first runs; a
            backend that fails gives its variant an ``error`` and the others still run.
        """
        from tessera.llm.backends import LocalBackend, get_backend

        prompt = self.prompt(ref)
        rendered = render(prompt, variables, source=repr(ref))
        messages = (
            [{"role": "user", "content": rendered}] if isinstance(rendered, str) else rendered
        )
        if isinstance(variants, str):
            raise InvalidInputError(
                f"variants={variants!r} is invalid: pass a list of variant names, "
                f"e.g. [{variants!r}]."
            )
        chosen = [v.name for v in prompt.variants] if variants is None else list(variants)
        if not chosen:
            raise InvalidInputError("variants=[] is invalid: name at least one variant.")
        plan = [(prompt.variant(name), get_backend(prompt.variant(name).model)) for name in chosen]
        for _, backend in plan:
            if isinstance(backend, LocalBackend):
                backend.runtime  # noqa: B018  (load the model now, outside the timings)
        from tessera.errors import TesseraError

        runs = []
        for variant, backend in plan:
            started = time.perf_counter()
            try:
                result = backend.chat(variant.prepare(messages), variant.generation_params())
            except (TesseraError, OSError) as exc:
                # Side by side: one unreachable endpoint must not hide the others' answers.
                runs.append(
                    VariantRun(
                        variant=variant.name,
                        model=variant.model,
                        text="",
                        seconds=time.perf_counter() - started,
                        prompt_tokens=0,
                        completion_tokens=0,
                        finish_reason="error",
                        error=f"{type(exc).__name__}: {exc}",
                    )
                )
                continue
            runs.append(
                VariantRun(
                    variant=variant.name,
                    model=variant.model,
                    text=result.text,
                    seconds=time.perf_counter() - started,
                    prompt_tokens=result.prompt_tokens,
                    completion_tokens=result.completion_tokens,
                    finish_reason=result.finish_reason,
                )
            )
        return runs

    def export_yaml(self, names: Sequence[str] | None = None) -> str:
        """Every version, label, tag and draft of the prompts (default: all) as YAML."""
        return to_yaml({"format": EXPORT_FORMAT, "prompts": self.export_records(names)})

    def import_yaml(self, text: str) -> list[str]:
        """Import :meth:`export_yaml` output, all or nothing; return the imported names.

        Raises
        ------
        ConflictError
            A prompt of one of the names exists already (nothing is imported).
        """
        data = load_yaml(text, "text")
        if not isinstance(data, Mapping) or data.get("format") != EXPORT_FORMAT:
            found = data.get("format") if isinstance(data, Mapping) else type(data).__name__
            raise InvalidInputError(
                f"text: format={found!r} is invalid: an export starts with "
                f"'format: {EXPORT_FORMAT}'. Pass the output of export_yaml."
            )
        records = data.get("prompts") or []
        if not isinstance(records, list):
            raise InvalidInputError(
                f"text: prompts={type(records).__name__} is invalid: it must be a list."
            )
        return self.import_records(records)
