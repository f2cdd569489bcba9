"""A bad row reports every problem it has (CFPB, NYC 311), each with its line, the file's own column and the
problem, all-or-nothing as before; the listed problems stay capped at ``MAX_REPORTED_ERRORS``."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from closeloop.services.intake import importing
from closeloop.services.intake.importing import ImportFailed
from models.tables import Complaint

from .helpers import count, run_import, write_csv

CFPB = {"Date received": "2023-07-03", "Product": "Mortgage", "Sub-product": "FHA mortgage", "Issue": "Escrow",
        "Company": "ACME BANK", "State": "CA", "Submitted via": "Web", "Date sent to company": "2023-07-03",
        "Complaint ID": "7000001"}
NYC311 = {"Unique Key": "27000001", "Created Date": "12/25/2013 10:00:00 AM", "Closed Date": "12/26/2013 10:00:00 AM",
          "Agency": "HPD", "Complaint Type": "HEAT/HOT WATER", "Descriptor": "ENTIRE BUILDING", "Borough": "BRONX",
          "Due Date": "12/27/2013 10:00:00 AM"}


def _write(path: Path, rows: list[dict[str, str]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def _failed(sessions, config, clock, path: Path) -> importing.ImportReport:
    with pytest.raises(ImportFailed) as exc:
        run_import(sessions, config, clock, path)
    assert count(sessions, Complaint) == 0  # all-or-nothing: the good rows are not written either
    return exc.value.report


def test_a_cfpb_row_reports_each_of_its_problems(sessions, config, clock, tmp_path):
    bad = {**CFPB, "Complaint ID": "7.0E+06", "Date received": "2023-13-45", "Product": "",
           "Date sent to company": "yesterday"}
    path = _write(tmp_path / "cfpb.csv", [CFPB, bad, {**CFPB, "Complaint ID": "7000003"}])
    report = _failed(sessions, config, clock, path)
    assert report.bad_rows == 1
    assert [(e.line, e.column, e.value) for e in report.errors] == [  # in the file's column order
        (3, "Date received", "2023-13-45"), (3, "Product", ""), (3, "Date sent to company", "yesterday"),
        (3, "Complaint ID", "7.0E+06")]
    assert "scientific notation" in report.errors[3].problem and "required" in report.errors[1].problem
    assert str(report.errors[0]).startswith("line 3, column 'Date received', value '2023-13-45': not a date")


def test_a_nyc311_row_reports_each_of_its_problems(sessions, config, clock, tmp_path):
    bad = {**NYC311, "Unique Key": "", "Created Date": "25/12/2013", "Complaint Type": "", "Due Date": "soon"}
    path = _write(tmp_path / "nyc311.csv", [bad, NYC311])
    report = _failed(sessions, config, clock, path)
    assert report.bad_rows == 1
    assert [(e.line, e.column) for e in report.errors] == [
        (2, "Unique Key"), (2, "Created Date"), (2, "Complaint Type"), (2, "Due Date")]


def test_the_listed_problems_are_capped_and_the_unlisted_rows_counted(sessions, config, clock, tmp_path,
                                                                    monkeypatch):
    monkeypatch.setattr(importing, "MAX_REPORTED_ERRORS", 5)
    bad = {**CFPB, "Complaint ID": "", "Product": ""}  # two problems a row
    path = _write(tmp_path / "cfpb.csv", [{**bad, "State": str(n)} for n in range(4)])
    report = _failed(sessions, config, clock, path)
    assert report.bad_rows == 4 and len(report.errors) == 5
    assert [e.line for e in report.errors] == [2, 2, 3, 3, 4]
    assert report.rows_not_listed() == 1


def test_a_closeloop_row_reports_each_broken_field_rule(sessions, config, clock, tmp_path):
    """The shared field rules (and the intake's: received by now, a new ref a URL can carry) report every bad
    field of a row, not only the first; nothing is written."""
    header = ["external_ref", "received_at", "source", "company", "customer_ref", "text"]
    good = ["G-1", "2026-03-01T10:00:00+08:00", "web", "ACME", "c-1", "late"]
    bad = ["G-2", "2031-01-01T00:00:00+08:00", "Web Form", "x" * 300, "..", "nul \x00 here"]
    report = _failed(sessions, config, clock, write_csv(tmp_path / "in.csv", header, [good, bad]))
    assert report.bad_rows == 1
    assert [(e.line, e.column) for e in report.errors] == [
        (3, "received_at"), (3, "source"), (3, "company"), (3, "customer_ref"), (3, "text")]  # column order
    problems = {e.column: (e.value, e.problem) for e in report.errors}
    assert problems["source"] == ("Web Form", "'Web Form' is not a source name: lower-case letters, digits, "
                                              "'_' and '-' only")
    assert "300 characters, longer than 255" in problems["company"][1]
    assert problems["text"][1] == "contains a NUL character"
    assert "in the future" in problems["received_at"][1] and "are not refs" in problems["customer_ref"][1]


def test_a_closeloop_row_with_bad_cells_reports_its_customer_and_field_rules_too(sessions, config, clock, tmp_path):
    """A bad cell hid the row's other problems: a bad e-mail hid a bad time zone, a date without offset hid a bad
    consent flag and an over-long product. Personal data is said to be withheld (it printed as ``value ''``); a
    time zone is not personal data and is quoted."""
    header = ["external_ref", "received_at", "customer_ref", "customer_email", "customer_email_consent",
              "customer_time_zone", "product"]
    rows = [["E-1", "2026-03-01T10:00:00+08:00", "c-1", "eve4@example", "", "Nowhere/Zone", ""],
            ["E-2", "2026-11-01", "c-2", "eve@example.com", "maybe", "", "p" * 300]]
    report = _failed(sessions, config, clock, write_csv(tmp_path / "in.csv", header, rows))
    assert report.bad_rows == 2
    assert [str(e) for e in report.errors] == [
        "line 2, column 'customer_email', value withheld (personal data): is not an e-mail address (name@domain)",
        "line 2, column 'customer_time_zone', value 'Nowhere/Zone': the value is not an IANA time zone "
        "(e.g. Asia/Shanghai)",
        "line 3, column 'received_at', value '2026-11-01': date-time has no UTC offset (add Z or +hh:mm)",
        "line 3, column 'customer_email_consent', value 'maybe': must be true or false",
        f"line 3, column 'product', value '{'p' * 200}... (300 characters)': 300 characters, longer than 255"]
    assert report.errors[0].withheld and report.as_dict()["errors"][0]["withheld"] is True


def test_a_column_read_into_two_facts_is_reported_once_with_one_length(sessions, config, clock, tmp_path):
    """CFPB's Product is both category and product: an over-long one was reported twice; a narrative with a
    trailing blank was quoted as 25,000 characters and judged as 24,999."""
    bad = {**CFPB, "Product": "p" * 300, "Consumer complaint narrative": "x" * 24_999 + " "}
    report = _failed(sessions, config, clock, _write(tmp_path / "cfpb.csv", [bad]))
    assert [(e.column, e.problem) for e in report.errors] == [
        ("Product", "300 characters, longer than 255"),
        ("Consumer complaint narrative", "24,999 characters, longer than 20,000")]
    assert report.errors[1].value.endswith("... (24,999 characters)")
