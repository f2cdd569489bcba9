"""SQLite: the flush of a status change written as plain statements, not row by row through the ORM (issue 17).

A status change (acknowledge, complete, pause, ...) ends in a flush whose only pending changes are its audit
rows and column changes of loaded tasks and complaints (status, stamps, assignee, due instants). The ORM
would send each audit row as an ``INSERT ... RETURNING id`` of its own (SQLite has no sentinel for batching
them) and each changed row as an ``UPDATE`` through its whole unit-of-work machinery. The ``before_flush``
hook here writes the same rows as plain Core statements instead:

- the audit rows in one ``executemany`` of a plain INSERT, in the order added (the ids the flush would give
  them), then dropped from the session (nothing reads their ids);
- then, when the session has no other new row and no deletion, every changed task and complaint with one
  ``UPDATE ... SET <changed columns>, version = <read + 1> WHERE id = ? AND version = <read>`` (rows changing
  the same columns in one ``executemany``), exactly the statement the ORM's optimistic lock sends; a row matched
  by none raises ``StaleDataError`` as the ORM's flush does (a ``Conflict`` to the services). The rows are
  then marked written (their new ``version`` set) and registered with the transaction as the ORM registers
  what it flushed (a rollback expires them).

Anything else (another new row, whose key an audit row may refer to; a deletion; an audit row with its own id
or a column left to its default; a changed row of another kind, or a version changed by hand; PostgreSQL) is
flushed by the ORM as before.
"""

from __future__ import annotations

from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, Table, bindparam, event, insert, inspect, update
from sqlalchemy.orm import InstanceState, Session
from sqlalchemy.orm.exc import StaleDataError
from sqlalchemy.sql.elements import ClauseElement

from models.db import CloseloopSession
from models.tables import Complaint, Task, Transition

#: the audit columns a row is written with (all but the key), and their INSERT, built once
_AUDIT_KEYS = tuple(c.key for c in Transition.__table__.columns if c.key != "id")
_INSERT_AUDIT = insert(Transition.__table__).values({c: bindparam(c.key, type_=c.type)
                                                     for c in Transition.__table__.columns if c.key != "id"})

#: the rows written by :func:`_update_rows`: their table (in the order the ORM's flush writes them: complaints
#: before tasks) and columns by attribute (every attribute is a column; ``id`` and ``version`` are the key and
#: the optimistic lock, never set here)
_PLAIN: dict[type, tuple[int, Table, frozenset[str]]] = {
    cls: (n, table, frozenset(c.key for c in table.columns) - {"id", "version"})
    for n, (cls, table) in enumerate([(Complaint, Complaint.__table__), (Task, Task.__table__)])
}


#: ``session.info`` key of :func:`flushes`
_FLUSHES = "closeloop.flushes"


def flushes(session: Session) -> int | None:
    """How many flushes with something to write ``session`` has begun (on any database): equal before and after
    a block, nothing the session holds was written in between (a read before it still sees what is stored).
    None for a session that is not closeloop's (:class:`~models.db.CloseloopSession`): its flushes are not
    counted, so nothing read in it may be taken as current."""
    if not isinstance(session, CloseloopSession):
        return None
    return session.info.get(_FLUSHES, 0)


@event.listens_for(CloseloopSession, "before_flush")
def _plain_flush(session: Session, _flush_context, instances) -> None:
    """Write a status change's audit rows and row updates as plain statements (module docstring); count the
    flush (:func:`flushes`)."""
    session.info[_FLUSHES] = session.info.get(_FLUSHES, 0) + 1
    if instances is not None or session.deleted:
        return
    if session.get_bind(Transition).dialect.name != "sqlite":
        return
    if session.new and not _insert_audit_rows(session):
        return
    if not session.new:
        _update_rows(session)


def _insert_audit_rows(session: Session) -> bool:
    """Insert the session's new rows when they are all complete audit rows (and drop them from the session);
    whether it did."""
    rows = []
    for obj in session.new:
        if type(obj) is not Transition:
            return False
        state = inspect(obj)
        values = state.dict
        if values.get("id") is not None or any(k not in values for k in _AUDIT_KEYS):
            return False
        rows.append((state.insert_order, obj, {k: values[k] for k in _AUDIT_KEYS}))
    rows.sort(key=itemgetter(0))
    conn = session.connection(bind_arguments={"mapper": Transition})
    _execute(conn, _compiled(("transition", "insert"), _INSERT_AUDIT, conn.dialect), [r[2] for r in rows])
    for _, obj, _ in rows:
        session.expunge(obj)
    return True


def _update_rows(session: Session) -> None:
    """UPDATE the changed tasks and complaints of ``session`` when they are its only changed rows (nothing
    else pending): their changed columns, the version bumped and checked; then mark them written."""
    states: list[InstanceState[Any]] = []
    written: list[InstanceState[Any]] = []
    groups: dict[tuple[int, Table, tuple[str, ...]], list[dict[str, Any]]] = {}
    for obj in session.dirty:
        plain = _PLAIN.get(type(obj))
        if plain is None:
            return
        state: InstanceState[Any] = inspect(obj)
        changed = _changed(state, plain[2])
        if changed is None:
            return
        states.append(state)
        if changed:
            written.append(state)
            version = state.dict["version"]
            changed.update(v_version=version + 1, k_id=state.dict["id"], k_version=version)
            groups.setdefault((plain[0], plain[1], tuple(sorted(changed))), []).append(changed)
    if not states:
        return
    conn = session.connection(bind_arguments={"mapper": Transition})
    for (_, table, names), rows in sorted(groups.items(), key=lambda g: (g[0][0], g[0][2])):  # as the ORM's
        rows.sort(key=itemgetter("k_id"))
        matched = _execute(conn, _update_statement(table, names, conn.dialect), rows)
        if matched != len(rows):
            raise StaleDataError(f"UPDATE statement on table '{table.name}' expected to update "
                                 f"{len(rows)} row(s); {matched} were matched.")
    for state in written:
        state.dict["version"] += 1
    InstanceState._commit_all_states(((s, s.dict) for s in states), session.identity_map)
    session._register_altered(states)


def _changed(state: InstanceState[Any], columns: frozenset[str]) -> dict[str, Any] | None:
    """The columns of ``state`` whose value differs from the loaded one (as the ORM's flush compares them), by
    parameter name (``v_<column>``); None when the row is not one to write here (an attribute unloaded, deleted
    or set to a SQL expression, or its version changed)."""
    values = state.dict
    if state.key is None or "version" not in values or "id" not in values:
        return None
    changed = {}
    for key, loaded in state.committed_state.items():
        if key not in columns or key not in values:
            return None
        value = values[key]
        if isinstance(value, ClauseElement) or hasattr(value, "__clause_element__"):
            return None
        if state.manager[key].impl.is_equal(value, loaded) is not True:
            changed["v_" + key] = value
    return changed


#: a statement's key and dialect -> its SQL, and its parameters in the order the driver takes them, each with
#: its bind processor (or None)
_STATEMENTS: dict[tuple[tuple, str], tuple[str, list[tuple[str, Any]]]] = {}


def _compiled(key: tuple, stmt, dialect) -> tuple[str, list[tuple[str, Any]]]:
    """``stmt`` (its parameters all named bind parameters) compiled once per ``key`` and ``dialect`` (qmark:
    positional parameters)."""
    found = _STATEMENTS.get((key, dialect.name))
    if found is None:
        compiled = stmt.compile(dialect=dialect)
        if compiled.positiontup is None:
            raise RuntimeError(f"{key}: a dialect with positional parameters expected, not {dialect.name}")
        procs = compiled._bind_processors
        found = _STATEMENTS[(key, dialect.name)] = (str(compiled), [(n, procs.get(n)) for n in compiled.positiontup])
    return found


def _execute(conn: Connection, statement: tuple[str, list[tuple[str, Any]]], rows: list[dict[str, Any]]) -> int:
    """Run a :func:`_compiled` statement for each of ``rows`` (values by parameter name; one ``executemany``
    for several) through the connection (its events see it); the number of rows it matched."""
    sql, order = statement
    params = [tuple(row[n] if p is None else p(row[n]) for n, p in order) for row in rows]
    return conn.exec_driver_sql(sql, params[0] if len(params) == 1 else params).rowcount


def _update_statement(table: Table, names: tuple[str, ...], dialect) -> tuple[str, list[tuple[str, Any]]]:
    """``UPDATE table SET <columns>, version = :v_version WHERE id = :k_id AND version = :k_version`` for the
    parameters ``names`` (``v_<column>`` and those three), :func:`_compiled`."""
    key = (table.name, names)
    if (key, dialect.name) not in _STATEMENTS:
        c = table.c
        stmt = (update(table)
                .where(c.id == bindparam("k_id", type_=c.id.type),
                       c.version == bindparam("k_version", type_=c.version.type))
                .values({c[n[2:]]: bindparam(n, type_=c[n[2:]].type) for n in names if n.startswith("v_")}))
        return _compiled(key, stmt, dialect)
    return _STATEMENTS[(key, dialect.name)]
