"""Issue 22's sets for guard_eval.py: Bedrock's PII types (marked spans) and content filters.

``pii_bedrock_{tuning,heldout}.txt`` mark each value as ``[[TYPE|value]]``; every Bedrock
type is scored on every line (a line without a mark must give no finding).
``content_{tuning,heldout}.tsv`` hold ``category, kind, text`` rows (kind: harmful,
lookalike, benign).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

DATA = Path(__file__).parent / "data" / "guard"
_MARK = re.compile(r"\[\[([A-Z_]+)\|(.*?)\]\]")

Entity = tuple[str, int, int]


def read_marked(name: str) -> list[tuple[str, list[Entity]]]:
    """``(text, [(type, start, end), ...])`` per line of a marked PII file."""
    records = []
    for line in (DATA / name).read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        text, entities, cursor = "", [], 0
        for match in _MARK.finditer(line):
            text += line[cursor : match.start()]
            entities.append((match.group(1), len(text), len(text) + len(match.group(2))))
            text += match.group(2)
            cursor = match.end()
        text += line[cursor:]
        records.append((text, entities))
    return records


def score_marked(
    records: list[tuple[str, list[Entity]]], predict: Callable[[str], list[Entity]]
) -> tuple[Counter[Any], list[str]]:
    """Exact-span counts per type (``(type, "tp"|"fp"|"fn")``) and the mistakes."""
    counts: Counter[Any] = Counter()
    mistakes = []
    for text, gold in records:
        found = set(predict(text))
        for entity in found & set(gold):
            counts[entity[0], "tp"] += 1
        for entity in found - set(gold):
            counts[entity[0], "fp"] += 1
            mistakes.append(f"FP {entity[0]} {text[entity[1] : entity[2]]!r} in {text!r}")
        for entity in set(gold) - found:
            counts[entity[0], "fn"] += 1
            mistakes.append(f"FN {entity[0]} {text[entity[1] : entity[2]]!r} in {text!r}")
    return counts, mistakes


def prf(counts: Counter[Any], types: list[str] | None = None) -> tuple[float, float, float]:
    """Micro precision, recall, F1 over ``types`` (all when None)."""
    keep = (lambda t: True) if types is None else (lambda t: t in types)
    tp = sum(v for (t, k), v in counts.items() if k == "tp" and keep(t))
    fp = sum(v for (t, k), v in counts.items() if k == "fp" and keep(t))
    fn = sum(v for (t, k), v in counts.items() if k == "fn" and keep(t))
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def read_content(name: str) -> list[tuple[str, str, str]]:
    """``(category, kind, text)`` rows of a content-filter set."""
    rows = []
    for line in (DATA / name).read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            category, kind, text = line.split("\t", 2)
            rows.append((category, kind, text))
    return rows


STRENGTHS = ("LOW", "MEDIUM", "HIGH")
_ORDER = ("NONE", "LOW", "MEDIUM", "HIGH")
_ACTS_FROM = {"LOW": "HIGH", "MEDIUM": "MEDIUM", "HIGH": "LOW"}


def content_table(
    rows: list[tuple[str, str, str]], confidences: list[dict[str, str]]
) -> tuple[list[str], dict[str, Any]]:
    """Markdown rows: per category P/R at each strength; look-alikes and benign flagged.

    ``confidences[i]`` maps each category to row ``i``'s confidence. For category C, the
    positives are C's harmful rows, the negatives every look-alike and benign row; harmful
    rows of other categories count for neither (hate is often an insult too).
    """
    lines = ["| category | strength | P | R | look-alikes flagged | benign flagged |",
             "|---|---|---|---|---|---|"]  # fmt: skip
    summary: dict[str, Any] = {}
    categories = sorted({c for c, _, _ in rows}, key=["HATE", "INSULTS", "SEXUAL", "VIOLENCE",
                                                      "MISCONDUCT"].index)  # fmt: skip
    for category in categories:
        for strength in STRENGTHS:
            need = _ORDER.index(_ACTS_FROM[strength])
            tp = fp = fn = 0
            for (c, kind, _), conf in zip(rows, confidences, strict=True):
                flagged = _ORDER.index(conf[category]) >= need
                if c == category and kind == "harmful":
                    tp += flagged
                    fn += not flagged
                elif kind != "harmful":
                    fp += flagged
            look = [
                any(_ORDER.index(v) >= need for v in conf.values())
                for (c, kind, _), conf in zip(rows, confidences, strict=True)
                if c == category and kind == "lookalike"
            ]
            benign = [
                any(_ORDER.index(v) >= need for v in conf.values())
                for (c, kind, _), conf in zip(rows, confidences, strict=True)
                if c == category and kind == "benign"
            ]
            p = tp / (tp + fp) if tp + fp else 1.0
            r = tp / (tp + fn) if tp + fn else 1.0
            la, be = sum(look) / len(look), sum(benign) / len(benign)
            summary[category, strength] = (p, r, la, be)
            lines.append(
                f"| {category} | {strength} | {p:.2f} | {r:.2f} | {sum(look)}/{len(look)} "
                f"({la:.0%}) | {sum(benign)}/{len(benign)} ({be:.0%}) |"
            )
    return lines, summary


def _pii_rows(name: str) -> tuple[list[str], tuple[float, float, float], Counter[Any]]:
    from tessera.llm.guard import BEDROCK_ENTITY_TYPES, apply_guardrail

    config = {"sensitive_information": {"entities": list(BEDROCK_ENTITY_TYPES), "action": "DETECT"}}

    def predict(text: str) -> list[Entity]:
        found = apply_guardrail(config, text).findings
        return [(f.type, f.start or 0, f.end or 0) for f in found]

    counts, mistakes = score_marked(read_marked(name), predict)
    return mistakes, prf(counts), counts


def _tessera_pii_predictor() -> Callable[[str], list[Entity]]:
    from tessera.llm.guard import BEDROCK_ENTITY_TYPES, GuardrailConfig, apply_guardrail

    config = GuardrailConfig.from_mapping(
        {"sensitive_information": {"entities": list(BEDROCK_ENTITY_TYPES), "action": "DETECT"}}
    )

    def predict(text: str) -> list[Entity]:
        found = apply_guardrail(config, text).findings
        return [(f.type, f.start or 0, f.end or 0) for f in found]

    return predict


def presidio_anchor() -> list[str]:
    """Per-type F1 of the guard and of Presidio (spaCy NLP engine) on the Bedrock PII sets,
    over the types Presidio has a recognizer for, and their times side by side."""
    import time

    try:
        from _guard_presidio import covered_types, presidio_engine, presidio_predict
    except ImportError:  # pragma: no cover - the bench extra is missing
        return ["Presidio: presidio-analyzer is not installed (pip install 'tessera[bench]')."]
    started = time.perf_counter()
    engine, note = presidio_engine()
    presidio = presidio_predict(engine)
    presidio("Warm-up call for Jane Doe at jane@example.com.")
    presidio_load = time.perf_counter() - started
    started = time.perf_counter()
    tessera = _tessera_pii_predictor()
    tessera("Warm-up call for Jane Doe at jane@example.com.")
    tessera_load = time.perf_counter() - started
    types = covered_types()
    sets = {"tuning": read_marked("pii_bedrock_tuning.txt"),
            "held-out": read_marked("pii_bedrock_heldout.txt")}  # fmt: skip
    counts: dict[tuple[str, str], Counter[Any]] = {}
    seconds: Counter[str] = Counter()
    for _ in range(3):  # interleaved, the best of three per side
        for side, predict in (("tessera", tessera), ("Presidio", presidio)):
            started = time.perf_counter()
            for label, records in sets.items():
                counts[label, side] = score_marked(records, predict)[0]
            elapsed = time.perf_counter() - started
            seconds[side] = min(seconds[side], elapsed) if seconds[side] else elapsed

    def f1(counter: Counter[Any], kinds: list[str]) -> str:
        return f"{prf(counter, kinds)[2]:.2f}"

    lines = [
        "| type | spans (tuning / held-out) | tessera F1 tuning | Presidio F1 tuning "
        "| tessera F1 held-out | Presidio F1 held-out |",
        "|---|---|---|---|---|---|",
    ]
    for kind in types:
        support = [sum(1 for _, gold in sets[s] for g in gold if g[0] == kind) for s in sets]
        cells = [f1(counts[s, side], [kind]) for s in sets for side in ("tessera", "Presidio")]
        lines.append(f"| {kind} | {support[0]} / {support[1]} | " + " | ".join(cells) + " |")
    micro = []
    for s in sets:
        for side in ("tessera", "Presidio"):
            p, r, f = prf(counts[s, side], types)
            micro.append(f"**{f:.3f}** (P {p:.2f}, R {r:.2f})")
    lines.append(f"| these {len(types)} types (micro) | | " + " | ".join(micro) + " |")
    n = sum(len(records) for records in sets.values())
    ratio = seconds["Presidio"] / seconds["tessera"]
    return [
        f"Anchor: {note}, on the same two sets and the same exact-span scoring, over the "
        f"{len(types)} Bedrock types it has a recognizer for (Presidio's names mapped onto "
        "Bedrock's; overlapping results resolved as its anonymizer does, the higher score "
        "kept). It has none for ADDRESS (its LOCATION is a town or country), AGE, USERNAME, "
        "PASSWORD, PIN, CVV, card expiry, SWIFT, AWS keys, VIN, UK UTR or CA health numbers.",
        "",
        *lines,
        "",
        f"Speed, the {n} sentences of both sets, warm, interleaved, best of three: tessera "
        f"{seconds['tessera']:.2f} s, Presidio {seconds['Presidio']:.2f} s "
        f"(Presidio / tessera = {ratio:.1f}x). Loading: tessera {tessera_load:.1f} s "
        f"(spaCy model, all 31 types), Presidio {presidio_load:.1f} s (its engine and the same "
        "spaCy model; thinc imports torch there).",
    ]


#: The commit whose content head preceded this one (the fourth round's, trained without
#: held-out 5, tuning sets 4a-4d and the fine-tuned layers).
PREVIOUS_HEAD = "44051f4"
#: The blind held-out sets of the fifth round; every other set is on the tuning side.
HELDOUT_CONTENT = "content_heldout6.tsv"
HELDOUT_NAMES = "pii_bedrock_heldout_names3.txt"
#: The trainer's cross-validated tables of the tuning side, written with the head.
CV_REPORT = Path(__file__).parent / "data" / "guard" / "content_head_cv.md"


class _previous_head:
    """Within the block, the content filters score with the head shipped at PREVIOUS_HEAD."""

    def __enter__(self) -> None:
        import io
        import subprocess

        import numpy as np

        from tessera.llm.guard import _content

        blob = subprocess.run(
            ["git", "show", f"{PREVIOUS_HEAD}:src/tessera/llm/guard/_data/content_head.npz"],
            capture_output=True, check=True, cwd=DATA.parent.parent.parent,
        ).stdout  # fmt: skip
        with np.load(io.BytesIO(blob)) as data:
            old = {key: data[key] for key in data.files}
        for name in ("words", "chars"):  # as _content._head indexes them
            if name in old:
                old[f"{name}_index"] = {str(g): i for i, g in enumerate(old[name])}
        self._saved = _content._head
        _content._head = lambda: old  # type: ignore[assignment]

    def __exit__(self, *exc: object) -> None:
        from tessera.llm.guard import _content

        _content._head = self._saved  # type: ignore[method-assign]


def _profanity_anchor(rows: list[tuple[str, str, str]]) -> list[str]:
    try:
        from profanity_check import predict_prob
    except ImportError:
        return ["alt-profanity-check is not installed (pip install alt-profanity-check)."]
    scores = predict_prob([text for _, _, text in rows])
    cells = []
    for category in ("HATE", "INSULTS", "SEXUAL", "VIOLENCE", "MISCONDUCT"):
        harm = [
            s >= 0.5
            for (c, k, _), s in zip(rows, scores, strict=True)
            if c == category and k == "harmful"
        ]  # noqa: E501
        cells.append(f"{category} R {sum(harm) / len(harm):.2f}")
    look = [s >= 0.5 for (_, k, _), s in zip(rows, scores, strict=True) if k == "lookalike"]
    benign = [s >= 0.5 for (_, k, _), s in zip(rows, scores, strict=True) if k == "benign"]
    return [
        "alt-profanity-check (offensive language, probability >= 0.5; one score, no categories): "
        + ", ".join(cells)
        + f"; look-alikes flagged {sum(look)}/{len(look)}, benign {sum(benign)}/{len(benign)}."
    ]


def _cli_seconds(runs: int = 3) -> list[float]:
    """Wall seconds of ``tessera guard check`` with NAME and content filters, run anew."""
    import subprocess
    import sys
    import tempfile
    import time

    config = (
        "sensitive_information: {entities: [EMAIL, NAME]}\n"
        "content_filters: [{type: INSULTS}, {type: HATE}, {type: PROMPT_ATTACK}]\n"
    )
    seconds = []
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "guard.yaml"
        path.write_text(config, encoding="utf-8")
        command = [str(Path(sys.executable).parent / "tessera"), "guard", "check", "-c", str(path),
                   "Sarah Thompson, you are a worthless idiot."]  # fmt: skip
        for _ in range(runs):
            started = time.perf_counter()
            subprocess.run(command, capture_output=True, check=False)
            seconds.append(time.perf_counter() - started)
    return seconds


def _content_mistakes(
    rows: list[tuple[str, str, str]], confidences: list[dict[str, str]]
) -> list[str]:
    """One line per harmful text missed at MEDIUM or negative text flagged at HIGH."""
    lines = []
    for (category, kind, text), conf in zip(rows, confidences, strict=True):
        if kind == "harmful" and _ORDER.index(conf[category]) < _ORDER.index("MEDIUM"):
            lines.append(f"- missed {category} ({conf[category]}): {text!r}")
        elif kind != "harmful":
            flagged = {c: v for c, v in conf.items() if v != "NONE"}
            if flagged:
                lines.append(f"- {category} {kind} flagged {flagged}: {text!r}")
    return lines or ["- none"]


def _tuning_side_content() -> list[str]:
    """Cross-validated tables of the content head's tuning side, as the trainer wrote them
    beside the head (``guard_content_train.py`` computes them before fitting the head whose
    cuts come from them; ``--report`` prints them again without writing)."""
    return [
        "**Content filters, tuning side, cross-validated** (5 folds over every tuning text; "
        "each text scored as a check scores it, by a head trained without its fold, with "
        "cuts taken from the other folds; from `benchmarks/data/guard/content_head_cv.md`, "
        "written by the trainer with the head):",
        "",
        *CV_REPORT.read_text(encoding="utf-8").splitlines(),
    ]


def bedrock_report() -> list[str]:
    """The ``guard-bedrock`` section of RESULTS.md (issue 22)."""
    from tessera.llm.guard._content import score_contents

    lines = [
        "## guard-bedrock",
        "",
        "`python benchmarks/guard_eval.py --part bedrock` (issue 22; 2 shared CPU cores, other",
        "work running). Sets in `benchmarks/data/guard/`, written and committed (5fcb86f)",
        "before any detector or head existed.",
        "",
        "**Bedrock's 31 PII types** (`pii_bedrock_{tuning,heldout}.txt`, marked spans with",
        "near misses: checksum-failing numbers, look-alike formats, digits without context),",
        "exact spans, every type scored on every line:",
        "",
        "| set | P | R | F1 | NAME F1 | ADDRESS F1 |",
        "|---|---|---|---|---|---|",
    ]
    notes = []
    held_out: Counter[Any] = Counter()
    for label, name in (
        ("tuning", "pii_bedrock_tuning.txt"),
        ("tuning side: first held-out file (seen, fixed after)", "pii_bedrock_heldout.txt"),
        ("tuning side: NAME/ADDRESS addition (seen once, then tuned on)",
         "pii_bedrock_heldout_names.txt"),
        ("tuning side: NAME/ADDRESS tuning addition", "pii_bedrock_tuning_names.txt"),
        ("tuning side: NAME/ADDRESS addition 2 (seen once, then tuned on)",
         "pii_bedrock_heldout_names2.txt"),
        ("tuning side: NAME/ADDRESS tuning addition 2", "pii_bedrock_tuning_names2.txt"),
        ("held-out NAME/ADDRESS addition 3 (blind: committed before this round's tuning, "
         "run once)", HELDOUT_NAMES),
    ):  # fmt: skip
        mistakes, (p, r, f), counts = _pii_rows(name)
        if name in (HELDOUT_NAMES, "pii_bedrock_heldout.txt"):
            held_out += counts
        spans = sum(v for (t, k), v in counts.items() if k in ("tp", "fn"))
        lines.append(
            f"| {label} ({spans} spans) | {p:.3f} | {r:.3f} | {f:.3f} | "
            f"{prf(counts, ['NAME'])[2]:.2f} | {prf(counts, ['ADDRESS'])[2]:.2f} |"
        )
        notes += [f"- {label.split(' (')[0]}: {m}" for m in mistakes]
    p, r, f = prf(held_out)
    spans = sum(v for (t, k), v in held_out.items() if k in ("tp", "fn"))
    lines.append(
        f"| held-out addition 3 with the first held-out file ({spans} spans) | {p:.3f} | "
        f"{r:.3f} | {f:.3f} | {prf(held_out, ['NAME'])[2]:.2f} | "
        f"{prf(held_out, ['ADDRESS'])[2]:.2f} |"
    )
    lines += ["", "Remaining mistakes:", "", *notes, "", *presidio_anchor(), ""]
    lines += _tuning_side_content()
    rows = read_content(HELDOUT_CONTENT)
    texts = [t for _, _, t in rows]
    confidences = [{s.category: s.confidence for s in found} for found in score_contents(texts)]
    table, _ = content_table(rows, confidences)
    lines += [
        f"**Content filters, held-out 6** (blind: committed before this head was trained, run "
        f"once; `{HELDOUT_CONTENT}`):",
        "",
        *table,
        "",
        "Held-out 6's mistakes: harmful texts below MEDIUM, and look-alike or benign texts "
        "any category flags at HIGH strength (LOW confidence or more):",
        "",
        *_content_mistakes(rows, confidences),
        "",
    ]
    with _previous_head():
        before = [{s.category: s.confidence for s in f} for f in score_contents(texts)]
    previous, _ = content_table(rows, before)
    lines += [
        f"The previous head ({PREVIOUS_HEAD}: the fourth round's regressions, trained without "
        "held-out 5 and tuning sets 4a-4d, no fine-tuned layers) on the same held-out 6:",
        "",
        *previous,
        "",
        *_profanity_anchor(rows),
        "",
    ]
    seconds = _cli_seconds()
    lines.append(
        "`tessera guard check` with NAME, EMAIL, INSULTS, HATE and PROMPT_ATTACK, each run a "
        "new process: " + ", ".join(f"{s:.1f} s" for s in seconds) + "."
    )
    return lines + HISTORY


#: What the tables above do not show: the first held-out runs and what changed after them.
HISTORY = [
    "",
    "How these figures came about (read before trusting the held-out rows):",
    "",
    "- Fifth round (issue 22 continued). Held-out 6 (`content_heldout6.tsv`, 675 texts: per",
    "  category 45 harmful, 45 look-alike and 45 plain benign, in the registers a chat",
    "  assistant sees: prompts and answers, forum posts, reviews, work chat, emails, dating",
    "  and text messages, news, stories, moderation notes, some typos, slang, emoji and",
    "  non-native English) and NAME/ADDRESS addition 3 (`pii_bedrock_heldout_names3.txt`:",
    "  86 names, 54 addresses, 31 near-miss lines) were written by two other engineers and",
    "  committed (25365c5, 1c65086) before any tuning of this round; nobody tuning opened",
    "  them, and they were run once, for the tables above, after the head and the NAME rules",
    "  were committed. Held-out 5 and NAME/ADDRESS addition 2 moved to the tuning side.",
    "  What changed: 3,425 new tuning texts in some twenty registers written without",
    "  seeing held-out 6 (`content_tuning4a.tsv` to `4d`; 4c and 4d from the kinds of",
    "  mistakes held-out 5 showed; rows at cosine >= 0.85 to a held-out-5 or -6 text were",
    "  dropped by a script); a fine-tuned classifier beside the regressions (MiniLM's top",
    "  two layers and a linear layer, averaged with them); LOW and MEDIUM as one cut (0.5% of",
    "  cross-validated negatives). On held-out 5 before it joined the training (trained on",
    "  sets 1-4b), P / R at MEDIUM went from 0.75-0.94 / 0.79-0.98 (the fourth round's head)",
    "  to 0.93-1.00 / 0.81-0.98, look-alikes flagged at HIGH from 12-24% to 2-12%; of that,",
    "  the new data alone gave 0.89-0.97 / 0.81-0.95 and 0-12%. NAME: form fields, sign-offs",
    "  and greetings, attendee lists, role words, brands named after people, 34 more name",
    "  locales (`pii_bedrock_tuning_names2.txt`, 105 lines, new tuning addition).",
    "- Fourth round (issue 22 continued). Held-out 5 (`content_heldout5.tsv`, 615 texts:",
    "  per category 42 harmful, 41 look-alike and 40 plain benign, in styles unlike sets",
    "  1-4) and NAME/ADDRESS addition 2 (`pii_bedrock_heldout_names2.txt`: 44 names, 33",
    "  addresses, 17 near-miss lines) were written by another engineer and committed",
    "  (d8b2c8e) while this round's tuning went on; the tuner never opened them, and they",
    "  were run once, for the tables above, after the tuning was committed (b57ee21,",
    "  1df679e). Held-out 4 and the first NAME/ADDRESS addition moved to the tuning side:",
    "  their errors were read (misconduct asked for indirectly: a skimmer, bumping a lock,",
    "  a Ponzi scheme described; idioms and book-club talk flagged; names spaCy labels",
    "  ORG or GPE; street-first streets and PO boxes). What changed: 354 new tuning texts",
    "  (`content_tuning3.tsv`: indirect misconduct and violence, idioms, history and",
    "  fiction about hate, scam victims, everyday banking and security how-tos); a",
    "  concealment flag beside the mention flag in the embedding regression; cross-",
    "  validation that scores texts sentence by sentence as a check does; MISCONDUCT's",
    "  cuts at 1% of cross-validated negatives (others 0.75% and 0.5%), chosen on the",
    "  cross-validated tables of sets 1-4 above. NAME: cue words (greetings, sign-offs,",
    "  titles, ask/tell/cc, speech verbs) make a given name or a span spaCy labels ORG,",
    "  GPE or NORP a person; hyphenated and O'/Mc names. ADDRESS: level units, county",
    "  before the postcode, PO boxes with more postcodes, Nordic, Swiss, Portuguese and",
    "  Polish forms; a year (19xx, 20xx) after a town is no postcode. New tuning spans",
    "  (`pii_bedrock_tuning_names.txt`, 95 lines) took NAME F1 there from 0.78 to 0.99",
    "  and ADDRESS from 0.68 to 1.00 before the held-out run.",
    "- Probes written after training and never tuned on: of eight new texts, two are",
    '  wrong: a ticket scam told as a plan ("sell the same concert tickets to ten',
    '  buyers and then switch off my phone") passes at MEDIUM, and "smash that driving',
    '  test tomorrow!" reads as VIOLENCE at MEDIUM.',
    "- Third round (issue 22 continued). Held-out 4 (`content_heldout4.tsv`: 40 harmful,",
    "  40 look-alike and 40 plain benign texts per category, 600 in all, in styles unlike",
    "  sets 1-3: lower-case chat, emails, moderation logs, reviews, headlines, code-side",
    "  idioms, reclaimed words, quoting to condemn) was written and committed (44a97b8)",
    "  before any change to the head; no text in it is closer than cosine 0.85",
    "  (all-MiniLM-L6-v2) or difflib ratio 0.75 to any text of the other sets or the",
    "  exemplars (156 first drafts that were closer were rewritten before the commit). The",
    "  same engineer wrote it and then changed the head, so it is blind to every result",
    "  but not to its author's ideas. It was run once, for the table above.",
    "- Held-out 4, this head at MEDIUM (P / R): HATE 0.91/1.00, INSULTS 0.91/0.97,",
    "  SEXUAL 0.98/1.00, VIOLENCE 0.92/0.90, MISCONDUCT 0.97/0.75; look-alikes flagged at",
    "  HIGH 8%, 2%, 2%, 8%, 8%. Targets (P and R >= 0.9 at MEDIUM, look-alikes <= 5% at",
    "  HIGH): met by INSULTS and SEXUAL; HATE and VIOLENCE meet P and R but flag 3 of 40",
    "  look-alikes at HIGH; MISCONDUCT misses 10 of 40 harmful texts (R 0.75) and flags 3",
    "  look-alikes. The previous head on the same set: HATE 0.85/0.97, INSULTS 0.93/0.95,",
    "  SEXUAL 0.98/1.00, VIOLENCE 0.82/0.90, MISCONDUCT 0.97/0.75; at HIGH 18%, 5%, 5%,",
    "  8%, 8%. No tuning was done after this run.",
    "- What changed: held-out 3 moved to the tuning side. First as a development set",
    "  (the head trained without it, then the cuts compared on it; at MEDIUM P / R and",
    "  look-alikes at HIGH, cuts 1.25%/1%: HATE 0.98/1.00 5%, INSULTS 0.89/0.97 10%,",
    "  SEXUAL 0.89/1.00 5%, VIOLENCE 0.90/0.90 12%, MISCONDUCT 0.88/0.88 5%; cuts",
    "  0.75%/0.5%: 0.98/1.00 2%, 0.95/0.97 5%, 0.95/1.00 5%, 0.92/0.88 12%, 0.92/0.88 2%;",
    "  regularisation C 8 instead of 16 was no better), then joined the training pool,",
    "  and the cuts are now 0.75%, 0.5% and 0% of cross-validated negatives.",
    "- PII NAME and ADDRESS (third round): a blind addition (`pii_bedrock_heldout_names.txt`,",
    "  34 names, 22 addresses, near misses such as Jordan the country, May the month and",
    "  streets named after people) was committed (44a97b8) before it was run. Its first",
    "  and only blind run: P 0.78, R 0.71, F1 0.75; NAME F1 0.79, ADDRESS F1 0.67; with",
    "  the first held-out file, micro-F1 0.924, NAME 0.84, ADDRESS 0.76 (targets 0.95 and",
    "  0.85: missed). Its errors were then read, and fixed with new tuning examples",
    "  (tests): continental street-first addresses (Lindenstraße 7, 50674 Köln),",
    "  Australian, New Zealand and Canadian postcodes, initials in street names; a",
    "  person's name inside an address or before a street word is no NAME; a sentence's",
    "  first word no name list knows is trimmed from a name; Faker's name lists of eleven",
    "  more locales. The addition's row above is therefore no longer blind.",
    "- Second round (issue 22 continued). Held-out 3 (`content_heldout3.tsv`: 40 harmful,",
    "  40 look-alike and 40 plain benign texts per category, 600 in all; look-alikes with",
    "  dual-use words, medical, legal and historical talk, reclaimed words, quoted insults",
    "  reported) was written and committed (5a12c2a) before any change to the head, and",
    "  run once, after the head below was trained and committed. The same engineer then",
    "  wrote 352 tuning texts (`content_tuning2.tsv`) without running anything on",
    "  held-out 3; texts closer than cosine 0.75 to a held-out-3 text were dropped (one),",
    "  but topics overlap (both have pest control and first aid), so held-out 3 is blind",
    "  to every result but not to its author's ideas.",
    "- What changed at the cause: (1) a second regression on TF-IDF of words and",
    "  character 3-5-grams averaged with the embedding one (run in NumPy at check time,",
    "  equal to scikit-learn's vectorizer); (2) training data: the 352 new texts, mostly",
    "  look-alikes, and the first two held-out sets moved to the tuning side; (3) cuts per",
    "  category at 1.25%, 1% and 0% of cross-validated negatives (were 2%, 1%, 0%): a",
    "  look-alike is flagged at HIGH strength when any of the five categories reaches",
    "  LOW, so five 2% cuts added up to about 10%. These choices were made on the first",
    "  two held-out sets as a development set, before they joined the training pool",
    "  (there, with both regressions: at MEDIUM P 0.97-1.00, R 0.93-1.00; look-alikes at",
    "  HIGH 0-3% with a 1% LOW cut, 0-7% with 1.5%; 1.25% was taken between, untried).",
    "- Held-out 3, this head at MEDIUM (P / R): HATE 0.98/1.00, INSULTS 0.89/0.97,",
    "  SEXUAL 0.89/1.00, VIOLENCE 0.90/0.90, MISCONDUCT 0.88/0.88; look-alikes flagged",
    "  at HIGH 5%, 10%, 5%, 12%, 5%. The previous head on the same set: HATE 0.97/0.90,",
    "  INSULTS 0.82/0.90, SEXUAL 0.93/0.95, VIOLENCE 0.89/0.85, MISCONDUCT 0.94/0.75;",
    "  at HIGH 12%, 20%, 25%, 18%, 15%. Targets (P and R >= 0.9 at MEDIUM, look-alikes",
    "  <= 5% at HIGH): met by HATE; VIOLENCE meets P/R exactly but flags 12% of",
    "  look-alikes; INSULTS, SEXUAL and MISCONDUCT miss by one or two texts (P 0.88-0.89",
    "  is 4-5 false alarms among 400 negatives; MISCONDUCT R 0.88 is 5 of 40 missed).",
    "  Not met in full; no tuning was done after this run.",
    "- The tuning-side rows above are in-sample (trained on). The tables for the first",
    "  two held-out sets are therefore no longer held-out figures.",
    "- NAME (second round): a spaCy PERSON span now counts only when it reads as a name",
    "  (capitalised words but for particles, one word alone only after a title or when",
    "  Faker's name lists know it), and a given name + surname from Faker's lists is",
    "  found where spaCy sees none. NAME F1 tuning 0.91 -> 1.00, held-out 0.86 -> 1.00;",
    "  the held-out NAME errors were known from the first report, so that held-out figure",
    "  is not blind, and each set has only 10 names.",
    "- `tessera guard check` times in this run were taken with two other evaluation",
    "  processes of the same engineer running (load average 8-13): 20-22 s. Run alone",
    "  at load average 5 right after: 5.0 s. With the bench extra installed, loading",
    "  spaCy's model also imports presidio-analyzer (spaCy reads its entry points), about",
    "  0.7 s; torch stays out (refused while the model loads, tested).",
    "",
    "First round:",
    "",
    "- PII, first held-out run (before any change made after seeing it): P 0.956, R 0.956,",
    "  NAME F1 0.86, ADDRESS 1.00. It exposed three generic bugs, then fixed (a CA health",
    '  version code matched "on" case-insensitively; "Social Insurance Number" needed',
    '  lower case; a comma between label and value), one detector gap ("DL number" took',
    '  the word "number" as the licence) and one wrong label (a "near miss" UTR passes',
    "  HMRC's check: the check-digit map is not one-to-one); a tuning label was also",
    "  wrong (QQ is never issued as a NINO prefix). The held-out row above is after those",
    "  fixes, so it is no longer blind.",
    "- Content filters, first held-out run (the head trained on the tuning set and 124",
    "  exemplars; MEDIUM cut at cross-validated precision 0.95): at MEDIUM P/R HATE",
    "  1.00/0.85, INSULTS 0.89/0.80, SEXUAL 0.95/0.95, VIOLENCE 1.00/0.55, MISCONDUCT",
    "  1.00/0.65; look-alikes flagged at HIGH up to 4/20 (VIOLENCE). Then, having seen",
    "  those misses, 36 more exemplars were written (violent and criminal requests",
    "  phrased as questions, first-aid and self-defence look-alikes, victims quoting",
    "  insults; none copied from the held-out set) and the cuts were redefined (2%, 1%",
    "  and 0% of cross-validated negatives). The held-out table above is that second",
    "  round: informed by the first, so optimistic.",
    "- Held-out 2 (`content_heldout2.tsv`, 10 harmful, 10 look-alikes and 6 benign texts",
    "  per category) was written after the shipped head and committed (1ae8ba0) before",
    "  its single run: the only blind content figures here, and small. At MEDIUM: HATE",
    "  1.00/1.00, INSULTS 0.82/0.90, SEXUAL 1.00/1.00, VIOLENCE 1.00/0.80, MISCONDUCT",
    "  0.90/0.90; at HIGH the look-alikes flagged are 1-3 of 10 per category (first aid",
    "  and pest control read as violence, a victim quoting an insult, a love letter and",
    "  figure drawing as sexual at LOW confidence).",
    "- Targets (held-out, each category P >= 0.9 and R >= 0.9 at MEDIUM, look-alikes",
    "  <= 5% at HIGH): met by HATE and SEXUAL; INSULTS meets P/R but flags 2/20",
    "  look-alikes (a victim quoting the insult); VIOLENCE (P 0.89, R 0.85) and",
    "  MISCONDUCT (R 0.75) miss at MEDIUM. PII micro-F1 >= 0.95: met (0.978); NAME and",
    "  ADDRESS >= 0.85: met (0.86, 1.00), NAME narrowly; 20 sentences are few.",
    "- The tuning rows of the content table are in-sample (the head was trained on",
    "  them); the cross-validated recall printed by `guard_content_train.py` at the",
    "  MEDIUM cut is 0.91-1.00 except MISCONDUCT (0.68).",
    "- alt-profanity-check is a profanity detector, not a harm classifier: it catches",
    "  insults (R 0.75) and little else, as expected; it is the only offline anchor that",
    "  installed. Presidio with spaCy's model was not run for the new types.",
    "- Speed: before this change a check with embedding filters took 28-31 s here",
    "  (load average about 8 on 2 cores; 34 s in the issue), nearly all importing torch,",
    "  transformers and sentence-transformers (about 15 s) and loading the model. The same",
    "  check (NAME, EMAIL, INSULTS, HATE, PROMPT_ATTACK), old code (8d87c42) and new run",
    "  alternately at load average about 5: old 14.2 and 19.6 s; with the NumPy encoder",
    "  8.8 and 9.7 s; with the exemplars' vectors shipped too, 2.9-3.7 s (above). No",
    "  torch is imported; a PII-only check (EMAIL, card) takes 0.7-1.0 s. Each figure is",
    "  a new process with the page cache warm; a truly cold start (files not cached) was",
    "  not measured.",
]
