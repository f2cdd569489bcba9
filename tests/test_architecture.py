"""Layering rules (import-linter contracts in pyproject.toml) and top-level package names."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_hold():
    exe = Path(sys.executable).with_name("lint-imports")
    res = subprocess.run([str(exe), "--config", str(ROOT / "pyproject.toml")], cwd=ROOT,
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Contracts: 4 kept, 0 broken" in res.stdout


def test_generic_top_level_names_resolve_inside_the_repo():
    for name in ("models", "flows", "integrations", "closeloop"):
        mod = importlib.import_module(name)
        assert Path(mod.__file__).resolve().is_relative_to(ROOT), (name, mod.__file__)


def test_domain_reads_no_clock():
    text = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "closeloop" / "domain").glob("*.py"))
    for needle in ("datetime.now(", "datetime.utcnow(", "date.today(", "time.time("):
        assert needle not in text
