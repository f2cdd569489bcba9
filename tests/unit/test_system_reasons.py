"""The engine's own audit reasons: one table (closeloop/domain/reasons.py) the services write through, read
back from the stored English (parameters and nested reasons included), translated in every page language."""

from __future__ import annotations

import ast
import json
import pickle
import re
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

import closeloop.services
from closeloop.domain.reasons import (
    REASON_KEY,
    SYSTEM_REASONS,
    SystemReason,
    parse_reason,
    reason_data,
    stored_reason,
    system_reason,
)
from closeloop.domain.reasons_i18n import REASON_TEXTS, ZH_REASONS, translate_reason
from closeloop.web.render import env, number

SERVICES = Path(closeloop.services.__file__).parent
FIELD = re.compile(r"{(\w+)}")
#: the keywords through which the services hand a reason to the audit trail (``apply``, ``record_event``,
#: ``add_task``, ``audit_dict``, ``on_ineffective``...) or a note that becomes one (a follow-up's)
REASON_KEYWORDS = {"reason", "note", "why", "detail"}


def _samples(code: SystemReason) -> dict[str, str]:
    return {name: f"<{name} {i}>" for i, name in enumerate(dict.fromkeys(FIELD.findall(SYSTEM_REASONS[code])))}


@pytest.mark.parametrize("code", list(SystemReason))
def test_every_system_reason_has_a_text_and_a_chinese_translation(code):
    assert code in SYSTEM_REASONS
    assert REASON_TEXTS["en"][code] == SYSTEM_REASONS[code]  # English is the stored text itself
    zh = ZH_REASONS[code]
    assert REASON_TEXTS["zh"] is ZH_REASONS and zh != SYSTEM_REASONS[code], code
    assert set(FIELD.findall(zh)) == set(FIELD.findall(SYSTEM_REASONS[code]))
    assert not re.search(r"[a-z]{3,}", FIELD.sub("", zh)), zh  # no English words left


@pytest.mark.parametrize("code", list(SystemReason))
def test_a_written_reason_reads_back_as_its_code_and_parameters(code):
    params = _samples(code)
    assert parse_reason(system_reason(code, **params)) == (code, params)


def test_a_persons_reason_is_none_of_the_engines():
    for text in (
        "客户投诉到媒体",
        "answered on the phone",
        "all department tasks are finished, I think",
        "complaint resolved",
        "",
        None,
    ):
        assert parse_reason(text) is None, text
        if text is not None:
            assert translate_reason(text, "zh") == text and translate_reason(text, "en") == text


def test_parameters_and_nested_reasons_are_read_in_the_readers_language():
    assert translate_reason("complaint resolved: answered on the phone", "zh") == "投诉已解决：answered on the phone"
    assert translate_reason("the complaint was reopened: customer not satisfied: no reason given", "zh") == (
        "投诉已重新打开：客户不满意：未说明原因"
    )
    assert (
        translate_reason("12 matching complaints in the 26 days before, 3 in the 26 days after (+75% reduction)", "zh")
        == "实施前 26 天内有 12 件匹配投诉，实施后 26 天内有 3 件（降幅 +75%）"
    )
    for lang in ("en", "fr"):  # English, and any language without a table, read the stored text
        assert translate_reason("complaint resolved: answered on the phone", lang) == (
            "complaint resolved: answered on the phone"
        )


def test_an_engine_reason_carries_its_code_and_parameters_into_the_audit_data():
    """What the engine writes is its English text (stored unchanged) and, in the row's data, its code and
    parameters, a nested reason with its own: read back from the data (as JSON stores it) in Chinese."""
    answer = system_reason(SystemReason.CUSTOMER_ANSWER_BY_LINK)
    reopened = system_reason(SystemReason.COMPLAINT_REOPENED,
                             reason=system_reason(SystemReason.CUSTOMER_NOT_SATISFIED, note=answer))
    assert reopened == "the complaint was reopened: customer not satisfied: the customer's answer by link"
    data = json.loads(json.dumps(reason_data(reopened)))
    assert data == {REASON_KEY: {"code": "complaint_reopened", "params": {"reason": {
        "code": "customer_not_satisfied", "params": {"note": {"code": "customer_answer_by_link", "params": {}}}}}}}
    assert translate_reason(str(reopened), "zh", data) == "投诉已重新打开：客户不满意：客户通过链接作答"
    counts = system_reason(SystemReason.EFFECTIVENESS_COUNTS, before=12, after=3, days="26")
    assert reason_data(counts)[REASON_KEY] == {"code": "effectiveness_counts",
                                               "params": {"before": "12", "after": "3", "days": "26"}}
    assert pickle.loads(pickle.dumps(reopened)).data() == reopened.data()
    # the code is what is read, not the text: a row's data names its reason whatever the text says
    assert translate_reason("(text kept for an export)", "zh", data) == "投诉已重新打开：客户不满意：客户通过链接作答"


def test_a_persons_reason_is_stored_as_a_persons_and_shown_as_typed_even_in_the_engines_words():
    for typed in ("all department tasks are finished", "complaint resolved: customer satisfied", "客户投诉到媒体"):
        data = {"to": "product", **reason_data(typed)}
        assert data == {"to": "product", REASON_KEY: None}
        assert translate_reason(typed, "zh", data) == typed
        inside = system_reason(SystemReason.WAITING_ON_CUSTOMER, reason=typed)  # a person's words in the engine's
        assert translate_reason(str(inside), "zh", reason_data(inside)) == f"等待客户：{typed}"
    assert reason_data(None) == {}


def test_a_row_written_before_codes_were_stored_is_read_from_its_text():
    """No key in its data (or no data): the stored English is recognised as before, nested reasons too; a
    malformed code shows the text as written."""
    text = "the complaint was reopened: customer not satisfied: no reason given"
    for data in (None, {}, {"department": "operations"}):
        assert translate_reason(text, "zh", data) == "投诉已重新打开：客户不满意：未说明原因"
        assert stored_reason(text, data) == system_reason(
            SystemReason.COMPLAINT_REOPENED, reason=system_reason(SystemReason.CUSTOMER_NOT_SATISFIED_SILENT))
    for bad in ({"code": "no_such_reason", "params": {}}, {"code": "complaint_resolved", "params": {}}, "x", 3):
        assert translate_reason("complaint resolved: x", "zh", {REASON_KEY: bad}) == "complaint resolved: x"


def test_the_dashboard_filter_reads_a_reason_through_the_shared_table():
    """The pages' ``reason`` filter is :func:`translate_reason` in the page's language (one reading for the
    dashboard and the customer notices), a person's reason as written, no reason none."""
    tpl = env.from_string("{{ r|reason }}")
    assert tpl.render(r="customer message via email", lang="zh") == "客户经 email 发来消息"
    assert tpl.render(r="customer message via email", lang="en") == "customer message via email"
    assert tpl.render(r="客户投诉到媒体", lang="en") == "客户投诉到媒体"
    assert tpl.render(r=None, lang="zh") == "None"


def _literal_text(node: ast.expr) -> bool:
    """A reason written in place: a string literal, an f-string, or text joined to one."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str) and node.value != ""  # an empty note is no reason
    if isinstance(node, ast.JoinedStr):
        return True
    if isinstance(node, ast.BinOp):
        return _literal_text(node.left) or _literal_text(node.right)
    if isinstance(node, ast.BoolOp | ast.IfExp):
        parts = node.values if isinstance(node, ast.BoolOp) else [node.body, node.orelse]
        return any(_literal_text(p) for p in parts)
    return False


def test_the_services_write_no_reason_outside_the_table():
    """A reason (or a note that becomes one) written as text in a service is English a page cannot translate:
    it must come from ``system_reason(SystemReason.X, ...)``, whose every code has its translations."""
    found = []
    for path in sorted(SERVICES.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                found += [
                    f"{path.relative_to(SERVICES)}:{kw.value.lineno} {kw.arg}="
                    for kw in node.keywords
                    if kw.arg in REASON_KEYWORDS and _literal_text(kw.value)
                ]
            elif (
                isinstance(node, ast.Assign)
                and any(isinstance(t, ast.Name) and t.id in {"note", "via", "why"} for t in node.targets)
                and _literal_text(node.value)
            ):
                found.append(f"{path.relative_to(SERVICES)}:{node.lineno} assignment")
    assert not found, found


def test_numbers_are_grouped_per_the_page_language():
    assert number(1234567) == "1,234,567" and number(1234567, "zh") == "1,234,567"
    assert number(Decimal("12345.50"), "zh") == "12,345.50" and number(999) == "999"
    assert number(2012.04, "en", 1) == "2,012.0" and number(None) == "–" and number("n/a") == "n/a"
    tpl = env.from_string("{{ h|hours }} · {{ n|count }}")
    assert tpl.render(h=timedelta(hours=1234.5), n=12345, lang="zh") == "1,234.5 · 12,345"
    assert tpl.render(h=None, n=5, lang="en") == "– · 5"
