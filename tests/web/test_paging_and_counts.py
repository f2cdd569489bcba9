"""A tester's findings on the dashboard (page7): a page number past the end printed a nonsense range
("0-4,999,900 of 677", "99,801-99,800 of 665 ... No active tasks") -- now clamped to the last page, saying so;
the overview's load chart grew wider than its panel with many departments and kept the configuration's order --
now horizontal bars of a fixed width, worst first; and "1 complaints" -- counts of 1 take the singular in English.
"""

from __future__ import annotations

import re

import pytest

from closeloop.web import i18n, pages_complaints, pages_overview, pages_queue

#: the inner width (px) of an overview half-width panel at the dashboard's 1280 px main column (606 px panel,
#: .9rem padding and a 1 px border each side)
PANEL_INNER_PX = 574


def _rows(html: str, what: str) -> list[str]:
    return re.findall(rf'id="{what}-(\d+)"', html)


def test_a_complaint_list_page_past_the_end_shows_the_last_page(web, complaints, monkeypatch):
    monkeypatch.setattr(pages_complaints, "PAGE_SIZE", 2)
    c = web.signin("manager")
    last = c.get("/complaints?page=2").text
    page = c.get("/complaints?page=99999")
    assert page.status_code == 200
    assert "3-3 of 3" in page.text and "4,999" not in page.text and "0-" not in page.text
    assert _rows(page.text, "complaint") == _rows(last, "complaint") != []
    assert "Page 99,999 is past the end: showing page 2, the last." in page.text
    assert 'id="no-complaints"' not in page.text
    assert '&page=1">← previous' in page.text and "next →" not in page.text  # the pager counts from the last page
    assert 'id="page-clamped"' not in last  # an ordinary page says nothing
    zh = web.signin("manager_zh").get("/complaints?page=2").text
    assert "第 3-3 件，共 3 件" in zh  # complaints are counted with 件 (the queue's tasks with 个)


def test_a_queue_page_past_the_end_shows_the_last_page_not_no_active_tasks(web, complaints, monkeypatch):
    monkeypatch.setattr(pages_queue, "PAGE_SIZE", 1)
    c = web.signin("member")
    first = c.get("/queue/operations").text
    total = int(re.search(r"1-1 of (\d+)", first).group(1))
    assert total >= 2
    page = c.get("/queue/operations?page=999").text
    assert f"{total}-{total} of {total}" in page and "No active tasks" not in page
    assert len(_rows(page, "task")) == 1
    assert "Page 999 is past the end" in page
    # an action on that page returns to the real last page, not to page 999
    assert f'name="next" value="/queue/operations?show=all&amp;page={total}"' in page


def test_an_empty_list_past_the_end_prints_no_range(web, monkeypatch):
    c = web.signin("manager")
    page = c.get("/complaints?page=5").text
    assert 'id="no-complaints"' in page and 'id="pager"' not in page and "0 complaints" in page
    assert 'id="page-clamped"' not in page  # "showing page 1, the last" above "No complaint matches" said nothing
    zh = web.signin("manager_zh").get("/queue/operations?page=3").text
    assert "没有待办任务" in zh and 'id="page-clamped"' not in zh


def test_a_filtered_empty_list_has_no_clamping_notice(web, complaints):
    page = web.signin("manager").get("/complaints?page=9&status=closed").text
    assert 'id="no-complaints"' in page and 'id="page-clamped"' not in page


@pytest.mark.parametrize("asked, shown, notice", [
    ("0", "1", "Page 0 is before the first: showing page 1."),
    ("-3", "1", "Page -3 is before the first: showing page 1."),
    ("100000", "2", "Page 100,000 is past the end: showing page 2, the last."),
    ("1000000", "2", "Page 1,000,000 is past the end: showing page 2, the last."),
    ("99999999999999999999", "2", "Page 99,999,999,999,999,999,999 is past the end: showing page 2, the last."),
])
def test_every_page_number_is_clamped_alike(web, complaints, monkeypatch, asked, shown, notice):
    """?page=0 and ?page=1000000 were a 422 page saying only "The request was not valid" while ?page=100000
    was clamped."""
    monkeypatch.setattr(pages_complaints, "PAGE_SIZE", 2)
    monkeypatch.setattr(pages_queue, "PAGE_SIZE", 1)
    c = web.signin("manager")
    r = c.get(f"/complaints?page={asked}")
    assert r.status_code == 200 and notice in r.text
    assert _rows(r.text, "complaint") == _rows(c.get(f"/complaints?page={shown}").text, "complaint") != []
    member = web.signin("member")
    q = member.get(f"/queue/operations?page={asked}")
    assert q.status_code == 200 and 'id="page-clamped"' in q.text and len(_rows(q.text, "task")) == 1


def test_counts_of_one_are_singular_in_english_and_plain_in_chinese(web, complaints):
    en = web.signin("manager").get("/complaints?q=W-1").text
    assert re.search(r'id="complaint-total">1 complaint ·', en), re.search(r'id="complaint-total">[^<]*', en)
    assert "1 complaints" not in en
    assert "3 complaints" in web.signin("manager").get("/complaints").text
    zh = web.signin("manager_zh").get("/complaints?q=W-1").text
    assert 'id="complaint-total">共 1 件投诉 ·' in zh


def test_the_translator_picks_the_singular_by_count():
    en, zh = i18n.translator("en"), i18n.translator("zh")
    assert en("queue.total", total="1", count=1) == "1 active task"
    assert en("queue.total", total="2", count=2) == "2 active tasks"
    assert en("queue.total", total="0", count=0) == "0 active tasks"
    assert en("signin.too_many", minutes=1, count=1).endswith("in 1 minute.")
    assert en("signin.too_many", minutes=5, count=5).endswith("in 5 minutes.")
    assert en("imp.check.days", days="1", count=1.0) == "1 day"
    assert zh("queue.total", total="1", count=1) == "共 1 个进行中任务"  # no English singular leaks into Chinese
    assert zh("signin.too_many", minutes=1, count=1) == zh("signin.too_many", minutes=1)
    # no catalogue string writes a plural as "(s)", and no Chinese string carries an English plural
    for key, text in i18n.EN.items():
        assert "(s)" not in text, key
    for key, text in i18n.CATALOGUES["zh"].items():
        assert not re.search(r"\d[^\s]* ?[a-z]+s\b", text), key


def _load_svg(html: str, language: str = "en") -> str:
    label = re.escape(i18n.translator(language)("overview.load"))
    m = re.search(rf'<svg role="img" aria-label="{label}".*?</svg>', html, re.S)
    assert m, "no load chart"
    return m.group(0)


def test_the_load_chart_fits_its_panel_and_ranks_departments_worst_first(web, complaints, monkeypatch):
    real = pages_overview.overview_svc

    def many(*args, **kwargs):
        data = real(*args, **kwargs)
        for i in range(16):  # NYC 311 has 16 departments: the old chart drew them 715 px wide
            data["departments"][f"DEPT{i:02d}"] = {"active": 10 + i, "by_status": {"open": 10 + i},
                                                   "breached": 5 if i in (3, 7) else 0, "at_risk": 0,
                                                   "ack_overdue": 0, "due_today": 0}
        data["departments"]["DEPT07"]["breached"] = 9
        return data

    monkeypatch.setattr(pages_overview, "overview_svc", many)
    html = web.signin("manager").get("/overview").text
    svg = _load_svg(html)
    width = int(re.search(r'width="(\d+)"', svg).group(1))
    assert width <= PANEL_INNER_PX, width
    assert 'viewBox="0 0 ' in svg  # and it scales down in a narrower panel (.panel svg max-width)
    labels = [m for m in re.findall(r">(DEPT\d\d)<", svg)]
    # most overdue first (DEPT07: 9, DEPT03: 5), then most active
    assert labels[:4] == ["DEPT07", "DEPT03", "DEPT15", "DEPT14"], labels
    assert labels[-1] == "DEPT00"
    assert "Worst first: most overdue tasks, then most active tasks." in html
    zh = _load_svg(web.signin("manager_zh").get("/overview").text, "zh")
    assert "超时" in zh and "overdue" not in zh
