"""The one contract for sampling parameters, checked in one place.

Every layer that takes sampling parameters calls these checks: the runtime
(:meth:`tessera.llm.Runtime.token_stream` through :class:`tessera.llm.medusa.Sampling`),
:class:`tessera.llm.backends.GenerationParams` (prompt variants, flows, the HTTP
service's chat completions) and ``tessera llm generate``. So one bad value is refused
with one message, whichever way it came in.

The ranges are OpenAI's, so that a request an OpenAI client accepts means the same here:

=================  ===============================================  ===================
parameter          rule                                             default
=================  ===============================================  ===================
``max_tokens``     an integer >= 1 (the context bounds it too)      256
``temperature``    a number in [0, 2]; 0 (or below 1e-5) is greedy  0
``top_p``          a number in (0, 1]                               1 (every token)
``top_k``          an integer >= 1, or None                         None (every token)
``stop``           at most 4 non-empty strings                      none
``seed``           an integer in [0, 2**63 - 1], or None            None (a fresh seed)
=================  ===============================================  ===================

Seeds are refused beyond 63 bits rather than wrapped: two different seeds that sampled
the same tokens would surprise whoever chose them. A temperature below
:data:`GREEDY_BELOW` is greedy decoding (as in vLLM): logits divided by it overflow, and
the distribution it samples is the argmax's anyway.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from numbers import Integral, Real
from typing import Any

from tessera._validation import bad_value

__all__ = [
    "GREEDY_BELOW",
    "MAX_STOP_SEQUENCES",
    "SEED_MAX",
    "TEMPERATURE_MAX",
    "check_max_tokens",
    "check_sampling",
    "check_seed",
    "check_stop",
    "check_temperature",
    "check_top_k",
    "check_top_p",
]

#: The largest temperature (OpenAI's); 0 is greedy decoding.
TEMPERATURE_MAX = 2.0
#: Temperatures below this are greedy decoding (0).
GREEDY_BELOW = 1e-5
#: The largest seed: seeds are non-negative 64-bit signed integers.
SEED_MAX = 2**63 - 1
#: The most stop sequences one request may give (OpenAI's limit).
MAX_STOP_SEQUENCES = 4


def _is_int(value: Any) -> bool:
    """Python and numpy integers, not bools."""
    return isinstance(value, Integral) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    """Python and numpy reals, not bools."""
    return isinstance(value, Real) and not isinstance(value, bool)


def _as_float(value: Any) -> float | None:
    """``value`` as a finite float, or None when it is not a number or not finite."""
    if not _is_number(value):
        return None
    try:
        number = float(value)
    except OverflowError:  # an int beyond float's range
        return None
    return number if math.isfinite(number) else None


def _shown(value: Any) -> Any:
    """Numbers as floats, so that ``3`` from Python and ``3.0`` from JSON read the same."""
    number = _as_float(value)
    return value if number is None else number


def check_max_tokens(value: Any, *, name: str = "max_tokens") -> int:
    """Return ``value`` if it is an integer >= 1 (``name``: the caller's argument name)."""
    if not _is_int(value) or value < 1:
        raise bad_value(
            name,
            value,
            "it must be an integer >= 1 (the most tokens to generate)",
            f"Pass {name}=256.",
        )
    return int(value)


def check_temperature(value: Any) -> float:
    """Return ``value`` as a float if it lies in [0, 2] (0.0 below :data:`GREEDY_BELOW`)."""
    number = _as_float(value)
    if number is None or not 0.0 <= number <= TEMPERATURE_MAX:
        raise bad_value(
            "temperature",
            _shown(value),
            f"it must be a number in [0, {TEMPERATURE_MAX:g}] (0 is greedy decoding)",
            "Pass temperature=0 for greedy decoding or about 0.7 for sampling.",
        )
    return 0.0 if number < GREEDY_BELOW else number


def check_top_p(value: Any) -> float:
    """Return ``value`` as a float if it lies in (0, 1]."""
    number = _as_float(value)
    if number is None or not 0.0 < number <= 1.0:
        raise bad_value(
            "top_p",
            _shown(value),
            "it must be a number in (0, 1]",
            "Pass top_p=0.9, or 1 to sample from every token.",
        )
    return number


def check_top_k(value: Any) -> int | None:
    """Return ``value`` if it is None or an integer >= 1."""
    if value is None:
        return None
    if not _is_int(value) or value < 1:
        raise bad_value(
            "top_k",
            value,
            "it must be an integer >= 1",
            "Pass top_k=40, or leave top_k out to sample from every token.",
        )
    return int(value)


def check_seed(value: Any) -> int | None:
    """Return ``value`` if it is None or an integer in [0, 2**63 - 1]."""
    if value is None:
        return None
    if not _is_int(value) or not 0 <= value <= SEED_MAX:
        raise bad_value(
            "seed",
            value,
            "it must be an integer in [0, 2**63 - 1]",
            "Pass seed=0 or another non-negative 63-bit integer, or leave seed out.",
        )
    return int(value)


def check_stop(value: Any) -> tuple[str, ...]:
    """Return ``value`` (a string, or a sequence of strings) as a tuple of stop sequences."""
    stop = (value,) if isinstance(value, str) else value
    if not isinstance(stop, Sequence) or not all(isinstance(s, str) and s for s in stop):
        raise bad_value("stop", value, "it must be a list of non-empty strings", 'Pass ["\\n\\n"].')
    if len(stop) > MAX_STOP_SEQUENCES:
        raise bad_value(
            "stop",
            value,
            f"it may hold at most {MAX_STOP_SEQUENCES} stop sequences",
            f"Keep the {MAX_STOP_SEQUENCES} you need.",
        )
    return tuple(stop)


def check_sampling(
    *, temperature: Any, top_p: Any, top_k: Any, seed: Any
) -> tuple[float, float, int | None, int | None]:
    """Check the four sampling parameters; return them normalised, in that order.

    Raises
    ------
    tessera.errors.InvalidInputError
        Naming the first parameter that breaks its rule (see the module's table).
    """
    return check_temperature(temperature), check_top_p(top_p), check_top_k(top_k), check_seed(seed)
