"""Idempotent intake, likely duplicates and repeat complainers from customer history."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from models.tables import Complaint, Customer

from .helpers import run_import, write_csv

HEADER = ["external_ref", "received_at", "customer_ref", "category", "text"]


def test_same_customer_same_category_within_window_is_linked_not_merged(sessions, config, clock, tmp_path):
    clock.set(datetime(2026, 5, 1, tzinfo=UTC))  # after every row (the import refuses future dates)
    path = write_csv(tmp_path / "a.csv", HEADER, [
        ["R1", "2026-03-01T09:00:00Z", "cust-1", "billing", "charged twice"],
        ["R2", "2026-03-05T09:00:00Z", "cust-1", "billing", "still charged twice"],   # 4 days: likely dup of R1
        ["R3", "2026-03-06T09:00:00Z", "cust-1", "delivery", "late"],                 # other category
        ["R4", "2026-04-30T09:00:00Z", "cust-1", "billing", "again"],                 # outside 14 days
        ["R5", "2026-03-05T10:00:00Z", "cust-2", "billing", "someone else"],
    ])
    report = run_import(sessions, config, clock, path, batch_size=2)
    assert report.likely_duplicates == 1
    with sessions() as s:
        by_ref = {c.external_ref: c for c in s.scalars(select(Complaint))}
        assert by_ref["R2"].likely_duplicate_of_id == by_ref["R1"].id
        assert by_ref["R2"].status == "triaged"  # linked for a person to confirm, never auto-merged
        for ref in ("R1", "R3", "R4", "R5"):
            assert by_ref[ref].likely_duplicate_of_id is None
        # repeat complainer: earlier complaints of the same customer within 90 days
        assert "repeat_complainer" not in by_ref["R1"].risk_flags
        assert "repeat_complainer" in by_ref["R2"].risk_flags
        assert "repeat_complainer" in by_ref["R4"].risk_flags
        assert "repeat_complainer" not in by_ref["R5"].risk_flags
        cust = s.scalar(select(Customer).where(Customer.ref == "cust-1"))
        assert cust.complaint_count == 4
        assert cust.first_complaint_at.isoformat() == "2026-03-01T09:00:00+00:00"


def test_history_spans_imports_and_duplicate_refs_inside_one_file(sessions, config, clock, tmp_path):
    clock.set(datetime(2026, 3, 6, tzinfo=UTC))  # after every row (the import refuses future dates)
    first = write_csv(tmp_path / "1.csv", HEADER, [["X1", "2026-03-01T09:00:00Z", "c9", "billing", ""]])
    run_import(sessions, config, clock, first)
    second = write_csv(tmp_path / "2.csv", HEADER, [
        ["X2", "2026-03-03T09:00:00Z", "c9", "billing", ""],
        ["X2", "2026-03-03T09:00:00Z", "c9", "billing", ""],   # same ref twice in one file
    ])
    report = run_import(sessions, config, clock, second)
    assert (report.created, report.duplicates, report.likely_duplicates) == (1, 1, 1)
    with sessions() as s:
        x2 = s.scalar(select(Complaint).where(Complaint.external_ref == "X2"))
        x1 = s.scalar(select(Complaint).where(Complaint.external_ref == "X1"))
        assert x2.likely_duplicate_of_id == x1.id
        assert s.scalar(select(Customer.complaint_count).where(Customer.ref == "c9")) == 2


def test_customer_counts_and_instants_add_up_across_imports_in_any_order(sessions, config, clock, tmp_path):
    clock.set(datetime(2026, 5, 1, tzinfo=UTC))
    run_import(sessions, config, clock, write_csv(tmp_path / "1.csv", HEADER, [
        ["Y2", "2026-03-10T09:00:00Z", "c7", "billing", ""], ["Y3", "2026-03-20T09:00:00Z", "c7", "delivery", ""]]))
    # a later file with an older complaint and one in between: first moves back, last stays
    run_import(sessions, config, clock, write_csv(tmp_path / "2.csv", HEADER, [
        ["Y1", "2026-02-01T09:00:00Z", "c7", "refund", ""], ["Y4", "2026-03-15T09:00:00Z", "c7", "other", ""]]))
    with sessions() as s:
        cust = s.scalar(select(Customer).where(Customer.ref == "c7"))
        assert cust.complaint_count == 4
        assert cust.first_complaint_at.isoformat() == "2026-02-01T09:00:00+00:00"
        assert cust.last_complaint_at.isoformat() == "2026-03-20T09:00:00+00:00"


def test_unmatched_complaints_go_to_the_triage_queue(sessions, config, clock, tmp_path):
    path = write_csv(tmp_path / "u.csv", HEADER, [["U1", "2026-03-01T09:00:00Z", "", "something new", "hm"]])
    report = run_import(sessions, config, clock, path)
    assert report.fallback == 1 and report.tasks_by_department == {"triage": 1}
