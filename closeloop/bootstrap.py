"""Composition root: settings -> engine, session factory, configuration, clock.

Everything outside (CLI, flows, tests) builds an :class:`App` here and hands
its parts to the services; nothing else reads settings or creates engines.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from closeloop.clock import Clock, FixedClock, SystemClock
from closeloop.config import Config, load_config
from closeloop.settings import Settings, normalize_database_url
from models.db import make_engine, make_sessions


@dataclass
class App:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    clock: Clock = field(default_factory=SystemClock)
    _config: Config | None = None

    @property
    def config(self) -> Config:
        if self._config is None:
            self._config = load_config(self.settings.config)
        return self._config

    def dispose(self) -> None:
        self.engine.dispose()


def build_app(settings: Settings | None = None, *, clock: Clock | None = None,
              config: Config | None = None) -> App:
    """Build the application from ``settings`` (default: the environment). The clock is ``clock`` if given,
    else a :class:`~closeloop.clock.FixedClock` at ``settings.clock_at`` (``CLOSELOOP_CLOCK_AT``) if set, else
    the system clock: the one place a process chooses its time."""
    settings = settings or Settings()
    engine = make_engine(normalize_database_url(settings.database_url))
    sessions = make_sessions(engine)
    return App(settings, engine, sessions, clock or process_clock(settings), config)


def process_clock(settings: Settings) -> Clock:
    """The clock a process runs on: a :class:`~closeloop.clock.FixedClock` at ``settings.clock_at``
    (``CLOSELOOP_CLOCK_AT``) if set, else the system clock (also for a command that builds no :class:`App`,
    such as ``closeloop replay``, whose simulated clock is its own)."""
    return FixedClock(settings.clock_at) if settings.clock_at is not None else SystemClock()
