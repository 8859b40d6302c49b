"""fake_people: coherent rows, locale formats, reproducibility, errors."""

from __future__ import annotations

import re

import pytest

from tessera.errors import InvalidInputError
from tessera.mltest import assert_reproducible
from tessera.synth import PEOPLE_FIELDS, fake_people

LOCALES = ("en_US", "de_DE", "fr_FR")


@pytest.mark.parametrize("locale", LOCALES)
def test_rows_are_coherent(locale: str) -> None:
    people = fake_people(2000, fields=PEOPLE_FIELDS, locale=locale, random_state=0)
    assert list(people.columns) == list(PEOPLE_FIELDS)
    assert len(people) == 2000 and people.notna().all().all()
    assert (people["name"] == people["first_name"] + " " + people["last_name"]).all()
    assert people["email"].str.fullmatch(r"[a-z0-9._]+@[a-z0-9.-]+\.[a-z]+").all()
    # The email's user name is made from the (transliterated) last name.
    ascii_last = people["last_name"].map(str.isascii).astype(bool)
    last = people["last_name"][ascii_last].str.lower().str.replace(r"[^a-z]", "", regex=True)
    user = people["email"][ascii_last].str.split("@").str[0]
    plain = [a[:3] in b for a, b in zip(last, user, strict=True) if len(a) >= 3]
    assert sum(plain) / len(plain) > 0.98
    assert people["phone"].str.count(r"\d").ge(7).all()
    assert not people["address"].str.contains(r"\{\{|#|\n").any()


def test_locale_formats() -> None:
    us = fake_people(500, fields=("address", "phone"), random_state=1)
    assert us["address"].str.contains(r", [A-Z]{2} \d{5}(?:-\d{4})?$").all()
    de = fake_people(500, fields=("address", "email"), locale="de_DE", random_state=1)
    assert de["address"].str.contains(r", \d{5} \S").all()
    assert de["email"].map(str.isascii).all()
    fr = fake_people(500, fields=("address", "phone"), locale="fr_FR", random_state=1)
    assert fr["phone"].str.contains(r"^(?:\+33|0)").all()


def test_weighted_names_follow_faker_weights() -> None:
    from faker.providers.person.en_US import Provider

    people = fake_people(40_000, fields=("last_name",), random_state=2)
    weights = Provider.last_names
    top = max(weights, key=weights.get)
    expected = weights[top] / sum(weights.values())
    assert (people["last_name"] == top).mean() == pytest.approx(expected, rel=0.15)


def test_reproducible_and_seed_sensitive() -> None:
    first = assert_reproducible(lambda seed: fake_people(300, random_state=seed), seed=3)
    assert not first.equals(fake_people(300, random_state=4))


def test_zero_rows() -> None:
    assert fake_people(0, fields=("name",)).shape == (0, 1)


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"locale": "xx_XX"}, "locale='xx_XX'"),
        ({"fields": ("name", "ssn")}, "fields=\\('name', 'ssn'\\)"),
        ({"fields": "name"}, "fields='name'"),
        ({"fields": ("name", "name")}, "once"),
    ],
)
def test_bad_arguments(kwargs: dict, needle: str) -> None:
    with pytest.raises(InvalidInputError, match=needle):
        fake_people(3, **kwargs)


def test_bad_count() -> None:
    with pytest.raises(InvalidInputError, match=re.escape("n=-2")):
        fake_people(-2)
