"""``POST /complaints/bulk`` (issue 14 §5): one action on many complaints, one transaction per item.

Manager only. Each item carries the complaint's version as read; a stale version (409 ``conflict``), an
illegal trigger (409 ``illegal_transition``), an unknown complaint (404) or bad input (422) fails that item
only, reported in its result in the API's error shape; the answer is 200 with one result per item, in order.
The request's own parameters (action, reason, ``to``, ``severity``, ``improvement_id``, duplicates) are a 422
(or 404 for the improvement record) before anything is done. See :mod:`closeloop.services.work.bulk_actions`.
"""

from __future__ import annotations

import json
from typing import Annotated, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field, StrictInt

from closeloop.bootstrap import App
from closeloop.domain.limits import MAX_REASON_CHARS
from closeloop.services.work.bulk_actions import MAX_ITEMS, BulkRequest, run_bulk

from .auth import MANAGER, Principal, get_app, require
from .deps import MAX_ID
from .errors import ErrorBody, domain_error
from .schemas import In
from .schemas_transitions import Reason

router = APIRouter(tags=["complaints"])

ComplaintId = Annotated[StrictInt, Field(ge=1, le=MAX_ID)]


class BulkItem(In):
    id: ComplaintId
    version: StrictInt | None = Field(None, ge=1, le=MAX_ID, description="the complaint's version as read")


class BulkIn(In):
    action: Literal["transfer", "reprioritize", "link", "resolve", "close"]
    items: list[BulkItem] = Field(min_length=1, max_length=MAX_ITEMS)
    reason: Reason
    to: str | None = Field(None, max_length=64, description="transfer: the target department")
    from_department: str | None = Field(None, max_length=64,
                                        description="transfer: move only this department's tasks")
    severity: str | None = Field(None, pattern="^P[1-4]$", description="reprioritize: the new severity")
    improvement_id: ComplaintId | None = Field(None, description="link: the improvement record")
    root_cause: str | None = Field(None, max_length=100, description="resolve: a root-cause code when missing")
    root_cause_detail: str | None = Field(None, max_length=MAX_REASON_CHARS,
                                          description="resolve: the note an 'undetermined' root cause needs")


class BulkResult(BaseModel):
    id: int
    ok: bool
    status: int = Field(description="what the single action would have answered (200, 404, 409, 422)")
    version: int | None = Field(description="the complaint's version after the action")
    changed: bool = Field(True, description="false when the item needed nothing (link: already linked; "
                                            "no audit row, the version as it was)")
    error: ErrorBody | None


class BulkOut(BaseModel):
    action: str
    succeeded: int
    failed: int
    results: list[BulkResult]


@router.post("/complaints/bulk", response_model=BulkOut)
def bulk(body: BulkIn, who: Principal = Depends(require(MANAGER)), app: App = Depends(get_app)) -> BulkOut:
    """Transfer, reprioritize, link to an improvement record, resolve or close many complaints; one
    transaction and audit trail per item, a per-item result (a stale item fails alone)."""
    req = BulkRequest(body.action, body.reason, to=body.to, from_department=body.from_department,
                      severity=body.severity, improvement_id=body.improvement_id, root_cause=body.root_cause,
                      root_cause_detail=body.root_cause_detail)
    outcomes = run_bulk(app.sessions, app.config, req, [(i.id, i.version) for i in body.items], actor=who.actor,
                        at=app.clock.now())
    results = []
    for o in outcomes:
        if o.error is None:
            results.append(BulkResult(id=o.complaint_id, ok=True, status=200, version=o.version, changed=o.changed,
                                      error=None))
            continue
        r = domain_error(o.error)
        results.append(BulkResult(id=o.complaint_id, ok=False, status=r.status_code, version=None, changed=False,
                                  error=ErrorBody(**json.loads(bytes(r.body))["error"])))
    ok = sum(r.ok for r in results)
    return BulkOut(action=body.action, succeeded=ok, failed=len(results) - ok, results=results)
