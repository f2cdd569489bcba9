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
- ``public_exposure``: a social-media channel, or in the text an *intent* to go
  public, not the mere mention of a platform ("I saw your ad on Facebook", "the
  good news is"): an ``exposure_verbs`` word followed, within three small filler
  words (:data:`_FILLER`: "this", "to", "the", "on", "everyone" ...), by an
  ``exposure_media`` word ("post on facebook", "take this to the media", "report
  you to the press", "告诉所有媒体": up to two characters between in CJK text);
  an ``exposure_media`` word followed by an ``exposure_reactions`` phrase ("the
  news will hear of it", "a reporter called me"); or an ``exposure_phrases``
  phrase that is the intent by itself ("go public", "post online", "go viral",
  "发微博", "曝光", "上新闻"). Why intent: a tester's report (December 2026) of
  "the good news is", "I saw your ad on Facebook" raising P2; on the shared
  ``zh_online_shopping_reviews`` sample 12 of the 17 mention flags were comment
  on news ("媒体推荐的书", "负面新闻"), none of them a threat.
- ``legal_threat``: lawyer / lawsuit / regulator keywords in the text.
- ``repeat_complainer``: the same customer has earlier complaints within
  ``repeat_window_days`` (default 90) before this one.
- ``compensation_demanded``: refund / compensation keywords in the text.

Keywords match whole words for Latin script, with plain English inflections
("lawyers", "refunded", "sued"; but "media" does not match "immediately"),
and substrings for CJK text. A media, legal or vulnerability word (or age) negated
just before it in the same clause ("not going to post online", "I won't sue", "I am
not disabled", "不会曝光", "我不会起诉") is passed over: one of ``negation_words``
among the four words before it (or a word ending in "n't"), or, in CJK text, in the
four characters before it ("不会", "没有", "别": not a bare "不", which "不满" holds).
Only the words after the last subject or turn ("i", "we", "but", "or", "then": "if
you don't refund me I will sue", "no choice but to sue") are looked at, and a
negation followed by one of ``negation_exceptions`` does not negate the threat ("I
will not hesitate to sue", "not afraid to go public", "without hesitation", "不要逼我").
Compensation words are never negated (a customer who was "not refunded" wants a
refund). Configured weights are merged over the defaults; an unknown flag name is
an error.

A stated age is "85 years old", "85-year-old", "85 y/o", "aged 70", "80岁", "80多岁",
Chinese numerals ("七十岁", "七十多岁", "六十五周岁", "一百岁"; "多" counts as the round
number, so "六十多岁" is 60), and "I am 67" / "I'm 67" only where a clause end or
"and", "now", "with", "but", "so" follows: the risk of reading an
amount as an age ("I am 67 dollars short", "I am 70 days late") is judged higher
than that of missing an age phrased otherwise ("I am 67 as of May"), so an age is
read only there.
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
    #: public exposure is an intent phrase (see the module docstring): verb [filler] medium,
    #: medium reaction, or a phrase that is the intent by itself
    exposure_verbs: tuple[str, ...] = (
        "post", "posting", "share", "sharing", "tell", "telling", "told", "contact", "go to", "going to",
        "went to", "take this to", "take it to", "taking this to", "taking it to", "report you to",
        "report this to", "report it to", "reporting you to", "write to", "writing to", "wrote to",
        "complain on", "complain to", "complaining on", "complaining to", "expose", "exposing", "publish",
        "publishing", "put", "putting", "upload", "uploading", "call", "calling", "alert", "alerting",
        "inform", "leave", "leaving",
        "发到", "发在", "发布到", "发布在", "晒到", "找", "向", "联系", "告诉", "反映给", "投诉到", "捅到",
        "闹到", "传到", "曝光到", "曝光给")
    exposure_media: tuple[str, ...] = (
        "media", "press", "news", "newspaper", "newspapers", "journalist", "reporter", "tv", "television",
        "twitter", "facebook", "instagram", "tiktok", "youtube", "reddit", "social media", "trustpilot", "yelp",
        "媒体", "记者", "微博", "新闻", "抖音", "朋友圈", "小红书", "网上", "电视台", "报社")
    exposure_reactions: tuple[str, ...] = ("will hear", "will know", "will find out", "will learn", "will cover",
                                           "would love", "called me", "contacted me", "is interested")
    exposure_phrases: tuple[str, ...] = (
        "post online", "posting online", "posted online", "put it online", "put this online", "go public",
        "going public", "went public", "go viral", "going viral", "tweet about", "tweeted", "tweeting",
        "will tweet", "review everywhere", "reviews everywhere", "post everywhere", "posting everywhere",
        "share everywhere", "tell the world", "tell everyone",
        "曝光", "发微博", "发朋友圈", "发抖音", "发小红书", "上新闻", "上热搜", "上电视")
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
    #: a word after the negation that keeps the threat ("I will not hesitate to sue")
    negation_exceptions: tuple[str, ...] = ("hesitate", "hesitating", "hesitation", "afraid", "scared", "shy",
                                            "reluctant", "choice", "option", "alternative", "逼", "犹豫", "怕")
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

    def __init__(self, words: Iterable[str], pattern: re.Pattern[str] | None = None):
        """``pattern``: another pattern to use, each of whose matches starts with one of ``words`` (the
        exposure intents of :func:`_exposure_pattern` start with a verb, medium or phrase)."""
        words = tuple(words)
        self.pattern = pattern if pattern is not None else _keyword_pattern(words)
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


#: a stated age (see the module docstring): "85 years old", "85-year-old", "85 y/o", "aged 85", "I am 67 and",
#: "I'm 67.", "85岁", "80多岁", "七十岁", "七十多岁"; the Chinese numeral group is read by :func:`_zh_number`
_AGE = re.compile(r"\b(\d{2,3})[- ]?(?:years?|yrs?)[- ]old\b|\b(\d{2,3}) ?(?:y/o|yo)\b|\baged? (?:of )?(\d{2,3})\b"
                  r"|\bi(?:'m|\u2019m| am|m) (\d{2,3})(?=\s*(?:[.,;:!?)\n]|$)|\s+(?:and|now|with|but|so)\b)"
                  r"|(\d{2,3})多? ?(?:周岁|岁)|([一二三四五六七八九]?十[一二三四五六七八九]?|一百)多?(?:周岁|岁)")
_ZH_DIGITS = {c: i for i, c in enumerate("一二三四五六七八九", start=1)}


def _zh_number(numeral: str) -> int:
    """The value of a Chinese numeral of 1-100 as :data:`_AGE` matches it: "七十" 70, "六十五" 65, "十八" 18,
    "一百" 100."""
    if numeral == "一百":
        return 100
    tens, _, units = numeral.partition("十")
    return 10 * _ZH_DIGITS.get(tens, 1) + _ZH_DIGITS.get(units, 0)


def _age_of(said: re.Match[str]) -> int:
    """The age in years a :data:`_AGE` match states."""
    *digits, zh = said.groups()
    return _zh_number(zh) if zh else int(next(g for g in digits if g))


#: between an exposure verb and its medium: up to three of these ("take this to the media", "report you to
#: the press", "leave a bad review on yelp", "tell everyone on facebook"); "me", "good", "saw" are not here
_FILLER = ("the", "a", "an", "this", "that", "it", "them", "you", "your", "all", "my", "our", "whole", "every",
           "everyone", "everybody", "local", "national", "to", "on", "in", "with", "about", "review", "reviews",
           "bad", "story", "post", "posts", "video", "videos", "comment", "comments", "complaint")
#: an exposure verb read as a noun ("I saw a post on facebook", "the call with") is none
_NOT_A_NOUN = "".join(rf"(?<!\b{w} )" for w in ("a", "an", "the", "my", "your", "this", "that"))
_CJK_GAP = r"[^\s.,!?;:。！？；，：、不没]{0,2}"  # "找不到网上" is no intent
_SUFFIX = r"(?:s|es|d|ed|ing)?\b"


def _alternation(words: Iterable[str]) -> str:
    """A regex alternation of ``words`` (lower-cased, escaped, longest first); "(?!)" without words."""
    cleaned = sorted({w.strip().lower() for w in words if w.strip()}, key=lambda w: (-len(w), w))
    return "(?:" + "|".join(map(re.escape, cleaned)) + ")" if cleaned else "(?!)"


def _exposure_pattern(verbs: Iterable[str], media: Iterable[str], reactions: Iterable[str],
                      phrases: Iterable[str]) -> re.Pattern[str]:
    """Intent to go public (see the module docstring): Latin verb, up to three :data:`_FILLER` words, medium;
    medium then reaction; a phrase (whole words with plain inflections, as :func:`_keyword_pattern`); CJK
    verb, up to two characters, medium; a CJK phrase (substring). Matches start at the verb, so a negation
    before it is found by :class:`Negation`."""
    def pick(words: Iterable[str], latin: bool) -> str:
        return _alternation(w for w in words if w.strip().isascii() == latin)

    verbs, media, reactions, phrases = tuple(verbs), tuple(media), tuple(reactions), tuple(phrases)
    filler = r"(?:\s+" + _alternation(_FILLER) + r"){0,3}"
    parts = [
        rf"{_NOT_A_NOUN}\b{pick(verbs, True)}{_SUFFIX}{filler}\s+{pick(media, True)}{_SUFFIX}",
        rf"\b{pick(media, True)}{_SUFFIX}\s+{pick(reactions, True)}{_SUFFIX}",
        rf"\b{pick(phrases, True)}{_SUFFIX}",
        rf"{pick(verbs, False)}{_CJK_GAP}{pick(media, False)}",
        pick(phrases, False),
    ]
    return re.compile("|".join(parts))


_CLAUSE_END = re.compile(r"[.!?;,:\n。！？；，：]")
_LATIN_WORD = re.compile(r"[a-z'\u2019]+")


#: a subject or a turn: only the words after the last of these can negate ("if you don't refund me I will sue")
_RESET = frozenset(("i", "i'm", "i'll", "i'd", "i\u2019m", "i\u2019ll", "i\u2019d", "im", "we", "we'll",
                    "we\u2019ll", "but", "or", "then", "otherwise", "else", "unless"))


class Negation:
    """Whether a match is negated just before it, in its clause (see the module docstring)."""

    def __init__(self, words: Iterable[str], exceptions: Iterable[str] = ()):
        self.latin = {w.strip().lower() for w in words if w.strip() and w.strip().isascii()}
        self.other = tuple(w.strip() for w in words if w.strip() and not w.strip().isascii())
        exceptions = tuple(w.strip().lower() for w in exceptions if w.strip())
        self.latin_exceptions = {w for w in exceptions if w.isascii()}
        self.other_exceptions = tuple(w for w in exceptions if not w.isascii())

    def _negates(self, word: str) -> bool:
        return word in self.latin or word.endswith(("n't", "n\u2019t"))

    def __call__(self, m: re.Match[str]) -> bool:
        """True when ``m`` is **not** negated (a ``keep`` for :meth:`KeywordSearch.search`)."""
        before = m.string[max(0, m.start() - 60):m.start()]
        clause = _CLAUSE_END.split(before)[-1]
        words = _LATIN_WORD.findall(clause)
        resets = [i for i, w in enumerate(words) if w in _RESET]
        words = words[resets[-1] + 1 if resets else 0:][-4:]
        negations = [i for i, w in enumerate(words) if self._negates(w)]
        if negations and not self.latin_exceptions.intersection(words[negations[-1] + 1:]):
            return False
        tail = clause[-4:]
        for neg in self.other:
            if neg in tail and not any(e in tail[tail.rindex(neg) + len(neg):] for e in self.other_exceptions):
                return False
        return True


class Triage:
    """Compiled triage policy; build once, call :meth:`assess` per complaint."""

    def __init__(self, policy: TriagePolicy | None = None):
        self.policy = policy or TriagePolicy()
        p = self.policy
        exposure = (p.exposure_verbs, p.exposure_media, p.exposure_reactions, p.exposure_phrases)
        self._exposure_anchors = tuple({w.strip().lower() for w in (*p.exposure_media, *p.exposure_phrases)
                                        if w.strip()})
        self._exposure = KeywordSearch((*p.exposure_verbs, *p.exposure_media, *p.exposure_phrases),
                                       _exposure_pattern(*exposure))
        self._legal = KeywordSearch(p.legal_keywords)
        self._comp = KeywordSearch(p.compensation_keywords)
        self._vulnerable = {t.lower() for t in p.vulnerable_tags}
        self._vulnerable_words = KeywordSearch(p.vulnerable_keywords)
        self._social = {c.lower() for c in p.social_channels}
        self._affirmed = Negation(p.negation_words, p.negation_exceptions)

    def _vulnerability(self, facts: ComplaintFacts, text: str) -> str | None:
        """Why the customer looks vulnerable (a tag, a stated age, a word), or None."""
        tags = [t for t in facts.tags if t.lower() in self._vulnerable]
        if tags:
            return "tag " + ", ".join(tags)
        if self.policy.vulnerable_age:
            for said in _AGE.finditer(text):
                age = _age_of(said)
                if self.policy.vulnerable_age <= age <= 120 and self._affirmed(said):
                    return f"mentions {said.group(0)!r}"
        if self._vulnerable_words and (m := self._vulnerable_words.search(text, self._affirmed)):
            return f"mentions {m.group(0)!r}"
        return None

    def _exposure_intent(self, text: str) -> re.Match[str] | None:
        """The first intent to go public in ``text`` (lower-cased) that is not negated, or None. A text
        holding no medium or phrase is passed over without running the pattern."""
        if not any(w in text for w in self._exposure_anchors):
            return None
        return self._exposure.search(text, self._affirmed)

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
        elif m := self._exposure_intent(text):
            flags["public_exposure"] = f"mentions {m.group(0)!r}"
        if self._legal and (m := self._legal.search(text, self._affirmed)):
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
