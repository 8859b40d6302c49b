"""Model ids -> backends: the local runtime and named OpenAI-compatible endpoints."""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass
from typing import Any

from tessera._validation import bad_value
from tessera.llm._home import tessera_home
from tessera.llm.backends._base import Backend
from tessera.llm.backends._local import LocalBackend
from tessera.llm.backends._openai import OpenAIBackend

__all__ = ["Endpoint", "endpoints", "get_backend", "register_endpoint"]

#: The id prefix of the local runtime: ``"tessera"`` or ``"tessera:<model>"``.
LOCAL = "tessera"

_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")


@dataclass(frozen=True)
class Endpoint:
    """A named OpenAI-compatible server.

    Attributes
    ----------
    name : str
        Model ids ``"<name>:<model>"`` go to this server.
    base_url : str
        API root, e.g. ``http://127.0.0.1:8000/v1``.
    api_key : str or None
        Bearer key (kept out of ``repr``).
    """

    name: str
    base_url: str
    api_key: str | None = None

    def __repr__(self) -> str:
        key = "set" if self.api_key else "none"
        return f"Endpoint(name={self.name!r}, base_url={self.base_url!r}, api_key=<{key}>)"


_lock = threading.Lock()
_registered: dict[str, Endpoint] = {}
_backends: dict[str, Backend] = {}


def _check_name(name: Any) -> str:
    if not isinstance(name, str) or not _NAME.match(name) or name == LOCAL:
        raise bad_value(
            "name",
            name,
            "an endpoint name is 1-32 lowercase letters, digits, '-' or '_', starting with a "
            f"letter, and not {LOCAL!r}",
            "Pass a name like 'vllm' or 'ollama'.",
        )
    return name


def register_endpoint(name: str, base_url: str, api_key: str | None = None) -> Endpoint:
    """Make model ids ``"<name>:<model>"`` go to an OpenAI-compatible server.

    Parameters
    ----------
    name : str
        The endpoint's name (``"vllm"``, ``"ollama"``, ...).
    base_url : str
        The API root including ``/v1``, e.g. ``http://127.0.0.1:11434/v1``.
    api_key : str, optional
        Sent as a bearer token.

    Returns
    -------
    Endpoint

    Notes
    -----
    Endpoints can also be configured without code: environment variables
    ``TESSERA_ENDPOINT_<NAME>_URL`` and ``TESSERA_ENDPOINT_<NAME>_KEY``, or
    ``$TESSERA_HOME/endpoints.yaml`` mapping names to ``{base_url, api_key_env}`` (the key
    itself stays in the environment variable named there). Registration wins over the
    environment, which wins over the file.
    """
    _check_name(name)
    if not isinstance(base_url, str) or not re.match(r"^https?://[^\s/]+", base_url):
        raise bad_value(
            "base_url",
            base_url,
            "it must be an http(s) URL",
            "Pass e.g. 'http://127.0.0.1:8000/v1'.",
        )
    if api_key is not None and not isinstance(api_key, str):
        raise bad_value("api_key", "<hidden>", "it must be a string or None", "Pass the key.")
    endpoint = Endpoint(name, base_url.rstrip("/"), api_key)
    with _lock:
        _registered[name] = endpoint
        for model_id in [m for m in _backends if m.startswith(name + ":")]:
            del _backends[model_id]
    return endpoint


def _from_file(name: str) -> Endpoint | None:
    path = tessera_home() / "endpoints.yaml"
    if not path.is_file():
        return None
    import yaml

    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    entry = data.get(name) if isinstance(data, dict) else None
    if entry is None:
        return None
    if not isinstance(entry, dict) or not isinstance(entry.get("base_url"), str):
        raise bad_value(
            f"{path}: {name}",
            entry,
            "an endpoint entry needs a base_url string",
            "Write `name: {base_url: http://host:port/v1, api_key_env: MY_KEY_VAR}`.",
        )
    key_var = entry.get("api_key_env")
    key = os.environ.get(key_var) if isinstance(key_var, str) else None
    return Endpoint(name, entry["base_url"].rstrip("/"), key)


def _endpoint(name: str) -> Endpoint | None:
    with _lock:
        if name in _registered:
            return _registered[name]
    env = "TESSERA_ENDPOINT_" + name.upper().replace("-", "_")
    url = os.environ.get(env + "_URL")
    if url:
        return Endpoint(name, url.rstrip("/"), os.environ.get(env + "_KEY"))
    return _from_file(name)


def endpoints() -> dict[str, Endpoint]:
    """The endpoints registered in this process (see :func:`register_endpoint`)."""
    with _lock:
        return dict(_registered)


def get_backend(model: str | None = None) -> Backend:
    """The backend for a model id, created once per process and id.

    Parameters
    ----------
    model : str or None, default=None
        - ``None`` or ``"tessera"``: the embedded default model on the local runtime;
        - ``"tessera:<model>"``: a local model folder or ``.gguf`` file (or a model name
          the runtime knows);
        - ``"<endpoint>:<model>"``: ``<model>`` on the OpenAI-compatible server registered
          as ``<endpoint>`` (:func:`register_endpoint`).

    Returns
    -------
    Backend
    """
    if model is None:
        model = LOCAL
    if not isinstance(model, str) or not model.strip():
        raise bad_value(
            "model",
            model,
            "a model id is 'tessera', 'tessera:<model folder or .gguf>' or '<endpoint>:<model>'",
            "Pass 'tessera' for the embedded model.",
        )
    with _lock:
        cached = _backends.get(model)
    if cached is not None:
        return cached
    prefix, _, rest = model.partition(":")
    backend: Backend
    if prefix == LOCAL:
        backend = LocalBackend(model, rest or None)
    else:
        endpoint = _endpoint(prefix) if _NAME.match(prefix) else None
        if endpoint is None or not rest:
            known = sorted(endpoints())
            raise bad_value(
                "model",
                model,
                f"no endpoint named {prefix!r} is configured (registered: {known}); model ids "
                "are 'tessera', 'tessera:<model>' or '<endpoint>:<model>'",
                f"Call register_endpoint({prefix!r}, 'http://host:port/v1') or set "
                f"TESSERA_ENDPOINT_{prefix.upper().replace('-', '_')}_URL.",
            )
        backend = OpenAIBackend(model, endpoint.base_url, rest, endpoint.api_key)
    with _lock:
        return _backends.setdefault(model, backend)
