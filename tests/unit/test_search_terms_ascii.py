"""The ASCII shortcut of the search terms gives the terms of the general (NFKC, case-folded, CJK-aware) path."""

from __future__ import annotations

import random

from closeloop.domain import search_text


def test_ascii_shortcut_matches_the_general_path():
    rnd = random.Random(17)
    alphabet = [chr(i) for i in range(128)]
    texts = ["", "a_b", "Refund_REQUESTED now!!", "X123-456 x123", "\t\n \x7f", "ABC abc AbC"]
    texts += ["".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 40))) for _ in range(5000)]
    for text in texts:
        assert search_text._text_terms(text) == search_text._unicode_terms(text), repr(text)


def test_non_ascii_text_keeps_the_general_path():
    assert search_text.text_terms("ＡＢＣ Straße 申请退款") == (
        "abc", "strasse", "申", "申请", "请", "请退", "退", "退款", "款")
    assert search_text.index_terms("X1", "x1 y", "") == ["x1", "y"]
