"""The monthly review's Markdown reads as its HTML does: keys in words, the period in the month's zone, root
causes by their configured names (as the dashboard shows them), "1 complaint", "none" instead of a table of
headers alone, and values escaped only where they would be markup (``50.00 USD``, ``New_York`` as written)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from markdown_it import MarkdownIt
from sqlalchemy import func, select

from closeloop.services.review.review import build_review, render
from closeloop.services.work import compensation as comp
from models.tables import Complaint, Improvement, ImprovementLink

from .helpers import facts, intake
from .test_improvements import _cfg
from .test_review import NOW, T0, _finish


def _one_resolved(sessions, config, cause="third_party") -> int:
    (cid,) = intake(sessions, config, T0, [facts("M1", T0, category="billing", product="Checking account")])
    _finish(sessions, config, cid, T0 + timedelta(hours=2), cause)
    return cid


def test_the_markdown_review_words_as_the_html(sessions, config):
    cid = _one_resolved(sessions, config)
    comp.add(sessions, cid, config=config, kind="fee_waiver", amount="50.00", actor="t", at=T0 + timedelta(hours=3))
    r = build_review(sessions, config, "2026-03", NOW)
    names = config.model.improvement.root_causes
    md, html = render(r, "md", root_causes=names), render(r, "html", root_causes=names)
    assert ("Period 2026-03-01 00:00 America/New_York to 2026-04-01 00:00 America/New_York (the month in that "
            "zone; 2026-03-01 05:00 UTC to 2026-04-01 04:00 UTC).") in md  # was two ISO instants in UTC
    assert "+00:00" not in md
    assert "Pareto of the 1 complaint resolved this month." in md  # was "1 complaints"
    assert "Pareto of the 1 complaint resolved this month" in html
    # the configured name, as the dashboard's; it read "third_party" (the Markdown) and "third party" (the HTML)
    assert "| partner or third party | 1 | 100% | 100% | yes |" in md
    assert "<td>partner or third party</td>" in html and "third_party" not in md
    cur = config.model.compensation.currency
    assert f"| kind | {cur} |" in md and "| fee waiver | 50.00 |" in md  # a kind in words, no "50\\.00"
    assert "| total approved | 50.00 |" in md
    # nothing left as a table of headers alone
    assert "Effectiveness checks" not in md and "| department | made |" not in md


def test_an_empty_month_says_none_instead_of_header_only_tables(sessions, config):
    md = render(build_review(sessions, config, "2026-03", NOW), "md")
    assert "Pareto of the 0 complaints resolved this month: none." in md
    assert "| root cause |" not in md
    assert "Resolved within target" in md and "| department | resolved |" not in md
    assert "Nothing approved this month." in md and "| kind |" not in md


def test_markdown_escapes_only_what_would_be_markup(sessions, config):
    cid = _one_resolved(sessions, config)
    from closeloop.services.capa import improvement as imp
    title = r"Refunds of 50.00 USD in New_York *stall* | C:\temp \*"
    imp.create(sessions, config=config, title=title, owner_department="operations", actor="t",
               at=T0 + timedelta(days=1), root_cause="process_gap", complaint_ids=[cid])
    md = render(build_review(sessions, config, "2026-03", NOW), "md")
    row = next(line for line in md.splitlines() if "Refunds of" in line)
    assert r"Refunds of 50.00 USD in New_York \*stall\* \| C:\temp \\\*" in row  # no 50\.00, New\_York, C:\\temp
    cell = MarkdownIt("commonmark").enable("table").render(md)
    assert title in cell  # renders as written, in one cell
    assert row.count(" | ") == 5


def test_a_recurrence_records_title_quotes_its_facts_as_written(sessions):
    """The proposed record's title named each fact with repr: a backslash came out doubled (``'A\\\\B'``)."""
    config = _cfg(cluster_size=3, cluster_days=7)
    intake(sessions, config, T0 + timedelta(days=10),
           [facts(f"Q{i}", T0 + timedelta(days=i), category="fees\\refunds") for i in range(3)])
    with sessions() as s:
        rec = s.scalars(select(Improvement)).one()
    assert "category 'fees\\refunds'" in rec.title and "\\\\" not in rec.title


def test_an_imported_history_counts_its_recurrences_in_the_months_it_was_received(sessions):
    """A history imported in one batch (complaints received months ago, linked as recurrences on the import day)
    plus two new complaints: the review of the import month said ``received 2 | recurrences 4 | 200%`` (a tester
    saw 13150%), recurrences counted by the day they were linked, received by the day received."""
    config = _cfg(cluster_size=3, cluster_days=7)
    day = datetime(2026, 9, 15, 14, 0, tzinfo=UTC)
    history = ([facts(f"H{i}", T0 + timedelta(days=i), category="billing") for i in range(3)]
               + [facts(f"H{i}", T0 + timedelta(days=30 * (i - 2)), category="billing") for i in range(3, 7)])
    intake(sessions, config, day, history + [facts(f"N{i}", day, category="fees") for i in range(2)])
    r = build_review(sessions, config, "2026-09", day + timedelta(days=30))
    trend = {t["period"]: t for t in r["recurrence"]["trend"]}
    assert trend["2026-09"] == {"period": "2026-09", "received": 2, "recurrences": 0, "rate": 0.0}
    assert r["recurrence"]["this_period"] == 0
    assert all(t["rate"] is None or t["rate"] <= 1 for t in trend.values())
    # the four linked as recurrences were received 2026-04 .. 2026-07 (30, 60, 90, 120 days after T0)
    assert sum(t["recurrences"] for t in trend.values()) == 4
    assert trend["2026-04"]["recurrences"] == 1 and trend["2026-04"]["received"] == 1
    md = render(r, "md")
    assert "by the month they were received" in md and "at most 100%" in md


def test_two_reviews_of_a_month_say_why_its_recurrences_differ(sessions):
    """44 complaints received in November, 24 linked as recurrences on 5 December: the November review showed
    November as 0 recurrences, the December review as 24, while the definition said "a history imported and linked
    today counts in the months it was received". A review is as of its instant (the end of its month), every month
    of its trend too (run again, it gives the same figures); the text now says so and names that instant."""
    config = _cfg(cluster_size=3, cluster_days=7)
    oct_ = datetime(2026, 10, 10, 15, tzinfo=UTC)  # a cluster in October: an improvement record
    intake(sessions, config, oct_, [facts(f"O{i}", oct_ + timedelta(hours=i), category="billing") for i in range(3)])
    nov, linked = datetime(2026, 11, 10, 15, tzinfo=UTC), datetime(2026, 12, 5, 15, tzinfo=UTC)
    intake(sessions, config, linked, [facts(f"N{i}", nov + timedelta(days=i), category="billing") for i in range(3)])
    with sessions() as s:
        nov_linked = s.scalar(select(func.count(func.distinct(ImprovementLink.complaint_id))).join(
            Complaint, Complaint.id == ImprovementLink.complaint_id).where(
            ImprovementLink.source == "recurrence", ImprovementLink.linked_at >= linked,
            Complaint.received_at >= datetime(2026, 11, 1, 4, tzinfo=UTC),
            Complaint.received_at < datetime(2026, 12, 1, 5, tzinfo=UTC)))
    assert nov_linked >= 1  # November's complaints linked on 5 December
    later = datetime(2027, 1, 10, tzinfo=UTC)
    own, dec = build_review(sessions, config, "2026-11", later), build_review(sessions, config, "2026-12", later)
    assert own == build_review(sessions, config, "2026-11", later + timedelta(days=90))  # reproducible
    assert own["recurrence"]["this_period"] == 0
    assert {t["period"]: t["recurrences"] for t in dec["recurrence"]["trend"]}["2026-11"] == nov_linked
    for review in (own, dec):
        for fmt in ("md", "html"):
            text = " ".join(render(review, fmt).replace("&#39;", "'").split())
            assert "counts in the months it was received" not in text  # the promise the November review broke
            assert "every month of the trend is counted as of the review's instant" in text
            assert "higher in a later review's trend than in that month's own review" in text
    assert "Trend by month, every month as of 2026-12-01 00:00 America/New_York" in render(own, "md")
    assert "Trend by month, every month as of 2027-01-01 00:00 America/New_York" in render(dec, "html")
