"""Rendering: the Jinja2 environment, the page context, and the route class that turns every
failure inside a dashboard route into a page (sign-in redirect, 403/404/409/422/500), never a traceback.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from jinja2 import Environment, PackageLoader, pass_context, select_autoescape
from markupsafe import Markup, escape

from closeloop.domain.errors import Conflict, DomainError, IllegalTransition, MergeRejected, NotFound, NotPermitted
from closeloop.domain.facts import addressable_ref
from closeloop.domain.reasons_i18n import translate_reason
from closeloop.domain.record_texts import render as render_record_text
from closeloop.domain.task_kinds import REOPENED_PREFIX, SYSTEM_TITLES, SystemTaskKind
from closeloop.http.access import get_app
from closeloop.services.reads.saved_views import list_views
from closeloop.services.work.notes import MENTION

from . import i18n, labels
from .form_text import TEXT_LIMITS
from .labels import FILTERS as LABELS
from .labels import number
from .session import (
    LANG_COOKIE,
    PRE_COOKIE,
    PageError,
    SignInRequired,
    csrf_token,
    new_pre_cookie,
    set_cookie,
    signed_in,
)

log = logging.getLogger("closeloop.web")

env = Environment(loader=PackageLoader("closeloop.web", "templates"), autoescape=select_autoescape(["j2", "html"]),
                  trim_blocks=True, lstrip_blocks=True)


def local(value: datetime | None, zone: str | None = None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """An instant in ``zone`` (default UTC), or an en dash."""
    if value is None:
        return "–"
    return value.astimezone(ZoneInfo(zone) if zone else UTC).strftime(fmt)


@pass_context
def hours(ctx, value) -> str:
    """A duration in hours, one decimal, grouped per the page's language: ``1,234.5``; an en dash for None."""
    return "–" if value is None else number(value.total_seconds() / 3600, ctx["lang"], 1)


def filesize(value: int | None) -> str:
    """A byte count for people: ``812 B``, ``12.3 KB``, ``4.0 MB`` (1 KB = 1024 bytes)."""
    if value is None:
        return "–"
    size, unit = float(value), "B"
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            break
        size /= 1024
    return f"{int(size)} B" if unit == "B" else f"{size:.1f} {unit}"


def _marked(text: str | None, pattern: re.Pattern[str], markup: str) -> Markup:
    """``text`` escaped, each match of ``pattern`` as ``markup`` with the match's first group (escaped) in it."""
    text = text or ""
    out, last = [], 0
    for m in pattern.finditer(text):
        out += [escape(text[last:m.start()]), Markup(markup).format(m.group(1))]
        last = m.end()
    out.append(escape(text[last:]))
    return Markup("").join(out)


def mentions(text: str | None) -> Markup:
    """The text escaped, each ``@handle`` (:data:`closeloop.services.work.notes.MENTION`) in a ``mention`` span."""
    return _marked(text, MENTION, '<span class="at-mention">@{}</span>')


#: A command or option in a catalogue string, between backticks (```closeloop tokens create --user HANDLE```).
CODE_SPAN = re.compile(r"`([^`]+)`")


def codes(text: str | None) -> Markup:
    """A catalogue string escaped, each ```span``` as ``<code>span</code>`` (a command to type, not prose)."""
    return _marked(text, CODE_SPAN, "<code>{}</code>")


def pathpart(value) -> str:
    """``value`` percent-encoded as one path segment (``/`` too: a customer ref may contain it)."""
    return quote(str(value), safe="")


def customer_href(ref: str) -> str:
    """The customer page's address: ``/customers/<ref>`` (:func:`pathpart`), or ``/customers?ref=<ref>`` for a
    ref no path can carry (``..``, stored before intake refused such refs: a browser drops that segment)."""
    if addressable_ref(ref):
        return f"/customers/{pathpart(ref)}"
    return f"/customers?ref={pathpart(ref)}"


@pass_context
def count(ctx, value) -> str:
    """A count (or an amount) with the page language's thousands separators: ``1,338``."""
    return number(value, ctx["lang"])


@pass_context
def reason(ctx, text: str | None, data: Mapping[str, Any] | None = None) -> str | None:
    """A stored audit reason in the page's language (:func:`~closeloop.domain.reasons_i18n.translate_reason`:
    the engine's own translated, parameters and nested reasons included, known by the code in its audit row's
    ``data`` (``{{ e.reason|reason(e.data) }}``), a department named as configured; a person's as written); None
    stays None."""
    if text is None:
        return None
    return translate_reason(text, ctx["lang"], data, names={"department": lambda code: labels.department(ctx, code)})


@pass_context
def record_text(ctx, text: str | None, data: Mapping[str, Any] | None = None) -> str | None:
    """A record's title or problem in the page's language when the engine wrote it (``data``: its code and
    parameters, :func:`~closeloop.services.reads.engine_texts.record_texts`), an instant among its parameters
    (``until``: ISO 8601 with an offset) written like the page's other instants (:func:`local` in the page's
    ``zone``, else the customer calendar's); as stored otherwise."""
    zone = ctx.get("zone") or str(get_app(ctx["request"]).config.customer_calendar.zone)
    return render_record_text(_local_instants(data, zone), ctx["lang"]) or text


def _local_instants(data: Mapping[str, Any] | None, zone: str) -> Mapping[str, Any] | None:
    """``data`` with its ``params["until"]`` (``2026-12-01T02:00:00+00:00``) as ``2026-11-30 21:00`` in ``zone``;
    unchanged when it has none or it is not an instant with an offset."""
    params = data.get("params") if isinstance(data, Mapping) else None
    until = params.get("until") if isinstance(params, Mapping) else None
    try:
        at = datetime.fromisoformat(until) if isinstance(until, str) else None
    except ValueError:
        return data
    if at is None or at.tzinfo is None or data is None or params is None:
        return data
    return {**data, "params": {**params, "until": local(at, zone)}}


@pass_context
def clock_owner(ctx, view) -> str:
    """Whose clock a :class:`~closeloop.services.engine.clocks.ClockView` is, in the page's language (the
    department by its configured name)."""
    t = ctx["t"]
    if view.task_id is None:
        return t("clock.owner.complaint", id=view.complaint_id)
    department = labels.department(ctx, view.department)
    if view.improvement_id is not None:
        return t("clock.owner.action", id=view.task_id, department=department, improvement=view.improvement_id)
    return t("clock.owner.task", id=view.task_id, department=department)


@pass_context
def task_title(ctx, task, data: Mapping[str, Any] | None = None) -> str:
    """A task's title as the reader reads it: the engine's own titles (:data:`SYSTEM_TITLES`, the reopened
    prefix) in the page's language, a title a person wrote as written. A reopened task's reason is translated
    when the engine wrote it, known by ``data``, the audit row that wrote it
    (:func:`~closeloop.services.reads.engine_texts.reopened_title_data`; None: from its text, rows written
    before): ``{{ task|task_title(titles.get(task.id)) }}``."""
    t = ctx["t"]
    kind = task.kind
    if kind in SYSTEM_TITLES and task.title == SYSTEM_TITLES[kind]:
        return t(f"systask.{kind}")
    if kind == SystemTaskKind.REOPENED and task.title.startswith(REOPENED_PREFIX):
        return t("systask.reopened", reason=translate_reason(task.title[len(REOPENED_PREFIX):], ctx["lang"], data))
    return task.title


@pass_context
def task_kind(ctx, kind: str) -> str:
    """A task's kind in the page's language: the catalogue's ``taskkind.<kind>`` (the engine's own kinds,
    :class:`SystemTaskKind`, and those the bundled and example configurations route to); another configured kind
    as written."""
    return ctx["t"](f"taskkind.{kind}", default=kind)


@pass_context
def actor(ctx, name: str) -> str:
    """The engine's own actors (``system``, ``sweep``, ``import``, ``customer (link)``...) in the page's language; a
    person's name as written."""
    return ctx["t"](f"actor.{name}", default=name)


@pass_context
def problem(ctx, text: str | None) -> str:
    """A service's reason for refusing a form's input in the page's language (:func:`closeloop.web.i18n.problem`);
    empty for none (``{{ t(key, why=flash.why|problem) }}``)."""
    return i18n.problem(text, ctx["lang"]) if text else ""


env.globals["limits"] = TEXT_LIMITS  # the forms' maxlength: the numbers the server refuses past
env.filters["record_text"] = record_text
env.filters.update(local=local, hours=hours, filesize=filesize, mentions=mentions, codes=codes, pathpart=pathpart,
                   customer_href=customer_href, count=count, task_title=task_title, task_kind=task_kind, actor=actor,
                   reason=reason, clock_owner=clock_owner, problem=problem, **LABELS)


def language(request: Request) -> str:
    who = signed_in(request)
    return i18n.pick(request.cookies.get(LANG_COOKIE), who.language if who else None)


def _saved_views(request: Request, who) -> list:
    """The signed-in user's saved views for the header (none without a user)."""
    if who is None or who.user_id is None:
        return []
    return list_views(get_app(request).sessions, who.user_id)


def render(request: Request, template: str, status: int = 200, **context) -> HTMLResponse:
    lang = language(request)
    who = signed_in(request)
    html = env.get_template(template).render(
        request=request, t=i18n.translator(lang), lang=lang, who=who, csrf=csrf_token(request),
        path=request.url.path, saved_views=_saved_views(request, who), **context)
    response = HTMLResponse(html, status_code=status)
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Content-Security-Policy"] = ("default-src 'self'; style-src 'self' 'unsafe-inline'; "
                                                   "img-src 'self' data:; frame-ancestors 'none'")
    pre = new_pre_cookie(request)
    if pre:
        set_cookie(response, request, PRE_COOKIE, pre)
    return response


def error_page(request: Request, status: int, key: str | None = None, **values) -> HTMLResponse:
    """The error page: the catalogue message ``key`` with ``values``; ``roles`` (a tuple of role codes: who may
    open the page) shown as the roles' names in the reader's language."""
    if isinstance(values.get("roles"), tuple):
        t = i18n.translator(language(request))
        values["roles"] = t("list.sep").join(t(f"role.{r}") for r in values["roles"])
    return render(request, "error.html.j2", status=status, status_code=status, key=key or f"error.{status}",
                  values=values)


def _signin_redirect(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/signin?next={quote(target, safe='')}", status_code=303)


def page_status(exc: DomainError) -> int:
    """The HTTP status of the error page a domain error becomes (the table in ``closeloop/domain/errors.py``)."""
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, NotPermitted):
        return 403
    if isinstance(exc, Conflict | IllegalTransition | MergeRejected):
        return 409
    return 422


class WebRoute(APIRoute):
    """An ``APIRoute`` whose failures are pages: 401 -> the sign-in form, the rest -> the error page."""

    def get_route_handler(self):
        inner = super().get_route_handler()

        async def handler(request: Request):
            try:
                return await inner(request)
            except SignInRequired:
                return _signin_redirect(request)
            except PageError as exc:
                return error_page(request, exc.status, exc.key, **exc.values)
            except DomainError as exc:
                return error_page(request, page_status(exc))
            except RequestValidationError:
                return error_page(request, 422)
            except Exception:  # noqa: BLE001 - a bug: logged, shown as a page
                log.exception("dashboard error on %s", request.url.path)
                return error_page(request, 500)

        return handler
