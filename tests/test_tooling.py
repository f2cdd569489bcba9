"""The linters keep the tree clean: ruff (rules E, F, I, B, UP) and mypy (strict on ``closeloop.domain``).

Both read their configuration from pyproject.toml (``[tool.ruff]``, ``[tool.mypy]``), so ``make test`` and CI
fail on a new finding exactly as a developer running ``ruff check`` or ``mypy`` by hand would see it.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), cwd=ROOT, capture_output=True, text=True)


def test_ruff_finds_nothing():
    res = _run(sys.executable, "-m", "ruff", "check", "--no-fix", "--output-format", "concise", ".")
    assert res.returncode == 0, f"ruff check found problems:\n{res.stdout}{res.stderr}"


def test_mypy_finds_nothing():
    res = _run(sys.executable, "-m", "mypy")
    assert res.returncode == 0, f"mypy found problems:\n{res.stdout}{res.stderr}"
    assert "Success: no issues found" in res.stdout


def test_the_configured_selection_is_the_agreed_one():
    """A narrowed selection or a blanket ignore would make the two tests above pass vacuously."""
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]
    lint = cfg["ruff"]["lint"]
    assert {"E", "F", "I", "B", "UP"} <= set(lint["select"])
    assert set(lint.get("ignore", [])) <= {"B008"}
    assert cfg["mypy"]["files"] == ["closeloop", "models", "integrations", "flows"]
    domain = next(o for o in cfg["mypy"]["overrides"] if "closeloop.domain.*" in o["module"])
    strict_flags = ("disallow_untyped_defs", "disallow_any_generics", "disallow_untyped_calls",
                    "warn_return_any", "no_implicit_reexport", "strict_equality")
    assert all(domain.get(flag) is True for flag in strict_flags)
    assert not any(o.get("ignore_errors") for o in cfg["mypy"].get("overrides", []))
