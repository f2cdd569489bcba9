"""The bulk audit insert (``services/audit.py``, SQLite) is closeloop's own session event: it listens on
:class:`~models.db.CloseloopSession` (what :func:`~models.db.make_sessions` makes), never on SQLAlchemy's global
``Session``, so another library's sessions in the same process flush as SQLAlchemy would; closeloop's still get it,
and the audit rows keep the ids a plain flush gives them."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from closeloop.services.audit import audit_dict
from closeloop.services.plain_flush import _plain_flush
from models.db import CloseloopSession, make_sessions
from models.tables import Transition

AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _rows(n: int, actor: str) -> list[Transition]:
    return [Transition(**audit_dict("improvement", i, None, None, "proposed", "create", actor, AT))
            for i in range(1, n + 1)]


def test_the_hook_listens_on_closeloops_sessions_only():
    assert event.contains(CloseloopSession, "before_flush", _plain_flush)
    assert not event.contains(Session, "before_flush", _plain_flush)
    assert issubclass(make_sessions(None).class_, CloseloopSession)  # type: ignore[arg-type]


def test_a_plain_session_flushes_audit_rows_itself_and_closeloops_in_bulk_with_the_same_ids(engine):
    bulk = engine.dialect.name == "sqlite"  # the hook writes SQLite's audit rows only
    with Session(engine) as plain:  # another library's session: the ORM inserts and keeps its objects
        rows = _rows(3, "plain")
        plain.add_all(rows)
        plain.flush()
        assert all(r in plain for r in rows) and [r.id for r in rows] == [1, 2, 3]
        plain.commit()
    with make_sessions(engine)() as ours:
        rows = _rows(3, "ours")
        ours.add_all(rows)
        ours.flush()
        assert all((r not in ours) is bulk for r in rows)  # written in one executemany, dropped from the session
        ours.commit()
    with Session(engine) as s:
        got = s.execute(select(Transition.id, Transition.actor, Transition.entity_id).order_by(Transition.id)).all()
    assert [tuple(r) for r in got] == [(1, "plain", 1), (2, "plain", 2), (3, "plain", 3),
                                       (4, "ours", 1), (5, "ours", 2), (6, "ours", 3)]
