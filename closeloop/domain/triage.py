"""Triage: severity P1-P4 and risk flags, from rules that are data.

Severity starts at a base level (the routing rule's ``severity`` or the
policy default, P3) and each risk flag raises it by its weight, never above P1.
P1 is the most severe. The flags:

- ``vulnerable_customer``: a source tag in ``vulnerable_tags`` (CFPB ``Tags``
  "Older American", "Servicemember"; the CFPB itself gives these complaints
  special handling: https://www.consumerfinance.gov/complaint/data-use/), or in
  the text an age of ``vulnerable_age`` (65) or more ("I am 85 years old",
  "aged 70", "80岁") or a ``vulnerable_keywords`` word. The words follow the four
  drivers of vulnerability of the UK Financial Conduct Authority's *Guidance for
  firms on the fair treatment of vulnerable customers* (FG21/1, February 2021,
  https://www.fca.org.uk/publication/finalised-guidance/fg21-1.pdf, §2.5 and
  Figure 1): **health** (disability, dementia, severe or terminal illness,
  mental health, hearing or sight impairment), **life events** (bereavement,
  caring for someone, domestic abuse, old age), **resilience** (low income,
  over-indebtedness) and **capability** (low literacy, learning difficulties);
  US CFPB "Older American" is the age driver as a tag.
- ``public_exposure``: a social-media channel, or media or social-media words in
  the text ("twitter", "facebook", "tweet", "post online", "go public", "news",
  "微博", "曝光").
- ``legal_threat``: lawyer / lawsuit / regulator keywords in the text.
- ``repeat_complainer``: the same customer has earlier complaints within
  ``repeat_window_days`` (default 90) before this one.
- ``compensation_demanded``: refund / compensation keywords in the text.

Keywords match whole words for Latin script, with plain English inflections
("lawyers", "refunded", "sued"; but "media" does not match "immediately"),
and substrings for CJK text. A media or vulnerability word (or age) negated just
before it in the same clause ("not going to post online", "I am not disabled",
"不会曝光") is passed over: one of ``negation_words`` among the four words before it
(or a word ending in "n't"), or, in CJK text, in the four characters before it ("不会",
"没有", "别": not a bare "不", which "不满" holds).
Legal and compensation words are not (a customer who was "not refunded" wants a
refund). Configured weights are merged over the defaults; an unknown flag name is
an error.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from .facts import ComplaintFacts

SEVERITIES = ("P1", "P2", "P3", "P4")

DEFAULT_WEIGHTS: Mapping[str, int] = {
    "public_exposure": 1,
    "legal_threat": 2,
    "vulnerable_customer": 1,
    "repeat_complainer": 1,
    "compensation_demanded": 1,
}


@dataclass(frozen=True)
class TriagePolicy:
    """Triage rules. All lists compare case-insensitively."""

    default_severity: str = "P3"
    vulnerable_tags: tuple[str, ...] = ("Older American", "Servicemember")
    social_channels: tuple[str, ...] = ("twitter", "social media", "weibo", "facebook", "instagram", "tiktok", "douyin")
    media_keywords: tuple[str, ...] = ("media", "press", "journalist", "reporter", "news", "viral", "tweet",
                                       "twitter", "facebook", "instagram", "tiktok", "youtube", "reddit",
                                       "social media", "post online", "posting online", "posted online",
                                       "go public", "going public", "trustpilot",
                                       "媒体", "曝光", "记者", "微博", "新闻", "抖音", "朋友圈", "小红书")
    legal_keywords: tuple[str, ...] = ("lawyer", "attorney", "lawsuit", "sue", "court", "legal action",
                                       "律师", "起诉", "法院", "投诉到")
    compensation_keywords: tuple[str, ...] = ("refund", "compensation", "compensate", "reimburse",
                                              "reimbursement", "money back", "赔偿", "退款", "补偿")
    #: FCA FG21/1's drivers of vulnerability (see the module docstring): health, life events, resilience, capability
    vulnerable_keywords: tuple[str, ...] = (
        "elderly", "senior citizen", "pensioner", "disabled", "disability", "disabilities", "handicapped",
        "wheelchair", "dementia", "alzheimer", "alzheimer's", "terminally ill", "terminal illness", "chemotherapy",
        "mental health", "suicidal", "hearing impaired", "visually impaired", "deaf", "bereaved", "bereavement",
        "widow", "widowed", "widower", "carer", "caregiver", "domestic abuse", "domestic violence",
        "learning disability", "learning difficulties", "cannot read",
        "老人", "老年", "年迈", "残疾", "残障", "痴呆", "失智", "绝症", "行动不便", "丧偶", "视障", "听障", "低保")
    vulnerable_age: int = 65  # a stated age of this or more (0: no age rule)
    negation_words: tuple[str, ...] = ("not", "no", "never", "without", "nor", "cannot", "dont", "wont",
                                       "不会", "不要", "不想", "不打算", "不是", "并非", "没有", "没", "别", "未")
    repeat_window_days: int = 90
    weights: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))

    def __post_init__(self) -> None:
        if not 0 <= self.vulnerable_age <= 150:
            raise ValueError(f"vulnerable_age: must be 0 (off) to 150, got {self.vulnerable_age}")
        if self.default_severity not in SEVERITIES:
            raise ValueError(f"default_severity: {self.default_severity!r} is not one of {SEVERITIES}")
        for flag, w in self.weights.items():
            if flag not in DEFAULT_WEIGHTS:
                raise ValueError(f"weights.{flag}: unknown risk flag; use one of {', '.join(DEFAULT_WEIGHTS)}")
            if w < 0:
                raise ValueError(f"weights.{flag}: must not be negative, got {w}")


@dataclass(frozen=True)
class TriageResult:
    """``severity`` is "P1".."P4"; ``flags`` sorted; ``reasons`` one human line per flag."""

    severity: str
    flags: tuple[str, ...]
    reasons: tuple[str, ...]


def _keyword_pattern(words: Iterable[str]) -> re.Pattern[str] | None:
    """One alternation per script: Latin words whole (with plain inflections), CJK as substrings.

    Longest words first, so "legal action" wins over "legal" where both apply.
    """
    latin = sorted({w.strip().lower() for w in words if w.strip() and w.strip().isascii()}, key=lambda w: (-len(w), w))
    other = sorted({w.strip().lower() for w in words if w.strip() and not w.strip().isascii()},
                   key=lambda w: (-len(w), w))
    parts = []
    if latin:
        parts.append(r"\b(?:" + "|".join(map(re.escape, latin)) + r")(?:s|es|d|ed|ing)?\b")
    if other:
        parts.append("|".join(map(re.escape, other)))
    return re.compile("|".join(parts)) if parts else None


class KeywordSearch:
    """``pattern.search(text)`` of :func:`_keyword_pattern` (None without words), found faster: a match
    can only start where one of the words starts (the pattern is an alternation of the escaped words,
    plus inflection suffixes and word boundaries), so only those positions are tried, leftmost first,
    each with ``pattern.match`` (its ``\\b`` still sees the character before). A text holding none of
    the words is passed over without running the pattern."""

    def __init__(self, words: Iterable[str]):
        words = tuple(words)
        self.pattern = _keyword_pattern(words)
        self.words = tuple(sorted({w.strip().lower() for w in words if w.strip()}))

    def __bool__(self) -> bool:
        return self.pattern is not None

    def search(self, text: str, keep: Callable[[re.Match[str]], bool] | None = None) -> re.Match[str] | None:
        """The leftmost match (of those ``keep`` accepts, when given), or None."""
        if self.pattern is None:
            return None
        starts: set[int] = set()
        for word in self.words:
            at = text.find(word)
            while at >= 0:
                starts.add(at)
                at = text.find(word, at + 1)
        for at in sorted(starts):
            if (m := self.pattern.match(text, at)) and (keep is None or keep(m)):
                return m
        return None


#: a stated age: "85 years old", "85-year-old", "85 yrs old", "85 y/o", "aged 85", "age 85", "85岁"
_AGE = re.compile(r"\b(\d{2,3})[- ]?(?:years?|yrs?)[- ]old\b|\b(\d{2,3}) ?(?:y/o|yo)\b|\baged? (?:of )?(\d{2,3})\b"
                  r"|(\d{2,3}) ?(?:周岁|岁)")
_CLAUSE_END = re.compile(r"[.!?;,:\n。！？；，：]")
_LATIN_WORD = re.compile(r"[a-z'\u2019]+")


class Negation:
    """Whether a match is negated just before it, in its clause (see the module docstring)."""

    def __init__(self, words: Iterable[str]):
        self.latin = {w.strip().lower() for w in words if w.strip() and w.strip().isascii()}
        self.other = tuple(w.strip() for w in words if w.strip() and not w.strip().isascii())

    def __call__(self, m: re.Match[str]) -> bool:
        """True when ``m`` is **not** negated (a ``keep`` for :meth:`KeywordSearch.search`)."""
        before = m.string[max(0, m.start() - 60):m.start()]
        clause = _CLAUSE_END.split(before)[-1]
        words = _LATIN_WORD.findall(clause)[-4:]
        if any(w in self.latin or w.endswith(("n't", "n\u2019t")) for w in words):
            return False
        return not any(w in clause[-4:] for w in self.other)


class Triage:
    """Compiled triage policy; build once, call :meth:`assess` per complaint."""

    def __init__(self, policy: TriagePolicy | None = None):
        self.policy = policy or TriagePolicy()
        p = self.policy
        self._media = KeywordSearch(p.media_keywords)
        self._legal = KeywordSearch(p.legal_keywords)
        self._comp = KeywordSearch(p.compensation_keywords)
        self._vulnerable = {t.lower() for t in p.vulnerable_tags}
        self._vulnerable_words = KeywordSearch(p.vulnerable_keywords)
        self._social = {c.lower() for c in p.social_channels}
        self._affirmed = Negation(p.negation_words)

    def _vulnerability(self, facts: ComplaintFacts, text: str) -> str | None:
        """Why the customer looks vulnerable (a tag, a stated age, a word), or None."""
        tags = [t for t in facts.tags if t.lower() in self._vulnerable]
        if tags:
            return "tag " + ", ".join(tags)
        if self.policy.vulnerable_age:
            for said in _AGE.finditer(text):
                age = int(next(g for g in said.groups() if g))
                if self.policy.vulnerable_age <= age <= 120 and self._affirmed(said):
                    return f"mentions {said.group(0)!r}"
        if self._vulnerable_words and (m := self._vulnerable_words.search(text, self._affirmed)):
            return f"mentions {m.group(0)!r}"
        return None

    def assess(
        self,
        facts: ComplaintFacts,
        *,
        earlier_complaints_in_window: int = 0,
        base_severity: str | None = None,
    ) -> TriageResult:
        """Severity and flags for ``facts``.

        ``earlier_complaints_in_window``: how many complaints the same customer
        made in the ``repeat_window_days`` before ``facts.received_at``.
        ``base_severity``: the routing rule's level, if it sets one.
        """
        text = facts.text.lower()
        flags: dict[str, str] = {}
        if vulnerable := self._vulnerability(facts, text):
            flags["vulnerable_customer"] = vulnerable
        if facts.channel.lower() in self._social:
            flags["public_exposure"] = f"social-media channel {facts.channel!r}"
        elif self._media and (m := self._media.search(text, self._affirmed)):
            flags["public_exposure"] = f"mentions {m.group(0)!r}"
        if self._legal and (m := self._legal.search(text)):
            flags["legal_threat"] = f"mentions {m.group(0)!r}"
        if earlier_complaints_in_window > 0:
            flags["repeat_complainer"] = (
                f"{earlier_complaints_in_window} earlier complaint(s) in {self.policy.repeat_window_days} days"
            )
        if self._comp and (m := self._comp.search(text)):
            flags["compensation_demanded"] = f"mentions {m.group(0)!r}"

        base = base_severity or self.policy.default_severity
        level = SEVERITIES.index(base) + 1
        raised = sum(self.policy.weights.get(f, 0) for f in flags)
        level = min(len(SEVERITIES), max(1, level - raised))
        ordered = tuple(sorted(flags))
        return TriageResult(
            severity=f"P{level}",
            flags=ordered,
            reasons=tuple(f"{f}: {flags[f]}" for f in ordered),
        )
