"""The import flow's logic, called as ``import_exports.fn(...)``: no Prefect server, no harness.

Outside a flow run the tasks run as plain functions and the artifact and tags are
skipped; these tests prove that path touches no Prefect API (and stays fast).
"""

from __future__ import annotations

import csv
import re
from pathlib import Path
from types import SimpleNamespace

import pytest

import flows.intake as intake_flow
from closeloop.services.intake.importing import ImportFailed
from flows.intake import import_exports, render_summary
from models import migrate
from models.db import make_engine

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "examples" / "cfpb_sample.csv"


def _data_rows(path: Path) -> int:
    with open(path, newline="", encoding="utf-8-sig") as fh:
        return sum(1 for _ in csv.DictReader(fh))


@pytest.fixture
def db_url(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'flow.db'}"
    engine = make_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    monkeypatch.setenv("CLOSELOOP_DATABASE_URL", url)
    monkeypatch.delenv("CLOSELOOP_CONFIG", raising=False)
    return url


@pytest.fixture
def no_prefect_api(monkeypatch):
    """Outside a flow run: no task engine, no artifact, no tags (each would reach for a Prefect API)."""
    def boom(*_a, **_k):
        raise AssertionError("artifact/tags must not be published outside a flow run")
    monkeypatch.setattr(intake_flow, "create_markdown_artifact", boom)
    monkeypatch.setattr(intake_flow, "_publish", boom)
    # only the plain function is reachable; calling the task itself would fail here
    monkeypatch.setattr(intake_flow, "import_one", SimpleNamespace(fn=intake_flow.import_one.fn))


def test_import_then_reimport_is_idempotent(db_url, no_prefect_api):
    rows = _data_rows(SAMPLE)
    assert rows > 0

    [first] = import_exports.fn([str(SAMPLE)])
    assert first["committed"] and first["format"] == "cfpb"
    assert (first["rows"], first["created"], first["duplicates"], first["bad_rows"]) == (rows, rows, 0, 0)
    assert first["tasks"] == sum(first["tasks_by_department"].values()) > 0

    [second] = import_exports.fn([str(SAMPLE)])
    assert second["committed"]
    assert (second["created"], second["duplicates"], second["tasks"]) == (0, rows, 0)


def test_bad_file_fails_with_the_report_in_the_message_and_writes_nothing(db_url, no_prefect_api, tmp_path):
    lines = SAMPLE.read_text(encoding="utf-8").splitlines()[:11]  # header + 10 rows
    lines[6] = "2023-13-45," + lines[6].split(",", 1)[1]  # physical line 7: an impossible date
    bad = tmp_path / "cfpb_bad.csv"
    bad.write_text("\n".join(lines) + "\n", encoding="utf-8")

    with pytest.raises(ImportFailed) as exc:
        import_exports.fn([str(bad)])
    message = str(exc.value)
    assert "1 bad row in" in message and "report: {" in message
    assert '"line": 7' in message and '"Date received"' in message and "2023-13-45" in message
    assert exc.value.report.bad_rows == 1 and not exc.value.report.committed

    # nothing was written: the whole sample still lands as new
    [report] = import_exports.fn([str(SAMPLE)])
    assert report["created"] == _data_rows(SAMPLE)


def test_skip_bad_rows_is_passed_through(db_url, no_prefect_api, tmp_path):
    lines = SAMPLE.read_text(encoding="utf-8").splitlines()[:11]
    lines[6] = "2023-13-45," + lines[6].split(",", 1)[1]
    bad = tmp_path / "cfpb_bad.csv"
    bad.write_text("\n".join(lines) + "\n", encoding="utf-8")

    [report] = import_exports.fn([str(bad)], skip_bad_rows=True)
    assert report["mode"] == "skip-bad-rows"
    assert (report["created"], report["bad_rows"], report["errors"][0]["line"]) == (9, 1, 7)


def test_summary_markdown_counts_and_failure():
    ok = {"path": "/x/a.csv", "format": "cfpb", "mode": "all-or-nothing", "rows": 3, "created": 2,
          "duplicates": 1, "rejected": 0, "routed_to_triage_queue": 0, "likely_duplicates": 0, "tasks": 4,
          "tasks_by_department": {"service": 2, "operations": 2}, "bad_rows": 0, "committed": True, "errors": []}
    failed = dict(ok, path="/x/b|c.csv", rows=5, created=0, duplicates=0, tasks=0, tasks_by_department={},
                  bad_rows=1, committed=False,
                  errors=[{"line": 7, "column": "Date received", "value": "2023-13-45", "problem": "bad date"}])
    md = render_summary([ok], ["/x/a.csv", "/x/b|c.csv", "/x/d.csv"], failed)
    assert "| a.csv | cfpb | all-or-nothing | 3 | 2 | 1 | 0 | 0 | 0 | 4 | 0 | yes |" in md
    assert "| **total** | | | 8 | 2 | 1 |" in md
    assert "Tasks by department: operations 2, service 2." in md
    assert "b\\|c.csv" in md and 'line 7, column Date received, value "2023-13-45": bad date' in md
    assert "Not attempted: d.csv." in md
    failed["errors"] = [{"line": 8, "column": "Issue", "value": "<b>x</b> `y` *z*", "problem": "too long"}]
    md = render_summary([ok], ["/x/a.csv", "/x/b|c.csv"], failed)
    assert 'value "&lt;b&gt;x&lt;/b&gt; \\`y\\` \\*z\\*": too long' in md  # user text escaped for Markdown


def test_artifact_key_is_valid():
    assert re.fullmatch(r"[a-z0-9-]+", intake_flow.ARTIFACT_KEY)


def test_the_import_flow_reads_the_encoding_it_is_given(db_url, no_prefect_api, tmp_path):
    """A gb18030 export through the flow (a deployment's parameter): it named ``--encoding``, which a flow run
    has no way to pass; the flow takes ``encoding`` as ``closeloop import`` does."""
    src = tmp_path / "zh.csv"
    src.write_bytes(("source_row,cat,label,review\n" + "".join(
        f"{i},书籍,0,这本书的印刷质量太差了，第{i}页\n" for i in range(1, 6))).encode("gb18030"))
    [report] = import_exports.fn([str(src)], encoding="gb18030")
    assert (report["format"], report["created"], report["bad_rows"]) == ("zh-reviews", 5, 0)
