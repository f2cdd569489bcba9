"""``closeloop stats`` counts rows recorded as not complaints apart, as the review and the replay's summary do:
it counted 416 positive reviews as complaints (``complaints`` 3,271 where 2,855 were complaints, every one of
them a P4 and a ``zh-reviews`` complaint)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from closeloop.cli import app

runner = CliRunner()

TWEETS = ("tweet_id,airline_sentiment,negativereason,airline,text,tweet_created\n"
          "570301031407624196,negative,Late Flight,United,@united two hours late again,2/24/2015 11:35\n"
          "570301031407624197,negative,Lost Luggage,Delta,@Delta where is my bag,2/24/2015 11:40\n"
          "570301031407624198,positive,,United,@united great crew thanks,2/24/2015 11:45\n")


def test_stats_count_rows_rejected_as_not_complaints_apart(tmp_path, monkeypatch):
    monkeypatch.setenv("CLOSELOOP_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.delenv("CLOSELOOP_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    feed = tmp_path / "tweets.csv"
    feed.write_text(TWEETS, encoding="utf-8")
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    res = runner.invoke(app, ["import", str(feed), "--json"])
    assert res.exit_code == 0 and json.loads(res.stdout[res.stdout.index("{"):])["rejected"] == 1, res.output

    st = json.loads(runner.invoke(app, ["stats", "--json"]).stdout)
    assert st["complaints"] == 2 and st["rejected_not_complaints"] == 1
    for key in ("complaints_by_status", "complaints_by_severity", "complaints_by_source"):
        assert sum(st[key].values()) == 2, (key, st[key])
    assert "rejected" not in st["complaints_by_status"]
    text = runner.invoke(app, ["stats"], env={"COLUMNS": "200"}).output
    assert text.startswith("complaints: 2 ") and "rejected as not complaints (counted apart): 1" in text
