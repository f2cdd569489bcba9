"""Sign-in with a token, sign-out, the language switch and the start page."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse

from closeloop.http.access import ADMIN, MANAGER, WORK_ROLES, Principal, get_app
from closeloop.http.throttle import address_of
from closeloop.services.people import web_sessions

from . import i18n
from .render import WebRoute, render
from .session import (
    LANG_COOKIE,
    PRE_COOKIE,
    SESSION_COOKIE,
    PageError,
    check_csrf,
    form,
    safe_next,
    session_secret,
    set_cookie,
    signed_in,
)

router = APIRouter(include_in_schema=False, route_class=WebRoute)

SESSION_MAX_AGE = 12 * 3600
LANG_MAX_AGE = 365 * 24 * 3600


def home_of(who) -> str:
    if who.role == MANAGER:
        return "/overview"
    return f"/queue/{who.department}"


@router.get("/")
def home(request: Request):
    who = signed_in(request)
    if who is None:
        return RedirectResponse("/signin", status_code=303)
    if who.role == ADMIN:
        raise PageError(403, "error.403.roles", roles=WORK_ROLES)
    return RedirectResponse(home_of(who), status_code=303)


@router.get("/signin")
def signin_form(request: Request, next: str = "", bye: int = 0):
    return render(request, "signin.html.j2", next=safe_next(next, ""), notice="signin.signed_out" if bye else
                  ("signin.expired" if next else None))


@router.post("/signin")
def signin(request: Request, data: dict = Depends(form)):
    check_csrf(request, data)
    app = get_app(request)
    throttle, address = request.app.state.auth_throttle, address_of(request)
    wait = throttle.retry_after(address)
    if wait is not None:  # checked before the token: an address over its limit learns nothing more
        minutes = -(-wait // 60)
        response = render(request, "signin.html.j2", status=429, next=safe_next(data.get("next"), ""),
                          error="signin.too_many", error_values={"minutes": minutes, "count": minutes})
        response.headers["Retry-After"] = str(wait)
        return response
    opened = web_sessions.start(app.sessions, (data.get("token") or "").strip(), at=app.clock.now(),
                                ttl=timedelta(seconds=SESSION_MAX_AGE))
    if opened is None:
        throttle.failed(address)
        return render(request, "signin.html.j2", status=401, next=safe_next(data.get("next"), ""),
                      error="signin.bad_token")
    secret, info = opened
    who = Principal(info.id, info.name, info.role, info.department, info.language, info.user_id)
    target = safe_next(data.get("next"), "") or ("/" if who.role == ADMIN else home_of(who))
    redirect = RedirectResponse(target, status_code=303)
    set_cookie(redirect, request, SESSION_COOKIE, secret, max_age=SESSION_MAX_AGE)
    set_cookie(redirect, request, LANG_COOKIE, who.language, max_age=LANG_MAX_AGE)
    redirect.delete_cookie(PRE_COOKIE, path="/")
    return redirect


@router.post("/signout")
def signout(request: Request, data: dict = Depends(form)):
    check_csrf(request, data)
    app = get_app(request)
    web_sessions.end(app.sessions, session_secret(request), at=app.clock.now())  # server-side: the cookie is dead
    response = RedirectResponse("/signin?bye=1", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.post("/language")
def switch_language(request: Request, data: dict = Depends(form)):
    """Remember the chosen language in a cookie and go back where the form was."""
    check_csrf(request, data)
    lang = data.get("lang")
    if lang not in i18n.LANGUAGES:
        raise PageError(422)
    response = RedirectResponse(safe_next(data.get("next"), "/"), status_code=303)
    set_cookie(response, request, LANG_COOKIE, lang, max_age=LANG_MAX_AGE)
    return response
