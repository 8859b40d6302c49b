"""Attack patterns: phrasings that give a prompt attack away, and whether they instruct.

A pattern hit scores 1.0 whatever the embeddings say, but only when the sentence it is in
instructs the assistant. A question or a request to explain that merely names an attack
("what is a jailbreak", "how do I enable developer mode on my phone", "where do I set the
system prompt") is a mention: its hit is skipped and the embedding score decides.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from tessera.llm.guard._embed import sentences
from tessera.llm.guard._readings import readings

__all__ = ["ATTACK_PATTERNS", "asks_about", "instructing_hits", "pattern_match"]


#: Jailbreak and prompt-injection phrasings: a match scores 1.0 whatever the embeddings say.
_INSTRUCTIONS = (
    r"(?:instructions?|prompts?|rules|directions|guidelines|directives|programming|task)"
)
ATTACK_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (label, re.compile(pattern, re.IGNORECASE))
    for label, pattern in (
        # "ignore all previous instructions", "forget your rules", "ignore the task above"
        (
            "INJECTION",
            r"\b(?:ignore|disregard|forget|override|skip|abandon)\b[^.?!\n]{0,40}?\b(?:previous|"
            r"prior|above|earlier|preceding|original|initial|system|all (?:your|the|of your)|"
            r"your|the \w+)\s+" + _INSTRUCTIONS + r"\b",
        ),
        (
            "INJECTION",
            r"\b(?:ignore|disregard|forget)\b (?:everything|anything|all)\b[^.?!\n]{0,20}?"
            r"\b(?:above|before|earlier|you were told|so far)\b",
        ),
        # asking for the system prompt or other hidden configuration
        (
            "INJECTION",
            r"\b(?:your|the) (?:system prompt|system message|initial prompt|original prompt|"
            r"hidden (?:prompt|instructions|rules)|developer (?:instructions|message))"
            r"|\b(?:confidential|secret|hidden|internal) (?:instructions|rules|prompt|guidelines)\b"
            r"|\b(?:prompt|instructions) (?:that|which) (?:configured|programmed|set up) you\b",
        ),
        (
            "INJECTION",
            r"\b(?:reveal|print|show|output|display|leak|dump|give me|tell me)\b[^.?!\n]{0,30}?"
            r"\b(?:secret|api|private|access) (?:key|token|password)s?\b",
        ),
        ("INJECTION", r"(?:^|\n|[.:!] )\s*(?:new|updated|revised) (?:instructions?|rules?)\s*:"),
        ("INJECTION", r"(?:^|\n)\s*(?:system|admin|developer)\s*(?:override)?\s*:|system override"),
        ("INJECTION", r"<!--[^>]{0,200}?\b(?:assistant|ai|system|model)\s*:"),
        (
            "INJECTION",
            r"\b(?:assistant|ai|model|chatbot)\b[^.?!\n]{0,10}?\bstop (?:\w+ing)\b[^.?!\n]{0,40}?"
            r"\binstead\b",
        ),
        # "DAN" in capitals only: "Dan Brown" is a novelist, not a jailbreak
        ("JAILBREAK", r"(?-i:\bDAN\b)|\bdo anything now\b|\bjailbr(?:eak|oken)\b"),
        (
            "JAILBREAK",
            r"\b(?:developer|god|unfiltered|unrestricted|unlocked|evil|admin|maintenance) mode\b",
        ),
        (
            "JAILBREAK",
            r"\b(?:uncensored|unfiltered|unrestricted|unaligned)\b (?:\w+ )?(?:ai|assistant|model|"
            r"chatbot|version)\b|\bnever (?:refuses?|says? no|declines?)\b",
        ),
        (
            "JAILBREAK",
            r"\b(?:pretend|act|acting|you are now|imagine you are|roleplay|play the role|from now "
            r"on|from this point on|answer|respond|reply|continue)\b[^.?!\n]{0,80}?\b(?:no|"
            r"without(?: any)?|free (?:from|of)|freed from|broken free of|not bound by|ignores?)"
            r"\b[^.?!\n]{0,30}?\b(?:restrictions|filters?|limits|limitations|rules|guidelines|"
            r"polic(?:y|ies)|ethics|morals|censorship)",
        ),
        (
            "JAILBREAK",
            r"\b(?:bypass|disabl|turn(?:s|ing)? off|circumvent|deactivat|switch(?:es|ing)? off)\w*"
            r"\b[^.?!\n]{0,30}?\b(?:safety|content|guardrails?|filters?|moderation|restrictions)\b",
        ),
        (
            "JAILBREAK",
            r"\b(?:safety|filters?|guardrails?|moderation|censorship)\s*[=:]\s*(?:off|false|0|"
            r"disabled|none)\b|\b(?:polic(?:y|ies)|rules|guidelines|restrictions|filters) (?:no "
            r"longer|don't|do not|does not|doesn't) appl(?:y|ies)\b",
        ),
        (
            "JAILBREAK",
            r"\b(?:late|deceased|dead) (?:grandma|grandmother|grandfather|grandpa)\b"
            r"|\b(?:as|be|like|play|pretend to be|roleplay)\s+(?:my|our|a)\s+"
            r"(?:late|deceased|dead) (?:aunt|auntie|uncle|mother|father|mum|mom|dad)\b"
            r"|\b(?:hypothetical|fictional|imaginary) (?:world|scenario|universe)\b[^.?!\n]{0,40}?"
            r"\bno (?:laws|rules|restrictions|consequences)\b"
            r"|\b(?:begin|start) (?:your )?(?:reply|response|answer) with [\"']?sure\b",
        ),
        # a persona described by what it lacks: "EVILBOT, who has no filter"
        (
            "JAILBREAK",
            r"\b(?:who|that|which)\s+(?:has|have|knows?)\s+no\s+(?:filters?|restrictions|rules|"
            r"limits|morals?|moral compass|ethics|boundaries|guidelines|censorship)\b"
            r"|\bstrives? to avoid norms\b|\b(?:ai|model|assistant|chatbot|version)s? (?:with|that "
            r"has|having) no (?:restrictions|filters?|rules|limits|guidelines|censorship)\b",
        ),
        # refusal suppression aimed at the assistant
        (
            "JAILBREAK",
            r"\byou (?:are not allowed|are forbidden|must not|mustn't|may not|will not|won't|"
            r"cannot|can't|shall not)(?: to)? (?:\w+ )?(?:refuse|decline|say no|apologi[sz]e|"
            r"add (?:any )?(?:warnings?|disclaimers?|caveats?)|"
            r"mention (?:ethics|polic(?:y|ies)|safety))"
            r"|\b(?:forbidden|not allowed) for you to (?:refuse|decline)\b"
            r"|(?:\bno (?:caveats?|disclaimers?|warnings?|refusals?|moral lectures?|lectures?)\b"
            r"[^.?!\n]{0,15}?){2,}",
        ),
        # an instruction hidden in a document for whichever model reads it
        (
            "INJECTION",
            r"\b(?:note|instructions?|message|attention|p\.?s\.?)\s+(?:to|for)\s+"
            r"(?:the |any |all )?"
            r"(?:\w+ )?(?:ai|assistant|model|llm|chatbot|bot|language model)s?\b(?: \w+){0,3}\s*:"
            r"|<!--\s*(?:\w+\s*){1,2}:\s*(?:ignore|approve|say|tell|reply|respond|write|delete|send|"
            r"output|print|rate|score|recommend|forget|disregard)\b",
        ),
        # overrides and extraction in other languages (es, pt, fr, it, de, nl)
        (
            "INJECTION",
            r"\b(?:ignor[ae]r?|olvida|esque[cç]a|oublie[sz]?|ignorez|dimentica|ignoriere?|vergiss|"
            r"vergeet|negeer)\b[^.?!\n]{0,40}?\b(?:instrucciones|instru[cç][õo]es|instructions|"
            r"consignes|istruzioni|anweisungen|instructies|reglas|regras|r[èe]gles|regole|regeln|"
            r"regels)\b"
            r"|\b(?:prompt (?:du )?syst[èe]me|systemprompt|prompt del sistema|prompt do sistema|"
            r"systeemprompt)\b",
        ),
        (
            "JAILBREAK",
            r"\b(?:sin (?:restricciones|filtros|censura)|sem (?:restri[cç][õo]es|filtros)|"
            r"sans (?:aucune )?(?:restrictions?|filtres?|censure)|senza (?:restrizioni|filtri)|"
            r"ohne (?:einschränkungen|filter|zensur)|zonder (?:beperkingen|filters?))\b",
        ),
    )
)

#: The opening of a question or a request to explain: a pattern word there is a mention
#: ("what is a jailbreak", "how do I enable developer mode"), not an instruction.
_ASKS_ABOUT = re.compile(
    r"^\W*(?:(?:so|and|but|also|ok|okay|hi|hey|please|quick question)\W+)?(?:(?:what|how|why|"
    r"where|when|which|who|whose)\b|(?:is|are|was|were|does|did|has|have) (?!you\b)|"
    r"(?:do|can|could|should|would|will|may|must) (?:i|we|they|people|one|someone|companies|"
    r"developers|attackers|my|our|the|a|an)\b|(?:explain|describe|summari[sz]e|define|compare|"
    r"tell me about|research)\b|write (?:a|an|me a|me an) (?:\w+ ){0,2}(?:post|essay|article|"
    r"paragraph|summary|overview|explainer|report|briefing)\b|(?P<polite>(?:can|could|would|"
    r"will) you (?:please )?(?:explain|describe|tell me about|summari[sz]e|define|compare)\b))",
    re.IGNORECASE,
)
#: ... unless the sentence addresses the assistant or asks what some model would say.
_TO_ASSISTANT = re.compile(
    r"\b(?:you|your|yours|yourself|u|ur)\b|\bfrom now on\b|\b(?:would|will|might) (?:\w+ ){1,6}"
    r"(?:say|reply|respond|answer|write|tell)\b",
    re.IGNORECASE,
)


def asks_about(sentence: str) -> bool:
    """Whether ``sentence`` asks about something rather than instructing the assistant.

    A question ("what is", "how do I", "where do I") or a request to explain or write
    about a subject counts, unless it also addresses the assistant (``you``, ``your``,
    "from now on") or asks what some model would say.
    """
    opening = _ASKS_ABOUT.match(sentence)
    if opening is None:
        return False
    rest = sentence[opening.end() :] if opening.group("polite") else sentence
    return _TO_ASSISTANT.search(rest) is None


def instructing_hits(text: str) -> Iterator[tuple[str, re.Match[str]]]:
    """Each pattern hit whose sentence instructs the assistant (a mention is skipped)."""
    spans = sentences(text) or [(0, len(text))]
    for label, pattern in ATTACK_PATTERNS:
        for hit in pattern.finditer(text):
            start, end = next(((a, b) for a, b in spans if a <= hit.start() < b), spans[-1])
            if not asks_about(text[start:end]):
                yield label, hit


def pattern_match(text: str) -> tuple[int, int, str] | None:
    """Span and label of the first instructing pattern hit in ``text`` or a decoded reading."""
    units = [(0, len(text), text)] + [(r.start, r.end, r.text) for r in readings(text)]
    for index, (start, end, unit) in enumerate(units):
        for label, hit in instructing_hits(unit):
            if index == 0:
                lead = len(hit.group()) - len(hit.group().lstrip())
                return hit.start() + lead, hit.end(), label
            return start, end, label
    return None
