"""The format of the export picks the replay's configuration unless one is given; the first line says which."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from closeloop.cli import app
from closeloop.replay_config import choose, detect_format
from tests.conftest import ROOT

NYC = ROOT / "examples" / "nyc311_sample.csv"


def _small_nyc(tmp_path: Path, n: int = 20) -> Path:
    small = tmp_path / "nyc.csv"
    small.write_text("\n".join(NYC.read_text("utf-8").splitlines()[:n + 1]) + "\n", "utf-8")
    return small


def test_an_nyc_export_is_replayed_with_the_nyc_agencies(tmp_path: Path, monkeypatch):
    monkeypatch.delenv("CLOSELOOP_CONFIG", raising=False)
    small = _small_nyc(tmp_path)
    res = CliRunner().invoke(app, ["replay", str(small), "--out", str(tmp_path / "out"), "--weeks", "1"],
                             catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert res.output.splitlines()[0].startswith("configuration: examples/nyc311.toml (picked for format nyc311")
    summary = json.loads((tmp_path / "out" / "summary.json").read_text("utf-8"))
    assert summary["config"].endswith("examples/nyc311.toml") and summary["rows"]["routed_to_triage_queue"] == 0
    assert not {"operations", "service", "product"} & set(summary["tasks"]["by_department"])
    # given explicitly, the configuration is taken as it is
    assert choose([small], "auto", str(ROOT / "closeloop" / "config" / "default.toml")).why.endswith("(given)")


def test_airline_tweets_group_records_per_airline_and_reason(tmp_path: Path, monkeypatch):
    monkeypatch.delenv("CLOSELOOP_CONFIG", raising=False)
    feed = tmp_path / "tweets.csv"
    lines = ["tweet_id,airline_sentiment,negativereason,airline,text,tweet_created"]
    for i in range(12):
        airline = ("United", "Delta")[i % 2]
        lines.append(f"{100 + i},negative,Late Flight,{airline},@{airline} late again #{i},2/2{i % 5}/2015 1{i % 9}:05")
    lines.append("200,positive,,Delta,@Delta thanks,2/24/2015 10:00")
    feed.write_text("\n".join(lines) + "\n", "utf-8")
    assert detect_format(feed, "auto") == "airline-tweets"
    chosen = choose([feed], "auto", None)
    assert chosen.config.model.improvement.match_on == ["company", "category"] and "airline-tweets" in chosen.why
    res = CliRunner().invoke(app, ["replay", str(feed), "--out", str(tmp_path / "out"), "--weeks", "1"],
                             catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert "picked for format airline-tweets" in res.output.splitlines()[0]
    from sqlalchemy import create_engine, select
    from sqlalchemy.orm import Session

    from models.tables import Improvement

    engine = create_engine(f"sqlite:///{tmp_path / 'out' / 'replay.db'}")
    with Session(engine) as s:
        matches = [r.match for r in s.scalars(select(Improvement))]
    engine.dispose()
    assert sorted(m["company"] for m in matches) == ["Delta", "United"]  # one record per airline, same reason
    assert all(m["category"] == "Late Flight" for m in matches)
