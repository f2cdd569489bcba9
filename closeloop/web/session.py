"""Who is signed in, and the dashboard's CSRF defence.

- Signing in with an API token opens a server-side session (``services/people/web_sessions.py``); its
  secret, not the token, is kept in an ``HttpOnly``, ``SameSite=Strict`` cookie (``Secure`` when
  served over HTTPS). Every request resolves it, so a sign-out (the session revoked server-side,
  a stolen cookie useless from then on), an expiry or a revoked token signs the browser out at once.
- **CSRF**: every state-changing form carries a hidden ``csrf`` field. Signed in, it is an
  HMAC of the session token (a synchronizer token nobody else can compute: it needs the
  token, which the HttpOnly cookie keeps from scripts); signed out (the sign-in form), it
  must equal a random ``closeloop_pre`` cookie (double submit). A POST whose ``Origin``
  names another site is refused as well. SameSite=Strict already keeps the cookie off
  cross-site requests; the token is the second, independent line.
- Forms are parsed from the URL-encoded body here; the note form, which may carry a file, is
  ``multipart/form-data`` (parsed by Starlette with python-multipart; at most one file, kept in
  ``request.state.upload`` as :class:`closeloop.services.work.uploads.Upload`).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from urllib.parse import parse_qsl, urlsplit

from fastapi import Request
from starlette.datastructures import UploadFile

from closeloop.http.access import Principal, get_app
from closeloop.services.people import web_sessions
from closeloop.services.work.uploads import Upload

SESSION_COOKIE = "closeloop_session"
LANG_COOKIE = "closeloop_lang"
PRE_COOKIE = "closeloop_pre"
MAX_FORM_BYTES = 64 * 1024


class SignInRequired(Exception):
    """No valid session: the page redirects to the sign-in form."""


class PageError(Exception):
    """Render the error page with ``status`` and the catalogue message ``key`` (formatted with ``values``)."""

    def __init__(self, status: int, key: str | None = None, **values):
        super().__init__(key or str(status))
        self.status, self.key, self.values = status, key or f"error.{status}", values


def session_secret(request: Request) -> str | None:
    return request.cookies.get(SESSION_COOKIE) or None


def signed_in(request: Request) -> Principal | None:
    """The principal of the session cookie, or None (memoised per request)."""
    if not hasattr(request.state, "principal"):
        app = get_app(request)
        info = web_sessions.resolve(app.sessions, session_secret(request), at=app.clock.now())
        request.state.principal = (Principal(info.id, info.name, info.role, info.department, info.language,
                                             info.user_id) if info else None)
    return request.state.principal


def current(request: Request) -> Principal:
    """Dependency: the signed-in principal; :class:`SignInRequired` otherwise."""
    who = signed_in(request)
    if who is None:
        raise SignInRequired()
    return who


def web_actor(who: Principal) -> str:
    """How a dashboard user appears in the audit log: ``web:<token name> (<role>[@<department>])``."""
    return f"web:{who.name} ({who.role}{'@' + who.department if who.department else ''})"


def csrf_for(secret: str) -> str:
    """The CSRF token bound to a session token."""
    return hmac.new(secret.encode(), b"closeloop-dashboard-csrf-v1", hashlib.sha256).hexdigest()


def csrf_token(request: Request) -> str:
    """The token the page's forms must carry (creates the pre-session value when signed out)."""
    secret = session_secret(request) if signed_in(request) else None
    if secret:
        return csrf_for(secret)
    if not hasattr(request.state, "pre"):
        request.state.pre = request.cookies.get(PRE_COOKIE) or secrets.token_urlsafe(24)
    return request.state.pre


#: The longest service reason a redirect carries (longer ones are cut with an ellipsis: shown, never acted on).
MAX_WHY = 300


def _why_sig(secret: str, why: str) -> str:
    return hmac.new(secret.encode(), b"closeloop-dashboard-why-v1\0" + why.encode(), hashlib.sha256).hexdigest()


def why_params(request: Request, problem: str) -> dict[str, str]:
    """Query parameters carrying a service's reason (``InvalidInput.problem``, English) through a form's
    redirect: ``why`` (at most :data:`MAX_WHY` characters) and ``whysig``, its HMAC under the session token, so
    that a crafted link cannot put its own words in the page's message ({} when signed out)."""
    secret = session_secret(request) if signed_in(request) else None
    if not secret:
        return {}
    why = problem if len(problem) <= MAX_WHY else problem[:MAX_WHY - 1] + "…"
    return {"why": why, "whysig": _why_sig(secret, why)}


def why_of(request: Request) -> str | None:
    """The service's reason a redirect carried (:func:`why_params`), or None (absent, or not signed for this
    session: a crafted or stale link then shows the generic message)."""
    why, sig = request.query_params.get("why", ""), request.query_params.get("whysig", "")
    secret = session_secret(request) if signed_in(request) else None
    if not (why and sig and secret and len(why) <= MAX_WHY):
        return None
    return why if hmac.compare_digest(sig, _why_sig(secret, why)) else None


def new_pre_cookie(request: Request) -> str | None:
    """A pre-session value created while rendering, to be set as a cookie on the response."""
    pre = getattr(request.state, "pre", None)
    return pre if pre and pre != request.cookies.get(PRE_COOKIE) else None


async def _multipart(request: Request) -> dict[str, str]:
    """A ``multipart/form-data`` body: its text fields (last value wins); a non-empty file to ``request.state``."""


    try:
        parsed = await request.form(max_files=1, max_fields=50, max_part_size=MAX_FORM_BYTES)
    except Exception:  # noqa: BLE001 - malformed multipart (MultiPartException and parser errors)
        raise PageError(422) from None
    data: dict[str, str] = {}
    for key, value in parsed.multi_items():
        if isinstance(value, UploadFile):
            content = await value.read()
            if content or value.filename:
                request.state.upload = Upload(value.filename or "", value.content_type or "", content)
        else:
            data[key] = value
    return data


async def form(request: Request) -> dict[str, str]:
    """The URL-encoded form body as a dict (last value wins); the note form's multipart body (its file
    in ``request.state.upload``); 415/413 page for anything else."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype == "multipart/form-data" and request.url.path.endswith("/work/note"):
        return await _multipart(request)
    if ctype != "application/x-www-form-urlencoded":
        raise PageError(415, "error.422")
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise PageError(413, "error.422")
    try:
        return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=50))
    except (UnicodeDecodeError, ValueError):
        raise PageError(422) from None


def check_csrf(request: Request, data: dict[str, str]) -> None:
    """403 page unless the form's ``csrf`` matches the session (or the pre-session cookie) and the
    request does not come from another origin."""
    origin = request.headers.get("origin")
    if origin and origin != "null" and urlsplit(origin).netloc != request.headers.get("host", ""):
        raise PageError(403, "error.403.csrf")
    sent = data.get("csrf", "")
    secret = session_secret(request)
    if secret and signed_in(request):
        expected = csrf_for(secret)
    else:
        expected = request.cookies.get(PRE_COOKIE) or ""
    if not expected or not sent or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise PageError(403, "error.403.csrf")


def set_cookie(response, request: Request, name: str, value: str, *, max_age: int | None = None,
               http_only: bool = True) -> None:
    response.set_cookie(name, value, max_age=max_age, httponly=http_only, samesite="strict", path="/",
                        secure=request.url.scheme == "https")


def safe_next(target: str | None, default: str = "/") -> str:
    """A local path to go back to (never another site: ``//host`` and schemes are refused)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target
