"""Complaint search (issue 14): one service over SQLite FTS5 and PostgreSQL full-text search.

A query matches a complaint when any of these holds:

- it is the complaint's id (digits only) or its number as customers read it (``CL-123``, ``[CL-123]``); a
  number over ``MAX_ID`` is no complaint's id (it is still searched as text);
- it equals the complaint's ``external_ref`` or its customer's ``ref`` (exact, case-sensitive);
- every term of it (``closeloop.domain.search_text.query_terms``: words as prefixes, Chinese as
  character bigrams) is in the complaint's search document: reference, source, customer ref, the
  routable facts, tags and the customer's text as taken in.

The documents are rows of ``complaint_search`` written at intake (``index_complaints``) and
indexed by the database (migration 0008): the FTS5 table ``complaint_fts`` on SQLite, a GIN index
over ``array_to_tsvector`` on PostgreSQL. Both compare whole terms, so both backends return the
same complaints for the same query.
"""

from __future__ import annotations

from enum import StrEnum
from itertools import chain

from sqlalchemy import ColumnElement, CompoundSelect, bindparam, literal_column, select, text, true, union
from sqlalchemy.orm import Session

from closeloop.domain.errors import InvalidInput, refuse_nul
from closeloop.domain.facts import ComplaintFacts
from closeloop.domain.search_text import (
    QueryTerms,
    complaint_number,
    document,
    fit_document,
    query_terms,
    short_terms,
    text_terms,
)
from closeloop.services.bulk import insert_rows
from models.tables import Complaint, ComplaintSearch, Customer

MAX_QUERY_CHARS = 200
_FACTS = ("external_ref", "source", "category", "subcategory", "product", "sub_product", "issue", "sub_issue",
          "company", "region", "channel")
_MIDDLE = _FACTS[1:]  # the facts after the reference (repeated from row to row)


class ComplaintSort(StrEnum):
    """Orders of a complaint list; ``-`` is descending. Ties are broken by id, in the same direction."""

    ID = "id"
    ID_DESC = "-id"
    RECEIVED = "received_at"
    RECEIVED_DESC = "-received_at"
    DUE = "due_at"
    DUE_DESC = "-due_at"
    SEVERITY = "severity"
    SEVERITY_DESC = "-severity"


def order_by(sort: ComplaintSort) -> list:
    """ORDER BY clauses of ``sort`` (missing due instants last in both directions)."""
    col = getattr(Complaint, sort.removeprefix("-"))
    desc = sort.startswith("-")
    first, tie = (col.desc(), Complaint.id.desc()) if desc else (col.asc(), Complaint.id.asc())
    if sort in (ComplaintSort.DUE, ComplaintSort.DUE_DESC):
        return [Complaint.due_at.is_(None), first, tie]
    return [first] if col is Complaint.id else [first, tie]


def complaint_document(f: ComplaintFacts) -> str:
    """The search document of complaint facts (terms separated by single spaces): ``document`` of the
    reference, the other facts, the tags, the customer ref and the text, written out (the terms of each
    text, the short ones memoised, and their distinct terms in first-seen order in one pass), fitted to what
    PostgreSQL's ``tsvector`` holds (:func:`~closeloop.domain.search_text.fit_document`)."""
    middle = [short_terms(getattr(f, name)) for name in _MIDDLE]
    return fit_document(" ".join(dict.fromkeys(chain(
        text_terms(f.external_ref), *middle, short_terms(" ".join(f.tags)), text_terms(f.customer_ref or ""),
        text_terms(f.text)))))


def reindex_without_text(session: Session, complaint_ids: list[int]) -> int:
    """Rewrite the search documents of ``complaint_ids`` from the stored facts, tags and customer ref only,
    leaving the customer's text out (erasure: ``customers forget``); returns the documents rewritten."""
    rows = []
    for i in range(0, len(complaint_ids), 400):
        chunk = complaint_ids[i:i + 400]
        for c, ref in session.execute(select(Complaint, Customer.ref).outerjoin(
                Customer, Customer.id == Complaint.customer_id).where(Complaint.id.in_(chunk))):
            rows.append({"cid": c.id, "doc": document(*(getattr(c, name) for name in _FACTS),
                                                       " ".join(c.tags or ()), ref or "")})
    if rows:
        t = ComplaintSearch.__table__
        session.execute(t.update().where(t.c.complaint_id == bindparam("cid")).values(doc=bindparam("doc")), rows)
    return len(rows)


def index_complaints(session: Session, docs: list[dict]) -> None:
    """Store search documents: ``docs`` are ``{"complaint_id": int, "doc": str}`` (one statement)."""
    insert_rows(session, ComplaintSearch.__table__, docs)


def matching_ids(session: Session, query: str) -> CompoundSelect:
    """The ids of the complaints matching ``query`` (see the module docstring), as one
    ``SELECT id ... UNION ...`` (each part index-driven).

    Raises ``InvalidInput("q", ...)`` for an empty query, one over ``MAX_QUERY_CHARS`` characters or one with a
    NUL character.
    """
    q = query.strip()
    refuse_nul("q", q)
    if not q:
        raise InvalidInput("q", "is empty")
    if len(q) > MAX_QUERY_CHARS:
        raise InvalidInput("q", f"longer than {MAX_QUERY_CHARS} characters")
    parts = [select(Complaint.id).where(Complaint.external_ref == q)]
    # the customer first, on its own: as a subquery it leaves the planner guessing "every complaint"
    customer = session.scalar(select(Customer.id).where(Customer.ref == q))
    if customer is not None:
        parts.append(select(Complaint.id).where(Complaint.customer_id == customer))
    number = complaint_number(q)
    if number is not None:
        parts.append(select(Complaint.id).where(Complaint.id == number))
    terms = query_terms(q)
    if terms:
        parts.append(_fts_ids(session.get_bind().dialect.name, terms))
    return union(*parts)


def id_in(ids: CompoundSelect, *, by_scan: bool = False) -> ColumnElement[bool]:
    """``Complaint.id IN (ids)``. ``by_scan`` (many matches, ordered by another column): written as
    ``(id IN (ids)) IS TRUE`` so that neither SQLite nor PostgreSQL turns it into a join driven by
    the matches (fetch every match, sort them all); the planner walks the sort column's index
    instead, testing each row against the hashed matches until the page is full."""
    cond = Complaint.id.in_(ids)
    return cond.is_(true()) if by_scan else cond


def _fts_ids(dialect: str, terms: QueryTerms):
    """Ids of the complaints whose document holds every term (a subquery)."""
    if dialect == "sqlite":
        fts = " ".join([f'"{t}"' for t in terms.exact] + [f'"{t}"*' for t in terms.prefix])
        return (select(literal_column("rowid")).select_from(text("complaint_fts"))
                .where(text("complaint_fts MATCH :fts").bindparams(fts=fts)))
    tsq = " & ".join([f"'{t}'" for t in terms.exact] + [f"'{t}':*" for t in terms.prefix])
    return (select(ComplaintSearch.complaint_id)
            .where(text("array_to_tsvector(string_to_array(complaint_search.doc, ' ')) @@ CAST(:tsq AS tsquery)")
                   .bindparams(tsq=tsq)))
