"""The demo's synth section: scores, figures and people, self-contained."""

from __future__ import annotations

from tessera.demo._synth import synth_section


def test_synth_section() -> None:
    section = synth_section()
    assert section.key == "synth"
    assert section.body_html.count("data:image/png;base64,") == 2
    assert "://" not in section.body_html
    assert any("quality" in line for line in section.summary)
    assert "@" in section.body_html  # the fake people's emails
