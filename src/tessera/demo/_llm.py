"""The demo's LLM section: the embedded model answering with plain greedy and with Medusa."""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

from tessera.demo._page import LLM_INSTALL, Section, skipped_section
from tessera.errors import MissingExtraError

__all__ = ["PROMPTS", "llm_section"]

#: The questions the demo asks (short answers, so the section takes seconds).
PROMPTS = (
    "Give three short tips for writing a clear email.",
    "Explain in two sentences why the sky is blue.",
)
MAX_NEW_TOKENS = 96
_WRAP = ' style="white-space:pre-wrap"'
_INSTALL = LLM_INSTALL


@dataclass(frozen=True)
class _Answer:
    prompt: str
    plain: Any  # Generation
    medusa: Any  # Generation

    @property
    def identical(self) -> bool:
        return bool(self.plain.token_ids == self.medusa.token_ids)


def _rate(generations: list[Any]) -> float:
    seconds = sum(g.seconds for g in generations)
    return sum(len(g.token_ids) for g in generations) / seconds if seconds > 0 else 0.0


def _skipped(reason: str, fix: str) -> Section:
    return skipped_section(
        "llm",
        "A local LLM with Medusa decoding",
        "runs the embedded SmolLM2-135M-Instruct model with and without Medusa heads",
        reason,
        fix,
    )


def _bars(plain: float, medusa: float) -> str:
    """Two horizontal bars of tokens per second, as inline SVG."""
    top = max(plain, medusa, 1e-9)
    rows = []
    for i, (label, value, colour) in enumerate(
        (("plain greedy", plain, "#8c959f"), ("Medusa", medusa, "#1a7f37"))
    ):
        width = 300 * value / top
        y = 8 + 30 * i
        rows.append(
            f'<text x="0" y="{y + 15}" font-size="13">{label}</text>'
            f'<rect x="100" y="{y}" width="{width:.1f}" height="20" fill="{colour}"/>'
            f'<text x="{106 + width:.1f}" y="{y + 15}" font-size="13">{value:.1f} tokens/s</text>'
        )
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" width="520" height="70" role="img" '
        f'aria-label="tokens per second">{"".join(rows)}</svg>'
    )


def _identity_note(same: int, total: int) -> str:
    if same == total:
        return "Greedy Medusa output is the plain greedy output, token for token."
    return (
        f"Greedy Medusa output should be the plain greedy output, token for token; here "
        f"{total - same} of {total} answers part from it. That is a bug: the model is "
        "loaded with batch-invariant kernels, so a token's logits are the same bits alone or "
        "in a tree; please report it with the prompt."
    )


def llm_section() -> Section:
    """Answer :data:`PROMPTS` with the default model, plain greedy then Medusa greedy."""
    from tessera.llm import load

    try:
        runtime = load()
    except MissingExtraError as exc:
        return _skipped(str(exc), _INSTALL)
    if runtime.heads is None:
        return _skipped(
            "this installation has no Medusa heads for the default model",
            "reinstall tessera, or train them with tessera llm medusa train",
        )
    # One untimed short run of each method first: allocator and kernel warm-up.
    for medusa in (False, True):
        runtime.generate(PROMPTS[0], max_new_tokens=8, medusa=medusa)
    answers = [
        _Answer(
            prompt,
            runtime.generate(prompt, max_new_tokens=MAX_NEW_TOKENS, medusa=False),
            runtime.generate(prompt, max_new_tokens=MAX_NEW_TOKENS, medusa=True),
        )
        for prompt in PROMPTS
    ]
    plain_rate = _rate([a.plain for a in answers])
    medusa_rate = _rate([a.medusa for a in answers])
    speedup = medusa_rate / plain_rate if plain_rate else 0.0
    medusa_tokens = sum(len(a.medusa.token_ids) for a in answers)
    per_step = medusa_tokens / max(sum(a.medusa.steps for a in answers), 1)
    tree = runtime.tree
    same = sum(a.identical for a in answers)

    rows = "".join(
        f'<tr><td style="text-align:left">{html.escape(a.prompt)}</td>'
        f"<td>{len(a.plain.token_ids)}</td><td>{a.plain.tokens_per_second:.1f}</td>"
        f"<td>{a.medusa.tokens_per_second:.1f}</td>"
        f"<td>{a.medusa.tokens_per_second / max(a.plain.tokens_per_second, 1e-9):.2f}x</td>"
        f"<td>{a.medusa.mean_accepted:.2f}</td><td>{'yes' if a.identical else 'NO'}</td></tr>"
        for a in answers
    )
    texts = "".join(
        f"<h3>{html.escape(a.prompt)}</h3><table><tr><th>plain greedy</th><th>Medusa</th></tr>"
        f'<tr><td style="text-align:left;vertical-align:top;width:50%">'
        f"<pre{_WRAP}>{html.escape(a.plain.text)}</pre></td>"
        f'<td style="text-align:left;vertical-align:top;width:50%">'
        f"<pre{_WRAP}>{html.escape(a.medusa.text)}</pre></td></tr></table>"
        for a in answers
    )
    body = (
        "<p>The embedded SmolLM2-135M-Instruct (bf16, one CPU thread) answers two questions "
        f"with plain greedy decoding (one token per forward pass) and with Medusa: "
        f"{runtime.heads.config.num_heads} heads propose candidates, a tree of "
        f"{tree.num_nodes} tokens ({tree.depth} deep, up to the top {tree.topk} of a head), "
        f"joined by up to {runtime.lookup_tokens} drafted tokens (copied from where the "
        "last tokens occurred before in the prompt or the answer (prompt lookup), or else "
        "continuing them as the heads' training answers most often did), is verified in "
        "one forward pass with tree attention, and the longest prefix the model itself "
        f"would have chosen is kept.</p><p>{_identity_note(same, len(answers))}</p>"
        f"<p><b>{speedup:.2f}x</b> the tokens per second of plain greedy decoding, "
        f"{per_step:.2f} tokens per forward pass, identical text on {same} of "
        f"{len(answers)} prompts (at most {MAX_NEW_TOKENS} new tokens each; timings from this "
        "machine, when this page was written).</p>"
        f"<figure>{_bars(plain_rate, medusa_rate)}</figure>"
        "<table><tr><th>prompt</th><th>tokens</th><th>plain tokens/s</th>"
        "<th>Medusa tokens/s</th><th>speed-up</th><th>tokens/step</th><th>identical</th></tr>"
        f"{rows}</table>{texts}"
        '<p class="muted">From the terminal: <code>tessera llm generate "your question" '
        "--stats</code>; <code>tessera llm medusa bench</code> measures held-out prompts.</p>"
    )
    summary = [
        f"plain greedy {plain_rate:.1f} tokens/s, Medusa {medusa_rate:.1f} tokens/s "
        f"({speedup:.2f}x), {per_step:.2f} tokens/step, tree of {tree.num_nodes} tokens",
        f"identical output on {same} of {len(answers)} prompts",
    ]
    return Section(
        key="llm", title="A local LLM with Medusa decoding", summary=summary, body_html=body
    )
