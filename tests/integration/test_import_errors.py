"""Bad rows: reported with line, column and value; all-or-nothing by default, skip on request."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from closeloop.services.intake.importing import ImportFailed
from integrations.exports import UnknownFormat
from models.tables import Complaint, Task, Transition
from tests.conftest import ROOT

from .helpers import count, run_import

HEADER = ["external_ref", "received_at", "customer_ref", "category", "text"]


def _cfpb_with_bad_date(tmp_path):
    src = (ROOT / "examples" / "cfpb_sample.csv").read_text(encoding="utf-8").splitlines()
    lines = src[:11]  # header + 10 rows
    bad = lines[6].split(",", 1)
    lines[6] = "2023-13-45," + bad[1]  # data row 5, physical line 7: an impossible date
    path = tmp_path / "cfpb_bad.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_all_or_nothing_names_line_column_value_and_writes_nothing(sessions, config, clock, tmp_path):
    path = _cfpb_with_bad_date(tmp_path)
    with pytest.raises(ImportFailed) as exc:
        run_import(sessions, config, clock, path)
    report = exc.value.report
    assert report.bad_rows == 1 and not report.committed
    err = report.errors[0]
    assert (err.line, err.column, err.value) == (7, "Date received", "2023-13-45")
    assert "line 7" in str(exc.value) and "Date received" in str(exc.value)
    for model in (Complaint, Task, Transition):
        assert count(sessions, model) == 0


def test_skip_bad_rows_imports_the_rest_and_reports_the_bad_one(sessions, config, clock, tmp_path):
    path = _cfpb_with_bad_date(tmp_path)
    report = run_import(sessions, config, clock, path, skip_bad_rows=True)
    assert report.committed and report.bad_rows == 1 and report.created == 9
    assert report.errors[0].line == 7
    assert count(sessions, Complaint) == 9
    # the file fixed later: only the missing row lands
    fixed = tmp_path / "fixed.csv"
    fixed.write_text((ROOT / "examples" / "cfpb_sample.csv").read_text(encoding="utf-8").splitlines()[0] + "\n" +
                     "\n".join((ROOT / "examples" / "cfpb_sample.csv").read_text(encoding="utf-8").splitlines()[1:11])
                     + "\n", encoding="utf-8")
    again = run_import(sessions, config, clock, fixed)
    assert (again.created, again.duplicates) == (1, 9)


def test_every_bad_row_is_reported_with_physical_line_numbers(sessions, config, clock, tmp_path):
    # a quoted multi-line text shifts physical lines: errors must point at the real line
    path = tmp_path / "intake.csv"
    path.write_text(
        "external_ref,received_at,customer_ref,category,text\n"
        'A1,2026-03-02T09:00:00+08:00,c1,billing,"two\nlines"\n'   # lines 2-3
        "A2,2026-03-02 09:00,c1,billing,no offset\n"               # line 4: naive
        ",2026-03-02T09:00:00Z,c2,billing,missing ref\n"           # line 5
        "A4,yesterday,c3,billing,bad\n",                           # line 6
        encoding="utf-8")
    with pytest.raises(ImportFailed) as exc:
        run_import(sessions, config, clock, path)
    got = [(e.line, e.column) for e in exc.value.report.errors]
    # line 5 is after the import's clock too (01:00Z): reported with the missing ref, not hidden behind it
    assert got == [(4, "received_at"), (5, "external_ref"), (5, "received_at"), (6, "received_at")]
    assert "offset" in exc.value.report.errors[0].problem
    assert count(sessions, Complaint) == 0


def test_unknown_format_is_a_clear_error(sessions, config, clock, tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(UnknownFormat, match="cannot tell the format"):
        run_import(sessions, config, clock, path)
    with pytest.raises(UnknownFormat, match="unknown format 'nope'"):
        run_import(sessions, config, clock, path, fmt="nope")
    with pytest.raises(UnknownFormat, match="does not have the columns"):
        run_import(sessions, config, clock, path, fmt="cfpb")


def test_short_row_is_reported(sessions, config, clock, tmp_path):
    path = tmp_path / "short.csv"
    path.write_text("external_ref,received_at,category\nA1,2026-03-02T09:00:00Z\n", encoding="utf-8")
    with pytest.raises(ImportFailed) as exc:
        run_import(sessions, config, clock, path)
    assert exc.value.report.errors[0].line == 2
    assert "fields" in exc.value.report.errors[0].problem


def test_jsonl_intake_and_batches_smaller_than_the_file(sessions, config, clock, tmp_path):
    path = tmp_path / "feed.jsonl"
    lines = [f'{{"external_ref": "J{i}", "received_at": "2026-03-0{1 + i % 5}T10:00:00+08:00", '
             f'"customer_ref": "cust{i % 3}", "category": "billing", "tags": ["Older American"]}}'
             for i in range(25)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    clock.set(datetime(2026, 3, 6, tzinfo=UTC))  # after the last row: a row from the future is bad
    report = run_import(sessions, config, clock, path, batch_size=4)
    assert report.format == "jsonl" and report.created == 25
    assert count(sessions, Complaint, Complaint.severity == "P2") + \
        count(sessions, Complaint, Complaint.severity == "P1") == 25
