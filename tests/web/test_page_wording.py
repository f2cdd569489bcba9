"""What an operations manager saw wrong on the pages (a screenshot review of a replayed database): links an
approver cannot open, amounts without their currency, times without their zone, the engine's words left in
English on Chinese pages, and one action named two ways."""

from __future__ import annotations

import re

from closeloop.services.capa import improvement
from closeloop.services.work import compensation
from closeloop.web.i18n_zh import ZH
from tests.web.conftest import T0
from tests.web.test_records_pages import _key


def _row(page: str, entry_id: int) -> str:
    return page.split(f'id="entry-{entry_id}"', 1)[1].split("</tr>", 1)[0]


def test_the_admins_compensation_page_links_only_to_pages_it_may_open(web, complaints):
    """An admin has only /compensation: the complaint numbers were links to a 403 page."""
    entry = compensation.add(web.app.sessions, complaints[0], config=web.app.config, kind="refund",
                             amount="90000", actor="web:manager (manager)", requester=_key(web, "manager"), at=T0)
    admin = web.signin("admin")
    page = admin.get("/compensation").text
    assert f'id="entry-{entry.id}"' in page
    hrefs = set(re.findall(r'href="(/[^"#]*)"', page)) - {"/signout"}
    assert hrefs, "the page has no links at all"
    for href in sorted(hrefs):
        assert admin.get(href.replace("&amp;", "&")).status_code == 200, href
    manager = web.signin("manager").get("/compensation").text
    assert f'href="/complaints/{complaints[0]}"' in _row(manager, entry.id)  # a manager may open it


def test_the_cap_carries_its_currency_and_the_times_their_zone(web, complaints):
    """The cap read "100.00" beside "999.50 USD"; the request times named no zone."""
    entry = compensation.add(web.app.sessions, complaints[0], config=web.app.config, kind="refund",
                             amount="90000", actor="web:manager (manager)", requester=_key(web, "member"), at=T0)
    page = web.signin("manager").get("/compensation").text
    cells = re.findall(r'<td class="num"[^>]*>([^<]*)</td>', _row(page, entry.id))
    assert len(cells) == 2 and all(c.endswith(f" {entry.currency}") for c in cells), cells  # amount, cap
    zone = str(web.app.config.customer_calendar.zone)
    assert f'id="comp-zone">Times in {zone}</p>' in page


def test_a_chinese_customer_page_names_the_compensation_kind_in_chinese(web, complaints):
    compensation.add(web.app.sessions, complaints[0], config=web.app.config, kind="refund", amount="10",
                     actor="web:manager (manager)", requester=_key(web, "manager"), at=T0)
    zh = web.signin("manager_zh")
    ref = re.search(r'href="(/customers/[^"]+)"', zh.get(f"/complaints/{complaints[0]}").text)
    assert ref, "the complaint has no customer link"
    table = zh.get(ref.group(1)).text.split('id="customer-compensation"', 1)[1].split("</table>", 1)[0]
    assert "<td>退款</td>" in table and ">refund<" not in table


def test_improvement_pages_translate_the_engines_actor_and_name_their_zone(web, complaints):
    """A record the engine proposed said "system" on the Chinese page; the list's check date was UTC, unlabelled."""
    rec = improvement.create(web.app.sessions, config=web.app.config, title="stale bureau entries",
                             owner_department="operations", actor="system", at=T0, complaint_ids=[complaints[0]])
    zone = str(web.app.config.customer_calendar.zone)
    lead = web.signin("lead")  # Chinese
    page = lead.get(f"/improvements/{rec.id}").text
    assert "· 系统" in page and "· system" not in page and ">system<" not in page
    assert f'id="imp-zone">时间为 {zone} 时区</p>' in page
    listing = web.signin("manager").get("/improvements").text
    assert f'id="imp-zone">Times in {zone}</p>' in listing


def test_one_action_has_one_chinese_name_on_every_page():
    """The queue's buttons say 确认 / 转交; the timeline called the same triggers 受理 / 转派."""
    for trigger in ("acknowledge", "transfer"):
        assert ZH[f"timeline.trigger.{trigger}"] == ZH[f"action.{trigger}"]


def test_the_complaint_list_keeps_a_customer_reference_on_one_line(web, complaints):
    """At 1400 px "CUST-ZH-1" broke after its hyphen, the "1" alone on the next line."""
    page = web.signin("manager").get("/complaints").text
    cells = re.findall(r'<td([^>]*)><a href="/customers/[^"]*" class="customer-link">', page)
    assert cells and all('white-space:nowrap' in c for c in cells), cells
