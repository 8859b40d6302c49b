"""Fake people, a whole column at a time, from Faker's locale provider data."""

from __future__ import annotations

import importlib
import unicodedata
from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import lru_cache, partial
from typing import Any

import numpy as np
import pandas as pd
from numpy.dtypes import StringDType

from tessera._validation import bad_value, check_positive_int
from tessera.synth._random import as_generator
from tessera.synth._templates import choose, numerify, render_formats, usable

__all__ = ["PEOPLE_FIELDS", "fake_people"]

PEOPLE_FIELDS = ("name", "first_name", "last_name", "email", "phone", "address")

# Email user names: (share of rows, how first and last name are joined).
_USER_FORMATS = (("{f}.{l}", 0.4), ("{f}{l}", 0.2), ("{i}{l}", 0.2), ("{f}_{l}", 0.2))
_SHARE_WITH_DIGITS = 0.35


class _Tokens(Mapping[str, Callable[[int, np.random.Generator], np.ndarray]]):
    """Faker tokens of one locale, resolved against its provider classes on demand."""

    def __init__(self, providers: Sequence[Any], first: Any, last: Any) -> None:
        self._providers = providers
        self._fixed = {
            "first_name": lambda n, rng: choose(first, n, rng),
            "last_name": lambda n, rng: choose(last, n, rng),
        }
        phone = providers[-1]
        if hasattr(phone, "area_codes"):
            codes = list(phone.area_codes)
            self._fixed["area_code_without_separator"] = lambda n, rng: _numerify_each(
                choose(codes, n, rng), rng
            )
            spaced = [f"{c[0]} {c[1:]}" for c in codes]
            self._fixed["area_code_with_separator"] = lambda n, rng: _numerify_each(
                choose(spaced, n, rng), rng
            )

    def _lookup(self, name: str) -> Callable[[int, np.random.Generator], np.ndarray] | None:
        if name in self._fixed:
            return self._fixed[name]
        plurals = _plurals(name)
        for provider in self._providers:
            formats = getattr(provider, name + "_formats", None)
            if isinstance(formats, tuple | list | dict) and formats:
                kept = usable(formats, self)
                if kept:
                    return partial(_render_kept, kept, self)
            for plural in plurals:
                values = getattr(provider, plural, None)
                if isinstance(values, tuple | list | dict) and values:
                    if all(isinstance(v, str) for v in values):
                        return partial(_choose_from, values)
        return None

    def __getitem__(self, name: str) -> Callable[[int, np.random.Generator], np.ndarray]:
        found = self._lookup(name)
        if found is None:
            raise KeyError(name)
        return found

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._lookup(name) is not None

    def __iter__(self) -> Iterator[str]:
        return iter(self._fixed)

    def __len__(self) -> int:
        return len(self._fixed)


def _render_kept(kept: Any, tokens: Any, n: int, rng: np.random.Generator) -> np.ndarray:
    return render_formats(kept, n, rng, tokens)


def _choose_from(values: Any, n: int, rng: np.random.Generator) -> np.ndarray:
    return choose(values, n, rng)


def _plurals(name: str) -> list[str]:
    """Where Faker keeps a token's list: state_abbr -> states_abbr, city_name -> cities."""
    parts = name.split("_")
    found = [name.replace("_name", "")[:-1] + "ies"]
    for i, part in enumerate(parts):
        forms = [part + "s", part + "es"] + ([part[:-1] + "ies"] if part.endswith("y") else [])
        found += ["_".join(parts[:i] + [form] + parts[i + 1 :]) for form in forms]
    return found


def _numerify_each(values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    templates = [t for t in np.unique(values) if any(ch in str(t) for ch in "#%$!@")]
    if not templates:
        return values
    out = values.copy()
    for template in templates:
        rows = np.flatnonzero(values == template)
        out[rows] = numerify(str(template), rows.size, rng)
    return out


def _slug(name: str, replacements: Sequence[tuple[str, str]]) -> str:
    for old, new in replacements:
        name = name.replace(old, new)
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return "".join(ch for ch in ascii_name.lower() if ch.isalnum())


class _Locale:
    """Everything one locale needs, read from Faker's providers once."""

    def __init__(self, locale: str) -> None:
        from faker.config import AVAILABLE_LOCALES

        if locale not in AVAILABLE_LOCALES:
            raise ModuleNotFoundError(f"Faker has no locale {locale!r}")
        modules = {}
        for part in ("person", "address", "phone_number", "internet"):
            try:
                modules[part] = importlib.import_module(f"faker.providers.{part}.{locale}").Provider
            except ModuleNotFoundError:
                modules[part] = importlib.import_module(f"faker.providers.{part}").Provider
        person, address, phone, internet = (modules[p] for p in modules)
        self.first_female = _names(getattr(person, "first_names_female", person.first_names))
        self.first_male = _names(getattr(person, "first_names_male", person.first_names))
        self.last = _names(person.last_names)
        replacements = tuple(getattr(internet, "replacements", ()))
        self.slug_female = {k: _slug(k, replacements) for k in self.first_female}
        self.slug_male = {k: _slug(k, replacements) for k in self.first_male}
        self.slug_last = {k: _slug(k, replacements) for k in self.last}
        self.domains = list(internet.free_email_domains)
        self.tokens = _Tokens([address, person, phone], person.first_names, person.last_names)
        self.address_formats = usable(address.address_formats, self.tokens)
        self.phone_formats = usable(phone.formats, self.tokens)
        if not self.address_formats or not self.phone_formats:
            raise ModuleNotFoundError(f"no usable address or phone formats for {locale}")


def _names(values: Any) -> dict[str, float]:
    if isinstance(values, dict):
        return {str(k): float(v) for k, v in values.items()}
    return {str(v): 1.0 for v in values}


@lru_cache(maxsize=16)
def _load_locale(locale: str) -> _Locale:
    return _Locale(locale)


def _draw(table: dict[str, float], n: int, rng: np.random.Generator) -> np.ndarray:
    weights = np.fromiter(table.values(), dtype=float, count=len(table))
    cum = np.cumsum(weights / weights.sum())
    return np.minimum(np.searchsorted(cum, rng.random(n), side="right"), len(cum) - 1)


def fake_people(
    n: int,
    *,
    fields: Sequence[str] = ("name", "address", "email", "phone"),
    locale: str = "en_US",
    random_state: int | np.random.Generator | None = None,
) -> pd.DataFrame:
    """A table of ``n`` fake people, drawn a whole column at a time.

    Names come from the locale's Faker name lists (with their weights where Faker has
    them; the first name matches a drawn gender), the email is derived from the name
    (transliterated to ASCII with the locale's rules) at one of the locale's free email
    domains, and the phone and address follow the locale's Faker formats.

    Parameters
    ----------
    n : int
        Number of rows (>= 0).
    fields : sequence of str, default=("name", "address", "email", "phone")
        Columns to return, in order; any of ``name``, ``first_name``, ``last_name``,
        ``email``, ``phone``, ``address``.
    locale : str, default="en_US"
        A Faker locale with person, address and phone data (``en_US``, ``de_DE``,
        ``fr_FR``, and other locales whose formats use known tokens).
    random_state : int, numpy.random.Generator or None, default=None
        Seed; the same seed gives the same rows.

    Returns
    -------
    pandas.DataFrame
        One row per person, one string column per field.

    Examples
    --------
    >>> from tessera.synth import fake_people
    >>> people = fake_people(3, locale="de_DE", random_state=0)
    >>> list(people.columns)
    ['name', 'address', 'email', 'phone']
    """
    n = check_positive_int("n", n, minimum=0)
    if isinstance(fields, str) or not all(isinstance(f, str) for f in fields):
        raise bad_value(
            "fields",
            fields,
            "it must be a sequence of field names",
            f"Pass e.g. fields=('name', 'email'); choose from {PEOPLE_FIELDS}.",
        )
    unknown = [f for f in fields if f not in PEOPLE_FIELDS]
    if unknown or len(set(fields)) != len(fields) or not fields:
        raise bad_value(
            "fields",
            tuple(fields),
            f"each must be one of {PEOPLE_FIELDS}, once",
            "Drop or correct the unknown or repeated names.",
        )
    try:
        data = _load_locale(locale) if isinstance(locale, str) else None
    except (ModuleNotFoundError, AttributeError, ValueError, RecursionError):
        data = None
    if data is None:
        raise bad_value(
            "locale",
            locale,
            "it must be a Faker locale with person, address and phone data",
            "Pass e.g. 'en_US', 'de_DE' or 'fr_FR'.",
        )
    rng = as_generator(random_state)
    columns: dict[str, np.ndarray] = {}
    female = rng.random(n) < 0.5
    first = np.empty(n, dtype=StringDType())
    first_slug = np.empty(n, dtype=StringDType())
    for mask, table, slugs in (
        (female, data.first_female, data.slug_female),
        (~female, data.first_male, data.slug_male),
    ):
        rows = np.flatnonzero(mask)
        picks = _draw(table, rows.size, rng)
        names = list(table)
        first[rows] = np.asarray(names, dtype=StringDType())[picks]
        first_slug[rows] = np.asarray([slugs[k] for k in names], dtype=StringDType())[picks]
    last_names = list(data.last)
    last_picks = _draw(data.last, n, rng)
    last = np.asarray(last_names, dtype=StringDType())[last_picks]
    last_slug = np.asarray([data.slug_last[k] for k in last_names], dtype=StringDType())[last_picks]
    add = np.strings.add
    columns["first_name"] = first
    columns["last_name"] = last
    if "name" in fields:
        columns["name"] = add(add(first, " "), last)
    if "email" in fields:
        columns["email"] = _emails(first_slug, last_slug, data.domains, rng)
    if "phone" in fields:
        columns["phone"] = render_formats(data.phone_formats, n, rng, data.tokens)
    if "address" in fields:
        address = render_formats(data.address_formats, n, rng, data.tokens)
        columns["address"] = np.strings.replace(address, "\n", ", ")
    return pd.DataFrame({f: pd.array(columns[f].astype(object), dtype="string") for f in fields})


def _emails(
    first: np.ndarray, last: np.ndarray, domains: list[str], rng: np.random.Generator
) -> np.ndarray:
    n = first.size
    add = np.strings.add
    shares = np.array([share for _, share in _USER_FORMATS])
    picks = rng.choice(len(_USER_FORMATS), size=n, p=shares / shares.sum())
    user: Any = np.empty(n, dtype=StringDType())
    for k, (fmt, _) in enumerate(_USER_FORMATS):
        rows = np.flatnonzero(picks == k)
        f: Any = first[rows]
        last_k: Any = last[rows]
        head = np.strings.slice(f, 0, 1) if fmt.startswith("{i}") else f
        sep = fmt[3:-3]
        user[rows] = add(add(head, sep), last_k)
    digits = rng.random(n) < _SHARE_WITH_DIGITS
    rows = np.flatnonzero(digits)
    with_digits: Any = user[rows]
    user[rows] = add(with_digits, numerify("##", rows.size, rng))
    domain: Any = np.asarray(domains, dtype=StringDType())[rng.integers(0, len(domains), n)]
    joined: Any = add(user, "@")
    return np.asarray(add(joined, domain))
