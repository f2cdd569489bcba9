"""Issue 14 §9 on the dashboard (SQLite and PostgreSQL): the improvement-records page (list, detail, the
transitions a lead of the owning department or a manager may fire) and the compensation-approval page
(approve/reject by an approver role, never by the requester), CSRF-protected, in English and Chinese."""

from __future__ import annotations

import re

from sqlalchemy import select

from closeloop.services.capa import improvement
from closeloop.services.work import compensation
from models.tables import Compensation, EffectivenessCheck, Improvement, Transition
from tests.web.conftest import T0, csrf_of
from tests.web.test_complaint_work import _shown


def _record(web, cid: int) -> Improvement:
    return improvement.create(web.app.sessions, config=web.app.config, title="stale bureau entries",
                              owner_department="operations", actor="t", at=T0, complaint_ids=[cid])


def test_improvement_list_detail_and_transitions(web, complaints):
    rec = _record(web, complaints[0])
    lead = web.signin("lead")  # operations, Chinese
    page = lead.get("/improvements").text
    assert f'id="improvement-{rec.id}" data-status="proposed"' in page and "改进记录" in page
    page = lead.get(f"/improvements/{rec.id}").text
    assert 'id="fire-approve"' in page and 'id="fire-reject"' in page
    links = page.split('id="imp-complaints"', 1)[1].split("</table>", 1)[0]
    assert "<td>人工关联</td>" in links and ">manual<" not in links  # how it was linked, in the reader's language
    r = lead.post(f"/improvements/{rec.id}/fire/approve", data={"csrf": csrf_of(page), "version": str(rec.version)})
    assert _shown(lead, r).startswith("err: ") and "root_cause" in r.headers["location"]
    r = lead.post(f"/improvements/{rec.id}/fire/approve", data={"csrf": csrf_of(page), "version": str(rec.version),
                                                                "root_cause": "undetermined"})
    assert _shown(lead, r) == ("err: “根因说明”：根本原因为“未确定”时需填写备注，说明检查了什么。"
                               "未作任何修改。")  # the service's reason (was: "missing or not valid")
    code = next(iter(web.app.config.model.improvement.root_causes))
    r = lead.post(f"/improvements/{rec.id}/fire/approve", data={"csrf": csrf_of(page), "version": str(rec.version),
                                                                "root_cause": code})
    assert _shown(lead, r) == "ok: 已完成：批准。"
    r = lead.post(f"/improvements/{rec.id}/fire/start", data={"csrf": csrf_of(page), "version": str(rec.version)})
    assert "err=stale" in r.headers["location"]  # the version the first page showed
    with web.app.sessions() as s:
        assert s.get_one(Improvement, rec.id).status == "approved"
    assert lead.post(f"/improvements/{rec.id}/fire/start", data={"csrf": "x", "version": "1"}).status_code == 403
    member = web.signin("member")
    page = member.get(f"/improvements/{rec.id}").text
    assert "fire-" not in page  # a member reads, does not change
    assert member.post(f"/improvements/{rec.id}/fire/start", data={"csrf": csrf_of(page), "version": "2"}
                       ).status_code == 403
    other = web.signin("member_product")
    assert other.get(f"/improvements/{rec.id}").status_code == 403
    assert f"improvement-{rec.id}" not in other.get("/improvements").text


def _checks(web, rec: Improvement) -> None:
    """Two runs of the effectiveness check: too few complaints before the fix, then a 40 % reduction."""
    rule = {"min_reduction": 0.5, "min_before": 3}
    with web.app.sessions.begin() as s:
        s.add_all([EffectivenessCheck(improvement_id=rec.id, attempt=0, at=T0, window_days=28, implemented_at=T0,
                                      before_count=2, after_count=1, rate_before=2 / 28, rate_after=1 / 28,
                                      reduction=None, decision="not_enough_data", rule=rule),
                   EffectivenessCheck(improvement_id=rec.id, attempt=1, at=T0, window_days=56, implemented_at=T0,
                                      before_count=10, after_count=6, rate_before=10 / 56, rate_after=6 / 56,
                                      reduction=0.4, decision="ineffective", rule=rule)])


def test_the_record_page_shows_its_effectiveness_checks(web, complaints):
    """The page showed only "Effectiveness check due" beside the confirm forms, not the checks' evidence."""
    rec = _record(web, complaints[0])
    page = web.signin("manager").get(f"/improvements/{rec.id}").text
    assert 'id="imp-no-checks"' in page and "No effectiveness check has run yet." in page
    _checks(web, rec)
    page = web.signin("manager").get(f"/improvements/{rec.id}").text
    rows = page.split('id="imp-checks"', 1)[1].split("</table>", 1)[0]
    cells = [" ".join(re.sub(r"<[^>]+>", " ", row).split())
             for row in re.findall(r'<tr id="check-\d+"[^>]*>(.*?)</tr>', rows, re.S)]
    assert cells == [  # the time in the customer calendar's zone (New York)
        "2026-03-01 20:00 28 days 2 1 – not enough data rule: at least 50% fewer, from at least 3 before",
        "2026-03-01 20:00 56 days 10 6 40% not effective rule: at least 50% fewer, from at least 3 before"]
    assert "Effectiveness checks" in page and 'data-decision="ineffective"' in page
    zh = web.signin("lead").get(f"/improvements/{rec.id}").text.split('id="imp-checks-title"', 1)[1]
    assert "有效性检查" in zh and "数据不足" in zh and "无效" in zh and "56 天" in zh
    assert "规则：至少减少 50%，且实施前至少 3 件" in zh


def _key(web, name: str) -> str:
    """The identity (``compensation.person_key``) of the holder of the test token ``name``."""
    from models.tables import ApiToken

    with web.app.sessions() as s:
        row = s.scalars(select(ApiToken).where(ApiToken.name == name)).one()
        return compensation.person_key(row.id, row.user_id)


def test_compensation_approval_by_an_approver_never_the_requester(web, complaints):
    a = complaints[0]
    mine = compensation.add(web.app.sessions, a, config=web.app.config, kind="refund", amount="90000",
                            actor="someone (a free-text name)", requester=_key(web, "manager"), at=T0)
    theirs = compensation.add(web.app.sessions, a, config=web.app.config, kind="voucher", amount="80000",
                              actor="web:manager (manager)", requester=_key(web, "member"), at=T0)
    c = web.signin("manager")
    page = c.get("/compensation").text
    assert re.search(rf'id="entry-{mine.id}" data-status="pending_approval">.*?own-request', page, re.S)
    assert f'action="/compensation/{theirs.id}/approve"' in page
    assert f'action="/compensation/{mine.id}/approve"' not in page
    r = c.post(f"/compensation/{mine.id}/approve", data={"csrf": csrf_of(page)})
    assert _shown(c, r) == "err: You requested this compensation: another approver must decide it."
    r = c.post(f"/compensation/{theirs.id}/approve", data={"csrf": csrf_of(page)})
    assert _shown(c, r) == "ok: Done: Approve."
    r = c.post(f"/compensation/{theirs.id}/reject", data={"csrf": csrf_of(page), "note": "late"})
    assert _shown(c, r) == ("err: This entry was already decided since this page was loaded: nothing was changed; "
                            "the list shows its decision now.")  # the page's form came before the approval
    assert c.post(f"/compensation/{mine.id}/reject", data={"csrf": "x"}).status_code == 403
    with web.app.sessions() as s:
        rows = {e.id: (e.status, e.approver) for e in s.scalars(select(Compensation))}
    assert rows == {mine.id: ("pending_approval", None), theirs.id: ("approved", "web:manager (manager)")}
    admin = web.signin("admin")
    assert f'id="entry-{theirs.id}"' in admin.get("/compensation?status=approved").text
    lead = web.signin("lead")
    assert lead.get("/compensation").status_code == 403
    assert lead.post(f"/compensation/{mine.id}/approve", data={"csrf": csrf_of(lead.get("/my").text)}
                     ).status_code == 403
    zh = web.signin("manager_zh")
    assert "补偿审批" in zh.get("/compensation").text


def test_a_dashboard_rejection_needs_a_note_checked_by_the_server_and_keeps_it_whole(web, complaints):
    """The page's ``required`` was the only check (a blank note was taken), and the note was cut at 2,000
    characters while the API takes 5,000: now the service's rule and limit hold, shown like other form errors
    (too long said as such, with the limit, not "missing or not valid")."""
    e = compensation.add(web.app.sessions, complaints[0], config=web.app.config, kind="refund", amount="90000",
                         actor="agent", requester=_key(web, "member"), at=T0)
    c = web.signin("manager")
    page = c.get("/compensation").text
    assert f'name="note" required maxlength="{compensation.NOTE_MAX_CHARS}"' in page
    r = c.post(f"/compensation/{e.id}/reject", data={"csrf": csrf_of(page), "note": "   "})
    assert _shown(c, r) == "err: “Reason” is required."  # the form's own label, not the service's field
    r = c.post(f"/compensation/{e.id}/reject", data={"csrf": csrf_of(page), "note": "x" * 5001})
    assert _shown(c, r) == "err: “Reason” is longer than 5000 characters: nothing was changed."
    with web.app.sessions() as s:
        assert s.get_one(Compensation, e.id).status == "pending_approval"
    why = "over the budget " * 250  # 4,000 characters
    r = c.post(f"/compensation/{e.id}/reject", data={"csrf": csrf_of(page), "note": why})
    assert _shown(c, r) == "ok: Done: Reject."
    with web.app.sessions() as s:
        reason = s.scalar(select(Transition.reason).where(Transition.entity == "compensation",
                                                          Transition.entity_id == e.id))
    assert reason == why.strip()


def _proposed(web, cid: int, *, codes: bool, title: str | None = None) -> Improvement:
    """A record as recurrence detection proposes it (``codes``: with its texts' codes, as now; without: as before
    they were stored); ``title``: a person's instead."""
    from closeloop.domain.record_texts import recurring_texts
    from closeloop.services.uow import unit_of_work

    facts = [["category", "Debt collection"], ["product", "Loan"]]
    eng_title, problem, texts = recurring_texts(facts, 23, 14, "2026-03-01T09:00:00+00:00")
    with unit_of_work(web.app.sessions) as s:
        rec = improvement.create_in_session(
            s, config=web.app.config, title=title or eng_title, owner_department="operations",
            actor="system" if title is None else "ops-manager", at=T0, match={"category": "Debt collection",
                                                                              "product": "Loan"},
            complaint_ids=[cid], link_source="cluster", problem=problem, texts=texts if codes else {})
        if not codes and title is None:  # a create row written before codes were stored: no "texts" key
            row = s.scalars(select(Transition).where(Transition.entity == "improvement",
                                                     Transition.entity_id == rec.id)).one()
            row.data = {k: v for k, v in row.data.items() if k != "texts"}
        return rec


def test_the_engines_record_texts_are_shown_in_the_readers_language(web, complaints):
    """A Chinese manager read "Recurring complaints: category '…'" and "23 complaints with … proposed by
    recurrence detection" in English on /improvements and /improvements/{id}."""
    new = _proposed(web, complaints[0], codes=True)
    old = _proposed(web, complaints[0], codes=False)
    typed = _proposed(web, complaints[0], codes=False, title="Recurring complaints: category 'Debt collection', "
                                                             "product 'Loan'")
    zh = web.signin("manager_zh")
    listing = zh.get("/improvements").text
    for rec in (new, old):
        row = listing.split(f'id="improvement-{rec.id}"', 1)[1].split("</tr>", 1)[0]
        assert "重复出现的投诉：类别“Debt collection”，产品“Loan”" in row and "Recurring complaints" not in row
        page = zh.get(f"/improvements/{rec.id}").text
        assert '<dd id="imp-title">重复出现的投诉：类别“Debt collection”，产品“Loan”</dd>' in page
        problem = page.split('id="imp-problem">', 1)[1].split("</dd>", 1)[0]
        # the instant like the page's others, in its zone (New York), not "截至 2026-03-01T09:00:00+00:00"
        assert problem == ("14 天内（截至 2026-03-01 04:00）有 23 件类别“Debt collection”，产品“Loan”的投诉；"
                           "由重复投诉检测提出")
        history = page.split('id="imp-history"', 1)[1]
        assert "重复出现的投诉" in history and "Recurring complaints" not in history
    row = listing.split(f'id="improvement-{typed.id}"', 1)[1].split("</tr>", 1)[0]
    assert "Recurring complaints: category &#39;Debt collection&#39;, product &#39;Loan&#39;" in row  # as typed
    en = web.signin("manager").get(f"/improvements/{new.id}").text
    assert "Recurring complaints: category &#39;Debt collection&#39;, product &#39;Loan&#39;" in en
    assert ("23 complaints with category &#39;Debt collection&#39;, product &#39;Loan&#39; within 14 days (up to "
            "2026-03-01 04:00)") in en
    with web.app.sessions() as s:  # stored in English, as before (API, exports, review)
        stored = s.get_one(Improvement, new.id).title
    assert stored == "Recurring complaints: category 'Debt collection', product 'Loan'"
