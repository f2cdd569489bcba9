"""Issue 14: ``closeloop complaints search`` on real exports (CFPB sample; Chinese shopping reviews)."""

from __future__ import annotations

import csv
import json

import pytest

from tests.conftest import ROOT, shared_file
from tests.integration.test_cli import cli_env, run  # noqa: F401


def test_search_cfpb_by_company_reference_and_filters(cli_env):  # noqa: F811
    assert run("db", "upgrade").exit_code == 0
    assert run("import", str(ROOT / "examples" / "cfpb_sample.csv")).exit_code == 0
    with open(ROOT / "examples" / "cfpb_sample.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    equifax = {r["Complaint ID"] for r in rows if "equifax" in r["Company"].lower()}
    res = run("complaints", "search", "Equifax", "--json", "--limit", "1000")
    assert res.exit_code == 0, res.output
    got = json.loads(res.output)
    assert got["total"] == len(equifax) > 0
    assert {i["external_ref"] for i in got["items"]} == equifax
    received = [i["received_at"] for i in got["items"]]
    assert received == sorted(received, reverse=True)  # newest first by default
    ref = rows[0]["Complaint ID"]
    one = json.loads(run("complaints", "search", ref, "--json").output)
    assert [i["external_ref"] for i in one["items"]] == [ref]
    assert json.loads(run("complaints", "search", "Equifax", "--status", "closed", "--json").output)["total"] == 0
    bad = run("complaints", "search", "Equifax", "--department", "nowhere")
    assert bad.exit_code == 2 and "department" in bad.output


@pytest.mark.shared_data
def test_search_chinese_reviews(cli_env):  # noqa: F811
    path = shared_file("zh_online_shopping_reviews/online_shopping_sample.csv")
    assert run("db", "upgrade").exit_code == 0
    assert run("import", str(path), "--format", "zh-reviews").exit_code == 0
    with open(path, newline="") as fh:
        reviews = list(csv.DictReader(fh))
    word = "质量"  # "quality"
    expected = {r["source_row"] for r in reviews if word in r["review"]}
    got = json.loads(run("complaints", "search", word, "--json", "--limit", "10000").output)
    refs = {i["external_ref"] for i in got["items"]}
    assert got["total"] == len(expected) > 0
    assert refs == expected  # the reference is the source row


def test_search_finds_a_complaint_by_the_number_customers_are_given(cli_env):  # noqa: F811
    """Every mail to the customer names the complaint ``CL-123`` (``[CL-123]`` in the subject); an agent who
    searched for the number the customer read out got "0 matches"."""
    assert run("db", "upgrade").exit_code == 0
    assert run("import", str(ROOT / "examples" / "cfpb_sample.csv")).exit_code == 0
    for query in ("17", "CL-17", "cl-17", "[CL-17]", " [cl-17] "):
        got = json.loads(run("complaints", "search", query, "--json").output)
        assert [i["id"] for i in got["items"]] == [17], query
    for query in ("CL-", "CL-17x", "XCL-17", "[CL-17"):
        got = json.loads(run("complaints", "search", query, "--json").output)
        assert 17 not in [i["id"] for i in got["items"]], query
