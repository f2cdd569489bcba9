"""Labels the pages make of stored codes and figures, in the reader's language (Jinja2 filters, registered by
:mod:`closeloop.web.render`): a department's name, a customer's language, a span of business time, and what an
audit row of the timeline changed, with the particulars its ``data`` holds (to whom a task was assigned, how much
compensation was recorded).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from jinja2 import pass_context

from closeloop.http.access import get_app

from . import i18n

#: The thousands and decimal separators of each page language (CLDR: Chinese groups by three with "," too).
SEPARATORS: dict[str, tuple[str, str]] = {"en": (",", "."), "zh": (",", ".")}


def number(value, lang: str = "en", digits: int | None = None) -> str:
    """``value`` (int, float or Decimal) with the separators of ``lang``: ``1,338``, ``1,234.5``; ``digits``
    decimals (None: as the value has them); an en dash for None, a text as it is."""
    if value is None:
        return "–"
    if isinstance(value, str):
        return value
    group, point = SEPARATORS.get(lang, SEPARATORS["en"])
    text = f"{value:,.{digits}f}" if digits is not None else f"{value:,}"
    return text.translate(str.maketrans(",.", group + point))


#: from this many business hours on, a span is shown in whole hours (the minutes no longer matter)
WHOLE_HOURS_FROM = 24


def department_name(config, code: str, lang: str) -> str:
    """The name of department ``code`` for a reader of ``lang`` (``en``, ``zh``): the configured one in that
    language (``[customers.department_names.<lang>]``), else its configured ``display_name``, else the
    catalogue's ``dept.<code>`` (a department this configuration does not have), else the code itself."""
    named = config.model.customers.department_names.get(lang, {})
    if code in named:
        return named[code]
    configured = config.departments.get(code)
    if configured is not None and configured.display_name:
        return configured.display_name
    return i18n.translator(lang)(f"dept.{code}", default=code)


@pass_context
def department(ctx, code: str | None) -> str:
    """``{{ task.department|department }}``: :func:`department_name` with the served configuration and the page's
    language; an en dash for None."""
    if not code:
        return "–"
    return department_name(get_app(ctx["request"]).config, code, ctx["lang"])


@pass_context
def language_name(ctx, code: str | None) -> str:
    """A language code (``zh``, ``en``, ``zh-CN``) as the language's name in the page's language (``Chinese``,
    ``中文``): the catalogue's ``language.<code>``, else that of its first subtag, else the code as stored; an en
    dash for None."""
    if not code:
        return "–"
    t = ctx["t"]
    return t(f"language.{code.lower()}", default=t(f"language.{code.split('-')[0].lower()}", default=code))


@pass_context
def business_time(ctx, left) -> str:
    """A :class:`~closeloop.services.reads.dashboard.TimeLeft` as text that names its unit, business hours:
    ``3 business h 05 min``, ``30 business min`` under an hour, or in whole grouped hours from
    :data:`WHOLE_HOURS_FROM` on (``6,784 business h``)."""
    h, m = left.hours_minutes
    if h >= WHOLE_HOURS_FROM:
        return ctx["t"]("sla.hours", h=number(h, ctx["lang"]))
    if h == 0:  # "30 business min", not "0 business h 30 min"
        return ctx["t"]("sla.minutes", m=m)
    return ctx["t"]("sla.time", h=h, m=m)


@pass_context
def timeline_change(ctx, entry) -> str:
    """What an audit row of the timeline (a :class:`~closeloop.services.work.complaints.TimelineEntry`) changed,
    in the page's language: the label of its trigger, with the particulars of an assignment (to whom, from whom)
    and of a compensation entry (kind, amount, currency) read from its ``data``."""
    t, data = ctx["t"], entry.data or {}
    if entry.trigger == "assign" and data.get("to"):
        if data.get("from") and data["from"] != data["to"]:
            return t("timeline.reassigned", assignee=data["to"], previous=data["from"])
        return t("timeline.assigned", assignee=data["to"])
    if entry.trigger == "compensation" and data.get("amount") is not None:
        return t("timeline.compensated", kind=t(f"comp.kind.{data.get('kind')}", default=str(data.get("kind"))),
                 amount=_amount(data["amount"], ctx["lang"]), currency=data.get("currency") or "")
    return t(f"timeline.trigger.{entry.trigger}", default=t(f"trigger.{entry.trigger}", default=entry.trigger))


def _amount(stored: Any, lang: str) -> str:
    """An amount stored as text (``"1234.50"``) grouped per ``lang`` (``1,234.50``); as stored when not a number."""
    try:
        return number(Decimal(str(stored)), lang)
    except InvalidOperation:
        return str(stored)


FILTERS: Mapping[str, Any] = {"department": department, "language_name": language_name,
                              "business_time": business_time, "timeline_change": timeline_change}
