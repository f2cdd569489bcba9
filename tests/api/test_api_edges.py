"""Edge cases found by trying to break the API (issue 7): each is a 4xx in the one error shape that
names the field, changes nothing, and concurrent idempotent intake answers 201 exactly once."""

from __future__ import annotations

import threading

from sqlalchemy import func, select

from models.tables import Complaint, Transition


def _transitions(api, task_id: int) -> int:
    with api.app.sessions() as s:
        return s.scalar(select(func.count()).select_from(Transition).where(
            Transition.entity == "task", Transition.entity_id == task_id))


def test_a_boolean_is_not_a_version(api, complaints):
    task = api.get("member", "/departments/operations/tasks").json()["items"][0]
    before = _transitions(api, task["id"])
    for field, value in (("version", True), ("version", "1")):
        r = api.post("member", f"/tasks/{task['id']}/transitions", {"trigger": "acknowledge", field: value})
        assert r.status_code == 422, (value, r.text)
        assert r.json()["error"]["field"] == "version"
    r = api.post("manager", f"/complaints/{task['complaint_id']}/transitions",
                 {"trigger": "merge", "into": True, "reason": "x"})
    assert r.status_code == 422 and r.json()["error"]["field"] == "into"
    assert _transitions(api, task["id"]) == before
    assert api.get("member", f"/tasks/{task['id']}").json()["task"]["status"] == "open"


def test_malformed_json_names_the_body(api, complaints):
    task = api.get("member", "/departments/operations/tasks").json()["items"][0]
    r = api.client.post(f"/api/v1/tasks/{task['id']}/transitions", content=b'{"trigger": "acknowledge", ',
                        headers={**api.h("member"), "Content-Type": "application/json"})
    assert r.status_code == 422
    err = r.json()["error"]
    assert err["field"] == "body" and "JSON" in err["message"]
    assert err["details"][0]["field"] == "body"


def test_a_complaint_received_in_the_future_is_refused(api):
    now = api.app.clock.now()
    body = {"external_ref": "FUT-1", "received_at": "2199-01-01T00:00:00Z", "product": "Mortgage"}
    r = api.post("manager", "/complaints", json=body)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"] == "received_at" and "future" in r.json()["error"]["message"]
    with api.app.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Complaint)) == 0
    # a receiving system's clock a little ahead is fine
    r = api.post("manager", "/complaints", json={**body, "received_at": now.replace(minute=now.minute + 1).isoformat()})
    assert r.status_code == 201, r.text


def test_concurrent_intake_of_one_reference_is_one_201_and_the_rest_200(api):
    n = 4
    for k in range(3):
        body = {"external_ref": f"RACE-{k}", "received_at": "2026-03-01T09:00:00Z", "product": "Mortgage"}
        barrier = threading.Barrier(n)
        out: list = []
        lock = threading.Lock()

        def post(barrier=barrier, body=body, lock=lock, out=out) -> None:
            barrier.wait()
            r = api.post("manager", "/complaints", json=body)
            with lock:
                out.append((r.status_code, r.json()["created"], r.json()["complaint"]["id"]))

        threads = [threading.Thread(target=post) for _ in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(out) == n
        assert len({cid for _, _, cid in out}) == 1
        assert sorted(code for code, _, _ in out) == [200] * (n - 1) + [201], out
        assert sorted(created for _, created, _ in out) == [False] * (n - 1) + [True]
    with api.app.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Complaint)) == 3


def test_a_reference_committed_by_a_concurrent_request_after_the_first_check_is_200(api, monkeypatch):
    """The loser of the race may miss the winner's row in its first look-up and find it in the batch's
    own idempotency check (SQLite reads outside the write transaction): still 200, created false."""
    import closeloop.services.intake.intake_one as intake_one

    body = {"external_ref": "LATE-1", "received_at": "2026-03-01T09:00:00Z", "product": "Mortgage"}
    first = api.post("manager", "/complaints", json=body)
    assert first.status_code == 201
    monkeypatch.setattr(intake_one, "_existing", lambda session, facts: None)
    again = api.post("manager", "/complaints", json=body)
    assert again.json()["complaint"]["id"] == first.json()["complaint"]["id"]
    assert again.status_code == 200 and again.json()["created"] is False


def _record(api, owner: str, complaint_ids: list[int]) -> int:
    from closeloop.services.capa import improvement as svc

    return svc.create(api.app.sessions, config=api.app.config, title=f"{owner} record", owner_department=owner,
                      actor="test", at=api.app.clock.now(), complaint_ids=complaint_ids).id


def test_a_lead_links_only_complaints_its_department_touches(api, complaints):
    from tests.integration.helpers import facts, intake

    rid = _record(api, "operations", complaints[:1])
    # routed to product and service only: operations has no task on it
    (loan,) = intake(api.app.sessions, api.app.config, api.app.clock.now(),
                     [facts("L-1", api.app.clock.now(), product="Student loan", category="Student loan")])
    assert api.get("lead", f"/complaints/{loan}").status_code == 403
    r = api.post("lead", f"/improvements/{rid}/complaints", {"complaint_ids": [complaints[1], loan]})
    assert r.status_code == 403, r.text
    assert str(loan) in r.json()["error"]["message"]
    linked = [c["complaint_id"] for c in api.get("manager", f"/improvements/{rid}").json()["complaints"]]
    assert linked == complaints[:1]  # nothing half-linked
    assert api.post("lead", f"/improvements/{rid}/complaints", {"complaint_ids": [complaints[1]]}).json()["linked"] == 1
    assert api.post("manager", f"/improvements/{rid}/complaints", {"complaint_ids": [loan]}).json()["linked"] == 1
    r = api.post("manager", f"/improvements/{rid}/complaints", {"complaint_ids": [2**40]})
    assert r.status_code == 422 and r.json()["error"]["field"].startswith("complaint_ids")
    r = api.post("lead", f"/improvements/{rid}/transitions", {"trigger": "start", "version": True})
    assert r.status_code == 422 and r.json()["error"]["field"] == "version"


def test_a_member_sees_its_departments_records_behind_newer_ones_of_others(api, complaints):
    mine = _record(api, "operations", complaints[:1])
    for _ in range(3):
        _record(api, "service", complaints[:1])
    assert [i["record"]["id"] for i in api.get("member", "/improvements?limit=2").json()] == [mine]
    assert len(api.get("member_service", "/improvements?limit=2").json()) == 2
    assert len(api.get("manager", "/improvements?limit=2").json()) == 2


def _at_once(*calls) -> list:
    """Run the calls in threads released together; their results in call order."""
    barrier = threading.Barrier(len(calls))
    out: list = [None] * len(calls)

    def run(i: int) -> None:
        barrier.wait()
        out[i] = calls[i]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def test_two_transfers_of_one_task_at_once_move_it_once(api, complaints):
    tasks = api.get("manager", "/departments/operations/tasks").json()["items"]
    for task in tasks:
        url = f"/tasks/{task['id']}/transitions"
        r1, r2 = _at_once(
            lambda url=url: api.post("member", url, {"trigger": "transfer", "to": "service", "reason": "theirs"}),
            lambda url=url: api.post("lead", url, {"trigger": "transfer", "to": "product", "reason": "theirs"}))
        assert sorted([r1.status_code, r2.status_code]) == [200, 409], (r1.text, r2.text)
        detail = api.get("manager", f"/complaints/{task['complaint_id']}").json()
        moved = [t for t in detail["tasks"] if t["transferred_from_id"] == task["id"]]
        assert len(moved) == 1 and detail["complaint"]["transfer_count"] == 1


def test_two_complaints_merged_into_each_other_at_once_make_no_cycle(api, complaints):
    """Both requests carry the same instant (the fixed test clock; a coarse clock in production): the
    survivor's version must still move, or the loser merges the survivor into itself."""
    a, b = complaints[0], complaints[1]
    same = {"trigger": "merge", "reason": "same"}
    r1, r2 = _at_once(lambda: api.post("manager", f"/complaints/{a}/transitions", same | {"into": b}),
                      lambda: api.post("manager", f"/complaints/{b}/transitions", same | {"into": a}))
    assert sorted([r1.status_code, r2.status_code]) == [200, 409], (r1.text, r2.text)
    with api.app.sessions() as s:
        merged = {c.id: c.merged_into_id for c in s.scalars(select(Complaint).where(Complaint.id.in_([a, b])))}
    assert sorted(v is None for v in merged.values()) == [False, True], merged


def test_an_unknown_department_filter_is_a_422_not_an_empty_list(api, complaints):
    r = api.get("manager", "/complaints?department=operatons")
    assert r.status_code == 422 and r.json()["error"]["field"] == "department"
    assert "operatons" in r.json()["error"]["message"]
    assert api.get("member", "/complaints?department=operatons").status_code == 403  # not its department
    assert api.get("manager", "/complaints?department=operations").json()["total"] == 3


def test_a_huge_tag_is_refused(api):
    body = {"external_ref": "TAG-1", "received_at": "2026-03-01T09:00:00Z", "tags": ["ok", "x" * 10_000]}
    r = api.post("manager", "/complaints", json=body)
    assert r.status_code == 422 and r.json()["error"]["field"] == "tags.1", r.text
    with api.app.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Complaint)) == 0
    assert api.post("manager", "/complaints", json={**body, "tags": ["ok", "x" * 100]}).status_code == 201


def test_two_complaints_of_one_new_customer_taken_in_at_once_are_both_created(api):
    for k in range(3):
        def post(i: int, k=k):
            return lambda: api.post("manager", "/complaints", json={
                "external_ref": f"CUST-{k}-{i}", "received_at": "2026-03-01T09:00:00Z", "product": "Mortgage",
                "customer_ref": f"new-customer-{k}"})

        out = _at_once(post(0), post(1), post(2))
        assert [r.status_code for r in out] == [201, 201, 201], [r.text[:200] for r in out]
    with api.app.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Complaint)) == 9
        assert s.scalar(select(func.count(func.distinct(Complaint.customer_id)))) == 3


def test_one_complaint_linked_to_a_record_twice_at_once_is_linked_once(api, complaints):
    rid = _record(api, "operations", complaints[:1])
    out = _at_once(*[lambda: api.post("manager", f"/improvements/{rid}/complaints", {"complaint_ids": complaints[1:]})
                     for _ in range(3)])
    assert all(r is not None and r.status_code == 200 for r in out), [getattr(r, "text", None) for r in out]
    assert sum(r.json()["linked"] for r in out) == 2
    linked = [c["complaint_id"] for c in api.get("manager", f"/improvements/{rid}").json()["complaints"]]
    assert linked == complaints


def test_the_last_two_prerequisites_completed_at_once_unblock_the_dependent_task(api, complaints):
    """Each completion alone saw the other task still active: the dependent task stayed blocked for good."""
    from tests.integration.helpers import facts, intake

    now = api.app.clock.now()
    more = intake(api.app.sessions, api.app.config, now,
                  [facts(f"MORT-{k}", now, product="Mortgage", category="Mortgage") for k in range(3)])
    for mortgage in [complaints[2], *more]:  # operations review-account and product review-terms; service waits
        _race_prerequisites(api, mortgage)


def test_a_prerequisite_cancelled_while_the_other_completes_unblocks_the_dependent_task(api, complaints):
    from tests.integration.helpers import facts, intake

    now = api.app.clock.now()
    more = intake(api.app.sessions, api.app.config, now,
                  [facts(f"MORT-{k}", now, product="Mortgage", category="Mortgage") for k in range(4)])
    for mortgage in more:
        _race_prerequisites(api, mortgage, cancel="operations")


def _race_prerequisites(api, mortgage: int, cancel: str | None = None) -> None:
    tasks = {t["department"]: t for t in api.get("manager", f"/complaints/{mortgage}").json()["tasks"]}
    assert tasks["service"]["status"] == "blocked"
    for dept in ("operations", "product"):  # work has begun: the complaint is in progress
        r = api.post("manager", f"/tasks/{tasks[dept]['id']}/transitions", {"trigger": "start"})
        assert r.status_code == 200, r.text
    out = _at_once(*[lambda d=d: api.post("manager", f"/tasks/{tasks[d]['id']}/transitions",
                                          {"trigger": "cancel", "reason": "not needed"} if d == cancel else
                                          {"trigger": "complete", "outcome": f"{d} done"})
                     for d in ("operations", "product")])
    if cancel:
        assert sorted(r.status_code for r in out) == [200, 200], [r.text[:200] for r in out]
        after = {t["department"]: t["status"] for t in api.get("manager", f"/complaints/{mortgage}").json()["tasks"]}
        assert after[cancel] == "cancelled" and after["service"] == "open", after
        return
    codes = sorted(r.status_code for r in out)
    after = {t["department"]: t["status"] for t in api.get("manager", f"/complaints/{mortgage}").json()["tasks"]}
    if codes == [200, 409]:  # the loser may try again: then both are done
        loser = "operations" if after["operations"] != "done" else "product"
        r = api.post("manager", f"/tasks/{tasks[loser]['id']}/transitions", {"trigger": "complete", "outcome": "again"})
        assert r.status_code == 200, r.text
        after = {t["department"]: t["status"] for t in api.get("manager", f"/complaints/{mortgage}").json()["tasks"]}
    else:
        assert codes == [200, 200]
    assert after["operations"] == after["product"] == "done"
    assert after["service"] == "open", after  # never stranded as blocked
