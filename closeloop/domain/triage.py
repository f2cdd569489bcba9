"""Triage: severity P1-P4 and risk flags, from rules that are data.

Severity starts at a base level (the routing rule's ``severity`` or the
policy default, P3) and each risk flag raises it by its weight, never above P1.
P1 is the most severe. The flags:

- ``vulnerable_customer``: a source tag in ``vulnerable_tags`` (CFPB ``Tags``
  "Older American", "Servicemember"; the CFPB itself gives these complaints
  special handling: https://www.consumerfinance.gov/complaint/data-use/).
- ``public_exposure``: a social-media channel, or media keywords in the text.
- ``legal_threat``: lawyer / lawsuit / regulator keywords in the text.
- ``repeat_complainer``: the same customer has earlier complaints within
  ``repeat_window_days`` (default 90) before this one.
- ``compensation_demanded``: refund / compensation keywords in the text.

Keywords match whole words for Latin script, with plain English inflections
("lawyers", "refunded", "sued"; but "media" does not match "immediately"),
and substrings for CJK text. Configured weights are merged over the defaults;
an unknown flag name is an error.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
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
                                       "媒体", "曝光", "记者", "微博")
    legal_keywords: tuple[str, ...] = ("lawyer", "attorney", "lawsuit", "sue", "court", "legal action",
                                       "律师", "起诉", "法院", "投诉到")
    compensation_keywords: tuple[str, ...] = ("refund", "compensation", "compensate", "reimburse",
                                              "reimbursement", "money back", "赔偿", "退款", "补偿")
    repeat_window_days: int = 90
    weights: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))

    def __post_init__(self) -> None:
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

    def search(self, text: str) -> re.Match[str] | None:
        if self.pattern is None:
            return None
        starts: set[int] = set()
        for word in self.words:
            at = text.find(word)
            while at >= 0:
                starts.add(at)
                at = text.find(word, at + 1)
        for at in sorted(starts):
            if m := self.pattern.match(text, at):
                return m
        return None


class Triage:
    """Compiled triage policy; build once, call :meth:`assess` per complaint."""

    def __init__(self, policy: TriagePolicy | None = None):
        self.policy = policy or TriagePolicy()
        p = self.policy
        self._media = KeywordSearch(p.media_keywords)
        self._legal = KeywordSearch(p.legal_keywords)
        self._comp = KeywordSearch(p.compensation_keywords)
        self._vulnerable = {t.lower() for t in p.vulnerable_tags}
        self._social = {c.lower() for c in p.social_channels}

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
        tags = [t for t in facts.tags if t.lower() in self._vulnerable]
        if tags:
            flags["vulnerable_customer"] = "tag " + ", ".join(tags)
        if facts.channel.lower() in self._social:
            flags["public_exposure"] = f"social-media channel {facts.channel!r}"
        elif self._media and (m := self._media.search(text)):
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
