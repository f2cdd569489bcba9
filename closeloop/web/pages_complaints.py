"""The complaint list and search page (issue 14): ``/complaints?q=&status=&sort=&page=``.

Members and leads see the complaints their department's tasks touch; managers see all. The
search box in the header of every page submits here. Filters and search are the API's
(``services/complaint_queries.list_complaints``); a bad value is a 422 page naming the field.
"""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Path, Query, Request

from closeloop.domain.complaint import ComplaintStatus
from closeloop.domain.improvement import ImprovementStatus
from closeloop.domain.triage import SEVERITIES
from closeloop.http.access import MANAGER, WORK_ROLES, Principal, get_app
from closeloop.http.files import attachment_response, download
from closeloop.services.capa import improvement
from closeloop.services.customers.view import customer_refs
from closeloop.services.reads import exports
from closeloop.services.reads.complaint_queries import ComplaintFilter, complaint_in_scope, list_complaints
from closeloop.services.reads.exports import ExportFormat
from closeloop.services.reads.search import MAX_QUERY_CHARS, ComplaintSort
from models.types import MAX_ID

from .pages_bulk import ACTIONS as BULK_ACTIONS
from .paging import paged
from .render import WebRoute, render
from .session import PageError, current, why_of

router = APIRouter(include_in_schema=False, route_class=WebRoute)
PAGE_SIZE = 50
SORTS = (ComplaintSort.RECEIVED_DESC, ComplaintSort.RECEIVED, ComplaintSort.DUE, ComplaintSort.SEVERITY,
         ComplaintSort.ID_DESC)


def _reading(request: Request, who: Principal, q: str, status, overdue: bool):
    """(app, filter, scope) of a list read; 403 page for a role without complaints."""
    if who.role not in WORK_ROLES:
        raise PageError(403, "error.403.roles", roles=WORK_ROLES)
    f = ComplaintFilter(status=[str(status)] if status else None, overdue=overdue, q=q.strip() or None)
    return get_app(request), f, None if who.role == MANAGER else who.department


@router.get("/exports/complaints.{fmt}")
def export_list(request: Request, fmt: ExportFormat, q: str = Query("", max_length=MAX_QUERY_CHARS),
                status: ComplaintStatus | None = Query(None), overdue: bool = False,
                sort: ComplaintSort = Query(ComplaintSort.RECEIVED_DESC), who: Principal = Depends(current)):
    """The list page's complaints (all pages) as a CSV or JSON download."""
    app, f, scope = _reading(request, who, q, status, overdue)
    rows = exports.complaint_rows(app.sessions, f, now=app.clock.now(), scope=scope, sort=sort)
    return download(rows, exports.LIST_COLUMNS, fmt, "complaints")


@router.get("/complaints/{complaint_id}/timeline.{fmt}")
def export_timeline(request: Request, fmt: ExportFormat, complaint_id: int = Path(ge=1, le=MAX_ID),
                    who: Principal = Depends(current)):
    """A complaint's full timeline as a CSV or JSON download (the complaint page's access)."""
    app, _, scope = _reading(request, who, "", None, False)
    if not complaint_in_scope(app.sessions, complaint_id, scope):
        raise PageError(403, "error.403.complaint", id=complaint_id)
    return download(exports.timeline_rows(app.sessions, complaint_id), exports.TIMELINE_COLUMNS, fmt,
                    f"complaint-{complaint_id}-timeline")


@router.get("/complaints/{complaint_id}/attachments/{attachment_id}")
def attachment_download(request: Request, complaint_id: int = Path(ge=1, le=MAX_ID),
                        attachment_id: int = Path(ge=1, le=MAX_ID), who: Principal = Depends(current)):
    """One attachment of the complaint page, as a download (the complaint page's access; 404 page when it is
    not on this complaint or not stored)."""
    app, _, scope = _reading(request, who, "", None, False)
    if not complaint_in_scope(app.sessions, complaint_id, scope):
        raise PageError(403, "error.403.complaint", id=complaint_id)
    return attachment_response(app, complaint_id, attachment_id)


def _bulk_choices(app) -> dict:
    """What the manager's bulk form offers: actions, departments, severities, open improvement records."""
    records = [r for r, _ in improvement.list_records(app.sessions, limit=200)
               if r.status != ImprovementStatus.REJECTED]
    return {"actions": BULK_ACTIONS, "departments": sorted(app.config.departments), "severities": SEVERITIES,
            "improvements": records}


def _view_flash(request: Request) -> dict | None:
    """The message after saving or deleting a view (whitelisted keys only; ``why``: the service's reason, signed
    for this session)."""
    query = request.query_params
    if query.get("view_saved", "").isascii() and query.get("view_saved", "").isdigit():
        return {"kind": "ok", "key": "views.saved", "field": ""}
    if query.get("view_deleted") == "1":
        return {"kind": "ok", "key": "views.deleted", "field": ""}
    if query.get("view_err") in ("name", "q", "status", "sort"):
        why = why_of(request)
        return {"kind": "err", "key": "views.invalid_why" if why else "views.invalid", "field": query["view_err"],
                "why": why}
    return None


@router.get("/complaints")
def complaints_page(request: Request, q: str = Query("", max_length=MAX_QUERY_CHARS),
                    status: ComplaintStatus | None = Query(None), overdue: bool = False,
                    sort: ComplaintSort = Query(ComplaintSort.RECEIVED_DESC), page: int = Query(1),
                    who: Principal = Depends(current)):
    """Complaints (newest first by default), searched and filtered, 50 a page."""
    app, f, scope = _reading(request, who, q, status, overdue)
    rows, window = paged(lambda limit, offset: list_complaints(app.sessions, f, now=app.clock.now(), scope=scope,
                                                               limit=limit, offset=offset, sort=sort),
                         page, PAGE_SIZE)
    params = {k: v for k, v in {"q": q.strip(), "status": str(status or ""), "overdue": "true" if overdue else "",
                                "sort": str(sort)}.items() if v}
    return render(request, "complaints.html.j2", bulk=_bulk_choices(app) if who.role == MANAGER else None,
                  view_flash=_view_flash(request), rows=rows, total=window.total, q=q.strip(),
                  chosen_status=str(status or ""),
                  overdue=overdue, sort=str(sort), sorts=[str(s) for s in SORTS],
                  statuses=[str(s) for s in ComplaintStatus], page=window.page, pages=window.pages,
                  first=window.first, last=window.last, window=window,
                  base="/complaints?" + urlencode(params), query=urlencode(params), now=app.clock.now(),
                  customers=customer_refs(app.sessions, [c.id for c in rows]),
                  zone=str(app.config.customer_calendar.zone))
