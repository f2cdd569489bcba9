"""Optimistic locking under real concurrency: simultaneous completions of one task, one success."""

from __future__ import annotations

import threading

from sqlalchemy import func, select

from models.tables import Transition


def _race(api, task: dict) -> list[int]:
    barrier = threading.Barrier(2)
    statuses: list[int] = []
    lock = threading.Lock()

    def complete(who: str) -> None:
        barrier.wait()
        r = api.post(who, f"/tasks/{task['id']}/transitions",
                     {"trigger": "complete", "version": task["version"], "outcome": f"done by {who}"})
        with lock:
            statuses.append(r.status_code)

    threads = [threading.Thread(target=complete, args=(w,)) for w in ("member", "lead")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sorted(statuses)


def test_two_simultaneous_completions_end_with_exactly_one_success(api, complaints):
    tasks = api.get("manager", "/departments/operations/tasks").json()["items"]
    assert len(tasks) == 3
    for task in tasks:
        assert _race(api, task) == [200, 409]
        after = api.get("manager", f"/tasks/{task['id']}").json()["task"]
        assert after["status"] == "done" and after["version"] > task["version"]
        with api.app.sessions() as s:
            completions = s.scalar(select(func.count()).select_from(Transition).where(
                Transition.entity == "task", Transition.entity_id == task["id"], Transition.trigger == "complete"))
        assert completions == 1
