"""The FastAPI app factory: ``create_app(app) -> FastAPI``.

Routers live under ``/api/v1`` (one module per area); ``/healthz``, ``/readyz`` and ``/metrics`` at the
root (:mod:`closeloop.api.observability`); the OpenAPI document is
served at ``/api/v1/openapi.json`` (and kept in ``docs/openapi.json``:
``closeloop openapi --out docs/openapi.json``), the interactive docs at ``/api/v1/docs``.
Every error has one JSON shape (:mod:`closeloop.api.errors`).

The web dashboard's router (``closeloop.web.router``) is included at the root, beside ``/api/v1``. The
dashboard never imports this package: it reaches the :class:`~closeloop.bootstrap.App` through
``request.app.state.closeloop`` and checks a cookie's token with the shared :mod:`closeloop.http.access`.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi_offline import FastAPIOffline

from closeloop import __version__
from closeloop.bootstrap import App, build_app
from closeloop.http.throttle import DEFAULT_LIMITS, AuthThrottle
from closeloop.web import router as web_router

from . import errors, observability
from .errors import ErrorResponse
from .limits import DEFAULT_MAX_BODY_BYTES, UPLOAD_SLACK, BodyLimit, mail_limit
from .routes_admin import router as admin_router
from .routes_bulk import router as bulk_router
from .routes_compensation import router as compensation_router
from .routes_complaints import router as complaints_router
from .routes_customers import router as customers_router
from .routes_exports import router as exports_router
from .routes_improvements import router as improvement_router
from .routes_inbound import router as inbound_router
from .routes_outbox import router as outbox_router
from .routes_overview import router as overview_router
from .routes_people import router as people_router
from .routes_tasks import router as tasks_router
from .routes_uploads import router as uploads_router
from .routes_work import router as work_router

PREFIX = "/api/v1"

DESCRIPTION = """REST API of closeloop: intake, complaints, department task queues, manager overview.

Authenticate with `Authorization: Bearer <token>` (`closeloop tokens create --role ROLE [--department D]`).
State changes are triggers (`POST .../transitions {"trigger": ...}`); writes carry the record's
`version` as read (body field or `If-Match` header; 1 to 2147483647, a larger number is a 422 naming it) and a
stale one gets 409. The version is optional (If-Match style): a write without a version is not checked and
applies to the record as it is (last write wins). Instants are ISO 8601, UTC.
Every error is `{"error": {"code", "message", "field", "details"}}`.
"""

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": text} for status, text in (
    (401, "missing, unknown or revoked token"), (403, "outside the caller's role or department"),
    (422, "invalid input; `field` names it"),
    (429, "too many failed token attempts from the address; `Retry-After` says when to try again"))}


def create_app(app: App | None = None) -> FastAPI:
    """Build the HTTP application around ``app`` (default: :func:`~closeloop.bootstrap.build_app`)."""
    app = app or build_app()
    # the docs page's Swagger UI files are served from the fastapi-offline package: no CDN, works offline
    api = FastAPIOffline(title="closeloop", version=__version__, description=DESCRIPTION,
                         openapi_url=f"{PREFIX}/openapi.json", docs_url=f"{PREFIX}/docs", redoc_url=None,
                         static_url=f"{PREFIX}/docs-assets")
    api.state.closeloop = app
    errors.install(api)
    settings = getattr(app, "settings", None)  # None for the bare App that renders the OpenAPI document
    api.state.auth_throttle = AuthThrottle(getattr(settings, "auth_failure_limits", DEFAULT_LIMITS))
    max_bytes = getattr(settings, "api_max_body_bytes", DEFAULT_MAX_BODY_BYTES)
    attachment_max = getattr(settings, "attachment_max_bytes", 0)
    api.add_middleware(BodyLimit, max_bytes=max_bytes, upload_max_bytes=max(max_bytes, attachment_max + UPLOAD_SLACK),
                       mail_max_bytes=mail_limit(attachment_max, max_bytes))
    observability.install(api)
    api.include_router(observability.router)  # /healthz, /readyz, /metrics (no token; see the module)
    for router in (bulk_router, complaints_router, tasks_router, overview_router, outbox_router, admin_router,
                   compensation_router, customers_router, exports_router, inbound_router, improvement_router,
                   work_router, people_router, uploads_router):
        _document_errors(router)
        api.include_router(router, prefix=PREFIX, responses=ERROR_RESPONSES)
    api.include_router(web_router)
    return api


def _document_errors(router) -> None:
    """State in the OpenAPI document the error answers every operation can give besides 401/403/422:
    404 when the path names a record (an unknown id or department), 413 when it takes a body
    (:class:`~closeloop.api.limits.BodyLimit`). Routes add their own (409) where they can conflict."""

    for route in router.routes:
        if not isinstance(route, APIRoute):
            continue
        if "{" in route.path:
            route.responses.setdefault(404, {"model": ErrorResponse, "description": "no such record"})
        for code, spec in route.responses.items():  # a route's own error answers (409) in the error shape
            if int(code) >= 400:
                spec.setdefault("model", ErrorResponse)
        if errors.takes_json_body(route):
            route.responses.setdefault(415, {"model": ErrorResponse, "description": "the body is not sent as "
                                             "`Content-Type: application/json` (code `unsupported_media_type`)"})
        if route.methods is not None and route.methods & {"POST", "PUT", "PATCH"}:
            route.responses.setdefault(413, {"model": ErrorResponse, "description": "request body over "
                                             "CLOSELOOP_API_MAX_BODY_BYTES (code `payload_too_large`)"})
