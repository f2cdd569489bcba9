"""The replay report's tables: text columns read from the left, numbers from the right."""

from __future__ import annotations

import re

from closeloop.services.replay.report import render_html

TITLE = "Recurring complaints: category 'Debt collection', product 'Debt collection'"


def _summary() -> dict:
    dept = {"tasks": 263, "completed": 183, "open": 80, "median_hours_to_complete": 176.3,
            "median_business_hours_to_complete": 40.0, "resolved": 183, "resolved_met": 72,
            "resolved_within_target": 72 / 183, "sla_tasks": 263, "breached_so_far_count": 191,
            "breached_so_far": 191 / 263}
    check = {"improvement": 3, "title": TITLE, "at": "2023-09-05T10:00:00+00:00", "attempt": 1, "window_days": 28,
             "before_count": 51, "after_count": 10, "reduction": 0.8, "decision": "effective",
             "data_covers_window": True, "verdict": "effective", "note": None}
    return {
        "config": "default.toml", "generated_at": "2023-10-19T00:00:00+00:00",
        "period": {"first_received": "2023-07-03T04:00:00+00:00", "last_received": "2023-09-08T04:00:00+00:00"},
        "rows": {"rows": 271, "bad_rows": 0, "closed_before_created": 0, "no_close_date": 0,
                 "routed_to_triage_queue": 0},
        "accounting": {"rows": 271, "complaints_resolved_or_closed": 191, "complaints_open": 80,
                       "all_rows_accounted_for": True},
        "complaints": {"received": 271, "rejected_not_complaints": 0, "by_status": {"closed": 191, "in_progress": 80}},
        "caveats": [], "model": None,
        "tasks": {"by_department": {"operations": dept}},
        "follow_ups": {"created": 0, "recorded": 0, "satisfied": 0, "not_satisfied": 0, "by_department": {},
                       "satisfied_label": "satisfied", "first_verdicts": {"satisfied": 0, "not_satisfied": 0}},
        "notifications": {"by_kind": {"escalation": 564, "reminder": 671}, "escalations_by_level": {"1": 197},
                          "escalation_level_roles": {"1": "assignee"}},
        "series": {"open_complaints_by_day": {"2023-07-03": 3, "2023-07-04": 5},
                   "notifications_by_week": {"escalation": {"2023-07-03": 6, "2023-07-17": 81}}},
        "improvement_records": {"total": 1, "by_status": {"effective": 1}, "effective": 1, "ineffective": 0,
                                "not_enough_data": 0, "awaiting_check": 0, "checks": [check],
                                "root_causes": {"information": 63, "third_party": 53},
                                "unmapped_sources": [], "mapped_complaints": 116},
    }


def _cells(html: str, table: str) -> list[list[tuple[str, str]]]:
    """The rows of ``<table class="{table}">``: ``(class, text)`` per cell (header and data cells alike)."""
    body = re.search(rf'<table class="{table}">(.*?)</table>', html, re.S).group(1)
    return [[(cls, re.sub(r"<[^>]+>", "", text).strip())
             for cls, text in re.findall(r'<t[hd](?: class="([^"]*)")?[^>]*>(.*?)</t[hd]>', row, re.S)]
            for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)]


def _aligned(html: str, table: str) -> list[list[str]]:
    """Per row of the table, each cell's alignment: "right" for class ``n``, else "left"; and the CSS says so."""
    assert "td,th{border:1px solid #ccc;padding:.25rem .6rem;text-align:left}" in html
    assert "td.n,th.n{text-align:right}" in html and "first-child" not in html
    return [["right" if "n" in cls.split() else "left" for cls, _ in row] for row in _cells(html, table)]


def test_the_improvement_records_title_reads_from_the_left_and_the_counts_from_the_right():
    html = render_html({"replay": _summary()})
    rows = _cells(html, "checks")
    assert [t for _, t in rows[0]] == ["record", "title", "checked at", "complaints before", "complaints after",
                                       "engine's decision", "verdict"]
    assert [t for _, t in rows[1]] == ["3", TITLE.replace("'", "&#39;"), "2023-09-05", "51", "10", "effective",
                                       "effective"]
    assert _aligned(html, "checks") == [["right", "left", "left", "right", "right", "left", "left"]] * 2


def test_every_table_of_the_report_aligns_text_left_and_numbers_right():
    html = render_html({"replay": _summary()})
    assert _aligned(html, "departments") == [["left"] + ["right"] * 7] * 2  # department name, then figures
    assert _aligned(html, "root-causes") == [["left", "right"]] * 3
    assert _aligned(html, "accounting") == [["right", "right", "right", "left"]] * 2  # True is no count
    assert _aligned(html, "by-status") == [["right", "right"]] * 2
    assert _aligned(html, "by-kind") == [["right", "right"]] * 2
    assert [t for _, t in _cells(html, "by-status")[1]] == ["191", "80"]



def test_the_report_shows_words_and_readable_instants_not_keys_and_python_values():
    """It showed "True", "in_progress", "ack_timeout", "third_party" and ISO instants with microseconds."""
    s = _summary()
    s["generated_at"] = "2023-10-19T15:46:22.111770+00:00"
    s["notifications"]["by_kind"]["ack_timeout"] = 504
    html = render_html({"replay": s})
    assert [t for _, t in _cells(html, "accounting")[1]] == ["271", "191", "80", "yes"]
    assert [t for _, t in _cells(html, "by-status")[0]] == ["closed", "in progress"]
    assert "ack timeout" in [t for _, t in _cells(html, "by-kind")[0]]
    assert [t for _, t in _cells(html, "root-causes")[2]] == ["third party", "53"]
    assert ("complaints received 2023-07-03 04:00 UTC to 2023-09-08 04:00 UTC;\nsimulated until "
            "2023-10-19 15:46 UTC.") in html
    assert "third_party" not in html and "in_progress" not in html and "True" not in html  # charts included


def test_root_causes_read_as_the_configuration_names_them():
    """The dashboard says "partner or third party" (the configured display name); the report said "third party"
    (the code in words). With a scenario's configuration the report uses its names; a code it lacks, in words."""
    from closeloop.domain.improvement import ROOT_CAUSES

    names = {k: v for k, v in ROOT_CAUSES.items() if k != "information"}
    html = render_html({"replay": _summary()}, root_causes={"replay": names})
    assert [t for _, t in _cells(html, "root-causes")[2]] == ["partner or third party", "53"]
    assert [t for _, t in _cells(html, "root-causes")[1]] == ["information", "63"]
    assert html.count("third party") == html.count("partner or third party")  # the Pareto chart too


def test_counts_of_one_are_singular():
    """"1 records", "1 complaints received": a count of 1 takes the singular (report_format.counted)."""
    s = _summary()
    s["complaints"]["received"] = 1
    s["rows"]["bad_rows"] = 1
    html = re.sub(r"\s+", " ", render_html({"one": s}))
    assert "1 record; by status" in html and "1 records" not in html
    assert "1 complaint received;" in html and "0 rows rejected as not complaints" in html
    assert "1 bad row." in html
    s["improvement_records"]["total"] = 2
    assert "2 records; by status" in render_html({"two": s})
