"""Issue 18: the manager's overview page shows the dead letters (messages nobody was told by)."""

from __future__ import annotations

from models.tables import Outbox

from .conftest import T0


def test_overview_page_shows_dead_letters_by_reason(web):
    page = web.signin("manager").get("/overview")
    assert page.status_code == 200 and 'id="dead-letters">0<' in page.text and "dead-letters-help" not in page.text
    with web.app.sessions.begin() as s:
        for i, reason in enumerate(("exhausted", "exhausted", "abandoned")):
            s.add(Outbox(idempotency_key=f"k{i}", channel="webhook", target="https://x", recipient="lead",
                         subject="s", body="b", payload={}, status="dead", dead_reason=reason, dead_at=T0,
                         attempts=3, next_attempt_at=T0, created_at=T0))
    page = web.signin("manager").get("/overview")
    assert 'id="dead-letters">3<' in page.text
    assert "abandoned 1, exhausted 2" in page.text and "closeloop outbox retry --all-dead" in page.text

    zh = web.signin("manager_zh").get("/overview")
    assert "处理进程多次中断 1, 重试次数已用尽 2" in zh.text and "exhausted" not in zh.text  # the reasons in Chinese
