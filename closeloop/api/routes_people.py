"""People (issue 14 §3): ``/users`` and the caller's own work, ``/me/tasks`` and ``/me/mentions``; the caller's
saved views of the complaint list, ``GET/POST /me/views`` and ``DELETE /me/views/{id}`` (issue 14 §5).

Access: every role lists users (to assign and mention); an admin adds them. "My tasks", mentions and views need a
token that belongs to a user (``closeloop tokens create --user``; 403 otherwise) of a working role.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, Field

from closeloop.bootstrap import App
from closeloop.domain.complaint import ComplaintStatus
from closeloop.services.people import users as user_svc
from closeloop.services.reads import saved_views
from closeloop.services.reads.saved_views import MAX_NAME
from closeloop.services.reads.search import MAX_QUERY_CHARS, ComplaintSort
from closeloop.services.work.notes import my_mentions

from .auth import ADMIN, LEAD, MANAGER, MEMBER, WORK_ROLES, Principal, get_app, require
from .deps import Id
from .errors import ApiError
from .schemas import In, Out, Page, TaskOut, UtcDatetime

router = APIRouter(tags=["people"])


class UserIn(In):
    handle: str = Field(min_length=1, max_length=65, description="login / @mention handle: a-z 0-9 . _ -")
    name: str = Field(min_length=1, max_length=200)
    role: str = Field(pattern="^(member|lead|manager|admin)$")
    departments: list[str] = Field(default_factory=list, max_length=20,
                                   description="departments they work for; the first is home")
    language: str = Field("en", pattern="^(en|zh)$")
    calendar: str | None = Field(None, max_length=64, description="a configured calendar (default: home's)")
    notify: str = Field("", max_length=500, description="an e-mail address, a webhook or an Apprise URL "
                                                        "(empty: the home department's channel)")


class UserOut(Out):
    id: int
    handle: str
    name: str
    role: str
    departments: list[str]
    language: str
    calendar: str | None
    notify: str = Field(description="their own target (empty: the home department's channel)")
    created_at: UtcDatetime


class MentionOut(BaseModel):
    message_id: int
    complaint_id: int
    author: str
    at: UtcDatetime
    excerpt: str = Field(description="the note, at most 200 characters")


@router.get("/users", response_model=list[UserOut])
def users(who: Principal = Depends(require(MEMBER, LEAD, MANAGER, ADMIN)),
          app: App = Depends(get_app)) -> list[UserOut]:
    """Every user, by handle (to assign tasks and @mention in notes)."""
    return [UserOut.model_validate(u) for u in user_svc.list_users(app.sessions)]


@router.post("/users", status_code=201, response_model=UserOut)
def add_user(body: UserIn, who: Principal = Depends(require(ADMIN)), app: App = Depends(get_app)) -> UserOut:
    """Add a user; 422 naming the field (handle taken or malformed, unknown department or calendar, a
    target that is neither an e-mail address nor a URL)."""
    u = user_svc.create_user(app.sessions, app.config, handle=body.handle, name=body.name,
                             departments=body.departments, role=body.role, language=body.language,
                             calendar=body.calendar, notify=body.notify, actor=who.actor, at=app.clock.now())
    return UserOut.model_validate(u)


def _user_of(who: Principal) -> int:
    if who.user_id is None:
        raise ApiError(403, f"token {who.name!r} belongs to no user; create one with "
                            "`closeloop tokens create --user HANDLE`")
    return who.user_id


@router.get("/me/tasks", response_model=Page[TaskOut])
def my_tasks(limit: int = Query(50, ge=1, le=500), offset: int = Query(0, ge=0, le=10_000_000),
             who: Principal = Depends(require(*WORK_ROLES)), app: App = Depends(get_app)) -> Page[TaskOut]:
    """The active tasks assigned to the caller's user, soonest due first."""
    rows, total = user_svc.my_tasks(app.sessions, _user_of(who), limit=limit, offset=offset)
    return Page[TaskOut](items=[TaskOut.model_validate(t) for t in rows], total=total, limit=limit, offset=offset)


@router.get("/me/mentions", response_model=list[MentionOut])
def mentions(limit: int = Query(50, ge=1, le=500), offset: int = Query(0, ge=0, le=10_000_000),
             who: Principal = Depends(require(*WORK_ROLES)), app: App = Depends(get_app)) -> list[MentionOut]:
    """The notes that @mention the caller's user, newest first."""
    return [MentionOut(**vars(m)) for m in my_mentions(app.sessions, _user_of(who), limit=limit, offset=offset)]


class ViewIn(In):
    name: str = Field(min_length=1, max_length=MAX_NAME, pattern=r"\S", description="unique for the user: "
                                                                                  "saving a name again replaces it")
    q: str = Field("", max_length=MAX_QUERY_CHARS, description="search text, as `GET /complaints?q=`")
    status: ComplaintStatus | None = None
    overdue: bool = False
    sort: ComplaintSort = ComplaintSort.RECEIVED_DESC


class ViewOut(BaseModel):
    id: int
    name: str
    query: str = Field(description="the complaint list's query string (q, status, overdue, sort)")
    url: str = Field(description="the dashboard's list with this view")
    created_at: UtcDatetime


@router.get("/me/views", response_model=list[ViewOut])
def views(who: Principal = Depends(require(*WORK_ROLES)), app: App = Depends(get_app)) -> list[ViewOut]:
    """The caller's saved views of the complaint list, by name."""
    return [ViewOut(id=v.id, name=v.name, query=v.query, url=v.url, created_at=v.created_at)
            for v in saved_views.list_views(app.sessions, _user_of(who))]


@router.post("/me/views", status_code=201, response_model=ViewOut)
def save_view(body: ViewIn, who: Principal = Depends(require(*WORK_ROLES)), app: App = Depends(get_app)) -> ViewOut:
    """Save a filter/search of the complaint list under a name (the same name again replaces it); 422
    naming ``name`` past 50 views."""
    query = saved_views.normalise(body.q, str(body.status) if body.status else None, body.overdue, str(body.sort))
    v = saved_views.save_view(app.sessions, _user_of(who), body.name, query, at=app.clock.now())
    return ViewOut(id=v.id, name=v.name, query=v.query, url=v.url, created_at=v.created_at)


@router.delete("/me/views/{view_id}", status_code=204)
def delete_view(view_id: Id, who: Principal = Depends(require(*WORK_ROLES)), app: App = Depends(get_app)) -> Response:
    """Delete one of the caller's views (404 for another user's or an unknown one)."""
    saved_views.delete_view(app.sessions, _user_of(who), view_id)
    return Response(status_code=204)
