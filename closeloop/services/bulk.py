"""Bulk inserts that skip rows whose unique key exists (``INSERT ... ON CONFLICT DO NOTHING``).

Concurrent writers of the same key never fail: PostgreSQL waits for the other transaction and
skips; SQLite serialises writers. The one place the dialect-specific insert is chosen.
"""

from __future__ import annotations

import json
import re
from itertools import chain
from typing import Any, cast

from sqlalchemy import JSON, Column, CursorResult, Result, String, Table, bindparam, insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from models.tables import Outbox


def insert_new(session: Session, table: Table, rows: list[dict], *, key: list[str], returning,
               page: int = 500) -> list:
    """Insert ``rows`` into ``table``, skipping those whose ``key`` columns (a unique constraint) already
    exist; returns the ``returning`` column's values of the rows inserted. One statement per ``page``."""
    if not rows:
        return []
    names = rows[0].keys()
    if isinstance(returning, Column) and all(r.keys() == names for r in rows):
        return _insert_new_rows(session, table, rows, key, returning, page)
    if session.get_bind().dialect.name == "postgresql":
        stmt = postgresql.insert(table).on_conflict_do_nothing(index_elements=key).returning(returning)
    else:
        stmt = sqlite.insert(table).on_conflict_do_nothing(index_elements=key).returning(returning)
    out: list = []
    for i in range(0, len(rows), page):
        out.extend(session.scalars(stmt, rows[i:i + page]).all())
    return out


def _insert_new_rows(session: Session, table: Table, rows: list[dict], key: list[str], returning: Column,
                     page: int) -> list:
    """:func:`insert_new` for rows with the same keys: the values bound as :func:`insert_rows` binds them (no
    per-row parameter handling by SQLAlchemy: a sweep inserts tens of thousands of notifications): on
    one multi-row ``INSERT ... ON CONFLICT (key) DO NOTHING RETURNING`` per ``page`` rows; on PostgreSQL, from
    :data:`_UNNEST_FROM` rows, one ``INSERT ... SELECT FROM unnest(arrays) ON CONFLICT ...`` instead
    (:func:`_unnest_insert`)."""
    session.flush()  # as session.execute would (autoflush): the rows may refer to pending objects
    conn = session.connection()
    dialect = conn.dialect
    defaults = _defaults(table, rows[0])
    names = [c.name for c in table.c if c.name in rows[0] or c.name in defaults]
    columns = [_processed(table.c[n].type, dialect, [defaults[n]]) * len(rows) if n in defaults
               else _processed(table.c[n].type, dialect, [r[n] for r in rows]) for n in names]
    quote = dialect.identifier_preparer.quote
    tail = f" ON CONFLICT ({', '.join(quote(k) for k in key)}) DO NOTHING RETURNING {quote(returning.name)}"
    proc = returning.type._cached_result_processor(dialect, None)
    if dialect.name == "postgresql" and len(rows) >= _UNNEST_FROM and all(map(_one_type, columns)):
        found = conn.exec_driver_sql(_unnest_insert(table, names, dialect) + tail,
                                     tuple(_json_text(c) if isinstance(table.c[n].type, JSON) else c
                                           for n, c in zip(names, columns, strict=True))).scalars()
        return list(map(proc, found) if proc is not None else found)
    params = list(zip(*columns, strict=True))
    head, one = _statement(table, names, dialect)
    size = max(1, min(page, _MAX_PARAMS // len(names)))
    out: list = []
    for i in range(0, len(params), size):
        chunk = params[i:i + size]
        found = conn.exec_driver_sql(f"{head} VALUES {', '.join([one] * len(chunk))}{tail}",
                                     tuple(v for p in chunk for v in p)).scalars()
        out.extend(map(proc, found) if proc is not None else found)
    return out


_UNNEST: dict[tuple, str] = {}
#: Fewest rows :func:`_insert_new_rows` writes through :func:`_unnest_insert` on PostgreSQL: a single digest
#: (one outbox row of up to 40 KiB) took 12 ms as arrays against 3 ms as ``VALUES`` (the array's text escaping).
_UNNEST_FROM = 20


def _one_type(values: list) -> bool:
    """Whether ``values`` (one column's bound values) are of one Python type, NULLs aside: psycopg cannot
    send a list mixing types (``0`` and ``1.0``) as one array; such a batch takes the ``VALUES`` path."""
    return len({v.__class__ for v in values if v is not None}) <= 1


def _unnest_insert(table: Table, names: list[str], dialect) -> str:
    """PostgreSQL: ``INSERT INTO table (names) SELECT * FROM unnest(%s::T[], ...)``, one array parameter per
    column (``T`` the column's own type; strings as ``TEXT``: an explicit cast to ``VARCHAR(n)`` would cut an
    over-long value silently, while the INSERT's assignment to the column rejects it, as ``VALUES`` does).
    The statement's text is the same for any number of rows, so the server parses and plans it once per
    connection (psycopg prepares repeated statements); a multi-row ``VALUES`` list of 500 notifications
    (8,500 parameters) cost 130 ms a batch in a sweep."""
    key = (table.name, tuple(names))
    if key not in _UNNEST:
        prep = dialect.identifier_preparer
        types = ["TEXT" if isinstance(table.c[n].type, String) and not isinstance(table.c[n].type, JSON)
                 else table.c[n].type.compile(dialect=dialect) for n in names]
        _UNNEST[key] = (f"INSERT INTO {prep.format_table(table)} ({', '.join(prep.quote(n) for n in names)}) "
                        f"SELECT * FROM unnest({', '.join(f'%s::{t}[]' for t in types)})")
    return _UNNEST[key]


def select_rows(session: Session, stmt, params: dict[str, Any]) -> list[tuple]:
    """The rows of the Core SELECT (or ``UPDATE ... RETURNING``) ``stmt`` with ``params`` (expanding
    ``IN`` lists included) as plain tuples in the order of its columns, each value through its column
    type's result processor (aware UTC instants, JSON, booleans) as ``session.execute`` would give them,
    without SQLAlchemy's result rows: rescheduling after a policy change reads millions of timer and
    audit rows, a sweep's catch-up claims tens of thousands of timers. ``stmt`` is built once (a
    module-level constant: its compiled form is kept per dialect); the values go through their bind
    processors. Does not flush the session (callers that may have pending changes flush first)."""
    conn = session.connection()
    dialect = conn.dialect
    compiled = _COMPILED.get((stmt, dialect.name))
    if compiled is None:
        compiled = _COMPILED[(stmt, dialect.name)] = stmt.compile(dialect=dialect)
    state = compiled.construct_expanded_state(params)
    procs = {**compiled._bind_processors, **state.processors}
    values = {k: (procs[k](v) if k in procs else v) for k, v in state.parameters.items()}
    bound = tuple(values[k] for k in state.positiontup) if state.positiontup is not None else values
    result = conn.exec_driver_sql(state.statement, bound)
    codes = [d[1] for d in result.cursor.description]  # the driver's type codes (PostgreSQL: OIDs; SQLite: None)
    rows: list[tuple] = list(result.cursor.fetchall())
    result.close()
    types = [c.type for c in compiled._result_columns]
    procs_out = [t._cached_result_processor(dialect, code) for t, code in zip(types, codes, strict=True)]
    if not rows or not any(procs_out):
        return rows
    columns = [col if proc is None else _result_column(proc, col) if t.hashable else list(map(proc, col))
               for proc, t, col in zip(procs_out, types, zip(*rows, strict=True), strict=True)]
    return list(zip(*columns, strict=True))


def _result_column(proc, column: tuple) -> list:
    """``column`` (one column's raw values) through the result processor ``proc`` of a type whose values are
    immutable (instants, enums: rows may share one), each distinct value processed once: the timers of a
    policy change repeat their instants (the tasks of a complaint, complaints created together)."""
    try:
        memo = {v: proc(v) for v in set(column)}
    except TypeError:  # a value the driver decoded into something unhashable
        return list(map(proc, column))
    return list(map(memo.__getitem__, column))


_COMPILED: dict[tuple[Any, str], Any] = {}


def unindexed(column):
    """``column`` in a form no index serves (``column || ''``, text columns only), for a condition that
    only re-checks rows found by their primary key: ``UPDATE ... WHERE id IN (...) AND status = 'pending'``.
    Without it SQLite (no ``ANALYZE`` statistics) answers such an UPDATE from the ``(status, ...)`` index,
    scanning every pending row (0.13 s per 500 timers at 470,000 pending; 2 ms by the key)."""
    return column.concat("")


def rowcount(result: Result[Any]) -> int:
    """The number of rows matched by the UPDATE or DELETE whose ``session.execute`` gave ``result``
    (a ``CursorResult`` at run time; ``Session.execute`` is typed as returning any ``Result``)."""
    return cast(CursorResult[Any], result).rowcount


def enqueue(session: Session, *, key: str, channel: str, target: str, recipient: str, subject: str, body: str,
            payload: dict, now) -> int | None:
    """Put one message in the outbox (status ``pending``, due ``now``); returns its id, or None when a
    message with this idempotency ``key`` exists already (a re-run or a concurrent sweep made it)."""

    ot = Outbox.__table__
    ids = insert_new(session, ot, [{"idempotency_key": key, "channel": channel, "target": target,
                                    "recipient": recipient, "subject": subject, "body": body, "payload": payload,
                                    "status": "pending", "attempts": 0, "next_attempt_at": now, "created_at": now}],
                     key=["idempotency_key"], returning=ot.c.id)
    return ids[0] if ids else None


def execute_rows(session: Session, stmt, rows: list, names: tuple[str, ...] | None = None) -> None:
    """``session.execute(stmt, rows)`` for a Core UPDATE whose per-row values are the bind parameters
    named by the keys of ``rows`` (all rows with the same keys), without SQLAlchemy's per-row parameter
    handling: the statement compiled once, each value through its bind processor (memoised when hashable),
    one driver ``executemany`` (rescheduling writes a few hundred thousand rows after a policy change).
    ``names``: ``rows`` are tuples of the parameters so named, in that order (no dict per row)."""
    if not rows:
        return
    conn = session.connection()
    compiled = stmt.compile(dialect=conn.dialect)
    procs = compiled._bind_processors
    if names is None:
        names = tuple(rows[0])
        raw = [[r[n] for r in rows] for n in names]
    else:
        raw = [list(col) for col in zip(*rows, strict=True)]
    fixed = {k: (procs[k](v) if k in procs else v) for k, v in compiled.params.items() if k not in names}
    columns = {n: _memoised(procs.get(n), col) for n, col in zip(names, raw, strict=True)}
    if compiled.positiontup is not None:  # qmark (SQLite)
        order = [columns[n] if n in columns else [fixed[n]] * len(rows) for n in compiled.positiontup]
        params: list = list(zip(*order, strict=True))
    else:
        params = [fixed | dict(zip(names, values, strict=True))
                  for values in zip(*(columns[n] for n in names), strict=True)]
    conn.exec_driver_sql(str(compiled), params)


def _memoised(proc, values: list) -> list:
    """``values`` through the bind processor ``proc`` (None: as they are), memoised per hashable value."""
    if proc is None:
        return values
    memo: dict = {}
    out = []
    for v in values:
        key = v
        if v.__class__ is dict:  # a small JSON object (a timer's data): by its items and their types (1 != True)
            key = (dict, tuple((k, x.__class__, x) for k, x in v.items()))
        try:
            out.append(memo[key])
        except KeyError:
            out.append(memo.setdefault(key, proc(v)))
        except TypeError:  # unhashable (a nested JSON value)
            out.append(proc(v))
    return out


# ------------------------------------------------------------------ fast bulk inserts (import)

#: SQLite's bound-variable limit (SQLITE_MAX_VARIABLE_NUMBER since 3.32) with room to spare; PostgreSQL
#: allows 65,535 per statement.
_MAX_PARAMS = 30_000
_SQL: dict[tuple, tuple[str, str]] = {}


def insert_rows(session: Session, table: Table, rows: list[dict], *, returning: tuple[str, ...] = (),
                page: int = 1000) -> list[tuple]:
    """Insert ``rows`` (dicts with the same keys) into ``table`` in the session's transaction, as
    ``insert(table)`` with those rows would: the same columns, Python-side defaults and bound values
    (each value goes through its column type's bind processor, memoised per call for hashable values,
    with the statement's own casts), but without SQLAlchemy's per-row parameter handling: one driver
    ``executemany``, or with ``returning`` one multi-row ``INSERT ... RETURNING`` per ``page`` rows.
    Returns the ``returning`` columns' values (row order unspecified: map them back by a key)."""
    if not rows:
        return []
    conn = session.connection()
    dialect = conn.dialect
    defaults = _defaults(table, rows[0])
    names = [c.name for c in table.c if c.name in rows[0] or c.name in defaults]  # the statement's order
    columns = [_processed(table.c[n].type, dialect, [defaults[n]]) * len(rows) if n in defaults
               else _processed(table.c[n].type, dialect, [r[n] for r in rows]) for n in names]
    if dialect.name == "postgresql":
        return _insert_copy(conn, table, rows, names, columns, returning)
    params = list(zip(*columns, strict=True))
    head, one = _statement(table, names, dialect)
    tail = (" RETURNING " + ", ".join(dialect.identifier_preparer.quote(n) for n in returning)) if returning else ""
    size = max(1, min(page, _MAX_PARAMS // len(names)))
    out: list[tuple] = []
    for i in range(0, len(params), size):
        chunk = params[i:i + size]
        sql = f"{head} VALUES {', '.join([one] * len(chunk))}{tail}"
        res = conn.exec_driver_sql(sql, tuple(chain.from_iterable(chunk)))
        if returning:
            out.extend(tuple(r) for r in res)
    return out


def _defaults(table: Table, first: dict) -> dict:
    """The Python-side defaults ``insert(table)`` would fill in for the columns ``first`` lacks."""
    out = {}
    for col in table.c:
        d = col.default
        if col.name in first or d is None or not (d.is_scalar or d.is_callable):
            continue
        out[col.name] = d.arg if d.is_scalar else d.arg(None)  # type: ignore[attr-defined]
    return out


def _processed(type_, dialect, values: list) -> list:
    """``values`` through ``type_``'s bind processor for ``dialect``, memoised: by value when the type's
    values are hashable, else by object (``values`` holds each one for the call, so an ``id`` names one
    object: rows that share a JSON value as one object have it serialised once)."""
    proc = type_._cached_bind_processor(dialect)
    if proc is None:
        return values
    if isinstance(type_, JSON) or not type_.hashable:
        return _by_identity(proc, values)
    return _memoised(proc, values)


def _by_identity(func, values: list) -> list:
    """``[func(v) for v in values]``, computed once per distinct object of ``values``."""
    memo: dict[int, Any] = {}
    out = []
    for v in values:
        try:
            out.append(memo[id(v)])
        except KeyError:
            out.append(memo.setdefault(id(v), func(v)))
    return out


def _statement(table: Table, names: list[str], dialect) -> tuple[str, str]:
    """``INSERT INTO table (names)`` and one row's ``(placeholders)`` in the driver's positional style,
    with the casts SQLAlchemy renders for that dialect (PostgreSQL's ``%s::TYPE``)."""

    key = (table.name, tuple(names), dialect.name, dialect.driver)
    if key not in _SQL:
        compiled = insert(table).values({n: bindparam(n) for n in names}).compile(dialect=dialect)
        sql = str(compiled)
        head, _, values = sql.partition(" VALUES ")
        values = values.partition(" RETURNING ")[0]  # PostgreSQL's implicit RETURNING of the key
        if dialect.paramstyle == "qmark":
            one = values
        else:
            one = re.sub(r"%\(\w+\)s", "%s", values)
        _SQL[key] = (head, one)
    return _SQL[key]


def _insert_copy(conn, table: Table, rows: list[dict], names: list[str], columns: list[list],
                 returning: tuple[str, ...]) -> list[tuple]:
    """PostgreSQL: ``COPY table (names) FROM STDIN`` (psycopg writes the rows; about ten times faster
    than any INSERT of the same rows). With ``returning``, the keys are taken first from the key's
    sequence (``nextval`` once per row, in row order, as an INSERT would) and written explicitly;
    the other ``returning`` values are the rows' own."""
    prep = conn.dialect.identifier_preparer
    columns = [_json_text(c) if isinstance(table.c[n].type, JSON) else c for n, c in zip(names, columns, strict=True)]
    names = list(names)
    ids: list[int] = []
    if returning:
        (pk,) = table.primary_key.columns
        seqs = conn.info.setdefault("closeloop_serial_sequences", {})  # per connection (its search_path)
        if table.name not in seqs:
            seqs[table.name] = conn.exec_driver_sql("SELECT pg_get_serial_sequence(%s, %s)",
                                                    (table.name, pk.name)).scalar_one()
        seq = seqs[table.name]
        ids = sorted(conn.exec_driver_sql("SELECT nextval(%s) FROM generate_series(1, %s)",
                                          (seq, len(rows))).scalars())
        names.insert(0, pk.name)
        columns.insert(0, ids)
    sql = f"COPY {prep.format_table(table)} ({', '.join(prep.quote(n) for n in names)}) FROM STDIN"
    dbapi = conn.dialect.loaded_dbapi
    try:
        with conn.connection.dbapi_connection.cursor() as cursor, cursor.copy(sql) as cp:
            for row in zip(*columns, strict=True):
                cp.write_row(row)
    except dbapi.Error as exc:  # the driver's own error: raised as SQLAlchemy's, like any statement's
        raise DBAPIError.instance(sql, None, exc, dbapi.Error, dialect=conn.dialect) from exc
    if not returning:
        return []
    return [tuple(i if n == pk.name else r[n] for n in returning) for i, r in zip(ids, rows, strict=True)]


def _json_text(values: list) -> list:
    """psycopg ``Json`` wrappers (SQLAlchemy's JSON bind processing) as their JSON text (once per object)."""
    return _by_identity(lambda v: None if v is None else (v.dumps or json.dumps)(v.obj), values)
