"""Saved views on the dashboard (issue 14 §5): "save this view" on the complaint list stores its filter/search
under a name for the signed-in user (``services/reads/saved_views.py``, as ``POST /api/v1/me/views``); the views are
listed in every page's header (``render`` reads them) and deleted from there. A session whose token belongs to
no user gets the 403 page; a bad name comes back to the list with a message naming it.
"""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import RedirectResponse

from closeloop.domain.errors import InvalidInput
from closeloop.http.access import WORK_ROLES, Principal, get_app
from closeloop.services.reads import saved_views
from models.types import MAX_ID

from .render import WebRoute
from .session import PageError, check_csrf, current, form, why_params

router = APIRouter(include_in_schema=False, route_class=WebRoute)


def _user(who: Principal) -> int:
    if who.role not in WORK_ROLES:
        raise PageError(403, "error.403.roles", roles=WORK_ROLES)
    if who.user_id is None:
        raise PageError(403, "error.403.no_user")
    return who.user_id


@router.post("/views")
def save(request: Request, data: dict = Depends(form), who: Principal = Depends(current)):
    """Save the list's current filter/search (the form's q, status, overdue, sort) as the named view."""
    check_csrf(request, data)
    user = _user(who)
    app = get_app(request)
    try:
        query = saved_views.normalise(data.get("q"), data.get("status") or None, data.get("overdue") == "true",
                                      data.get("sort") or None)
        view = saved_views.save_view(app.sessions, user, data.get("name", ""), query, at=app.clock.now())
    except InvalidInput as exc:
        field = exc.field if exc.field in ("name", "q", "status", "sort") else "name"
        why = why_params(request, exc.problem) if field == exc.field else {}
        return RedirectResponse("/complaints?" + urlencode({"view_err": field, **why}), status_code=303)
    sep = "&" if view.query else ""
    return RedirectResponse(f"/complaints?{view.query}{sep}view_saved={view.id}", status_code=303)


@router.post("/views/{view_id}/delete")
def delete(request: Request, view_id: int = Path(ge=1, le=MAX_ID), data: dict = Depends(form),
           who: Principal = Depends(current)):
    """Delete one of the signed-in user's views (404 page for another's)."""
    check_csrf(request, data)
    saved_views.delete_view(get_app(request).sessions, _user(who), view_id)
    return RedirectResponse("/complaints?view_deleted=1", status_code=303)
