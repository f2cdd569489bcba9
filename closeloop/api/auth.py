"""Who is calling: bearer tokens, roles and department scope.

- :class:`Principal`: the authenticated caller (token id, name, role, department, language).
- :func:`principal`: the FastAPI dependency; reads ``Authorization: Bearer <token>``;
  401 (``WWW-Authenticate: Bearer``) when missing, unknown or revoked.
- :func:`authenticate`: the same check for a token taken from elsewhere (the
  dashboard's cookie); returns None instead of raising.
- :func:`require`: a dependency factory admitting only some roles (403 otherwise).
- :func:`check_department`: 403 unless the caller may act on a department's work.

The roles, :class:`Principal`, :func:`authenticate` and :func:`get_app` are the API's and the dashboard's
alike (:mod:`closeloop.http.access`); re-exported here for the API's routes.

Roles: ``member`` (own department's tasks and the complaints they touch),
``lead`` (the same scope, plus cancel and reassign within the department),
``manager`` (everything, read and write), ``admin`` (tokens and configuration only).
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from closeloop.http.access import (
    ADMIN,
    DEPARTMENT_ROLES,
    LEAD,
    MANAGER,
    MEMBER,
    WORK_ROLES,
    Principal,
    authenticate,
    get_app,
)
from closeloop.http.throttle import address_of

from .errors import ApiError

__all__ = ["ADMIN", "DEPARTMENT_ROLES", "LEAD", "MANAGER", "MEMBER", "WORK_ROLES", "Principal", "authenticate",
           "check_department", "get_app", "principal", "require"]

bearer = HTTPBearer(auto_error=False, description="an API token from `closeloop tokens create`")


def principal(request: Request,
              credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> Principal:
    """FastAPI dependency: the caller, or 401; 429 while the address is over its failed-attempt limits."""
    challenge = {"WWW-Authenticate": "Bearer"}
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise ApiError(401, "an API token is required: Authorization: Bearer <token>", headers=challenge)
    throttle, address = request.app.state.auth_throttle, address_of(request)
    wait = throttle.retry_after(address)
    if wait is not None:
        raise ApiError(429, f"too many failed token attempts from {address}; try again in {wait} seconds",
                       headers={"Retry-After": str(wait)})
    who = authenticate(get_app(request), credentials.credentials)
    if who is None:
        throttle.failed(address)
        raise ApiError(401, "unknown or revoked API token", headers=challenge)
    return who


def require(*roles: str) -> Callable[..., Principal]:
    """A dependency that admits only ``roles`` (403 for the others, 401 without a token)."""

    def _dep(who: Principal = Depends(principal)) -> Principal:
        if who.role not in roles:
            raise ApiError(403, f"role {who.role!r} may not do this; allowed: {', '.join(roles)}")
        return who

    _dep.__name__ = "require_" + "_".join(roles)
    return _dep


def check_department(who: Principal, department: str) -> None:
    """403 unless ``who`` may see and act on ``department``'s work."""
    if not who.sees_department(department):
        raise ApiError(403, f"{who.role} token for {who.department or 'no department'!r} may not act on "
                            f"department {department!r}")
