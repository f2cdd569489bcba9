"""What-if: the same export under two configurations, the differences side by side."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from typer.testing import CliRunner

from closeloop.cli import app
from closeloop.config import load_config
from closeloop.services.replay.compare import compare
from closeloop.services.replay.replay import run_replay
from tests.conftest import ROOT, shared_file

NYC_TOML = ROOT / "examples" / "nyc311.toml"


def _hpd_target(tmp_path: Path, hours: int) -> Path:
    """The NYC configuration with HPD's resolve target set to ``hours`` business hours for every severity."""
    path = tmp_path / f"nyc-hpd-{hours}h.toml"
    rows = "".join(f"P{i} = {{ acknowledge = 8, resolve = {hours} }}\n" for i in range(1, 5))
    path.write_text(NYC_TOML.read_text("utf-8") + f"\n[sla.departments.HPD]\n{rows}", "utf-8")
    return path


def test_a_longer_hpd_target_on_the_shared_nyc_day_gives_fewer_breaches(tmp_path: Path):
    day = shared_file("nyc311_2013_dec25/service_requests_2013-12-25.csv")
    runs = {}
    for hours in (24, 48):
        runs[hours] = run_replay([day], load_config(_hpd_target(tmp_path, hours)), tmp_path / f"h{hours}",
                                 step=timedelta(hours=4), horizon=timedelta(weeks=2))
    result = compare(runs[24], runs[48], labels=("24 h", "48 h"))
    hpd = (runs[24]["tasks"]["by_department"]["HPD"], runs[48]["tasks"]["by_department"]["HPD"])
    assert hpd[1]["breached_so_far_count"] < hpd[0]["breached_so_far_count"]
    breaches = result["totals"]["breaches"]
    assert breaches["b"] < breaches["a"] and breaches["change"] == breaches["b"] - breaches["a"] < 0
    # the other departments' policy did not change, and neither did the data: same work, same hours
    others = [d for d in runs[24]["tasks"]["by_department"] if d != "HPD"]
    for d in others:
        assert runs[24]["tasks"]["by_department"][d]["breached_so_far_count"] == \
            runs[48]["tasks"]["by_department"][d]["breached_so_far_count"]
    assert result["departments"]["HPD"]["a"] == result["departments"]["HPD"]["b"]  # real close times
    assert result["totals"]["escalations"]["b"] <= result["totals"]["escalations"]["a"]


def test_compare_option_prints_and_writes_the_differences(tmp_path: Path):
    small = tmp_path / "nyc.csv"
    small.write_text("\n".join((ROOT / "examples" / "nyc311_sample.csv").read_text("utf-8").splitlines()[:41]) + "\n",
                     "utf-8")
    res = CliRunner().invoke(app, ["replay", str(small), "--config", str(_hpd_target(tmp_path, 24)), "--compare",
                                   str(_hpd_target(tmp_path, 48)), "--out", str(tmp_path / "out"), "--weeks", "1"],
                             catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert "what-if" in res.output and "compared with:" in res.output
    result = json.loads((tmp_path / "out" / "compare.json").read_text("utf-8"))
    assert set(result["totals"]) == {"breaches", "escalations", "reminders", "resolution_promise_met",
                                     "resolution_promise_breached", "resolution_promise_breach_notices"}
    assert result["a"].endswith("nyc-hpd-24h.toml") and result["b"].endswith("nyc-hpd-48h.toml")
    assert (tmp_path / "out" / "base" / "summary.json").exists()
    assert (tmp_path / "out" / "compared" / "summary.json").exists()
    assert result["totals"]["breaches"]["b"] <= result["totals"]["breaches"]["a"]
