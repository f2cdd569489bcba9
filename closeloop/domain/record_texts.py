"""The texts recurrence detection writes on the improvement records it proposes, in every reader's language.

A record's ``title`` and ``problem`` are stored as text (English for the engine's, as typed for a person's:
the API, the exports and the review read them as they always did). The engine's own are written only through
:func:`recurring_texts`, which also gives their code and parameters (:func:`text_data`); the create audit row
stores those beside the title (``data["texts"]``), and a page shows them in the reader's language
(:func:`render`). A record created before that (no ``texts`` in its create row) by the system is recognised
from its text and its stored ``match`` (:func:`recognise`). A title a person typed is never translated.

Shapes: a text's data is ``{"code": "recurring_title", "facts": [["category", "Debt collection"], ...],
"params": {"count": "23", "days": "14", "until": "2024-05-01T09:00:00+00:00"}}`` (``facts`` in the order
written, the facts with a value only; every parameter a ``str``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any


class RecordText(StrEnum):
    """The stable code of one text the engine writes on a record."""

    RECURRING_TITLE = "recurring_title"  # services/intake/recurrence.py: the proposed record's title
    RECURRING_PROBLEM = "recurring_problem"  # its problem statement


#: Language -> each text, ``{facts}`` the facts' label (:func:`facts_label`) and the other ``{name}`` its parameters.
TEXTS: dict[str, dict[RecordText, str]] = {
    "en": {
        RecordText.RECURRING_TITLE: "Recurring complaints: {facts}",
        RecordText.RECURRING_PROBLEM: "{count} complaints with {facts} within {days} days (up to {until}); "
                                      "proposed by recurrence detection",
    },
    "zh": {
        RecordText.RECURRING_TITLE: "重复出现的投诉：{facts}",
        RecordText.RECURRING_PROBLEM: "{days} 天内（截至 {until}）有 {count} 件{facts}的投诉；由重复投诉检测提出",
    },
}

#: Language -> the name of each complaint fact a match may hold (English: the fact's own name).
FACT_NAMES: dict[str, dict[str, str]] = {
    "zh": {"category": "类别", "subcategory": "子类别", "product": "产品", "sub_product": "子产品", "issue": "问题",
           "sub_issue": "子问题", "company": "公司", "region": "地区", "source": "来源"},
}
#: Language -> how one fact reads and how facts are joined.
_FACT_FORMS: dict[str, tuple[str, str]] = {"en": ("{name} '{value}'", ", "), "zh": ("{name}“{value}”", "，")}
TITLE_CHARS = 500  # the title column's length


def facts_label(facts: Sequence[Sequence[str]], language: str = "en") -> str:
    """``[["category", "Debt collection"], ["product", "Loan"]]`` as ``category 'Debt collection', product
    'Loan'`` (English: each value as written, in quotes) or ``类别“Debt collection”，产品“Loan”`` (``zh``);
    any other language: English."""
    form, joiner = _FACT_FORMS.get(language, _FACT_FORMS["en"])
    names = FACT_NAMES.get(language, {})
    return joiner.join(form.format(name=names.get(k, k), value=v) for k, v in facts)


def text_data(code: RecordText, facts: Sequence[Sequence[str]], **params: object) -> dict[str, Any]:
    """What a create audit row stores of one engine text (the module docstring's shape)."""
    return {"code": code.value, "facts": [[str(k), str(v)] for k, v in facts],
            "params": {k: str(v) for k, v in params.items()}}


def render(data: Mapping[str, Any] | None, language: str) -> str | None:
    """The text ``data`` (:func:`text_data`) stands for in ``language`` (``en``, ``zh``; any other: English);
    None for no data or a malformed one (the page then shows the stored text). Raises nothing."""
    if not data:
        return None
    try:
        table = TEXTS.get(language, TEXTS["en"])
        text = table[RecordText(data["code"])].format(facts=facts_label(data["facts"], language),
                                                      **{k: str(v) for k, v in data["params"].items()})
    except (KeyError, ValueError, TypeError, IndexError, AttributeError):
        return None
    return text[:TITLE_CHARS] if data["code"] == RecordText.RECURRING_TITLE else text


def recurring_texts(facts: Sequence[Sequence[str]], count: int, days: int, until: str
                    ) -> tuple[str, str, dict[str, dict[str, Any]]]:
    """The English title and problem of a record recurrence detection proposes for ``facts`` (those with a
    value, in ``match_on`` order), ``count`` complaints within ``days`` days up to ``until`` (ISO 8601), and
    their data (``{"title": ..., "problem": ...}``) for the create audit row."""
    title = text_data(RecordText.RECURRING_TITLE, facts)
    problem = text_data(RecordText.RECURRING_PROBLEM, facts, count=count, days=days, until=until)
    return render(title, "en") or "", render(problem, "en") or "", {"title": title, "problem": problem}


def _ordered_facts(label: str, match: Mapping[str, Any]) -> list[list[str]] | None:
    """The facts of ``match`` with a value, in the order ``label`` writes them; None when one is not there."""
    items = [[str(k), str(v)] for k, v in match.items() if v]
    at = {i: label.find(facts_label([f])) for i, f in enumerate(items)}
    if not items or min(at.values()) < 0:
        return None
    return [items[i] for i in sorted(at, key=lambda i: at[i])]


_PROBLEM = re.compile(r"(?P<count>\d+) complaints with (?P<label>.+) within (?P<days>\d+) days \(up to "
                      r"(?P<until>[^)]+)\); proposed by recurrence detection", re.S)


def recognise(title: str, problem: str, match: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """For a record the system created before codes were stored: the data of its ``title`` and ``problem``
    that read as :func:`recurring_texts` wrote them for its stored ``match`` (a text that does not, e.g.
    cut or edited, is absent and shown as stored). Raises nothing."""
    out: dict[str, dict[str, Any]] = {}
    prefix = "Recurring complaints: "
    if title.startswith(prefix) and (facts := _ordered_facts(title[len(prefix):], match or {})) is not None:
        data = text_data(RecordText.RECURRING_TITLE, facts)
        if render(data, "en") == title:
            out["title"] = data
    m = _PROBLEM.fullmatch(problem or "")
    if m and (facts := _ordered_facts(m["label"], match or {})) is not None and facts_label(facts) == m["label"]:
        out["problem"] = text_data(RecordText.RECURRING_PROBLEM, facts, count=m["count"], days=m["days"],
                                   until=m["until"])
    return out
