"""The deliver flow's own function (``deliver_outbox.fn``: no Prefect server): it drains what is due with the
senders it opens from the settings, and says what a trial's configuration leaves unsafe."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from .test_delivery import ZH, add


def test_deliver_flow_fn_drains_capture_rows(tmp_path, monkeypatch):
    from flows.deliver import deliver_outbox
    from models import migrate
    from models.db import make_engine, make_sessions

    url = f"sqlite:///{tmp_path / 'flow.db'}"
    eng = make_engine(url)
    migrate.upgrade(eng)
    sessions = make_sessions(eng)
    now = datetime.now(UTC) - timedelta(seconds=1)  # the flow runs on the system clock
    add(sessions, now, ["capture://digest"] * 3, channel="capture", subject=ZH, body=ZH)
    eng.dispose()
    monkeypatch.setenv("CLOSELOOP_DATABASE_URL", url)
    monkeypatch.setenv("CLOSELOOP_CAPTURE_DIR", str(tmp_path / "cap"))
    monkeypatch.setenv("CLOSELOOP_WEBHOOK_SECRET", "s3cret")
    report = deliver_outbox.fn(max_batches=2)
    assert (report["claimed"], report["delivered"], report["batches"]) == (3, 3, 1)
    lines = (tmp_path / "cap" / "digest.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(x)["body"] for x in lines] == [ZH] * 3


@pytest.mark.parametrize(("channel", "warned"), [("capture", False), ("webhook", True)])
def test_the_demo_secret_warning_is_for_signed_webhooks_only(tmp_path, monkeypatch, caplog, channel, warned):
    """A trial with the demo secret delivering e-mail or capture rows signed nothing: no warning about signatures.
    A webhook signed with it is warned about (here a refused target: it is claimed and signed all the same)."""
    import logging

    from sqlalchemy.orm import sessionmaker

    from flows.deliver import DEFAULT_SECRET, deliver_outbox
    from models import migrate
    from models.db import make_engine

    url = f"sqlite:///{tmp_path / 'flow.db'}"
    eng = make_engine(url)
    migrate.upgrade(eng)
    target = "capture://digest" if channel == "capture" else "http://127.0.0.1:9/hook"
    add(sessionmaker(eng), datetime.now(UTC) - timedelta(seconds=1), [target], channel=channel)
    eng.dispose()
    monkeypatch.setenv("CLOSELOOP_DATABASE_URL", url)
    monkeypatch.setenv("CLOSELOOP_CAPTURE_DIR", str(tmp_path / "cap"))
    monkeypatch.setenv("CLOSELOOP_WEBHOOK_SECRET", DEFAULT_SECRET)
    flow_log = logging.getLogger("flows.deliver")  # its own handler: an earlier test in this worker may have
    flow_log.addHandler(caplog.handler)             # set up Prefect's logging, which stops propagation
    try:
        with caplog.at_level(logging.WARNING):
            report = deliver_outbox.fn(max_batches=1)
    finally:
        flow_log.removeHandler(caplog.handler)
    assert (report["claimed"], report["signed"]) == (1, int(warned))
    assert ("demo default" in caplog.text) is warned
