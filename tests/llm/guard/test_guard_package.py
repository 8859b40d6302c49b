"""The public surface of tessera.llm.guard: sorted __all__, light to import, documented."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import tessera.llm.guard as guard

ROOT = Path(__file__).resolve().parents[3]


def test_all_is_sorted_and_exactly_the_public_surface() -> None:
    assert list(guard.__all__) == sorted(guard.__all__)
    public = {n for n in vars(guard) if not n.startswith("_")} - {"annotations"}
    public = {n for n in public if not isinstance(getattr(guard, n), type(sys))}
    assert public == set(guard.__all__)


def test_importing_guard_and_its_cli_does_not_import_torch() -> None:
    code = (
        "import sys, tessera.llm.guard, tessera.cli._guard\n"
        "from tessera.llm.guard import apply_guardrail\n"
        "apply_guardrail({'sensitive_information': {'entities': ['EMAIL', 'PHONE']},"
        " 'words': {'profanity': True}}, 'a@b.org shit')\n"
        "print('torch' in sys.modules, 'sentence_transformers' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"


def test_the_how_to_names_every_public_name() -> None:
    page = (ROOT / "docs" / "how-to" / "guardrails.md").read_text(encoding="utf-8")
    missing = [n for n in guard.__all__ if n not in page]
    assert missing == []


def test_the_how_to_configuration_is_valid() -> None:
    import re

    page = (ROOT / "docs" / "how-to" / "guardrails.md").read_text(encoding="utf-8")
    block = re.search(r"```yaml\n(.*?)```", page, re.S)
    assert block is not None
    config = guard.GuardrailConfig.from_yaml(block.group(1))
    assert config.sensitive_information is not None
    assert config.sensitive_information.action_for("CREDIT_DEBIT_CARD_NUMBER") == "BLOCK"
    assert config.sensitive_information.action_for("PASSWORD", "output") == "ANONYMIZE"
    assert [f.type for f in config.content_filters][:2] == ["HATE", "INSULTS"]
    assert [t.name for t in config.denied_topics] == ["investment_advice"]


def test_the_how_to_first_example_prints_what_it_says() -> None:
    result = guard.apply_guardrail(
        {"sensitive_information": {"entities": ["EMAIL", "CREDIT_CARD"], "action": "ANONYMIZE"}},
        "Mail ann@example.org, card 4111 1111 1111 1111.",
    )
    assert (result.action, result.text) == ("INTERVENED", "Mail {EMAIL}, card {CREDIT_CARD}.")
