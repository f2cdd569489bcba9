"""Issue 18: one validation for every way in. The bad inputs found by the operator's try-out, each a clear
line/column/value error (never a traceback, never a silent cut), the same on SQLite and PostgreSQL; the API
and the import share every field's bounds."""

from __future__ import annotations

import json
from datetime import UTC

import pytest
from sqlalchemy import func, select

from closeloop.domain.errors import InvalidInput
from closeloop.domain.facts import MAX_CHARS, ComplaintFacts
from closeloop.services.intake.importing import ImportFailed, import_file
from models.tables import Complaint
from tests.api.conftest import api  # noqa: F401 - the API fixture

BASE = {"external_ref": "R-1", "received_at": "2026-03-01T10:00:00+08:00", "product": "Credit reporting",
        "category": "Credit reporting", "text": "wrong entry"}


def jsonl(tmp_path, *rows, name="in.jsonl"):
    path = tmp_path / name
    path.write_text("".join(json.dumps({**BASE, "external_ref": f"R-{i}", **r}) + "\n" for i, r in enumerate(rows)),
                    encoding="utf-8")
    return path


def refused(sessions, config, clock, path, **kw):
    with pytest.raises(ImportFailed) as failed:
        import_file(sessions, config, clock, path, **kw)
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(Complaint)) == 0  # nothing half-written
    return failed.value.report.errors


@pytest.mark.parametrize("row, column, problem", [
    ({"source": "s" * 33}, "source", "longer than 32"),
    ({"received_at": "0001-01-01T00:00:00+08:00"}, "received_at", "before 1990"),
    ({"received_at": "1970-01-01T00:00:00+00:00"}, "received_at", "before 1990"),
    ({"received_at": "9999-12-31T23:59:59-05:00"}, "received_at", "not a real date"),
    ({"text": "x" * (10 << 20)}, "text", "longer than 20,000"),
    ({"category": "c" * 300}, "category", "300 characters, longer than 255"),
    ({"tags": ["t" * 201]}, "tags", "longer than 200"),
])
def test_bad_rows_are_named_never_crash_never_cut(sessions, config, clock, tmp_path, row, column, problem):
    path = jsonl(tmp_path, {}, row)
    [err] = refused(sessions, config, clock, path)
    assert (err.line, err.column) == (2, column) and problem in err.problem
    assert len(err.value) < 300  # a huge value is quoted cut, with its length
    report = import_file(sessions, config, clock, path, skip_bad_rows=True)  # the good row still goes in
    assert (report.created, report.bad_rows) == (1, 1)
    with sessions() as s:
        stored = s.scalars(select(Complaint)).all()
    assert [c.external_ref for c in stored] == ["R-0"]


def test_a_field_over_the_csv_limit_is_a_bad_row(sessions, config, clock, tmp_path):
    path = tmp_path / "huge.csv"
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("external_ref,received_at,text\nA,2026-03-01T10:00:00+08:00,short\n")
        fh.write('B,2026-03-01T10:00:00+08:00,"' + "x" * (17 << 20) + '"\n')
    [err] = refused(sessions, config, clock, path)
    assert err.line == 3 and "unreadable CSV row" in err.problem and "field larger than field limit" in err.problem


def test_a_file_cut_inside_a_quoted_field_is_a_bad_row_naming_the_line(sessions, config, clock, tmp_path):
    path = tmp_path / "cut.csv"
    path.write_text('external_ref,received_at,text\nA,2026-03-01T10:00:00+08:00,"fine"\n'
                    'B,2026-03-01T11:00:00+08:00,"the customer wrote\nand then the file was cu', encoding="utf-8")
    [err] = refused(sessions, config, clock, path)
    assert err.line == 3 and "ends inside a quoted field" in err.problem
    assert import_file(sessions, config, clock, path, skip_bad_rows=True).created == 1


def test_api_refuses_what_the_import_refuses(api):  # noqa: F811 - the API fixture from tests.api.conftest
    r = api.post("manager", "/complaints", json={**BASE, "received_at": 0})
    assert r.status_code == 422 and r.json()["error"]["field"] == "received_at"
    assert "1990" in r.json()["error"]["message"]
    for field, value in (("source", "s" * 33), ("category", "c" * 256), ("text", "x" * 20_001)):
        r = api.post("manager", "/complaints", json={**BASE, field: value})
        assert r.status_code == 422 and r.json()["error"]["field"] == field, (field, r.text)
    r = api.post("manager", "/complaints", json={**BASE, "received_at": "2999-01-01T00:00:00Z"})
    assert r.status_code == 422 and r.json()["error"]["field"] == "received_at"
    with api.app.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Complaint)) == 0


def test_api_schema_bounds_are_the_shared_ones():
    from closeloop.api.schemas import ComplaintIn

    props = ComplaintIn.model_json_schema()["properties"]
    for name, limit in MAX_CHARS.items():
        if name in props:
            schema = props[name]
            found = schema.get("maxLength") or next(o.get("maxLength") for o in schema["anyOf"] if "maxLength" in o)
            assert found == limit, name
    with pytest.raises(InvalidInput) as e:
        from datetime import datetime
        ComplaintFacts(source="api", external_ref="x", received_at=datetime(1989, 12, 31, tzinfo=UTC))
    assert e.value.field == "received_at"


# ---- the upper date bound and the source rule, the API's, in every import format (issue 18)

FUTURE = "2999-01-01T00:00:00Z"


def _csv(tmp_path, name: str, header: str, *lines: str):
    path = tmp_path / name
    path.write_text(header + "\n" + "".join(line + "\n" for line in lines), encoding="utf-8")
    return path


CFPB_HEADER = "Date received,Product,Sub-product,Issue,Complaint ID"
NYC_HEADER = "Unique Key,Created Date,Complaint Type,Descriptor"
TWEETS_HEADER = "tweet_id,airline_sentiment,negativereason,airline,text,tweet_created"
FUTURE_FILES = {  # format -> (header, a good line, a line dated in 2999, the column named, the value shown)
    "closeloop": ("external_ref,received_at,category", "A,2026-03-01T10:00:00+08:00,billing",
                  f"B,{FUTURE},billing", "received_at", FUTURE),
    "cfpb": (CFPB_HEADER, "2026-03-01,Mortgage,,Payments,101", "2999-01-01,Mortgage,,Payments,102",
             "Date received", "2999-01-01"),
    "cfpb-2013": ("date_received,product,sub_product,issue,complaint_id", "03/01/2026,Mortgage,,Payments,101",
                  "01/01/2999,Mortgage,,Payments,102", "date_received", "01/01/2999"),
    "nyc311": (NYC_HEADER, "101,03/01/2026 10:00:00 AM,HEAT/HOT WATER,ENTIRE BUILDING",
               "102,01/01/2999 10:00:00 AM,HEAT/HOT WATER,ENTIRE BUILDING", "Created Date", "01/01/2999 10:00:00 AM"),
    "airline-tweets": (TWEETS_HEADER, "101,negative,Late Flight,United,late again,3/1/2026 10:00",
                       "102,negative,Late Flight,United,late again,1/1/2999 10:00", "tweet_created", "1/1/2999 10:00"),
}


@pytest.mark.parametrize("fmt", sorted(FUTURE_FILES))
def test_every_import_format_refuses_a_date_in_the_future_as_the_api_does(sessions, config, clock, tmp_path, fmt):
    header, good, future, column, value = FUTURE_FILES[fmt]
    path = _csv(tmp_path, f"{fmt}.csv", header, good, future)
    [err] = refused(sessions, config, clock, path)
    assert (err.line, err.column, err.value) == (3, column, value)
    assert "in the future" in err.problem and clock.now().isoformat() in err.problem
    report = import_file(sessions, config, clock, path, skip_bad_rows=True)
    assert (report.created, report.bad_rows) == (1, 1)


def test_jsonl_refuses_a_future_date_and_the_bound_is_the_clocks_now_plus_five_minutes(
        sessions, config, clock, tmp_path):
    from datetime import timedelta

    now = clock.now()
    inside, outside = (now + timedelta(minutes=m) for m in (5, 6))
    path = jsonl(tmp_path, {"received_at": inside.isoformat()}, {"received_at": outside.isoformat()},
                 {"received_at": FUTURE})
    errors = refused(sessions, config, clock, path)
    assert [(e.line, e.column, e.value) for e in errors] == [(2, "received_at", outside.isoformat()),
                                                             (3, "received_at", FUTURE)]
    clock.advance(timedelta(minutes=1))  # the bound moves with the injected clock, not the machine's
    assert import_file(sessions, config, clock, path, skip_bad_rows=True).created == 2


@pytest.mark.parametrize("source", ["CFPB", "web form", "crm/1", "来源", "s;drop"])
def test_the_import_applies_the_apis_source_rule(sessions, config, clock, tmp_path, source):
    for path in (jsonl(tmp_path, {}, {"source": source}),
                 _csv(tmp_path, "src.csv", "external_ref,received_at,source", "A,2026-03-01T10:00:00+08:00,crm-2",
                      f'B,2026-03-01T10:00:00+08:00,"{source}"')):
        [err] = refused(sessions, config, clock, path)
        assert (err.line, err.column, err.value) == (2 if path.suffix == ".jsonl" else 3, "source", source)
        assert "lower-case letters, digits" in err.problem


def test_the_api_and_the_import_share_the_source_rule(api):  # noqa: F811 - the API fixture from tests.api.conftest
    from closeloop.api.schemas import ComplaintIn
    from closeloop.domain.facts import SOURCE_PATTERN

    assert ComplaintIn.model_json_schema()["properties"]["source"]["pattern"] == f"^{SOURCE_PATTERN.pattern}$"
    r = api.post("manager", "/complaints", json={**BASE, "source": "web form"})
    assert r.status_code == 422 and r.json()["error"]["field"] == "source"
    r = api.post("manager", "/complaints", json={**BASE, "source": "crm-2"})
    assert r.status_code == 201, r.text


def test_a_zh_review_row_number_too_large_for_a_date_is_a_bad_row(sessions, config, clock, tmp_path):
    path = _csv(tmp_path, "zh.csv", "source_row,cat,label,review", "1,书籍,0,太差", "999999999999,书籍,0,太差")
    [err] = refused(sessions, config, clock, path)
    assert (err.line, err.column, err.value) == (3, "source_row", "999999999999") and "year 9999" in err.problem


@pytest.mark.parametrize("ref", ["..", ".", "a/..", "../x", "a/./b", "x\\.."])
def test_a_customer_ref_no_url_can_reach_is_refused_at_intake(sessions, config, clock, tmp_path, api, ref):  # noqa: F811
    """A ref of ".." was taken in, but /customers/.. is normalised away by the browser (and %2e%2e too)."""
    [err] = refused(sessions, config, clock, jsonl(tmp_path, {"customer_ref": "ok/1"}, {"customer_ref": ref}))
    assert (err.line, err.column, err.value) == (2, "customer_ref", ref) and "'.' and '..' are not refs" in err.problem
    csv = _csv(tmp_path, "refs.csv", "external_ref,received_at,customer_ref", "A,2026-03-01T10:00:00+08:00,c-1",
               f'B,2026-03-01T10:00:00+08:00,"{ref}"')
    [err] = refused(sessions, config, clock, csv)
    assert (err.line, err.column, err.value) == (3, "customer_ref", ref)
    r = api.post("manager", "/complaints", json={**BASE, "customer_ref": ref})
    assert r.status_code == 422 and r.json()["error"]["field"] == "customer_ref", r.text
    with api.app.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Complaint)) == 0


def test_refs_with_dots_or_slashes_that_a_url_can_carry_are_still_taken(api):  # noqa: F811
    for i, ref in enumerate(["...", "a/b", ".a", "a..b", "a/b.", "c/..d"]):
        r = api.post("manager", "/complaints", json={**BASE, "external_ref": f"D-{i}", "customer_ref": ref})
        assert r.status_code == 201, (ref, r.text)
