"""``KeywordSearch`` finds what the keyword pattern's own ``search`` finds: the same span and text."""

from __future__ import annotations

import random

from closeloop.domain.triage import KeywordSearch, TriagePolicy, _keyword_pattern


def _texts() -> list[str]:
    p = TriagePolicy()
    words = list(p.exposure_media + p.exposure_phrases + p.legal_keywords + p.compensation_keywords)
    glue = ["", " ", "  ", "x", "is", "_", "-", ".", "\n", "s", "es", "ed", "ing", "d", "记", "退", "9", "é"]
    rnd = random.Random(17)
    texts = ["", "the issue was pressing", "i will sue", "sued them", "pressed the courts", "legal actions",
             "please refund my money back", "找律师起诉到法院", "记者曝光了", "immediately", "tissue suet"]
    for _ in range(4000):
        texts.append("".join(rnd.choice(words) if rnd.random() < 0.4 else rnd.choice(glue)
                             for _ in range(rnd.randint(1, 12))))
    return texts


def test_same_match_as_the_pattern():
    p = TriagePolicy()
    for words in (p.exposure_media, p.exposure_phrases, p.vulnerable_keywords, p.legal_keywords,
                  p.compensation_keywords, ("Sue", " court ", "x")):
        fast, pattern = KeywordSearch(words), _keyword_pattern(words)
        assert pattern is not None
        for text in _texts():
            want, got = pattern.search(text), fast.search(text)
            assert (got and (got.span(), got.group(0))) == (want and (want.span(), want.group(0))), text


def test_no_words_no_match():
    fast = KeywordSearch(())
    assert not fast and fast.search("sue") is None


def test_exposure_intents_found_from_their_starts_as_by_the_pattern():
    from closeloop.domain.triage import _exposure_pattern

    p = TriagePolicy()
    pattern = _exposure_pattern(p.exposure_verbs, p.exposure_media, p.exposure_reactions, p.exposure_phrases)
    fast = KeywordSearch((*p.exposure_verbs, *p.exposure_media, *p.exposure_phrases), pattern)
    words = [*p.exposure_verbs, *p.exposure_media, *p.exposure_reactions, "the", "a", "saw", "on", "to", "不"]
    glue = [" ", "  ", ". ", "，", "x", "s", "ed"]
    rnd = random.Random(5)
    texts = ["i saw a post on facebook", "i will post on facebook", "我要告诉所有媒体", "the news will hear"]
    texts += ["".join(rnd.choice(words) if rnd.random() < 0.5 else rnd.choice(glue) for _ in range(rnd.randint(1, 10)))
              for _ in range(3000)]
    for text in texts:
        want, got = pattern.search(text), fast.search(text)
        assert (got and (got.span(), got.group(0))) == (want and (want.span(), want.group(0))), text
