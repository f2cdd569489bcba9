"""Who is calling, and what each role may do: the rules the REST API and the dashboard share.

- :class:`Principal`: the authenticated caller (token id, name, role, department, language, user).
- :func:`authenticate`: the principal for a token text (a bearer header's or the dashboard cookie's), or None.
- :func:`get_app`: the :class:`~closeloop.bootstrap.App` an HTTP app was created with.
- :data:`ACTION_ROLES`: which roles may take each complaint action (notes, wait, priority, resolve), one table
  for the API's ``/complaints/{id}/...`` actions and the dashboard's complaint page.

Roles: ``member`` (own department's tasks and the complaints they touch),
``lead`` (the same scope, plus cancel and reassign within the department),
``manager`` (everything, read and write), ``admin`` (tokens and configuration only).
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from closeloop.bootstrap import App
from closeloop.services.people.tokens import verify_token

MEMBER, LEAD, MANAGER, ADMIN = "member", "lead", "manager", "admin"
DEPARTMENT_ROLES = (MEMBER, LEAD)
WORK_ROLES = (MEMBER, LEAD, MANAGER)

#: the roles that may take each complaint action (API ``closeloop/api/routes_work.py``, dashboard ``pages_work``)
ACTION_ROLES: dict[str, tuple[str, ...]] = {"note": WORK_ROLES, "wait": WORK_ROLES, "reprioritize": (LEAD, MANAGER),
                                            "resolve": (MANAGER,)}

#: Task triggers a member may fire on its own department's tasks; a lead may also cancel and assign; a manager
#: any (API ``POST /tasks/{id}/transitions``, the dashboard's queue forms)
MEMBER_TRIGGERS = frozenset({"acknowledge", "start", "complete", "pause", "resume", "transfer"})
LEAD_TRIGGERS = MEMBER_TRIGGERS | {"cancel", "assign"}


def may_fire(role: str, trigger: str) -> bool:
    """Whether ``role`` may fire the task ``trigger`` (on a task of a department it sees)."""
    return role == MANAGER or trigger in {MEMBER: MEMBER_TRIGGERS, LEAD: LEAD_TRIGGERS}.get(role, frozenset())


@dataclass(frozen=True)
class Principal:
    """The caller. ``department`` is set for member and lead tokens, None for manager and admin;
    ``user_id`` when the token belongs to a user."""

    token_id: int
    name: str
    role: str
    department: str | None
    language: str
    user_id: int | None = None  # the person the token belongs to (issue 14), if any

    @property
    def actor(self) -> str:
        """How the caller appears in the audit log: ``api:<name> (<role>[@<department>])``."""
        where = f"@{self.department}" if self.department else ""
        return f"api:{self.name} ({self.role}{where})"

    @property
    def lead_of(self) -> str | None:
        """The department a lead leads; None for every other role (what ``lifecycle.reprioritize`` checks)."""
        return self.department if self.role == LEAD else None

    def sees_department(self, department: str) -> bool:
        return self.role == MANAGER or (self.role in DEPARTMENT_ROLES and self.department == department)


def get_app(request: Request) -> App:
    """The :class:`~closeloop.bootstrap.App` the API was created with."""
    return request.app.state.closeloop


def authenticate(app: App, secret: str | None) -> Principal | None:
    """The principal for a token text, or None (missing, unknown, revoked). Records last use."""
    if not secret:
        return None
    info = verify_token(app.sessions, secret.strip(), at=app.clock.now())
    if info is None:
        return None
    return Principal(info.id, info.name, info.role, info.department, info.language, info.user_id)
