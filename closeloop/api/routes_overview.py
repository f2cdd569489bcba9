"""``/overview``: the manager overview (see :func:`closeloop.services.reads.overview.overview`)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from closeloop.bootstrap import App
from closeloop.services.reads.overview import overview as overview_svc

from .auth import MANAGER, Principal, get_app, require
from .schemas import UtcDatetime

router = APIRouter(tags=["overview"])


class DepartmentFigures(BaseModel):
    active: int = Field(description="tasks still to work on (open, acknowledged, in_progress, blocked, waiting)")
    by_status: dict[str, int]
    breached: int = Field(description="active tasks past their resolve due instant")
    ack_overdue: int = Field(description="active tasks past their acknowledge due instant")
    at_risk: int = Field(description="active, not breached, past the at-risk share of the business-time budget")
    due_today: int = Field(description="active tasks due today in the department's calendar zone")


class AgeBucket(BaseModel):
    bucket: str = Field(description="calendar age since received: <1d, 1-3d, 3-7d, 7-30d, >=30d")
    count: int


class Overview(BaseModel):
    as_of: UtcDatetime = Field(description="ISO 8601 UTC instant the figures are for (``Z``, as every instant)")
    complaints_by_status: dict[str, int]
    open_complaints: int
    promise_breached: int = Field(description="open complaints past the customer promise's resolve due instant")
    departments: dict[str, DepartmentFigures]
    age_of_open_complaints: list[AgeBucket]
    dead_letters: dict[str, int] = Field(default_factory=dict,
                                         description="outbox messages not delivered (status `dead`) by reason: "
                                                     "exhausted, rejected, abandoned; re-send with "
                                                     "`POST /outbox/{id}/retry`")


@router.get("/overview", response_model=Overview)
def overview(who: Principal = Depends(require(MANAGER)), app: App = Depends(get_app)) -> Overview:
    """Counts by status, breaches and at-risk tasks per department, load per department,
    age distribution of open complaints. Managers only."""
    return Overview.model_validate(overview_svc(app.sessions, app.config, now=app.clock.now()))
