"""The customer page (issue 14 §2): ``/customers/{ref}`` (or ``/customers?ref=``), one customer's complaints, promises,
compensation and follow-up verdicts, linked from the complaint page and the search results.

The API's rules (``GET /api/v1/customers/{ref}``): members and leads see the complaints their
department's tasks touch and the history on those; a customer with none of them is a 403 page,
an unknown ref a 404 page. The name is shown as given (escaped); contact points are not shown.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Path, Query, Request

from closeloop.http.access import MANAGER, WORK_ROLES, Principal, get_app
from closeloop.services.customers.view import customer_view

from .render import WebRoute, render
from .session import PageError, current

router = APIRouter(include_in_schema=False, route_class=WebRoute)


@router.get("/customers/{ref:path}")
def customer(request: Request, ref: str = Path(min_length=1, max_length=128), who: Principal = Depends(current)):
    """The customer's history as the caller may see it."""
    return _customer_page(request, ref, who)


@router.get("/customers")
def customer_by_query(request: Request, ref: str = Query(min_length=1, max_length=128),
                      who: Principal = Depends(current)):
    """The same page as ``/customers/{ref}``, the ref in the query: the address of a ref no path can carry
    (``..``, stored before intake refused such refs; :func:`~closeloop.web.render.customer_href`)."""
    return _customer_page(request, ref, who)


def _customer_page(request: Request, ref: str, who: Principal):
    if who.role not in WORK_ROLES:
        raise PageError(403, "error.403.roles", roles=WORK_ROLES)
    app = get_app(request)
    view = customer_view(app.sessions, ref, scope=None if who.role == MANAGER else who.department)
    if not view.visible:
        raise PageError(403, "error.403.customer", mine=who.department or "-")
    return render(request, "customer.html.j2", v=view, counts=view.promise_counts, now=app.clock.now(),
                  zone=str(app.config.customer_calendar.zone))
