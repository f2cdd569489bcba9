"""``CLOSELOOP_CLOCK_AT``: the one switch that makes a process (a flow, the CLI) run as of a given instant."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from closeloop.bootstrap import build_app
from closeloop.clock import FixedClock, SystemClock
from closeloop.settings import Settings


def test_an_instant_with_an_offset_pins_the_apps_clock(tmp_path, monkeypatch):
    monkeypatch.setenv("CLOSELOOP_CLOCK_AT", "2026-03-02T09:00:00+08:00")
    monkeypatch.setenv("CLOSELOOP_DATABASE_URL", f"sqlite:///{tmp_path / 'c.db'}")
    app = build_app()
    try:
        assert isinstance(app.clock, FixedClock)
        assert app.clock.now() == datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
    finally:
        app.dispose()


def test_without_it_the_system_clock_and_a_given_clock_wins(tmp_path, monkeypatch):
    monkeypatch.delenv("CLOSELOOP_CLOCK_AT", raising=False)
    monkeypatch.setenv("CLOSELOOP_DATABASE_URL", f"sqlite:///{tmp_path / 'c.db'}")
    app = build_app()
    given = build_app(Settings(clock_at=datetime(2026, 1, 1, tzinfo=UTC)),
                      clock=FixedClock(datetime(2030, 1, 1, tzinfo=UTC)))
    try:
        assert isinstance(app.clock, SystemClock)
        assert given.clock.now().year == 2030
    finally:
        app.dispose()
        given.dispose()


def test_a_naive_instant_is_refused_naming_the_setting():
    with pytest.raises(ValidationError) as exc:
        Settings(clock_at="2026-03-02T09:00:00")
    assert "clock_at" in str(exc.value) and "offset" in str(exc.value)
