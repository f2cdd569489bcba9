"""Customer profiles and contact points: taken in with complaints; erased on request.

Personal data (name, language, zone, addresses, message bodies) is written only to the
``customer``, ``customer_contact``, ``message`` and ``outbox`` rows, plus what inbound e-mail keeps
(quarantined raw mail, attachments) and the customer's text in ``complaint_search``; audit rows carry ids
and counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.orm import Session

from closeloop.domain.customer import ContactKind, ContactPoint, CustomerProfile, preferred_contact
from closeloop.domain.errors import NotFound
from closeloop.domain.outbox import READY_STATUSES, DeadReason, OutboxStatus
from closeloop.domain.reasons import SystemReason, system_reason
from closeloop.services.audit import audit_dict
from closeloop.services.bulk import insert_new, rowcount
from closeloop.services.customers.erasure import erase_mail, erase_mail_ids, remove_files
from closeloop.services.reads.search import reindex_without_text
from closeloop.services.uow import unit_of_work
from models.tables import Complaint, Customer, CustomerContact, Message, Outbox, Promise, Transition


def store_profiles(session: Session, profiles: dict[int, CustomerProfile], now: datetime) -> None:
    """Write what customers told us (``{customer id: profile}``; no commit), a fixed number of statements.

    Given fields replace stored ones (a field not given keeps its value); a contact point is keyed by
    customer, kind and value: consent and verified take the latest word.
    """
    profiles = {cid: p for cid, p in profiles.items() if not p.empty}
    if not profiles:
        return
    ct = Customer.__table__
    for field in ("display_name", "language", "time_zone"):
        rows = [{"cid": cid, "v": getattr(p, field)} for cid, p in profiles.items() if getattr(p, field)]
        if rows:
            session.execute(update(ct).where(ct.c.id == bindparam("cid")).values({field: bindparam("v")}), rows)
    wanted = {(cid, c.kind.value, c.value): c for cid, p in profiles.items() for c in p.contacts}
    if not wanted:
        return
    cc = CustomerContact.__table__
    insert_new(session, cc, [{"customer_id": cid, "kind": k, "value": v, "consent": c.consent,
                              "verified": c.verified, "updated_at": now} for (cid, k, v), c in wanted.items()],
               key=["customer_id", "kind", "value"], returning=cc.c.id)
    session.execute(update(cc).where(cc.c.customer_id == bindparam("cid"), cc.c.kind == bindparam("k"),
                                     cc.c.value == bindparam("v"))
                    .values(consent=bindparam("consent"), verified=bindparam("verified"), updated_at=now),
                    [{"cid": cid, "k": k, "v": v, "consent": c.consent, "verified": c.verified}
                     for (cid, k, v), c in wanted.items()])


def contacts_of(session: Session, customer_ids: list[int]) -> dict[int, list[ContactPoint]]:
    """The stored contact points per customer id."""
    out: dict[int, list[ContactPoint]] = {}
    if not customer_ids:
        return out
    for cid, kind, value, consent, verified in session.execute(
            select(CustomerContact.customer_id, CustomerContact.kind, CustomerContact.value, CustomerContact.consent,
                   CustomerContact.verified).where(CustomerContact.customer_id.in_(customer_ids))
            .order_by(CustomerContact.id)):
        out.setdefault(cid, []).append(ContactPoint(ContactKind(kind), value, consent, verified))
    return out


def reachable(session: Session, customer_ids: list[int]) -> dict[int, ContactPoint]:
    """Customer id -> the consented contact point to use (customers without one are left out)."""
    out = {}
    for cid, points in contacts_of(session, customer_ids).items():
        best = preferred_contact(points)
        if best is not None:
            out[cid] = best
    return out


@dataclass(frozen=True)
class Erasure:
    """What ``forget`` erased: counts only (the audit row's data). ``files``: stored attachment files removed
    from disk (those no other customer's attachment row names); ``mail_ids``: Message-IDs of the customer's mails
    cleared (complaints' opening mail, inbound messages)."""

    customer_id: int
    contacts: int
    messages: int
    outbox: int
    complaints: int
    quarantined: int = 0
    attachments: int = 0
    files: int = 0
    mail_ids: int = 0


ERASED = ""


def forget(sessions, ref: str, *, actor: str, at: datetime, attachment_dir: Path | None = None) -> Erasure:
    """Erase customer ``ref``'s personal data (GDPR art. 17 / PIPL art. 47), keeping the statistics.

    Erased: display name, language, time zone, every contact point, the body of every message on the
    customer's complaints, the address, subject and body of every outbox message sent to them (a pending
    one is failed with ``last_error`` "customer erased", never sent), the customer's text in the complaints'
    search documents, promise descriptions, the Message-IDs of their mails, quarantined raw mail from their
    addresses and the attachments of their complaints (rows; a stored file only when no other attachment
    row names its content, removed under ``attachment_dir`` after the commit; see
    :mod:`closeloop.services.customers.erasure`). Kept: the pseudonymous ``ref``, complaint counts, the
    complaints, tasks, clocks, ``inbound_mail`` outcomes (and the Message-ID hashes that keep a re-fetched
    mail a duplicate) and the audit log. One audit row (``entity = 'customer'``, trigger ``forget``) records
    who, when and the counts.
    Raises ``NotFound`` for an unknown ``ref``. Running it again erases nothing more and is audited again.
    """
    with unit_of_work(sessions) as s:
        cust = s.scalar(select(Customer).where(Customer.ref == ref))
        if cust is None:
            raise NotFound("customer", ref)
        complaint_ids = list(s.scalars(select(Complaint.id).where(Complaint.customer_id == cust.id)))
        addresses = {v.strip().lower() for v in s.scalars(select(CustomerContact.value).where(
            CustomerContact.customer_id == cust.id, CustomerContact.kind == ContactKind.EMAIL))}
        n_contacts = rowcount(s.execute(delete(CustomerContact).where(CustomerContact.customer_id == cust.id)))
        n_messages, n_outbox = _erase_messages(s, complaint_ids, at)
        mail = erase_mail(s, complaint_ids, addresses)
        n_mail_ids = erase_mail_ids(s, complaint_ids)
        reindex_without_text(s, complaint_ids)
        if complaint_ids:
            s.execute(update(Promise).where(Promise.complaint_id.in_(complaint_ids), Promise.description != ERASED)
                      .values(description=ERASED))
        cust.display_name = cust.language = cust.time_zone = None
        cust.erased_at = at
        counts = {"contacts": n_contacts, "messages": n_messages, "outbox": n_outbox,
                  "complaints": len(complaint_ids), "quarantined": mail.quarantined, "attachments": mail.attachments,
                  "files": len(mail.orphan_files), "mail_ids": n_mail_ids}
        s.execute(Transition.__table__.insert(), [audit_dict(
            "customer", cust.id, None, None, "erased", "forget", actor, at,
            reason=system_reason(SystemReason.PERSONAL_DATA_ERASED), data=counts)])
        customer_id = cust.id
    files = remove_files(sessions, attachment_dir, mail.orphan_files) if attachment_dir is not None else 0
    return Erasure(customer_id, n_contacts, n_messages, n_outbox, len(complaint_ids), mail.quarantined,
                   mail.attachments, files, n_mail_ids)


def _erase_messages(s: Session, complaint_ids: list[int], at: datetime) -> tuple[int, int]:
    """Empty the message bodies and outbox rows of ``complaint_ids``; returns (messages, outbox rows) changed."""
    if not complaint_ids:
        return 0, 0
    msg_filter = Message.complaint_id.in_(complaint_ids) | Message.original_complaint_id.in_(complaint_ids)
    outbox_ids = [o for o in s.scalars(select(Message.outbox_id).where(msg_filter, Message.outbox_id.is_not(None)))]
    n_messages = rowcount(s.execute(update(Message).where(msg_filter, Message.body != ERASED).values(body=ERASED)))
    if not outbox_ids:
        return n_messages, 0
    ob = Outbox.__table__
    # never sent once erased: a dead letter (refused for good; no sender takes an erased target)
    s.execute(update(ob).where(ob.c.id.in_(outbox_ids), ob.c.status.in_(READY_STATUSES))
              .values(status=OutboxStatus.DEAD, dead_reason=DeadReason.REJECTED, dead_at=at,
                      last_error="customer erased", lease_until=None))
    n_outbox = rowcount(s.execute(update(ob).where(ob.c.id.in_(outbox_ids), ob.c.body != ERASED).values(
        target="erased:", subject=ERASED, body=ERASED, payload={})))
    return n_messages, n_outbox
