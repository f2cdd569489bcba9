"""``closeloop report review`` and the monthly review flow on the bundled CFPB sample."""

from __future__ import annotations

import csv
import json
from datetime import UTC

import pytest
from typer.testing import CliRunner

import flows.review as review_flow
from closeloop.cli import app
from tests.conftest import ROOT

runner = CliRunner()
SAMPLE = ROOT / "examples" / "cfpb_sample.csv"


@pytest.fixture
def cli_env(tmp_path, monkeypatch):
    monkeypatch.setenv("CLOSELOOP_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.delenv("CLOSELOOP_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    assert runner.invoke(app, ["import", str(SAMPLE)]).exit_code == 0
    return tmp_path


def _received_in(month: str) -> int:
    with open(SAMPLE, newline="", encoding="utf-8") as fh:
        return sum(1 for row in csv.DictReader(fh) if row["Date received"].startswith(month))


def test_review_json_counts_the_months_complaints(cli_env):
    expected = _received_in("2023-07")
    assert expected > 0
    out = cli_env / "review.json"
    res = runner.invoke(app, ["report", "review", "--period", "2023-07", "--format", "json", "--out", str(out)])
    assert res.exit_code == 0, res.output
    r = json.loads(out.read_text("utf-8"))
    assert r["period"]["label"] == "2023-07" and r["period"]["complete"] is True
    assert r["complaints"]["received"] == expected
    assert sum(r["complaints"]["received_by_source"].values()) == expected


def test_review_markdown_on_stdout_and_errors(cli_env):
    res = runner.invoke(app, ["report", "review", "--period", "2023-08"])
    assert res.exit_code == 0 and res.output.startswith("# Complaint review 2023-08")
    assert f"| {_received_in('2023-08')} |" in res.output
    bad = runner.invoke(app, ["report", "review", "--period", "August"])
    assert bad.exit_code == 2 and "period" in bad.output
    bad = runner.invoke(app, ["report", "review", "--period", "2023-08", "--format", "pdf"])
    assert bad.exit_code == 2 and "--format" in bad.output


def test_monthly_flow_publishes_the_markdown_and_writes_files(cli_env, monkeypatch):
    published = []
    monkeypatch.setattr(review_flow, "create_markdown_artifact",
                        lambda **kw: published.append(kw))
    r = review_flow.monthly_review_flow.fn(period="2023-07", out_dir=str(cli_env / "reviews"))
    assert r["complaints"]["received"] == _received_in("2023-07")
    [art] = published
    assert art["key"] == review_flow.ARTIFACT_KEY and art["markdown"].startswith("# Complaint review 2023-07")
    html = (cli_env / "reviews" / "review-2023-07.html").read_text("utf-8")
    assert html.count("<table") >= 4 and 'id="no-compensation"' in html  # no table of headers alone: nothing approved
    assert json.loads((cli_env / "reviews" / "review-2023-07.json").read_text("utf-8")) == r


def test_monthly_schedule_fires_on_the_first_in_the_managers_zone():
    import asyncio
    from datetime import datetime

    from prefect.server.schemas.schedules import CronSchedule

    from closeloop.config import load_config
    from flows.schedules import MONTHLY_REVIEW_CRON
    from flows.serve import deployments

    dates = asyncio.run(CronSchedule(cron=MONTHLY_REVIEW_CRON, timezone="America/New_York").get_dates(
        n=3, start=datetime(2026, 10, 15, tzinfo=UTC)))
    assert [d.astimezone(UTC).isoformat() for d in dates] == [
        "2026-11-01T11:00:00+00:00", "2026-12-01T11:00:00+00:00", "2027-01-01T11:00:00+00:00"]  # 06:00 EST
    names = {d.name for d in deployments(load_config())}
    assert "monthly-review" in names
