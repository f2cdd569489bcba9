"""A customer stored with a ref no URL can carry ('..', 'a/../b'), from before intake refused such refs, keeps
working: a complaint naming that ref (API, import) or mailed from their address is taken in and linked to
them, and the API reaches them at ``/customers?ref=``. A new such ref is still refused naming customer_ref."""

from __future__ import annotations

from email.message import EmailMessage

import pytest
from sqlalchemy import func, insert, select

from closeloop.domain.customer import ContactKind
from closeloop.services.inbound import InboundOptions
from closeloop.services.inbound.process import MailVia, process_mail
from closeloop.services.intake.importing import import_file
from models.tables import Complaint, Customer, CustomerContact
from tests.api.conftest import T0, api  # noqa: F401 - the API fixture

from .helpers import write_csv
from .test_intake_bounds import BASE, refused

LEGACY = ["..", "a/../b", "."]


def legacy_customer(sessions, ref: str, email: str | None = None) -> int:
    """A customer row as the intake stored it before the rule: inserted as is, nothing checked."""
    with sessions.begin() as s:
        cid = s.scalar(insert(Customer).values(ref=ref, complaint_count=1, first_complaint_at=T0,
                                               last_complaint_at=T0).returning(Customer.id))
        if email:
            s.execute(insert(CustomerContact).values(customer_id=cid, kind=ContactKind.EMAIL, value=email,
                                                     consent=True, verified=False, updated_at=T0))
    return cid


def customers_of(sessions) -> dict[str, tuple[int, int]]:
    """``{ref: (customer id, complaint count)}`` of every stored customer."""
    with sessions() as s:
        return {ref: (cid, n) for ref, cid, n in s.execute(select(Customer.ref, Customer.id,
                                                                  Customer.complaint_count))}


def complaint_customers(sessions) -> list[int | None]:
    with sessions() as s:
        return list(s.scalars(select(Complaint.customer_id).order_by(Complaint.id)))


@pytest.mark.parametrize("ref", LEGACY)
def test_a_complaint_posted_with_a_stored_legacy_ref_links_to_that_customer(api, ref):  # noqa: F811
    cid = legacy_customer(api.app.sessions, ref)
    r = api.post("manager", "/complaints", json={**BASE, "customer_ref": ref})
    assert r.status_code == 201, r.text
    assert complaint_customers(api.app.sessions) == [cid]
    assert customers_of(api.app.sessions) == {ref: (cid, 2)}  # the same customer, no second one
    page = api.get("manager", "/customers", params={"ref": ref})  # the address a path cannot give
    assert page.status_code == 200 and page.json()["ref"] == ref, page.text
    assert [c["id"] for c in page.json()["complaints"]] == [r.json()["complaint"]["id"]]


def test_an_import_naming_a_stored_legacy_ref_links_to_that_customer(sessions, config, clock, tmp_path):
    cid = legacy_customer(sessions, "..")
    path = write_csv(tmp_path / "in.csv", ["external_ref", "received_at", "customer_ref"],
                     [["I-1", "2026-03-01T10:00:00+08:00", ".."], ["I-2", "2026-03-01T11:00:00+08:00", "c-2"]])
    report = import_file(sessions, config, clock, path)
    assert (report.committed, report.created, report.bad_rows) == (True, 2, 0)
    assert complaint_customers(sessions)[0] == cid and customers_of(sessions)[".."] == (cid, 2)


def test_a_mail_from_a_legacy_customer_is_their_new_complaint(sessions, config, tmp_path):
    cid = legacy_customer(sessions, "..", email="old@example.org")
    m = EmailMessage()
    m["From"], m["To"], m["Subject"] = "Old Customer <old@example.org>", "care@example.org", "Still broken"
    m["Message-ID"] = "<legacy-1@example.org>"
    m.set_content("The repair did not hold.")
    report = process_mail(sessions, config, [bytes(m)], now=T0,
                          via=MailVia.WEBHOOK, options=InboundOptions(tmp_path / "att", 1 << 20))
    assert report.counts["complaint"] == 1, report
    assert complaint_customers(sessions) == [cid] and customers_of(sessions) == {"..": (cid, 2)}


def test_a_new_unreachable_ref_is_still_refused_beside_a_stored_one(config, clock, tmp_path, api):  # noqa: F811
    legacy_customer(api.app.sessions, "..")
    path = write_csv(tmp_path / "in.csv", ["external_ref", "received_at", "customer_ref"],
                     [["N-1", "2026-03-01T10:00:00+08:00", ".."], ["N-2", "2026-03-01T10:00:00+08:00", "x/."]])
    [err] = refused(api.app.sessions, config, clock, path)
    assert (err.line, err.column, err.value) == (3, "customer_ref", "x/.") and "are not refs" in err.problem
    r = api.post("manager", "/complaints", json={**BASE, "customer_ref": "x/."})
    assert r.status_code == 422 and r.json()["error"]["field"] == "customer_ref", r.text
    with api.app.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Complaint)) == 0
        assert list(s.scalars(select(Customer.ref))) == [".."]
