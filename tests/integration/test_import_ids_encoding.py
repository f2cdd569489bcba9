"""Issue 12, K16: an export's identifier column is validated per format (case 9), and a file in another
encoding is refused with a hint naming the likely encoding, or read with ``--encoding``."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from closeloop.domain.errors import InvalidInput
from closeloop.services.intake.importing import ImportFailed
from integrations.exports import UnknownFormat
from models.tables import Complaint, Message

from .helpers import count, run_import, write_csv

TWEETS = ["tweet_id", "airline_sentiment", "negativereason", "airline", "text", "tweet_created"]
ROWS = [["5.70301E+17", "negative", "Late Flight", "United", "@united three hours late again", "2/24/2015 11:35"],
        ["5.70301E+17", "negative", "Lost Luggage", "United", "@united where is my bag", "2/24/2015 11:36"],
        ["5.70301E+17", "negative", "Bad Flight", "Delta", "@delta seat broken", "2/24/2015 11:37"],
        ["570301031407624196", "negative", "Cancelled Flight", "Delta", "@delta cancelled twice", "2/24/2015 11:38"]]


def test_case9_excel_rounded_tweet_ids_are_bad_rows_never_duplicates(sessions, config, clock, tmp_path):
    path = write_csv(tmp_path / "tweets.csv", TWEETS, ROWS)
    with pytest.raises(ImportFailed) as exc:
        run_import(sessions, config, clock, path)
    report = exc.value.report
    assert [(e.line, e.column, e.value) for e in report.errors] == [(2, "tweet_id", "5.70301E+17"),
                                                                    (3, "tweet_id", "5.70301E+17"),
                                                                    (4, "tweet_id", "5.70301E+17")]
    assert "scientific notation" in report.errors[0].problem
    assert count(sessions, Complaint) == 0
    skipped = run_import(sessions, config, clock, path, skip_bad_rows=True)
    assert (skipped.created, skipped.duplicates, skipped.bad_rows) == (1, 0, 3)


@pytest.mark.parametrize("header,row,column", [
    (["Complaint ID", "Date received", "Product"], ["3.1E+06", "2023-01-05", "Mortgage"], "Complaint ID"),
    (["Complaint ID", "Date received", "Product"], ["ABC-1", "2023-01-05", "Mortgage"], "Complaint ID"),
    (["Unique Key", "Created Date", "Complaint Type"], ["2.7E+07", "12/25/2013 01:00:00 AM", "Noise"], "Unique Key"),
    (["Unique Key", "Created Date", "Complaint Type"], ["27 000 001", "12/25/2013 01:00:00 AM", "Noise"], "Unique Key"),
    (["source_row", "cat", "label", "review"], ["1.2E+04", "书籍", "0", "太差了"], "source_row"),
    (["external_ref", "received_at", "category"], ["9.9E+10", "2026-03-02T09:00:00+08:00", "billing"], "external_ref"),
])
def test_every_formats_id_column_refuses_a_value_that_cannot_be_its_id(sessions, config, clock, tmp_path,
                                                                        header, row, column):
    path = write_csv(tmp_path / "x.csv", header, [row])
    with pytest.raises(ImportFailed) as exc:
        run_import(sessions, config, clock, path)
    (err,) = exc.value.report.errors
    assert (err.line, err.column, err.value) == (2, column, row[0])


def _gbk_file(tmp_path):
    path = tmp_path / "reviews_gbk.csv"
    rows = [f"{i},书籍,0,这本书印刷质量太差了，纸张很薄，字迹模糊，完全不值这个价格，第{i}次购买也失望"
            for i in range(1, 40)]
    path.write_bytes(("source_row,cat,label,review\n" + "\n".join(rows) + "\n").encode("gbk"))
    return path


def test_a_gbk_file_is_refused_with_the_likely_encoding_named(sessions, config, clock, tmp_path):
    path = _gbk_file(tmp_path)
    with pytest.raises(UnknownFormat) as exc:
        run_import(sessions, config, clock, path)
    msg = str(exc.value)
    assert "--encoding gb18030" in msg and "latin1" not in msg
    assert count(sessions, Complaint) == 0


def test_a_gbk_file_is_read_with_encoding(sessions, config, clock, tmp_path):
    report = run_import(sessions, config, clock, _gbk_file(tmp_path), encoding="gb18030")
    assert report.created == 39
    with sessions() as s:
        body = s.scalar(select(Message.body).order_by(Message.id).limit(1))
    assert body.startswith("这本书印刷质量太差了")


def test_an_unknown_encoding_names_the_option(sessions, config, clock, tmp_path):
    with pytest.raises(InvalidInput) as exc:
        run_import(sessions, config, clock, _gbk_file(tmp_path), encoding="klingon")
    assert exc.value.field == "--encoding"
