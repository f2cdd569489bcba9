"""Issue 12, K15: every message key exists in every configured language, and a Chinese notice is Chinese:
every kind rendered in every language, the zh text may keep Latin letters only in ids and names."""

from __future__ import annotations

import re
import string

import pytest

from closeloop.domain.notices import LANGUAGES, MESSAGES, NOTICES, ROLE_LABELS, NoticeKind, Role, label, message, render
from closeloop.domain.outbox import DEAD_REASON_LABELS, DeadReason, dead_reason_label
from closeloop.services.engine.notify import render_digest
from closeloop.services.markdown import md_text

#: Values a notice carries: ids and names (Latin allowed: a task title from English configuration, a code).
SAMPLE = {"title": "Review the terms", "note": "call back Mr Smith", "pct": 80, "level": 3, "page": 2,
          "severity": "P1", "count": 4, "reasons": "wrong team / billing", "reason": "invoice copy",
          "department": "product", "path": "operations -> product -> operations", "facts": "category 'billing'",
          "record": 7, "why": "3 → 5", "counts": "12 → 9", "text": "", "day": "2026-03-09", "oldest": "2026-03-02",
          "entry": 3, "complaint": 12, "kind": "refund", "amount": "80.00", "currency": "USD", "cap": "100.00 USD",
          "granted": "80.00", "requester": "agent-7",
          "promise": 5, "what": "call_back", "owner": "operations",
          "author": "wang.li", "excerpt": "please check the refund with @li.na",  # a mention (issue 14)
          # the dead-letter alert (issue 18)
          "subject": "Escalation: complaint 7", "id": 41, "idempotency_key": "digest:ab12", "recipient": "ops-desk",
          "channel": "webhook", "attempts": 20, "error": "HTTP 500: down", "command": "closeloop outbox retry 41"}
LATIN = re.compile(r"[A-Za-z]+")


def _fields(template: str) -> set[str]:
    return {f for _, f, _, _ in string.Formatter().parse(template) if f}


def _latin_outside(text: str, values) -> list[str]:
    for v in sorted((str(v) for v in values), key=len, reverse=True):
        text = text.replace(v, "")
    return LATIN.findall(text)


@pytest.mark.parametrize("kind", list(NoticeKind))
def test_every_notice_kind_has_every_language_with_the_same_fields(kind):
    spec = NOTICES[kind]
    assert set(spec.labels) == set(spec.texts) == set(LANGUAGES)
    assert len({frozenset(_fields(t)) for t in spec.texts.values()}) == 1, "languages use different fields"


@pytest.mark.parametrize("kind", list(NoticeKind))
def test_a_chinese_notice_has_no_english_fragment(kind):
    params = {f: SAMPLE[f] for f in _fields(NOTICES[kind].texts["en"])}
    zh_label, zh_text = render(kind, "zh", params)
    assert _latin_outside(zh_label, []) == []
    assert _latin_outside(zh_text, params.values()) == [], zh_text
    if NOTICES[kind].texts["en"] != "{note}":  # a person's own note is passed on as written
        assert render(kind, "en", params)[1] != zh_text


def test_role_labels_and_other_messages_exist_in_every_language():
    for lang in LANGUAGES:
        assert set(ROLE_LABELS[lang]) == set(Role)
    assert all(_latin_outside(v, []) == [] for v in ROLE_LABELS["zh"].values())
    for key, texts in MESSAGES.items():
        assert set(texts) == set(LANGUAGES), key
        zh = message(key, "zh", **{f: SAMPLE[f] for f in _fields(texts["en"])})
        assert _latin_outside(zh, ["closeloop", *SAMPLE.values()]) == [], zh  # the product's name


def test_every_dead_letter_reason_reads_in_every_language():
    for lang in LANGUAGES:
        assert set(DEAD_REASON_LABELS[lang]) == set(DeadReason), lang
    assert all(_latin_outside(dead_reason_label(r, "zh"), []) == [] for r in DeadReason)
    assert dead_reason_label("exhausted", "en") == "exhausted"
    assert dead_reason_label("rejected", "fr") == "rejected"  # an unserved language falls back to English


def test_case8_a_chinese_digest_of_every_kind_is_chinese():
    items = []
    for i, kind in enumerate(NoticeKind, start=1):
        params = {f: SAMPLE[f] for f in _fields(NOTICES[kind].texts["en"])}
        items.append({"kind": kind.value, "level": 3, "complaint_id": 100 + i, "improvement_id": None, "task_id": i,
                      "department": "product", "text": "", "params": params, "due_local": "2026-03-09 11:00 +0800",
                      "roles": [Role.OPERATIONS_MANAGER, Role.LEAD], "keys": []})
    subject, body = render_digest("zh", "王经理", items)
    assert "【升级】（身份：运营经理、部门负责人）投诉 #" in body and "已超时（第 3 级）：Review the terms" in body
    names = ["closeloop", "product", "王经理"] + [str(v) for v in SAMPLE.values()]
    names += [md_text(n) for n in names]  # chat digests escape values for Markdown (issue 18)
    assert _latin_outside(subject + "\n" + body, names) == []
    assert label("escalation", "zh") == "升级"


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("kind", [NoticeKind.PAUSE_EXPIRED, NoticeKind.TASK_PAUSE_EXPIRED])
@pytest.mark.parametrize("reason", [None, "", "  ", "missing"])
def test_a_wait_without_a_reason_is_worded_in_the_recipients_language(kind, language, reason):
    params = {"title": "Review the terms"} | ({} if reason == "missing" else {"reason": reason})
    text = render(kind, language, params)[1]
    assert message("no_wait_reason", language) in text
    assert "(waiting)" not in text and "None" not in text
    if language == "zh":
        assert _latin_outside(text, params.values()) == []
    assert render(kind, language, {**params, "reason": "invoice copy"})[1].count("invoice copy") == 1
