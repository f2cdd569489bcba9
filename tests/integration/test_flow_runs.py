"""Each Prefect flow in ``flows/`` run as a real flow run against Prefect's test server.

``tests/integration/test_flows.py`` calls the import flow's logic through ``.fn()``; here the flows
themselves run (``prefect_test_harness``, one temporary server for this module, in one xdist group), so
their artifacts, run tags and deployments go through Prefect's API. Each test asserts on the flow's
effects in our database and on what Prefect recorded (artifact by key, run tags, deployment schedule).

Cost (DESIGN section 7): the server starts once (about 15 s); a flow run takes a fraction of a second
with the flow heartbeat switched off for the session.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, ArtifactFilterKey
from prefect.client.schemas.schedules import CronSchedule
from prefect.settings import (
    PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
    PREFECT_SERVER_ANALYTICS_ENABLED,
    PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS,
    temporary_settings,
)
from prefect.testing.utilities import prefect_test_harness
from sqlalchemy import select, update

from closeloop.services.bulk import enqueue
from flows import deliver, digest, intake, purge, review, serve, sweep
from flows import mail as mail_flow
from flows.schedules import OVERDUE_DIGEST_INTERVAL_SECONDS, SWEEP_INTERVAL_SECONDS
from models.tables import Complaint, Notification, Outbox, Task, Timer

from .helpers import count, facts
from .helpers import intake as intake_facts
from .imap_server import imap_server  # noqa: F401 - fixture

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "examples" / "cfpb_sample.csv"
MON = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # Monday 09:00 in Shanghai (the bundled calendar)

pytestmark = pytest.mark.xdist_group("prefect")  # one worker, one test server


@pytest.fixture(scope="module")
def prefect_server():
    """Prefect's temporary server for this module's tests. No flow heartbeat (about 1 s per run otherwise);
    the start-up wait is a hang guard sized for a loaded machine, not a performance bound.

    Module scope, not session: the harness drains Prefect's events worker when it closes, and until then that
    worker's websocket pings draw from the global ``random`` in a background thread, which Hypothesis reports
    as a deprecation ("do not use the random module inside strategies") in whichever property test of this
    xdist worker is drawing at that moment."""
    with temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None, PREFECT_SERVER_ANALYTICS_ENABLED: False,
                             PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS: 600}):
        with prefect_test_harness(server_startup_timeout=None):
            yield


@pytest.fixture
def app_env(engine, prefect_server, monkeypatch, tmp_path):
    """The flows build their own app from the environment: point it at this test's database."""
    monkeypatch.setenv("CLOSELOOP_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    monkeypatch.delenv("CLOSELOOP_CONFIG", raising=False)
    monkeypatch.setenv("CLOSELOOP_CAPTURE_DIR", str(tmp_path / "capture"))
    return tmp_path


def _run(flow, **params):
    """Call the flow itself; returns (its result, the flow run as Prefect recorded it)."""
    state = flow(**params, return_state=True)
    assert state.is_completed(), state.message
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(state.state_details.flow_run_id)
    return state.result(), run


def _artifacts(run, key: str) -> list:
    with get_client(sync_client=True) as client:
        return client.read_artifacts(artifact_filter=ArtifactFilter(
            key=ArtifactFilterKey(any_=[key]), flow_run_id=ArtifactFilterFlowRunId(any_=[run.id])))


def test_import_flow_writes_the_complaints_and_publishes_its_report(app_env, sessions):
    lines = SAMPLE.read_text(encoding="utf-8").splitlines()[:6]  # header + 5 rows
    path = app_env / "cfpb_five.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    [report], run = _run(intake.import_exports, paths=[str(path)])

    assert (report["format"], report["rows"], report["created"], report["committed"]) == ("cfpb", 5, 5, True)
    assert count(sessions, Complaint, Complaint.source == "cfpb") == 5
    assert count(sessions, Task) == report["tasks"] > 0
    assert {"import", "source:cfpb"} <= set(run.tags)
    [artifact] = _artifacts(run, intake.ARTIFACT_KEY)
    # the file name is user text, escaped for Markdown (issue 18)
    assert artifact.type == "markdown" and "| cfpb\\_five.csv | cfpb | all-or-nothing | 5 | 5 | 0 |" in artifact.data


def test_sweep_flow_fires_the_due_timers_and_tags_its_run(app_env, sessions, config):
    [cid] = intake_facts(sessions, config, MON, [facts("SWEEP-1", MON)])
    result, run = _run(sweep.sweep_flow, now=(MON + timedelta(days=3)).isoformat())

    fired = sum(result["fired"].values())
    assert fired > 0 and result["notifications"] > 0
    assert count(sessions, Timer, Timer.status == "fired") == fired
    assert count(sessions, Notification) == result["notifications"]
    assert {"sweep", f"complaint:{cid}"} <= set(run.tags)
    assert any(t.startswith("department:") for t in run.tags)
    [artifact] = _artifacts(run, sweep.ARTIFACT_KEY)
    rows = json.loads(artifact.data)
    assert {"what": "notifications", "count": result["notifications"]} in rows


def test_sweep_flow_tags_the_departments_of_a_complaints_own_timers(app_env, sessions, config):
    # a sweep firing only promise timers (complaint-level: their notices name no department) was tagged
    # closeloop, sweep and complaint:* only; the README promises department:<name> for what it touched
    from closeloop.services.engine.sweep import sweep as sweep_service

    [cid] = intake_facts(sessions, config, MON, [facts("PROMISE-1", MON)])
    sweep_service(sessions, config, MON)  # schedules the complaint's timers; none is due yet
    with sessions.begin() as s:
        s.execute(update(Timer).where(Timer.kind != "promise").values(status="cancelled"))
        departments = set(s.scalars(select(Task.department).where(Task.complaint_id == cid)))
    result, run = _run(sweep.sweep_flow, now=(MON + timedelta(days=60)).isoformat())

    assert set(result["fired"]) == {"promise"} and departments
    assert {f"department:{d}" for d in departments} <= set(run.tags)


def test_deliver_flow_sends_what_is_due(app_env, sessions):
    with sessions.begin() as s:
        oid = enqueue(s, key="flow-test-1", channel="capture", target="capture://flow-test", recipient="ops",
                      subject="hello", body="a message through the deliver flow", payload={"n": 1}, now=MON)
    result, run = _run(deliver.deliver_outbox, max_batches=1)

    assert (result["claimed"], result["delivered"]) == (1, 1)
    with sessions() as s:
        row = s.get(Outbox, oid)
        assert row.status == "delivered" and row.delivered_at is not None
    [line] = (app_env / "capture" / "flow-test.jsonl").read_text(encoding="utf-8").splitlines()
    assert json.loads(line)["body"] == "a message through the deliver flow"
    assert run.state.is_completed()


def test_digest_flow_writes_todays_overdue_digest_once(app_env, sessions, config, monkeypatch):
    # the flow builds its app from the environment: its clock is pinned with CLOSELOOP_CLOCK_AT to a working hour
    # of the manager (the digest goes out only then, K14), two weeks after the complaint, so the test does not
    # depend on the hour it runs at
    at = MON + timedelta(weeks=2, hours=13)  # Monday 10:00 in New York (the operations manager's calendar)
    monkeypatch.setenv("CLOSELOOP_CLOCK_AT", at.isoformat())
    intake_facts(sessions, config, MON, [facts("LATE-1", MON)])  # its task is long overdue by then
    oid, _ = _run(digest.overdue_digest_flow)
    again, _ = _run(digest.overdue_digest_flow)

    assert oid is not None and again is None  # one digest per local day
    with sessions() as s:
        row = s.get(Outbox, oid)
        assert row.idempotency_key.startswith("overdue-digest:") and "1 overdue task(s)" in row.body
        assert row.created_at == at


def test_purge_flow_deletes_spent_rows_older_than_the_age_and_names_its_run(app_env, sessions, monkeypatch):
    with sessions.begin() as s:
        old = enqueue(s, key="purge-old", channel="capture", target="capture://purge", recipient="ops",
                      subject="old", body="delivered long ago", payload={}, now=MON)
        young = enqueue(s, key="purge-young", channel="capture", target="capture://purge", recipient="ops",
                        subject="young", body="delivered last week", payload={}, now=MON + timedelta(days=93))
    monkeypatch.setenv("CLOSELOOP_CLOCK_AT", (MON + timedelta(days=93)).isoformat())
    _run(deliver.deliver_outbox, max_batches=1)  # both delivered "now"; the old one's age comes from its rows
    with sessions.begin() as s:
        s.get(Outbox, old).delivered_at = MON + timedelta(hours=1)
    monkeypatch.setenv("CLOSELOOP_CLOCK_AT", (MON + timedelta(days=100)).isoformat())

    result, run = _run(purge.purge_flow, older_than_days=90)

    assert result["older_than_days"] == 90 and result["outbox"] == 1
    with sessions() as s:
        assert s.get(Outbox, old) is None and s.get(Outbox, young).status == "delivered"
    assert "purge" in run.tags and run.name.startswith("purge older than 90 days")


def test_a_failed_purge_is_recorded_as_a_failed_run_and_the_error_goes_on(app_env, sessions, monkeypatch):
    """A purge that raised left no ``engine_run`` row: /metrics could not tell it from a purge that never ran."""
    from sqlalchemy import select

    from models.tables import EngineRun

    def refused(*_a, **_k):
        raise RuntimeError("refused")

    monkeypatch.setattr(purge, "purge", refused)
    monkeypatch.setenv("CLOSELOOP_CLOCK_AT", MON.isoformat())
    with pytest.raises(RuntimeError, match="refused"):
        purge.purge_flow.fn(older_than_days=0)
    with sessions() as s:
        [(kind, error, finished_at)] = s.execute(select(EngineRun.kind, EngineRun.error, EngineRun.finished_at)).all()
    assert (kind, error, finished_at) == ("purge", "RuntimeError", MON)


def test_poll_mailbox_flow_takes_in_the_unseen_mail_once(app_env, sessions, imap_server, monkeypatch):  # noqa: F811
    from .test_inbound_mail import mail

    monkeypatch.setenv("CLOSELOOP_IMAP_URL", imap_server.url)
    monkeypatch.setenv("CLOSELOOP_ATTACHMENT_DIR", str(app_env / "attachments"))
    monkeypatch.setenv("CLOSELOOP_CLOCK_AT", MON.isoformat())
    imap_server.append(bytes(mail(subject="My parcel never arrived")))

    first, run = _run(mail_flow.poll_mailbox_flow)
    again, _ = _run(mail_flow.poll_mailbox_flow)

    assert (first["polled"], first["complaint"]) == (1, 1) and again.get("polled", 0) == 0
    assert count(sessions, Complaint, Complaint.source == "email") == 1
    assert "mail" in run.tags and run.name.startswith("poll-mailbox: 1 messages")


def test_poll_mailbox_flow_without_a_mailbox_is_skipped_not_failed(app_env, sessions, monkeypatch):
    monkeypatch.delenv("CLOSELOOP_IMAP_URL", raising=False)
    state = mail_flow.poll_mailbox_flow(return_state=True)

    assert state.is_completed() and state.name == mail_flow.SKIPPED
    assert "CLOSELOOP_IMAP_URL is not set" in state.message
    with get_client(sync_client=True) as client:  # the README: the run is named "Skipped", not noble-dragonfly
        run = client.read_flow_run(state.state_details.flow_run_id)
    assert run.name == "Skipped" and {"mail", "skipped"} <= set(run.tags)
    with pytest.raises(mail_flow.MailboxNotConfigured):
        mail_flow.poll_mailbox_flow(skip_unconfigured=False)


def test_review_flow_publishes_the_month_and_writes_the_files(app_env, sessions, config):
    intake_facts(sessions, config, MON, [facts("REVIEW-1", MON), facts("REVIEW-2", MON + timedelta(days=1))])
    out = app_env / "review"
    result, run = _run(review.monthly_review_flow, period="2026-03", out_dir=str(out))

    assert result["complaints"]["received"] == 2
    assert json.loads((out / "review-2026-03.json").read_text(encoding="utf-8")) == result
    assert "2026-03" in (out / "review-2026-03.html").read_text(encoding="utf-8")
    [artifact] = _artifacts(run, review.ARTIFACT_KEY)
    assert artifact.type == "markdown" and "2026-03" in artifact.data


def test_served_deployments_register_with_their_schedules_and_tags(prefect_server, config):
    """What ``closeloop serve`` registers (``deploy/prefect.yaml``), applied to a real Prefect server and read back."""
    deployments = serve.deployments(config)
    assert {"sweep", "deliver", "overdue-digest", "monthly-review", "purge"} <= {d.name for d in deployments}
    got = {}
    with get_client(sync_client=True) as client:
        for d in deployments:
            d.apply()
            got[d.name] = client.read_deployment_by_name(f"{d.flow_name}/{d.name}")
            assert "closeloop" in got[d.name].tags and len(got[d.name].schedules) == len(d.schedules or [])
    assert got["sweep"].schedules[0].schedule.interval == timedelta(seconds=SWEEP_INTERVAL_SECONDS)
    assert got["overdue-digest"].schedules[0].schedule.interval == timedelta(seconds=OVERDUE_DIGEST_INTERVAL_SECONDS)
    review = got["monthly-review"].schedules[0].schedule
    assert isinstance(review, CronSchedule) and review.timezone == str(config.customer_calendar.zone)
    # no Prefect concurrency slot on the sweep: claims in the database keep runs apart (issue 15)
    assert got["sweep"].global_concurrency_limit is None