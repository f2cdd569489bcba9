"""Bulk actions from the complaint list (issue 14 §5): a manager ticks complaints on ``/complaints`` and runs
transfer, reprioritize, link to an improvement record or close on them (``POST /complaints/bulk``).

The same service as ``POST /api/v1/complaints/bulk`` (:func:`closeloop.services.work.bulk_actions.run_bulk`): each
ticked complaint carries the version the list showed, each is its own transaction and audit trail, and a stale
version, an illegal trigger or bad input fails that item only. The answer is a page with one result per item
(what happened, or why not) and the way back to the same list. The request's own parameters (no complaint
ticked, no reason, an id or version over ``MAX_ID``, an unknown department or record) are a message on that page
and nothing is done. A complaint already linked to the record is listed as done and unchanged.
Manager only (403 page otherwise); CSRF-protected like every form.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, Request

from closeloop.domain.errors import Conflict, DomainError, IllegalTransition, InvalidInput, NotFound
from closeloop.http.access import MANAGER, Principal, get_app
from closeloop.services.work.bulk_actions import MAX_ITEMS, BulkRequest, run_bulk
from models.types import MAX_ID

from .form_text import form_text, limit_of, problem_kind
from .render import WebRoute, render
from .session import MAX_FORM_BYTES, PageError, check_csrf, current, safe_next, web_actor

router = APIRouter(include_in_schema=False, route_class=WebRoute)

#: The actions the list page offers (resolve needs a root cause per complaint: from the complaint page).
ACTIONS = ("transfer", "reprioritize", "link", "close")


def error_key(exc: DomainError) -> str:
    """The catalogue key of an item's failure (``bulk.err.<kind>``)."""
    for kind, cls in (("stale", Conflict), ("state", IllegalTransition), ("missing", NotFound),
                      ("invalid", InvalidInput)):
        if isinstance(exc, cls):
            return f"bulk.err.{kind}"
    return "bulk.err.invalid"


async def _bulk_form(request: Request) -> tuple[dict[str, str], list[str]]:
    """The form's single fields and its ticked ``item`` values (``<id>:<version>``)."""
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/x-www-form-urlencoded":
        raise PageError(415, "error.422")
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise PageError(413, "error.422")
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=MAX_ITEMS + 20)
    except (UnicodeDecodeError, ValueError):
        raise PageError(422) from None
    return {k: v for k, v in pairs if k != "item"}, [v for k, v in pairs if k == "item"]


def _number(raw: str) -> int | None:
    """``raw`` as an id or version in ``1..MAX_ID`` (ASCII digits only: "²".isdigit() is true), else None."""
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 10) or not 1 <= int(raw) <= MAX_ID:
        return None
    return int(raw)


def _items(raw: list[str]) -> list[tuple[int, int | None]]:
    items: list[tuple[int, int | None]] = []
    for value in raw:
        cid, _, version = value.partition(":")
        pair = _number(cid), _number(version)
        if pair[0] is None or pair[1] is None:
            raise InvalidInput("items", f"not a complaint and its version (1 to {MAX_ID}): {value[:40]!r}")
        items.append((pair[0], pair[1]))
    return items


def _request(data: dict[str, str]) -> BulkRequest:
    action = data.get("action", "")
    if action not in ACTIONS:
        raise InvalidInput("action", f"must be one of {', '.join(ACTIONS)}")
    improvement = _number(data.get("improvement_id", "").strip())
    if action == "link" and improvement is None:
        raise InvalidInput("improvement_id", "choose an improvement record")
    return BulkRequest(action, form_text(data, "reason") or "",
                       to=(data.get("to") or None) if action == "transfer" else None,
                       from_department=(data.get("from_department") or None) if action == "transfer" else None,
                       severity=(data.get("severity") or None) if action == "reprioritize" else None,
                       improvement_id=improvement if action == "link" else None)


@router.post("/complaints/bulk")
async def bulk(request: Request, who: Principal = Depends(current)):
    """Run one action on the ticked complaints; a page of per-item results."""
    data, raw = await _bulk_form(request)
    check_csrf(request, data)
    if who.role != MANAGER:
        raise PageError(403, "error.403.action")
    back = safe_next(data.get("next"), "/complaints")
    app = get_app(request)
    try:
        items = _items(raw)
        if not items:
            raise InvalidInput("items", "tick at least one complaint")
        req = _request(data)
        outcomes = run_bulk(app.sessions, app.config, req, items, actor=web_actor(who), at=app.clock.now())
    except (InvalidInput, NotFound) as exc:
        field = exc.field if isinstance(exc, InvalidInput) else "improvement_id"
        return render(request, "bulk.html.j2", status=422, results=[], back=back, action=data.get("action", ""),
                      problem={"field": field, "text": exc.problem if isinstance(exc, InvalidInput) else str(exc),
                               "too_long": isinstance(exc, InvalidInput)
                               and problem_kind(exc) == "too_long", "limit": limit_of(field)})
    results = [{"id": o.complaint_id, "ok": o.error is None, "version": o.version, "changed": o.changed,
                "key": None if o.error is None else error_key(o.error),
                "detail": "" if o.error is None else str(o.error)} for o in outcomes]
    return render(request, "bulk.html.j2", results=results, back=back, action=req.action, problem=None,
                  succeeded=sum(r["ok"] for r in results))
