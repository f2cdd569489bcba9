"""The signed-in person's own work (issue 14 §3, §4): ``/my``, the active tasks assigned to their user
(soonest due first, with the business time left on the task's department calendar) and the notes that
@mention them (newest first). Reads the services of ``GET /api/v1/me/tasks`` and ``/me/mentions``.

A session whose token belongs to no user sees how to get one (``closeloop tokens create --user``); an admin
gets the 403 page, as everywhere outside tokens and configuration.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from closeloop.http.access import WORK_ROLES, Principal, get_app
from closeloop.services.people.users import get_user, my_tasks
from closeloop.services.reads.dashboard import time_left
from closeloop.services.reads.engine_texts import reopened_title_data
from closeloop.services.work.notes import my_mentions

from .render import WebRoute, render
from .session import PageError, current

router = APIRouter(include_in_schema=False, route_class=WebRoute)

PAGE_SIZE = 100


@router.get("/my")
def my_work(request: Request, who: Principal = Depends(current)):
    """My tasks and my mentions."""
    if who.role not in WORK_ROLES:
        raise PageError(403, "error.403.roles", roles=WORK_ROLES)
    app = get_app(request)
    if who.user_id is None:
        return render(request, "my.html.j2", user=None, rows=[], total=0, mentions=[], zone="UTC",
                      titles={})
    now = app.clock.now()
    tasks, total = my_tasks(app.sessions, who.user_id, limit=PAGE_SIZE)
    rows = [{"t": t, "left": time_left(app.config.department_calendar(t.department), t.due_at, now)} for t in tasks]
    user = get_user(app.sessions, who.user_id)
    zone = str((app.config.calendar(user.calendar) if user.calendar
                else app.config.department_calendar(user.departments[0] if user.departments else "")).zone)
    return render(request, "my.html.j2", user=user, rows=rows, total=total, zone=zone,
                  titles=reopened_title_data(app.sessions, tasks),
                  mentions=my_mentions(app.sessions, who.user_id, limit=PAGE_SIZE))
