"""Daily overdue digest flow, thin over :func:`closeloop.services.digest.overdue_digest`."""

from __future__ import annotations

from prefect import flow

from closeloop.bootstrap import build_app
from closeloop.services.digest import overdue_digest


@flow(name="overdue-digest")
def overdue_digest_flow() -> int | None:
    app = build_app()
    try:
        return overdue_digest(app.sessions, app.config, app.clock.now())
    finally:
        app.dispose()
