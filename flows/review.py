"""Monthly review flow: builds the review of the previous month and publishes it as a Prefect artifact.

Thin over :mod:`closeloop.services.review.review`. The Markdown version becomes a markdown artifact
(key ``complaint-review``, visible in the Prefect UI under Artifacts); with ``out_dir`` the
HTML and JSON versions are written there too (``review-YYYY-MM.html`` / ``.json``).
"""

from __future__ import annotations

import json
from pathlib import Path

from prefect import flow
from prefect.artifacts import create_markdown_artifact

from closeloop.bootstrap import build_app
from closeloop.services.review.review import build_review, render
from closeloop.services.review.review_period import previous_month
from flows.runinfo import label_run
from flows.schedules import policy

ARTIFACT_KEY = "complaint-review"


@flow(name="monthly-review", **policy("monthly-review"))
def monthly_review_flow(period: str | None = None, out_dir: str | None = None) -> dict:
    """Review ``period`` (``YYYY-MM``; default: the month before now in the customer calendar's zone)."""
    app = build_app()
    try:
        now = app.clock.now()
        if period is None:
            period = previous_month(now, str(app.config.customer_calendar.zone)).label
        review = build_review(app.sessions, app.config, period, now)
    finally:
        app.dispose()
    causes = app.config.model.improvement.root_causes
    create_markdown_artifact(markdown=render(review, "md", root_causes=causes), key=ARTIFACT_KEY,
                             description=f"Complaint review {period}")
    if out_dir:
        folder = Path(out_dir)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"review-{period}.html").write_text(render(review, "html", root_causes=causes), encoding="utf-8")
        (folder / f"review-{period}.json").write_text(json.dumps(review, indent=2, ensure_ascii=False),
                                                      encoding="utf-8")
    label_run(f"monthly review {period}: {review['complaints']['received']} complaints received",
              ["review", f"period:{period}"])
    return review
