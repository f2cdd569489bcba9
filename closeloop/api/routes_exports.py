"""Exports (issue 14): ``GET /exports/complaints`` (the filtered list) and
``GET /complaints/{id}/timeline`` (a complaint's full timeline), as CSV or JSON.

Access is the reads': members and leads export what their department's tasks touch, managers
everything. CSV cells that a spreadsheet would run as a formula are neutralised
(``services/reads/exports.py``). Downloads carry ``Content-Disposition: attachment``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import StreamingResponse

from closeloop.bootstrap import App
from closeloop.http.files import download
from closeloop.services.reads import exports
from closeloop.services.reads.complaint_queries import ComplaintFilter
from closeloop.services.reads.exports import ExportFormat
from closeloop.services.reads.search import ComplaintSort

from .auth import MANAGER, WORK_ROLES, Principal, get_app, require
from .deps import Id
from .routes_complaints import ensure_visible, list_filter

router = APIRouter(tags=["exports"])

_DOWNLOAD: dict[int | str, dict[str, Any]] = {200: {"content": {"text/csv": {}, "application/json": {}},
                   "description": "the export (CSV: header row first; JSON: an array of objects)"}}


@router.get("/exports/complaints", response_class=StreamingResponse, responses=_DOWNLOAD)
def export_complaints(format: ExportFormat = ExportFormat.CSV, f: ComplaintFilter = Depends(list_filter),
                      sort: ComplaintSort = ComplaintSort.ID,
                      who: Principal = Depends(require(*WORK_ROLES)), app: App = Depends(get_app)):
    """The complaints ``GET /complaints`` would list with these parameters, all of them (at most
    100,000: 422 naming ``limit`` above), as CSV or JSON."""
    rows = exports.complaint_rows(app.sessions, f, now=app.clock.now(),
                                  scope=None if who.role == MANAGER else who.department, sort=sort)
    return download(rows, exports.LIST_COLUMNS, format, "complaints")


@router.get("/complaints/{complaint_id}/timeline", response_class=StreamingResponse, responses=_DOWNLOAD)
def export_timeline(complaint_id: Id, format: ExportFormat = ExportFormat.JSON,
                    who: Principal = Depends(require(*WORK_ROLES)), app: App = Depends(get_app)):
    """The complaint's full timeline (audit rows and messages, merged complaints included), oldest first."""
    ensure_visible(app, who, complaint_id)
    rows = exports.timeline_rows(app.sessions, complaint_id)
    return download(rows, exports.TIMELINE_COLUMNS, format, f"complaint-{complaint_id}-timeline")
