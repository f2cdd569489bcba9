"""People (issue 14 §3): users, assignment of a task to a person, and where a person's notices go.

- :func:`create_user` / :func:`list_users` / :func:`get_user`: the ``app_user`` rows (CLI ``closeloop users``).
- :func:`match_assignee`: the user an assignee text names (``@handle`` or ``handle`` exactly, or a unique
  full name, case-insensitive); ``@handle`` must name one (``InvalidInput`` naming ``assignee``).
- :func:`resolve_recipient`: :func:`closeloop.services.engine.notify.resolve_role`, but a notice for the assignee
  of a task assigned to a user (or the ``person`` of a promise naming one) goes to that user's target, in
  their language, released in their working hours (their calendar, else their home department's); a user
  without a target of their own falls back to the home department's channel.
- :func:`my_tasks`: the active tasks assigned to a user, soonest due first.

Rules: a handle is 1-64 characters ``[a-z0-9._-]`` starting and ending with a letter or digit; roles as
tokens (``member``, ``lead``, ``manager``, ``admin``); a member or lead works for at least one department.
"""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import BindParameter, bindparam, case, func, or_, select
from sqlalchemy.orm import Session

from closeloop.config import Config
from closeloop.domain.errors import InvalidInput, NotFound
from closeloop.domain.notices import LANGUAGES, Role
from closeloop.domain.task import ACTIVE_STATES
from closeloop.services.engine.notify import Recipient, resolve_role
from closeloop.services.uow import unit_of_work
from integrations.targets import target_problem
from models.tables import Task, User

ROLES = ("member", "lead", "manager", "admin")
HANDLE = re.compile(r"[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?")
EMAIL = re.compile(r"[^@\s:/]+@[^@\s:/]+\.[^@\s:/]+")


def check_handle(handle: str, field: str = "handle") -> str:
    """The handle, lower-cased and without a leading ``@``; ``InvalidInput`` naming ``field`` otherwise."""
    h = handle.strip().removeprefix("@").lower()
    if not HANDLE.fullmatch(h):
        raise InvalidInput(field, f"{handle!r} is not a handle (1-64 of a-z 0-9 . _ -, starting and ending "
                                  "with a letter or digit)")
    return h


def normalise_target(target: str, field: str = "notify") -> str:
    """A notification target: empty, an e-mail address (``mailto:address``: ``mailto:`` stripped), or a URL
    (webhook, Apprise such as ``mailto://user:pass@host``,
    ``capture://``) that its sender understands (:func:`integrations.targets.target_problem`, the delivery's own
    rule: ``ftp://x`` would be dead-lettered at once). ``InvalidInput`` naming ``field`` otherwise."""
    t = target.strip()
    if t.lower().startswith("mailto:") and not t.lower().startswith("mailto://"):  # mailto://: an Apprise URL
        t = t[len("mailto:"):].strip()
        if not t:
            raise InvalidInput(field, f"{target!r} names no e-mail address")
    if not t or EMAIL.fullmatch(t) or re.fullmatch(r"[a-zA-Z][a-zA-Z0-9+.-]*://\S+", t):
        if len(t) > 500:
            raise InvalidInput(field, "longer than 500 characters")
        problem = target_problem(t) if t else None
        if problem:
            raise InvalidInput(field, f"{target!r}: {problem}")
        return t
    raise InvalidInput(field, f"{target!r} is neither an e-mail address nor a URL (webhook, Apprise)")


def _check(config: Config, *, name: str, departments: list[str], role: str, language: str,
           calendar: str | None) -> None:
    if not name.strip() or len(name) > 200:
        raise InvalidInput("name", "required, at most 200 characters")
    if role not in ROLES:
        raise InvalidInput("role", f"must be one of {', '.join(ROLES)}")
    unknown = [d for d in departments if d not in config.departments]
    if unknown:
        raise InvalidInput("departments", f"unknown department {unknown[0]!r}")
    if role in ("member", "lead") and not departments:
        raise InvalidInput("departments", f"a {role} works for at least one department")
    if language not in LANGUAGES:
        raise InvalidInput("language", f"must be one of {', '.join(LANGUAGES)}")
    if calendar is not None and calendar not in config.model.calendars:
        raise InvalidInput("calendar", f"unknown calendar {calendar!r} (defined: "
                                       f"{', '.join(sorted(config.model.calendars))})")


def create_user(sessions, config: Config, *, handle: str, name: str, departments: list[str], role: str,
                language: str = "en", calendar: str | None = None, notify: str = "", actor: str,
                at: datetime) -> User:
    """Add a user; ``InvalidInput`` naming the field (``handle`` taken or malformed, an unknown department,
    role, language or calendar, a ``notify`` target that is neither an e-mail address nor a URL)."""
    h = check_handle(handle)
    departments = list(dict.fromkeys(d.strip() for d in departments if d.strip()))
    _check(config, name=name, departments=departments, role=role, language=language, calendar=calendar)
    target = normalise_target(notify)
    with unit_of_work(sessions) as s:
        if s.scalar(select(User.id).where(User.handle == h)) is not None:
            raise InvalidInput("handle", f"{h!r} is taken")
        user = User(handle=h, name=name.strip(), departments=departments, role=role, language=language,
                    calendar=calendar, notify=target, created_at=at, created_by=actor)
        s.add(user)
        s.flush()
        return user


def list_users(sessions) -> list[User]:
    """Every user, by handle."""
    with sessions() as s:
        return list(s.scalars(select(User).order_by(User.handle)))


def get_user(sessions, user_id: int) -> User:
    """One user; ``NotFound``."""
    with sessions() as s:
        user = s.get(User, user_id)
        if user is None:
            raise NotFound("user", user_id)
        return user


def users_by_handle(s: Session, handles: set[str]) -> dict[str, User]:
    """The users of ``handles`` (lower-case), by handle; absent ones are missing."""
    if not handles:
        return {}
    return {u.handle: u for u in s.scalars(select(User).where(User.handle.in_(sorted(handles))))}


# match_assignee's statements, built once (every acknowledge and start runs one: a statement built per call costs
# its cache key each time); ``text``: the handle or the lower-cased name looked for
_TEXT: BindParameter[str] = bindparam("text")
_NAMED = func.lower(User.name) == _TEXT
_BY_HANDLE = select(User).where(User.handle == _TEXT)
_BY_NAME = select(User).where(_NAMED).limit(2)
# one statement: the user of that handle first, else the (at most two) users of that name
_BY_HANDLE_OR_NAME = (select(User).where(or_(User.handle == _TEXT, _NAMED))
                      .order_by(case((User.handle == _TEXT, 0), else_=1)).limit(2))


def match_assignee(s: Session, assignee: str) -> User | None:
    """The user an assignee text names: ``@handle`` (must exist: ``InvalidInput`` naming ``assignee``),
    a handle, or the full name of exactly one user (case-insensitive); None for free text."""
    text = assignee.strip()
    if text.startswith("@"):
        h = check_handle(text, "assignee")
        user = s.scalar(_BY_HANDLE, {"text": h})
        if user is None:
            raise InvalidInput("assignee", f"no user with the handle {h!r}")
        return user
    lowered = text.lower()
    if not HANDLE.fullmatch(lowered):
        found = s.scalars(_BY_NAME, {"text": lowered}).all()
        return found[0] if len(found) == 1 else None
    found = s.scalars(_BY_HANDLE_OR_NAME, {"text": lowered}).all()
    if found and found[0].handle == lowered:
        return found[0]
    return found[0] if len(found) == 1 else None


def assign_to(s: Session, task: Task, assignee: str, *, strict: bool = True) -> None:
    """Set ``task.assignee`` to the text, resolved to a user when it names one (who must work for the
    task's department unless a manager: ``InvalidInput`` naming ``assignee``); the stored text is then
    the user's handle. Not ``strict`` (the actor taking a task up): a text naming no fitting user is kept
    as free text, never refused."""
    try:
        user = match_assignee(s, assignee)
    except InvalidInput:
        if strict:
            raise
        user = None
    if user is not None and user.role != "manager" and task.department not in (user.departments or []):
        if strict:
            raise InvalidInput("assignee", f"user {user.handle!r} does not work for department "
                                           f"{task.department!r}")
        user = None
    task.assignee = user.handle if user is not None else assignee
    task.assignee_user_id = user.id if user is not None else None


def take_up(s: Session, task: Task, actor: str, user_id: int | None) -> None:
    """The person taking a task up (acknowledge, start) becomes its assignee: the user ``user_id`` when given
    and working for the task's department (or a manager), else the actor's text (:func:`assign_to`, lenient)."""
    user = s.get(User, user_id) if user_id is not None else None
    if user is not None and (user.role == "manager" or task.department in (user.departments or [])):
        task.assignee, task.assignee_user_id = user.handle, user.id
    else:
        assign_to(s, task, actor, strict=False)


def user_recipient(config: Config, user: User, role: str, department: str | None) -> Recipient:
    """Where ``user`` is told as ``role``: their target (else the home department's channel, else
    ``[escalation] default_notify``), their language, their calendar (else the home department's)."""
    home = user.departments[0] if user.departments else department
    fallback = resolve_role(config, Role.ASSIGNEE, home)
    cal = config.calendar(user.calendar) if user.calendar else fallback.calendar
    return Recipient(role, user.name, user.notify or fallback.target, user.language, cal)


def resolve_recipient(s: Session, config: Config, role: str, department: str | None, task: Task | None = None,
                      person: str | None = None) -> Recipient:
    """:func:`~closeloop.services.engine.notify.resolve_role`, with the assignee role going to the user the task is
    assigned to (or ``person`` names) when there is one."""
    if role == Role.ASSIGNEE:
        user = None
        if task is not None and task.assignee_user_id is not None:
            user = s.get(User, task.assignee_user_id)
        elif person:
            try:
                user = match_assignee(s, person)
            except InvalidInput:
                user = None
        if user is not None:
            return user_recipient(config, user, role, department)
    return resolve_role(config, role, department, task)


def my_tasks(sessions, user_id: int, *, limit: int = 100, offset: int = 0) -> tuple[list[Task], int]:
    """The active tasks assigned to the user, soonest due first (no due instant last), and their count."""
    where = (Task.assignee_user_id == user_id, Task.status.in_(ACTIVE_STATES))
    with sessions() as s:
        total = s.scalar(select(func.count()).select_from(Task).where(*where)) or 0
        rows = s.scalars(select(Task).where(*where).order_by(Task.due_at.is_(None), Task.due_at, Task.id)
                         .limit(limit).offset(offset)).all()
        return list(rows), total
