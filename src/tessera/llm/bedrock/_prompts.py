"""Bedrock Prompt Management's prompts (CreatePrompt / GetPrompt JSON), to and from tessera's.

A Bedrock prompt has variants, each with its own template (``TEXT`` or ``CHAT``), model
and ``inferenceConfiguration``; a tessera prompt has one template and variants that each
name a model and its parameters. So an import needs every variant to share the template
(the default variant's), else it is refused naming the variant that differs. What tessera
does not run is kept, so that an export gives back what was imported: the Bedrock
``modelId``, ``additionalModelRequestFields``, the variant ``metadata`` list and a
``toolChoice`` of ``auto`` or ``any`` are stored in each variant's ``metadata`` under
``bedrock.*`` keys. A chat template's ``toolConfiguration`` becomes the variant's
``tools`` (each ``toolSpec``'s name, description and ``inputSchema.json`` as parameters)
and ``tool_choice`` (a ``toolChoice.tool``): tessera runs them, its answer one call.

Documented defaults (what an export writes that an import may not have had):
``inferenceConfiguration.text`` is written in full (``maxTokens`` 256, ``temperature``
0, ``topP`` 1, ``stopSequences`` [] where the import left them out), ``inputVariables``
lists every declared variable, and tags come back as ``{key: value}`` from tessera's
``key:value`` tags.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tessera._validation import bad_value
from tessera.llm.bedrock._bindings import Bindings

__all__ = [
    "BedrockPrompt",
    "export_prompt",
    "import_prompt",
    "prompt_from_bedrock",
    "prompt_to_bedrock",
]

_PARAMS = {
    "maxTokens": "max_tokens",
    "temperature": "temperature",
    "topP": "top_p",
    "stopSequences": "stop",
}


@dataclass(frozen=True)
class BedrockPrompt:
    """A Bedrock prompt in tessera's terms: a name, a description, a body, tags."""

    name: str
    description: str
    body: dict[str, Any]
    tags: tuple[str, ...] = ()


def _mapping(where: str, value: Any) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise bad_value(where, value, "it must be a JSON object", f"Write {where} as an object.")
    return value


def _text(where: str, blocks: Any) -> str:
    if not isinstance(blocks, list):
        raise bad_value(where, blocks, "it must be a list of content blocks", '[{"text": "..."}]')
    texts = []
    for index, block in enumerate(blocks):
        block = _mapping(f"{where}[{index}]", block)
        if "cachePoint" in block:
            continue
        if not isinstance(block.get("text"), str):
            raise bad_value(
                f"{where}[{index}]",
                block,
                "only text blocks are supported",
                "Write the content as text.",
            )
        texts.append(block["text"])
    return "".join(texts)


def _template(where: str, variant: Mapping[str, Any]) -> tuple[dict[str, Any], Any]:
    """The tessera template fields of a variant, and its toolConfiguration (or None)."""
    kind = variant.get("templateType")
    config = _mapping(f"{where}.templateConfiguration", variant.get("templateConfiguration"))
    if kind == "TEXT":
        text = _mapping(f"{where}.templateConfiguration.text", config.get("text"))
        if not isinstance(text.get("text"), str):
            raise bad_value(
                f"{where}.templateConfiguration.text.text",
                text.get("text"),
                "it must be a string",
                "Write the template.",
            )
        fields: dict[str, Any] = {"type": "text", "text": text["text"]}
        return {**fields, "variables": _variables(where, text)}, None
    if kind == "CHAT":
        chat = _mapping(f"{where}.templateConfiguration.chat", config.get("chat"))
        messages = []
        for index, message in enumerate(chat.get("messages") or []):
            at = f"{where}.templateConfiguration.chat.messages[{index}]"
            message = _mapping(at, message)
            role = message.get("role")
            if role not in ("user", "assistant"):
                raise bad_value(f"{at}.role", role, "it must be user or assistant", "Fix it.")
            messages.append(
                {"role": role, "content": _text(f"{at}.content", message.get("content"))}
            )
        fields = {"type": "chat", "messages": messages}
        if chat.get("system"):
            fields["system"] = _text(f"{where}.templateConfiguration.chat.system", chat["system"])
        return {**fields, "variables": _variables(where, chat)}, chat.get("toolConfiguration")
    raise bad_value(
        f"{where}.templateType",
        kind,
        "it must be TEXT or CHAT",
        "Other template types are not supported.",
    )


def _variables(where: str, config: Mapping[str, Any]) -> dict[str, Any]:
    declared: dict[str, Any] = {}
    for index, item in enumerate(config.get("inputVariables") or []):
        name = _mapping(f"{where}.inputVariables[{index}]", item).get("name")
        if not isinstance(name, str):
            raise bad_value(
                f"{where}.inputVariables[{index}].name",
                name,
                "it must be a string",
                "Name the variable.",
            )
        declared[name] = {}
    return declared


def _variant(
    where: str, variant: Mapping[str, Any], bindings: Bindings, tools: Any
) -> dict[str, Any]:
    if variant.get("genAiResource") is not None:
        raise bad_value(
            f"{where}.genAiResource",
            "...",
            "prompts that run a Bedrock agent are not supported",
            "Use a modelId.",
        )
    name = variant.get("name")
    out: dict[str, Any] = {"name": name}
    metadata: dict[str, Any] = {}
    model_id = variant.get("modelId")
    if model_id is not None:
        out["model"] = bindings.model(model_id, f"{where}.modelId")
        metadata["bedrock.modelId"] = model_id
    inference = _mapping(
        f"{where}.inferenceConfiguration", variant.get("inferenceConfiguration") or {}
    )
    text = _mapping(f"{where}.inferenceConfiguration.text", inference.get("text") or {})
    for theirs, ours in _PARAMS.items():
        if theirs in text:
            out[ours] = list(text[theirs]) if ours == "stop" else text[theirs]
    unknown = sorted(set(text) - set(_PARAMS))
    if unknown:
        raise bad_value(
            f"{where}.inferenceConfiguration.text.{unknown[0]}",
            "...",
            f"known fields are {', '.join(_PARAMS)}",
            "Leave it out.",
        )
    if tools is not None:
        _tools_in(f"{where}.templateConfiguration.chat.toolConfiguration", tools, out, metadata)
    for key in ("additionalModelRequestFields", "metadata"):
        if variant.get(key) is not None:
            metadata[f"bedrock.{key}"] = variant[key]
    if metadata:
        out["metadata"] = metadata
    return out


def _tools_in(where: str, config: Any, out: dict[str, Any], metadata: dict[str, Any]) -> None:
    """A chat template's ``toolConfiguration`` as the variant's ``tools`` and ``tool_choice``.

    With tools, a tessera variant's answer is one call (Bedrock's ``any``); ``auto`` and
    ``any`` are kept in the metadata so that an export gives them back.
    """
    config = _mapping(where, config)
    tools = []
    for index, item in enumerate(config.get("tools") or []):
        spec = _mapping(f"{where}.tools[{index}]", item).get("toolSpec")
        if spec is None:
            raise bad_value(
                f"{where}.tools[{index}]",
                item,
                "only toolSpec entries are supported",
                "Leave cache points out.",
            )
        spec = _mapping(f"{where}.tools[{index}].toolSpec", spec)
        schema = _mapping(
            f"{where}.tools[{index}].toolSpec.inputSchema", spec.get("inputSchema") or {}
        )
        tool: dict[str, Any] = {
            "name": spec.get("name"),
            "parameters": schema.get("json", {"type": "object"}),
        }
        if spec.get("description"):
            tool["description"] = spec["description"]
        tools.append(tool)
    out["tools"] = tools
    choice = config.get("toolChoice")
    if isinstance(choice, Mapping) and isinstance(choice.get("tool"), Mapping):
        out["tool_choice"] = choice["tool"].get("name")
    elif choice is not None:
        metadata["bedrock.toolChoice"] = choice


def _tools_out(variant: Any, metadata: dict[str, Any]) -> dict[str, Any]:
    tools = []
    for tool in variant.tools:
        spec: dict[str, Any] = {"name": tool.name}
        if tool.description:
            spec["description"] = tool.description
        spec["inputSchema"] = {"json": tool.parameters}
        tools.append({"toolSpec": spec})
    config: dict[str, Any] = {"tools": tools}
    if variant.tool_choice is not None:
        config["toolChoice"] = {"tool": {"name": variant.tool_choice}}
    elif "bedrock.toolChoice" in metadata:
        config["toolChoice"] = metadata["bedrock.toolChoice"]
    return config


def prompt_from_bedrock(
    body: Mapping[str, Any], *, bindings: Bindings | None = None
) -> BedrockPrompt:
    """A CreatePrompt (or GetPrompt) body as a tessera prompt.

    Parameters
    ----------
    body : mapping
        ``name``, ``description``, ``defaultVariant``, ``variants`` (each with
        ``templateType``, ``templateConfiguration``, ``modelId``, ``inferenceConfiguration``),
        ``tags``; GetPrompt's ``id``, ``arn``, ``version`` and timestamps are ignored.
    bindings : Bindings or None, default=None
        ``models`` maps each variant's ``modelId`` to a local model (required for every
        ``modelId`` named).

    Returns
    -------
    BedrockPrompt
        The checked tessera body (:func:`tessera.llm.prompts.check_body`).

    Raises
    ------
    InvalidInputError
        Naming the field: a variant whose template differs from the default variant's,
        an unbound ``modelId``, an agent variant, a template type other than TEXT/CHAT.
    """
    from tessera.llm.prompts import check_body
    from tessera.llm.prompts._registry import normal_form

    bindings = bindings or Bindings()
    body = _mapping("body", body)
    variants = body.get("variants")
    if not isinstance(variants, list) or not variants:
        raise bad_value(
            "variants",
            variants,
            "a prompt needs 1 to 3 variants",
            "Add a variant with templateType and templateConfiguration.",
        )
    names = [v.get("name") if isinstance(v, Mapping) else None for v in variants]
    default = body.get("defaultVariant") or names[0]
    if default not in names:
        raise bad_value("defaultVariant", default, f"it must be one of {names}", "Fix it.")
    first = names.index(default)
    template, _ = _template(f"variants[{first}]", _mapping(f"variants[{first}]", variants[first]))
    converted = []
    for index, variant in enumerate(variants):
        where = f"variants[{index}]"
        variant = _mapping(where, variant)
        own, tools = _template(where, variant)
        if own != template:
            raise bad_value(
                f"{where}.templateConfiguration",
                "...",
                f"it differs from the default variant {default!r}'s: tessera prompts share one "
                "template across their variants (models and parameters differ)",
                "Import the differing variant as a prompt of its own.",
            )
        converted.append(_variant(where, variant, bindings, tools))
    tags = body.get("tags") or {}
    tessera_body = {**template, "variants": converted, "default_variant": default}
    checked = normal_form(check_body(tessera_body, "body"))
    return BedrockPrompt(
        name=str(body.get("name")),
        description=str(body.get("description") or ""),
        body=checked,
        tags=tuple(f"{k}:{v}" for k, v in _mapping("tags", tags).items()),
    )


def _blocks(text: str) -> list[dict[str, str]]:
    return [{"text": text}]


def prompt_to_bedrock(
    name: str,
    body: Mapping[str, Any],
    *,
    description: str = "",
    tags: Sequence[str] = (),
) -> dict[str, Any]:
    """A tessera prompt as a CreatePrompt body (see the module for the defaults written).

    Parameters
    ----------
    name : str
        The prompt's name.
    body : mapping
        A tessera prompt body (checked).
    description : str, default=""
        Written when not empty.
    tags : sequence of str, default=()
        ``key:value`` tags become Bedrock's ``{key: value}``; others are left out.
    """
    from tessera.llm.prompts import check_body

    prompt = check_body(body, "body")
    input_variables = [{"name": n} for n in prompt.variables]
    variants = []
    for variant in prompt.variants:
        metadata = dict(variant.metadata)
        if prompt.type == "text":
            config: dict[str, Any] = {
                "text": {"text": prompt.text, "inputVariables": input_variables}
            }
        else:
            chat: dict[str, Any] = {
                "messages": [
                    {"role": m.role, "content": _blocks(m.content)} for m in prompt.messages
                ],
            }
            if prompt.system is not None:
                chat["system"] = _blocks(prompt.system)
            chat["inputVariables"] = input_variables
            if variant.tools:
                chat["toolConfiguration"] = _tools_out(variant, metadata)
            config = {"chat": chat}
        out: dict[str, Any] = {
            "name": variant.name,
            "templateType": prompt.type.upper(),
            "templateConfiguration": config,
            "modelId": metadata.get("bedrock.modelId", variant.model),
            "inferenceConfiguration": {
                "text": {
                    "maxTokens": variant.max_tokens,
                    "temperature": variant.temperature,
                    "topP": variant.top_p,
                    "stopSequences": list(variant.stop),
                }
            },
        }
        for key in ("additionalModelRequestFields", "metadata"):
            if f"bedrock.{key}" in metadata:
                out[key] = metadata[f"bedrock.{key}"]
        variants.append(out)
    exported: dict[str, Any] = {"name": name}
    if description:
        exported["description"] = description
    exported["defaultVariant"] = prompt.default_variant
    exported["variants"] = variants
    pairs = [tag.split(":", 1) for tag in tags if ":" in tag]
    if pairs:
        exported["tags"] = {k: v for k, v in pairs}
    return exported


def import_prompt(
    body: Mapping[str, Any],
    *,
    db: Any = None,
    bindings: Bindings | None = None,
    replace: bool = False,
) -> Any:
    """Import a CreatePrompt body into the prompt registry as a draft; return the draft.

    Parameters
    ----------
    body : mapping
        The Bedrock JSON (see :func:`prompt_from_bedrock`).
    db : str or Path or None, default=None
        The database; None for ``$TESSERA_HOME/tessera.db``.
    bindings : Bindings or None, default=None
        Local models for the variants' ``modelId``.
    replace : bool, default=False
        Replace the draft of an existing prompt of that name (its versions stay);
        otherwise an existing name is an error.
    """
    from tessera.llm.prompts import PromptRegistry

    prompt = prompt_from_bedrock(body, bindings=bindings)
    registry = PromptRegistry(db)
    if replace and prompt.name in registry.names():
        registry.update_draft(prompt.name, prompt.body)
        registry.set_description(prompt.name, prompt.description)
        registry.set_tags(prompt.name, prompt.tags)
        return registry.draft(prompt.name)
    return registry.create(
        prompt.name, prompt.body, description=prompt.description, tags=prompt.tags
    )


def export_prompt(ref: str, *, db: Any = None) -> dict[str, Any]:
    """The CreatePrompt body of a stored prompt (``NAME``, ``NAME@3``, ``NAME@draft``...)."""
    from tessera.llm.prompts import PromptRegistry

    registry = PromptRegistry(db)
    found = registry.resolve(ref)
    draft = registry.draft(found.name)
    return prompt_to_bedrock(found.name, found.body, description=draft.description, tags=draft.tags)
