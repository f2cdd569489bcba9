"""Which complaint an inbound e-mail belongs to: a fixed number of queries per batch.

- ``In-Reply-To`` / ``References`` (In-Reply-To first, then References newest first): the first that is
  one of our outbound mails (``message.mail_id``) or an inbound mail taken in before (``inbound_mail.key``
  is the SHA-256 of its Message-ID) names the complaint;
- else a ``[CL-n]`` token in the subject, only when the sender's address is an e-mail contact point of
  complaint n's customer; a token of another customer's complaint is ``foreign_token`` (a new complaint);
  a token naming no complaint is ignored.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from closeloop.domain.customer import ContactKind
from closeloop.domain.inbound_mail import ParsedMail, ThreadReason, id_key, subject_token
from models.tables import Complaint, Customer, CustomerContact, InboundMail, Message

CHUNK = 400


@dataclass
class Threads:
    """``by_ref``: Message-ID -> complaint id; ``owner``: complaint id -> customer id; ``customers_of``:
    address -> customer ids having it as an e-mail contact point; ``customer_refs``: address -> the ref of
    the customer a new complaint from it belongs to (the lowest id)."""

    by_ref: dict[str, int] = field(default_factory=dict)
    owner: dict[int, int | None] = field(default_factory=dict)
    customers_of: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))
    customer_refs: dict[str, str] = field(default_factory=dict)

    def of(self, mail: ParsedMail) -> tuple[int | None, ThreadReason]:
        for ref in mail.references:
            if ref in self.by_ref:
                return self.by_ref[ref], ThreadReason.HEADERS
        token = subject_token(mail.subject)
        if token is None or token not in self.owner:
            return None, ThreadReason.NONE
        owner = self.owner[token]
        if owner is not None and owner in self.customers_of.get(mail.sender, ()):
            return token, ThreadReason.TOKEN
        return None, ThreadReason.FOREIGN_TOKEN


def _chunks(values: Iterable, size: int = CHUNK):
    seq = sorted(set(values))
    for i in range(0, len(seq), size):
        yield seq[i:i + size]


def find_threads(s: Session, mails: list[ParsedMail]) -> Threads:
    """Look up every thread key of ``mails`` at once."""
    t = Threads()
    refs = {r for m in mails for r in m.references}
    for chunk in _chunks(refs):
        t.by_ref.update({mid: cid for mid, cid in s.execute(
            select(Message.mail_id, Message.complaint_id).where(Message.mail_id.in_(chunk))) if mid})
    keys = {id_key(r): r for r in refs if r not in t.by_ref}
    for chunk in _chunks(keys):
        t.by_ref.update({keys[k]: cid for k, cid in s.execute(
            select(InboundMail.key, InboundMail.complaint_id).where(InboundMail.key.in_(chunk))) if cid})
    tokens = {tok for m in mails if (tok := subject_token(m.subject)) is not None}
    for chunk in _chunks(tokens):
        t.owner.update({cid: cust for cid, cust in s.execute(
            select(Complaint.id, Complaint.customer_id).where(Complaint.id.in_(chunk)))})
    refs_of: dict[int, str] = {}
    for chunk in _chunks(m.sender for m in mails):
        for addr, cust, ref in s.execute(
                select(CustomerContact.value, CustomerContact.customer_id, Customer.ref)
                .join(Customer, Customer.id == CustomerContact.customer_id)
                .where(CustomerContact.kind == ContactKind.EMAIL, CustomerContact.value.in_(chunk))):
            t.customers_of[addr].add(cust)
            refs_of[cust] = ref
    t.customer_refs = {addr: refs_of[min(custs)] for addr, custs in t.customers_of.items()}
    return t
