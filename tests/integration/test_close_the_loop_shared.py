"""Issue 5 "done means": the airline tweets and the Chinese shopping reviews from ../shared/data through
intake produce improvement records per airline and reason, and per product category; fixes are
implemented in simulated time and the effectiveness check tells a fix that worked from one that did not.

The after-windows are fed with the real rows of the record's group moved forward by one window (all of
them: nothing changed; every fifth: the fix worked).
"""

from __future__ import annotations

import csv
import dataclasses
from collections import Counter
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, update

from closeloop.clock import FixedClock
from closeloop.config import parse_config
from closeloop.services.capa import improvement as imp
from closeloop.services.engine.sweep import sweep
from closeloop.services.intake.importing import import_file
from closeloop.services.work import tasks as task_svc
from integrations.exports import ParsedRow, read_export
from models.tables import Complaint, EffectivenessCheck, Improvement, ImprovementLink
from tests.conftest import shared_file

from .helpers import intake

WEEK = timedelta(weeks=1)


def _config():
    text = open("closeloop/config/default.toml", encoding="utf-8").read()
    return parse_config(text + '\n[improvement]\nmatch_on = ["company", "category"]\ncluster_size = 5\n'
                               'cluster_days = 14\neffectiveness_weeks = 1\n')


def _record(sessions, company, category) -> Improvement:
    with sessions() as s:
        return s.scalars(select(Improvement).where(
            Improvement.match_key == imp.match_key({"company": company, "category": category}))).one()


def _fix(sessions, config, rec, at):
    imp.fire(sessions, rec.id, "approve", config=config, root_cause="process_gap", actor="ops-manager", at=at)
    imp.fire(sessions, rec.id, "start", config=config, actor="lead", at=at)
    task = imp.add_action(sessions, rec.id, config=config, kind="corrective", department="operations",
                          title=f"Fix: {rec.title}", actor="lead", at=at, business_days=1)
    task_svc.complete(sessions, task.id, config=config, actor="ops", at=at)
    return imp.fire(sessions, rec.id, "implement", config=config, actor="lead", at=at)


def _feed_after(sessions, config, path, rec, impl_at, shift, every):
    """Rows of ``rec``'s group received in the before-window, moved ``shift`` forward; every ``every``-th."""
    rows = [r.facts for r in read_export(path, "auto") if isinstance(r, ParsedRow) and r.reject_reason is None
            and all(getattr(r.facts, k) == v for k, v in rec.match.items())
            and impl_at - WEEK <= r.facts.received_at < impl_at]
    moved = [dataclasses.replace(f, external_ref=f.external_ref + "-after", received_at=f.received_at + shift)
             for f in rows[::every]]
    assert moved and all(impl_at <= f.received_at < impl_at + WEEK for f in moved)
    intake(sessions, config, impl_at + WEEK, moved)
    return len(rows), len(moved)


def _decision(sessions, rec):
    with sessions() as s:
        c = s.scalars(select(EffectivenessCheck).where(EffectivenessCheck.improvement_id == rec.id)).one()
        return c.decision, c.before_count, c.after_count, s.get(Improvement, rec.id).status


def _fed(sessions, rec) -> int:
    """Complaints fed into the after-window that match the record (counted in the database)."""
    with sessions() as s:
        return s.scalar(select(func.count()).select_from(Complaint).where(
            Complaint.external_ref.like("%-after"), Complaint.status != "rejected",
            *[getattr(Complaint, k) == v for k, v in rec.match.items()]))


def test_airline_tweets_and_chinese_reviews_close_the_loop(sessions):
    config = _config()
    tweets = shared_file("airline_tweets_2015/tweets_sample.csv")
    reviews = shared_file("zh_online_shopping_reviews/online_shopping_sample.csv")
    clock = FixedClock(datetime(2015, 2, 25, 8, 0, tzinfo=UTC))
    import_file(sessions, config, clock, tweets)
    # the reviews carry no date: their received_at is synthesized in 2020 (see the format), so they are
    # imported on a clock after that (the import refuses dates more than 5 minutes ahead of its clock)
    clock.set(datetime(2020, 1, 2, tzinfo=UTC))
    import_file(sessions, config, clock, reviews)

    with open(tweets, newline="", encoding="utf-8") as fh:
        unique: dict[str, dict] = {}
        for r in csv.DictReader(fh):
            unique.setdefault(r["tweet_id"], r)  # the sample repeats some tweets; the first one counts
        groups = Counter((r["airline"], r["negativereason"] or "Unspecified") for r in unique.values()
                         if r["airline_sentiment"] == "negative")
    with open(reviews, newline="", encoding="utf-8") as fh:
        cats = Counter(r["cat"] for r in csv.DictReader(fh) if r["label"] == "0")
    with sessions() as s:
        records = s.scalars(select(Improvement)).all()
        by_key = {r.match_key: r for r in records}
        links = dict(s.execute(select(ImprovementLink.improvement_id, func.count())
                               .group_by(ImprovementLink.improvement_id)).all())
    # the tweets span 8 days (< 14): a record for every airline and reason with at least 5 complaints,
    # every one of those complaints linked; the reviews: one per product category
    wanted = {imp.match_key({"company": a, "category": why}): n for (a, why), n in groups.items() if n >= 5}
    wanted |= {imp.match_key({"company": "", "category": cat}): n for cat, n in cats.items() if n >= 5}
    assert set(by_key) == set(wanted)
    assert {k: links[r.id] for k, r in by_key.items()} == wanted
    assert all(r.status == "proposed" and r.created_by == "system" for r in records)

    # airlines: United's late flights fixed (every fifth row comes back), US Airways' service not
    impl = datetime(2015, 2, 25, 8, 0, tzinfo=UTC)  # after the last tweet (24 Feb, Pacific)
    clock.set(impl)
    worked = _fix(sessions, config, _record(sessions, "United", "Late Flight"), impl)
    failed = _fix(sessions, config, _record(sessions, "US Airways", "Customer Service Issue"), impl)
    n_ok, fed_ok = _feed_after(sessions, config, tweets, worked, impl, WEEK, every=5)
    n_bad, fed_bad = _feed_after(sessions, config, tweets, failed, impl, WEEK, every=1)

    # reviews (received 2020-01-01, Shanghai): fruit fixed, hotels not
    impl_z = datetime(2020, 1, 1, 18, 0, tzinfo=UTC)
    fruit = _fix(sessions, config, _record(sessions, "", "水果"), impl_z)
    hotel = _fix(sessions, config, _record(sessions, "", "酒店"), impl_z)
    zn_ok, zfed_ok = _feed_after(sessions, config, reviews, fruit, impl_z, timedelta(days=1), every=10)
    zn_bad, zfed_bad = _feed_after(sessions, config, reviews, hotel, impl_z, timedelta(days=1), every=1)

    with sessions.begin() as s:  # the complaints' own SLA timers are tested elsewhere; keep this sweep small
        s.execute(update(Complaint).values(timers_dirty=False))
    sweep(sessions, config, impl + WEEK + timedelta(hours=1))
    sweep(sessions, config, impl_z + WEEK + timedelta(hours=1))
    assert _decision(sessions, worked) == ("effective", n_ok, _fed(sessions, worked), "effective")
    assert _decision(sessions, failed) == ("ineffective", n_bad, _fed(sessions, failed), "in_progress")
    assert _decision(sessions, fruit) == ("effective", zn_ok, _fed(sessions, fruit), "effective")
    assert _decision(sessions, hotel) == ("ineffective", zn_bad, _fed(sessions, hotel), "in_progress")
    assert abs(_fed(sessions, worked) - fed_ok) <= 1 and _fed(sessions, hotel) == zfed_bad
    # the after-window complaints were linked to their records as recurrence evidence
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(ImprovementLink).where(
            ImprovementLink.improvement_id == failed.id)) == groups[("US Airways", "Customer Service Issue")] + \
            _fed(sessions, failed)
