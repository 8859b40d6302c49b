"""The bindings file: what Bedrock names that has no local meaning, mapped explicitly.

A Bedrock artifact names AWS resources: model ids, knowledge bases, S3 buckets, Lambda
functions. Tessera never guesses what they stand for; an import names them in a
bindings file (YAML or JSON)::

    models:                         # modelId -> a served/local model id
      anthropic.claude-3-haiku-20240307-v1:0: tessera
    knowledge_bases:                # knowledgeBaseId -> a local folder of documents
      KB12345678: ./knowledge/faq
    s3:                             # s3://bucket/prefix -> a local folder
      s3://my-bucket/flows: ./storage
    lambdas:                        # lambdaArn -> an allow-listed module:function
      arn:aws:lambda:us-east-1:123456789012:function:route: mypkg.handlers:route
    agents:                         # agentAliasArn -> ask-user (the only local agent)
      arn:aws:bedrock:us-east-1:123456789012:agent-alias/AGENT/ALIAS: ask-user

An Agent node bound to ``ask-user`` asks whoever invokes the flow: its ``agentInputText``
goes out as the question (InvokeFlow's ``INPUT_REQUIRED``), and the reply comes back as
its ``agentResponse``.

A name an import needs and the file does not bind is a validation error naming the field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tessera._validation import bad_value

__all__ = ["Bindings", "load_bindings"]

_SECTIONS = ("models", "knowledge_bases", "s3", "lambdas", "agents")
#: What an Agent node may be bound to.
AGENT_BEHAVIOURS = ("ask-user",)


@dataclass(frozen=True)
class Bindings:
    """Bedrock names mapped to local ones (see the module).

    Attributes
    ----------
    models : dict of str to str
        Bedrock ``modelId`` -> a tessera model id (``tessera``, ``tessera:/path``).
    knowledge_bases : dict of str to str
        ``knowledgeBaseId`` -> a folder.
    s3 : dict of str to str
        ``s3://bucket/prefix`` -> a folder.
    lambdas : dict of str to str
        ``lambdaArn`` -> ``module:function`` (the server must also allow it).
    agents : dict of str to str
        ``agentAliasArn`` -> ``ask-user`` (the node asks whoever invokes the flow).
    """

    models: dict[str, str] = field(default_factory=dict)
    knowledge_bases: dict[str, str] = field(default_factory=dict)
    s3: dict[str, str] = field(default_factory=dict)
    lambdas: dict[str, str] = field(default_factory=dict)
    agents: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any] | None) -> Bindings:
        """Bindings from ``{"models": {...}, "knowledge_bases": {...}, ...}`` (checked)."""
        if values is None:
            return cls()
        if not isinstance(values, Mapping):
            raise bad_value(
                "bindings",
                values,
                "it must be a mapping of sections",
                f"Give sections among {', '.join(_SECTIONS)}.",
            )
        unknown = sorted(set(values) - set(_SECTIONS))
        if unknown:
            raise bad_value(
                f"bindings.{unknown[0]}",
                "...",
                f"sections are {', '.join(_SECTIONS)}",
                "Fix the section name.",
            )
        checked: dict[str, dict[str, str]] = {}
        for section in _SECTIONS:
            entries = values.get(section) or {}
            if not isinstance(entries, Mapping) or not all(
                isinstance(k, str) and isinstance(v, str) and k and v for k, v in entries.items()
            ):
                raise bad_value(
                    f"bindings.{section}",
                    entries,
                    "it must map names to strings",
                    "Write NAME: VALUE lines.",
                )
            checked[section] = dict(entries)
        for arn, behaviour in checked["agents"].items():
            if behaviour not in AGENT_BEHAVIOURS:
                raise bad_value(
                    f"bindings.agents[{arn!r}]",
                    behaviour,
                    f"an agent binds to one of {', '.join(AGENT_BEHAVIOURS)} (Bedrock agents "
                    "do not run locally)",
                    f"Write {arn}: ask-user to have the node ask whoever invokes the flow.",
                )
        return cls(**checked)

    def model(self, model_id: str, where: str) -> str:
        """The local model bound to ``model_id``; an error naming ``where`` if unbound."""
        found = self.models.get(model_id)
        if found is None:
            raise bad_value(
                where,
                model_id,
                "this Bedrock model id has no local binding",
                f"Bind it in the bindings file (models: {{{model_id}: tessera}}) or with "
                f"--bind {model_id}=tessera.",
            )
        return found


def load_bindings(path: str | Path | None) -> Bindings:
    """Read a bindings file (YAML or JSON); None gives empty bindings."""
    if path is None:
        return Bindings()
    import yaml

    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise bad_value(
            "bindings",
            str(path),
            f"it cannot be read ({exc.strerror})",
            "Pass the path of a YAML or JSON bindings file.",
        ) from None
    return Bindings.from_mapping(yaml.safe_load(text))
