"""``/me``, ``/departments`` (every role) and ``/tokens``, ``/config`` (admin only)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from closeloop.bootstrap import App
from closeloop.services.people import tokens as token_svc

from .auth import ADMIN, LEAD, MANAGER, MEMBER, Principal, get_app, principal, require
from .deps import Id
from .schemas import Me, TokenCreated, TokenIn, TokenOut

router = APIRouter(tags=["access"])


class DepartmentOut(BaseModel):
    name: str
    display_name: str
    calendar: str
    zone: str


class ConfigOut(BaseModel):
    source: str
    sha256: str
    departments: list[DepartmentOut]
    rules: int


@router.get("/me", response_model=Me)
def me(who: Principal = Depends(principal)) -> Me:
    """The caller: token id, name, role, department and language."""
    return Me(token_id=who.token_id, name=who.name, role=who.role, department=who.department,
              language=who.language, user_id=who.user_id)


def _departments(app: App) -> list[DepartmentOut]:
    return [DepartmentOut(name=n, display_name=d.display_name, calendar=d.calendar,
                          zone=str(app.config.department_calendar(n).zone))
            for n, d in sorted(app.config.departments.items())]


@router.get("/departments", response_model=list[DepartmentOut])
def departments(who: Principal = Depends(require(MEMBER, LEAD, MANAGER, ADMIN)),
                app: App = Depends(get_app)) -> list[DepartmentOut]:
    """The configured departments (transfer targets) with their calendar and time zone."""
    return _departments(app)


@router.get("/config", response_model=ConfigOut)
def config(who: Principal = Depends(require(ADMIN)), app: App = Depends(get_app)) -> ConfigOut:
    """The configuration in force: file, SHA-256, departments, number of routing rules."""
    c = app.config
    return ConfigOut(source=str(c.source), sha256=c.version_hash, departments=_departments(app),
                     rules=len(c.router.rules))


@router.get("/tokens", response_model=list[TokenOut])
def tokens(who: Principal = Depends(require(ADMIN)), app: App = Depends(get_app)) -> list[TokenOut]:
    """Every token (never its secret)."""
    return [TokenOut.model_validate(t) for t in token_svc.list_tokens(app.sessions)]


@router.post("/tokens", response_model=TokenCreated, status_code=201)
def create_token(body: TokenIn, who: Principal = Depends(require(ADMIN)),
                 app: App = Depends(get_app)) -> TokenCreated:
    """Create a token; the secret is in the response once and never again."""
    secret, info = token_svc.create_token(app.sessions, app.config, role=body.role, name=body.name,
                                          department=body.department, language=body.language,
                                          created_by=who.actor, at=app.clock.now(), user=body.user)
    return TokenCreated(token=secret, info=TokenOut.model_validate(info))


@router.post("/tokens/{token_id}/revoke", response_model=TokenOut)
def revoke_token(token_id: Id, who: Principal = Depends(require(ADMIN)), app: App = Depends(get_app)) -> TokenOut:
    """Revoke a token: it no longer authenticates (idempotent)."""
    return TokenOut.model_validate(token_svc.revoke_token(app.sessions, token_id, at=app.clock.now()))
