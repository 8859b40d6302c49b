"""The demo's mltest section catches every deliberately broken model, and only those."""

from __future__ import annotations

from tessera.demo._mltest import mltest_section


def test_section_flags_exactly_the_broken_models() -> None:
    section = mltest_section()
    assert section.key == "mltest"
    assert section.summary[0].endswith("every broken model was caught")
    outcomes = [line.split(maxsplit=1)[0] for line in section.summary[1:]]
    broken = ["(broken)" in line for line in section.summary[1:]]
    assert len(outcomes) == 6
    assert all((o == "FAIL") == b for o, b in zip(outcomes, broken, strict=True))
    body = section.body_html
    assert body.count("<tr>") == 7 and "http" not in body
    assert "measured" in body and "customer_id" in body
