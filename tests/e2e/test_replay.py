"""End to end: replay of the bundled NYC 311 sample, checked against the file itself."""

from __future__ import annotations

import csv
import json
import statistics
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from typer.testing import CliRunner

from closeloop.cli import app
from closeloop.cli import replay as replay_cli
from closeloop.config import load_config
from closeloop.services.replay.replay import run_replay
from closeloop.services.replay.report import render_html
from tests.conftest import ROOT

NYC = ROOT / "examples" / "nyc311_sample.csv"


def _file_medians() -> dict[str, float]:
    """Median hours from Created Date to Closed Date per Agency, computed straight from the CSV.

    The file's times are New York wall-clock times: elapsed hours are real hours, so a
    request open across the March DST change is one hour shorter than its wall-clock span.
    """
    fmt = "%m/%d/%Y %I:%M:%S %p"
    ny = ZoneInfo("America/New_York")
    per: dict[str, list[float]] = {}
    with open(NYC, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if not row["Closed Date"]:
                continue
            created = datetime.strptime(row["Created Date"], fmt).replace(tzinfo=ny)
            closed = datetime.strptime(row["Closed Date"], fmt).replace(tzinfo=ny)
            if closed < created:
                continue  # closed before created: a data-quality trap, counted by the replay
            per.setdefault(row["Agency"], []).append(
                (closed.astimezone(UTC) - created.astimezone(UTC)).total_seconds() / 3600)
    return {a: statistics.median(v) for a, v in per.items()}


def test_nyc_replay_matches_the_file_and_accounts_for_every_row(tmp_path: Path, capsys):
    summary = run_replay([NYC], load_config(ROOT / "examples" / "nyc311.toml"), tmp_path,
                         horizon=timedelta(weeks=1))
    medians = summary["tasks"]["median_hours_to_complete"]
    expected = _file_medians()
    for agency, hours in expected.items():
        assert abs(medians[agency] - hours) < 1e-3, (agency, medians[agency], hours)
    acc = summary["accounting"]
    with open(NYC, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert acc["rows"] == len(rows) and acc["all_rows_accounted_for"]
    closed_before = sum(1 for r in rows if r["Closed Date"] and
                        datetime.strptime(r["Closed Date"], "%m/%d/%Y %I:%M:%S %p")
                        < datetime.strptime(r["Created Date"], "%m/%d/%Y %I:%M:%S %p"))
    zero = sum(1 for r in rows if r["Closed Date"] == r["Created Date"])
    assert zero >= 1  # a request closed at the very instant it was created is a close, not a data error
    never_closed = sum(1 for r in rows if not r["Closed Date"])
    assert summary["rows"]["closed_before_created"] == closed_before
    assert summary["rows"]["no_close_date"] == never_closed
    assert acc["complaints_open"] == closed_before + never_closed  # the rest resolved at their real close
    assert summary["notifications"]["reminders"] > 0 and summary["follow_ups"]["created"] > 0
    # root causes read from the data (mapping table), every resolved complaint has one; recurring
    # complaint types (202 HEATING requests in one day) propose improvement records
    imp = summary["improvement_records"]
    heating = sum(1 for r in rows if r["Complaint Type"] == "HEATING")
    assert imp["root_causes"]["product_defect"] >= heating - closed_before - never_closed
    assert sum(n for code, n in imp["root_causes"].items() if code != "(none yet)") == \
        acc["complaints_resolved_or_closed"]
    assert imp["total"] > 0 and sum(imp["links_by_source"].values()) > heating
    # the replay's owners approve and implement what the engine proposed (replay_loop)
    assert sum(n for st, n in imp["by_status"].items() if st != "proposed") > 0 and not summary["replay_errors"]
    html = render_html({"nyc311": summary})
    assert "<svg" in html and "HPD" in html
    # the export records no verdict: every follow-up verdict is modelled as satisfied, and summary.json, the
    # report and the printed figures say so (as they say for CFPB that no dispute is not satisfaction)
    fu = summary["follow_ups"]
    assert fu["satisfied_label"] == "satisfied (modelled)" and fu["satisfied"] == fu["recorded"] > 0
    note = "The NYC 311 export records no customer verdict: every follow-up verdict of its complaints is modelled"
    assert [c["about"] for c in summary["caveats"] if c["text"].startswith(note)] == ["follow_ups"]
    assert note in html
    replay_cli._print("nyc311", summary)
    printed = " ".join(capsys.readouterr().out.split())
    assert f"customer follow-ups {fu['created']} ({fu['satisfied']} satisfied (modelled), 0 not satisfied)" in printed
    assert f"note: {note}" in printed


def test_replay_command_writes_summary_and_report(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    feed = tmp_path / "feed.csv"
    feed.write_text("external_ref,received_at,customer_ref,category,text\n"
                    "R1,2026-03-02T09:00:00-05:00,c1,billing,charged twice\n"
                    "R2,2026-03-03T09:00:00-05:00,c2,delivery,late; my lawyer knows\n"
                    "R3,not-a-date,c3,billing,bad row\n", encoding="utf-8")
    res = CliRunner().invoke(app, ["replay", str(feed), "--out", "out", "--weeks", "2"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    summary = json.loads((tmp_path / "out" / "summary.json").read_text("utf-8"))
    assert summary["accounting"]["rows"] == 3 and summary["accounting"]["bad_rows"] == 1
    assert summary["accounting"]["all_rows_accounted_for"]
    assert summary["customers"]["acknowledgements"] == 0 and "customers told: acknowledgements 0" in res.output
    assert (tmp_path / "out" / "report.html").read_text("utf-8").startswith("<!doctype html>")
    # the monthly review of the busiest month (March 2026: both valid rows), as of the simulated end
    assert summary["review"]["period"] == "2026-03"
    review_md = (tmp_path / "out" / "review-2026-03.md").read_text("utf-8")
    assert review_md.startswith("# Complaint review 2026-03") and "| 2 |" in review_md
    assert "<svg" in (tmp_path / "out" / "review-2026-03.html").read_text("utf-8")
    captured = list((tmp_path / "out" / "capture").glob("*.jsonl"))
    assert captured, "notifications were delivered to local capture files"
    keys = [json.loads(line)["idempotency_key"] for f in captured for line in f.read_text("utf-8").splitlines()]
    assert len(keys) == len(set(keys))  # each message once


def _shared_replay(tmp_path, rel, config_path=None):
    from tests.conftest import shared_file

    path = shared_file(rel)
    cfg = load_config(config_path)
    return path, run_replay([path], cfg, tmp_path, step=timedelta(hours=4), horizon=timedelta(weeks=2))


def test_replay_of_the_shared_nyc311_day(tmp_path: Path):
    path, summary = _shared_replay(tmp_path, "nyc311_2013_dec25/service_requests_2013-12-25.csv",
                                   ROOT / "examples" / "nyc311.toml")
    with open(path, newline="", encoding="utf-8") as fh:
        n = sum(1 for _ in csv.DictReader(fh))
    assert summary["accounting"]["rows"] == n and summary["accounting"]["all_rows_accounted_for"]
    assert summary["complaints"]["received"] == n and summary["rows"]["routed_to_triage_queue"] == 0
    assert summary["tasks"]["by_department"]["HPD"]["tasks"] > 0


def test_replay_of_the_shared_cfpb_2013_disputes_reopens_disputed_ones(tmp_path: Path):
    path, summary = _shared_replay(tmp_path, "cfpb_2013_disputes/complaints_2013.csv")
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert summary["accounting"]["rows"] == len(rows) == 677 and summary["accounting"]["all_rows_accounted_for"]
    disputed = sum(1 for r in rows if r["consumer_disputed?"] == "Yes")
    # a disputed answer makes the follow-up "not satisfied", which reopens the complaint
    assert summary["follow_ups"]["not_satisfied"] == summary["complaints"]["reopened"]
    assert 0 < summary["complaints"]["reopened"] <= disputed


def test_replaying_twice_into_the_same_out_starts_clean(tmp_path: Path):
    cfg = load_config(ROOT / "examples" / "nyc311.toml")
    small = tmp_path / "small.csv"
    lines = NYC.read_text("utf-8").splitlines()
    small.write_text("\n".join(lines[:31]) + "\n", "utf-8")
    first = run_replay([small], cfg, tmp_path / "out", horizon=timedelta(weeks=1))
    second = run_replay([small], cfg, tmp_path / "out", horizon=timedelta(weeks=1))
    assert first == second and first["complaints"]["received"] == 30


# ---- one set of field rules for every way in: the replay refuses what the import refuses

CFPB = ROOT / "examples" / "cfpb_sample.csv"
FUTURE_DAY = "2099-01-01"


def _cfpb_with_a_future_row(path: Path, n: int = 12, future: int = 4) -> tuple[list[dict], int]:
    """The first ``n`` rows of the bundled CFPB sample written to ``path``, row ``future`` (0-based) received on
    :data:`FUTURE_DAY`; the good rows and the file line of the future one (the header is line 1)."""
    with open(CFPB, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        fields, rows = reader.fieldnames, [row for _, row in zip(range(n), reader, strict=False)]
    rows[future]["Date received"] = FUTURE_DAY
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    return [r for i, r in enumerate(rows) if i != future], future + 2


def _last_received(rows: list[dict]) -> str:
    """The latest "Date received" of ``rows`` as the CFPB format reads it (midnight in New York), in UTC."""
    ny = ZoneInfo("America/New_York")
    return max(datetime.strptime(r["Date received"], "%Y-%m-%d").replace(tzinfo=ny) for r in rows).astimezone(
        UTC).isoformat()


def test_replay_refuses_a_row_received_in_the_future_as_the_import_does(tmp_path: Path, monkeypatch):
    """``closeloop import`` refuses a CFPB row received in 2099; ``closeloop replay`` took it in (its rows were
    read with no upper date bound) and reported 2099 as the last complaint received. Both now judge it at the
    process's clock (``CLOSELOOP_CLOCK_AT`` here), never the replay's simulated one, with the same error."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CLOSELOOP_DATABASE_URL", f"sqlite:///{tmp_path / 'import.db'}")
    monkeypatch.setenv("CLOSELOOP_CLOCK_AT", "2026-03-02T09:00:00+00:00")
    monkeypatch.delenv("CLOSELOOP_CONFIG", raising=False)
    feed = tmp_path / "cfpb_future.csv"
    good, line = _cfpb_with_a_future_row(feed)
    runner = CliRunner()
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    imported = runner.invoke(app, ["import", str(feed), "--json"], catch_exceptions=False)
    report = json.loads(imported.stdout)
    assert imported.exit_code == 1 and report["committed"] is False
    [error] = report["errors"]
    assert (error["line"], error["column"], error["value"]) == (line, "Date received", FUTURE_DAY)
    assert "in the future" in error["problem"] and "2026-03-02T09:00:00+00:00" in error["problem"]

    res = runner.invoke(app, ["replay", str(feed), "--out", "out", "--weeks", "1"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    summary = json.loads((tmp_path / "out" / "summary.json").read_text("utf-8"))
    assert summary["rows"]["bad_row_details"] == [{"file": feed.name, **error}]
    acc = summary["accounting"]
    assert (acc["rows"], acc["bad_rows"]) == (len(good) + 1, 1) and acc["all_rows_accounted_for"]
    # every good row is taken in, the later ones too (the simulated clock starts at the first one received)
    assert summary["complaints"]["received"] == len(good)
    assert summary["period"]["last_received"] == _last_received(good)
    printed = " ".join(res.output.split())
    assert f"line {line}, column 'Date received', value '{FUTURE_DAY}': {error['problem']}" in printed


def test_replay_judges_received_dates_at_the_system_clock_by_default(tmp_path: Path):
    feed = tmp_path / "cfpb_future.csv"
    good, line = _cfpb_with_a_future_row(feed, n=6, future=2)
    before = datetime.now(UTC)
    summary = run_replay([feed], load_config(None), tmp_path / "out", horizon=timedelta(days=1))
    [bad] = summary["rows"]["bad_row_details"]
    assert (bad["line"], bad["column"], bad["value"]) == (line, "Date received", FUTURE_DAY)
    now = datetime.fromisoformat(bad["problem"].rsplit("after now, ", 1)[1].rstrip(")"))
    assert before <= now <= datetime.now(UTC)  # the real clock's now, not the simulated one (2023)
    assert summary["complaints"]["received"] == len(good)
    assert summary["period"]["last_received"] == _last_received(good)


def _head(src: Path, path: Path, n: int) -> Path:
    """The first ``n`` rows of ``src`` written to ``path``."""
    with open(src, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        fields, rows = reader.fieldnames, [row for _, row in zip(range(n), reader, strict=False)]
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_cfpb_tasks_opening_after_the_company_acknowledged_are_acknowledged(tmp_path: Path):
    """A CFPB complaint's dependent tasks (opened as the first ones are done) were never acknowledged: 450 of the
    sample's 504 acknowledgement timeouts paged departments about tasks of complaints the company had long
    acknowledged (``Date sent to company``). Now each is acknowledged as it opens."""
    import sqlite3

    feed = _head(CFPB, tmp_path / "cfpb.csv", 30)
    run_replay([feed], load_config(ROOT / "closeloop" / "config" / "default.toml"), tmp_path / "out",
               horizon=timedelta(weeks=1))
    db = sqlite3.connect(tmp_path / "out" / "replay.db")
    unblocked = {r[0] for r in db.execute("select entity_id from transition where entity='task' and trigger='unblock'")}
    acked = {r[0] for r in db.execute("select entity_id from transition where entity='task' and trigger='acknowledge'")}
    assert unblocked and unblocked <= acked
    timeouts = {r[0] for r in db.execute("select task_id from notification where kind='ack_timeout'")}
    assert not timeouts & unblocked


def test_nyc311_acknowledgement_timeouts_are_kept_out_of_the_headline(tmp_path: Path):
    """The NYC 311 export records no acknowledgement: the summary counted 1,238 acknowledgement timeouts (6 pages
    per task) as if the agencies had ignored their work. They are now counted apart, with a caveat."""
    feed = _head(NYC, tmp_path / "nyc.csv", 40)
    summary = run_replay([feed], load_config(ROOT / "examples" / "nyc311.toml"), tmp_path / "out",
                         horizon=timedelta(weeks=1))
    n = summary["notifications"]
    assert n["acknowledgement_timeouts"] == 0 and "ack_timeout" not in n["by_kind"]
    assert n["acknowledgement_timeouts_not_modelled"] > 0
    [cv] = [c for c in summary["caveats"] if c["about"] == "notifications"]
    assert "NYC 311 export records no acknowledgement" in cv["text"]


def test_replay_reports_every_problem_of_a_bad_row_as_the_import_does(tmp_path: Path, monkeypatch):
    """The replay listed only a bad row's first problem (the import lists them all): a bad e-mail hid a bad time
    zone. Each problem is now listed, in summary.json and on the console, with personal data withheld as the
    import withholds it; the counts are in the singular for one ("1 complaint received", "1 bad row")."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CLOSELOOP_DATABASE_URL", f"sqlite:///{tmp_path / 'import.db'}")
    monkeypatch.delenv("CLOSELOOP_CONFIG", raising=False)
    feed = tmp_path / "feed.csv"
    feed.write_text("external_ref,received_at,customer_ref,customer_email,customer_time_zone,category,text\n"
                    "R1,2026-03-02T09:00:00-05:00,c1,,,billing,charged twice\n"
                    "R2,2026-03-03T09:00:00-05:00,c2,eve4@example,Nowhere/Zone,billing,late\n", encoding="utf-8")
    runner = CliRunner()
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    imported = json.loads(runner.invoke(app, ["import", str(feed), "--json"], catch_exceptions=False).stdout)
    assert len(imported["errors"]) == 2 and imported["errors"][0]["withheld"] is True
    res = runner.invoke(app, ["replay", str(feed), "--out", "out", "--weeks", "1"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    rows = json.loads((tmp_path / "out" / "summary.json").read_text("utf-8"))["rows"]
    assert rows["bad_row_details"] == [{"file": feed.name, **e} for e in imported["errors"]]
    assert (rows["bad_rows"], rows["bad_rows_not_listed"]) == (1, 0)
    printed = " ".join(res.output.split())
    assert "line 3, column 'customer_email', value withheld (personal data): is not an e-mail address" in printed
    assert "eve4@example" not in printed
    assert "line 3, column 'customer_time_zone', value 'Nowhere/Zone'" in printed
    assert "2 rows -> 1 complaint received" in printed and "1 bad row;" in printed
