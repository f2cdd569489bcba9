"""A fact the shared field rules refuse after parsing (``ComplaintFacts.__post_init__``) is reported under the
file's own column for its format, with the value quoted cut and its length (README), never under the fact's
name the file does not have and never with an empty value; customer columns stay unechoed (personal data)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from integrations.exports import ParsedRow, RowError, read_export
from integrations.formats import CONTACT_COLUMNS, CUSTOMER_COLUMNS, SHOWN_COLUMNS

LONG = "x" * 25_000
HIDDEN = (set(CUSTOMER_COLUMNS) | set(CONTACT_COLUMNS)) - SHOWN_COLUMNS  # personal data: never echoed
CLOSELOOP_ROW = {"external_ref": "R-1", "received_at": "2026-03-01T10:00:00+08:00", "source": "web",
                 "customer_ref": "c-1", "category": "billing", "subcategory": "fees", "product": "card",
                 "sub_product": "gold", "issue": "fee", "sub_issue": "late fee", "channel": "web", "company": "ACME",
                 "region": "north", "text": "charged twice", "tags": "a;b", "customer_name": "Test Person",
                 "customer_language": "en", "customer_time_zone": "UTC", "customer_email": "test@example.org",
                 "customer_email_consent": "true"}
ROWS = {  # format -> one valid row of it, every column its profile reads filled
    "cfpb": {"Date received": "2023-07-03", "Product": "Mortgage", "Sub-product": "FHA mortgage",
             "Issue": "Trouble during payment process", "Sub-issue": "Escrow", "Consumer complaint narrative": "late",
             "Company public response": "", "Company": "ACME BANK", "State": "CA", "ZIP code": "90001",
             "Tags": "Older American", "Consumer consent provided?": "Consent provided", "Submitted via": "Web",
             "Date sent to company": "2023-07-03", "Company response to consumer": "Closed with explanation",
             "Timely response?": "Yes", "Consumer disputed?": "No", "Complaint ID": "7000001"},
    "cfpb-2013": {"date_received": "07/03/2013", "product": "Mortgage", "sub_product": "FHA mortgage",
                  "issue": "Loan servicing", "sub_issue": "", "consumer_complaint_narrative": "late",
                  "company": "ACME BANK", "state": "CA", "tags": "", "submitted_via": "Web",
                  "date_sent_to_company": "07/03/2013", "company_response_to_consumer": "Closed with explanation",
                  "timely_response": "Yes", "consumer_disputed?": "No", "complaint_id": "400001"},
    "nyc311": {"Unique Key": "27000001", "Created Date": "12/25/2013 10:00:00 AM",
               "Closed Date": "12/26/2013 10:00:00 AM", "Agency": "HPD", "Agency Name": "Housing",
               "Complaint Type": "HEAT/HOT WATER", "Descriptor": "ENTIRE BUILDING", "Status": "Closed",
               "Due Date": "12/27/2013 10:00:00 AM", "Resolution Description": "fixed",
               "Resolution Action Updated Date": "12/26/2013 10:00:00 AM", "Borough": "BRONX",
               "Open Data Channel Type": "PHONE"},
    "airline-tweets": {"tweet_id": "570301031407624196", "airline_sentiment": "negative",
                       "negativereason": "Late Flight", "airline": "United", "text": "late again",
                       "tweet_created": "2/24/2015 11:35"},
    "zh-reviews": {"source_row": "12", "cat": "书籍", "label": "0", "review": "太差了"},
    "closeloop": CLOSELOOP_ROW,
    "jsonl": CLOSELOOP_ROW,
}
CASES = [(fmt, column) for fmt, row in ROWS.items() for column in row]


def _file(tmp_path: Path, fmt: str, row: dict[str, str]) -> Path:
    if fmt == "jsonl":
        path = tmp_path / "in.jsonl"
        path.write_text(json.dumps(row, ensure_ascii=False) + "\n", "utf-8")
        return path
    path = tmp_path / "in.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, list(row))
        writer.writeheader()
        writer.writerow(row)
    return path


@pytest.mark.parametrize("fmt", sorted(ROWS))
def test_the_sample_rows_are_valid(tmp_path: Path, fmt: str):
    [item] = read_export(_file(tmp_path, fmt, ROWS[fmt]))
    assert isinstance(item, ParsedRow), item


@pytest.mark.parametrize("fmt, column", CASES)
def test_an_over_long_value_is_reported_under_the_files_column_quoted_cut(tmp_path: Path, fmt: str, column: str):
    [item] = read_export(_file(tmp_path, fmt, {**ROWS[fmt], column: LONG}))
    if isinstance(item, ParsedRow):  # a column no fact comes from (kept apart, or read as a flag)
        return
    assert isinstance(item, RowError)
    assert (item.line, item.column) == (1 if fmt == "jsonl" else 2, column), item
    if column in HIDDEN:
        assert item.value == "" and "x" not in item.problem and item.withheld, item  # named, never echoed
        assert "value withheld (personal data)" in str(item) and "value ''" not in str(item)
    else:
        assert item.value == "x" * 200 + "... (25,000 characters)", item


@pytest.mark.parametrize("fmt, column", [("cfpb", "Consumer complaint narrative"),
                                         ("cfpb-2013", "consumer_complaint_narrative"), ("nyc311", "Agency"),
                                         ("nyc311", "Complaint Type"), ("airline-tweets", "text"),
                                         ("zh-reviews", "review"), ("closeloop", "text")])
def test_the_facts_rules_do_refuse_these_columns(tmp_path: Path, fmt: str, column: str):
    """The fact checks behind the test above do reach the columns the profiles map (not a vacuous pass)."""
    [item] = read_export(_file(tmp_path, fmt, {**ROWS[fmt], column: LONG}))
    assert isinstance(item, RowError) and item.column == column and "longer than" in item.problem
