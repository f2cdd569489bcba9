"""Import of the real public exports (../shared/data) and the bundled samples, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
from collections import Counter

from sqlalchemy import func, select

from closeloop.services.reads.stats import stats
from models.tables import Complaint, Task
from tests.conftest import ROOT, shared_file

from .helpers import count, data_rows, run_import


def _complaints_without_task(sessions) -> int:
    with sessions() as s:
        has_task = select(Task.complaint_id).distinct()
        return s.scalar(select(func.count()).select_from(Complaint)
                        .where(Complaint.status != "rejected", Complaint.id.not_in(has_task))) or 0


def test_cfpb_2013_gives_677_complaints_each_with_a_task_and_reimport_adds_nothing(sessions, config, clock):
    path = shared_file("cfpb_2013_disputes/complaints_2013.csv")
    first = run_import(sessions, config, clock, path)
    assert (first.rows, first.created, first.bad_rows, first.format) == (677, 677, 0, "cfpb")
    assert _complaints_without_task(sessions) == 0
    again = run_import(sessions, config, clock, path)
    assert (again.created, again.duplicates) == (0, 677)
    st = stats(sessions)
    assert st["complaints"] == 677
    assert sum(st["complaints_by_status"].values()) == 677
    assert st["tasks"] == first.tasks == sum(st["tasks_by_department"].values())


def test_cfpb_2023_sample_every_row_becomes_a_complaint_with_a_task(sessions, config, clock):
    path = shared_file("cfpb_2023_sample/complaints.csv")
    report = run_import(sessions, config, clock, path)
    assert report.created == data_rows(path) == 1351
    assert _complaints_without_task(sessions) == 0
    assert run_import(sessions, config, clock, path).created == 0
    assert count(sessions, Complaint) == 1351


def test_both_credit_reporting_spellings_land_in_the_same_departments(sessions, config, clock):
    run_import(sessions, config, clock, shared_file("cfpb_2013_disputes/complaints_2013.csv"))
    run_import(sessions, config, clock, shared_file("cfpb_2023_sample/complaints.csv"))
    with sessions() as s:
        rows = s.execute(select(Complaint.product, Task.department).join(Task, Task.complaint_id == Complaint.id)
                         .where(Complaint.product.like("Credit reporting%"))).all()
    by_product: dict[str, set[str]] = {}
    for product, dep in rows:
        by_product.setdefault(product, set()).add(dep)
    assert {"Credit reporting",
            "Credit reporting, credit repair services, or other personal consumer reports"} <= set(by_product)
    assert len({frozenset(v) for v in by_product.values()}) == 1, by_product


def test_vulnerable_tags_from_cfpb_raise_severity(sessions, config, clock):
    run_import(sessions, config, clock, shared_file("cfpb_2013_disputes/complaints_2013.csv"))
    with sessions() as s:
        tagged = [c for c in s.scalars(select(Complaint)) if c.tags]
    assert len(tagged) == 100  # 55 Older American + 35 Servicemember + 10 both, per the file
    assert all("vulnerable_customer" in c.risk_flags and c.severity in ("P1", "P2") for c in tagged)


def test_nyc311_routes_agree_with_the_real_agency(sessions, nyc_config, clock):
    """Report the agreement of our routing with the agency that really handled each request."""
    agree = total = 0
    misses: Counter = Counter()
    for rel in ("nyc311_2013_dec25/service_requests_2013-12-25.csv",
                "nyc311_2022_may01/service_requests_2022-05-01.csv"):
        path = shared_file(rel)
        report = run_import(sessions, nyc_config, clock, path)
        assert report.created == data_rows(path)
        assert report.bad_rows == 0
    with sessions() as s:
        for agency, dep, ctype in s.execute(
                select(Complaint.extra, Task.department, Complaint.category)
                .join(Task, Task.complaint_id == Complaint.id)):
            total += 1
            if agency.get("nyc311_agency") == dep:
                agree += 1
            else:
                misses[(ctype, agency.get("nyc311_agency"), dep)] += 1
    rate = agree / total
    print(f"\nNYC 311 routing agreement with the real Agency: {agree}/{total} = {rate:.2%}; misses: {misses}")
    assert total == 1579 + 619
    assert rate >= 0.99, misses
    assert _complaints_without_task(sessions) == 0


def test_bundled_samples_import_with_the_default_config(sessions, config, clock):
    for name in ("cfpb_sample.csv", "nyc311_sample.csv"):
        path = ROOT / "examples" / name
        report = run_import(sessions, config, clock, path)
        assert report.created == data_rows(path) and report.bad_rows == 0
    assert _complaints_without_task(sessions) == 0


def test_airline_tweets_only_negative_tweets_are_complaints(sessions, config, clock):
    path = shared_file("airline_tweets_2015/tweets_sample.csv")
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    unique = {r["tweet_id"]: r for r in rows}
    negatives = sum(1 for r in unique.values() if r["airline_sentiment"] == "negative")
    report = run_import(sessions, config, clock, path)
    assert report.created == negatives
    assert report.rejected == len(unique) - negatives
    assert report.duplicates == len(rows) - len(unique)
    with sessions() as s:
        flagged = s.scalars(select(Complaint).where(Complaint.status != "rejected")).all()
        assert all("public_exposure" in c.risk_flags for c in flagged)
        assert s.scalar(select(func.count()).select_from(Task).join(Complaint)
                        .where(Complaint.status == "rejected")) == 0


def test_chinese_reviews_keep_their_text_and_route_by_category(sessions, config, clock):
    path = shared_file("zh_online_shopping_reviews/online_shopping_sample.csv")
    report = run_import(sessions, config, clock, path)
    assert report.bad_rows == 0
    assert report.fallback == 0
    with sessions() as s:
        hotel = s.scalars(select(Complaint).where(Complaint.category == "酒店", Complaint.status == "triaged")).first()
        assert hotel is not None and hotel.route_rule == "shop-hotel-service"
