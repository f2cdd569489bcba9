"""Root causes on complaints: validation against the configured taxonomy, recording, and a data mapping.

A root cause is a code of ``[improvement] root_causes`` (default: the domain's
``ROOT_CAUSES``), optionally with a sub-code after a dot (``product_defect.battery``;
when ``[improvement] sub_codes`` lists sub-codes for a code, only those are accepted).
``undetermined`` needs a note saying what was checked.

Resolving a complaint requires one. When the last department task of a complaint
is done and no root cause was recorded, the complaint is *not* resolved: it stays
in progress with a ``root-cause`` task for the lead of the department that did the
work (:func:`closeloop.services.work.tasks.settle`). Completing any task may carry the
root cause (``tasks complete --root-cause``); completing the root-cause task must.
Why a task and not a flag: it sits in the department's queue, has a due time on
that department's calendar, and gets the same reminders and escalations as any
other work, so "waiting for a root cause" is visible where the team looks.

:data:`DATA_MAP` is the small mapping table the replay uses to record root causes
from the data (CFPB ``Issue``/``Product``, NYC 311 ``Complaint Type``, airline
``negativereason``); rows it does not cover are ``undetermined`` with a note.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from closeloop.config import Config
from closeloop.domain.errors import InvalidInput
from closeloop.domain.improvement import check_root_cause
from closeloop.domain.reasons import EngineReason, SystemReason, system_reason
from closeloop.domain.task import TaskStatus
from closeloop.domain.task_kinds import SYSTEM_TITLES, SystemTaskKind
from closeloop.services.audit import add_task
from closeloop.services.transitions import record_event
from models.tables import Complaint, Task

ROOT_CAUSE_KIND = SystemTaskKind.ROOT_CAUSE


def validate(config: Config, code: str | None, note: str | None) -> str:
    """Check ``code`` (``code`` or ``code.sub``) against the configured taxonomy; returns it stripped.

    Raises :class:`InvalidInput` naming ``root_cause`` (unknown code or sub-code, too long) or
    ``note`` (``undetermined`` without a note).
    """
    if code is None or not code.strip():
        raise InvalidInput("root_cause", "is required")
    code = code.strip()
    if len(code) > 100:
        raise InvalidInput("root_cause", "longer than 100 characters")
    model = config.model.improvement
    check_root_cause(code, note, model.root_causes)
    base, _, sub = code.partition(".")
    allowed = model.sub_codes.get(base)
    if sub and allowed is not None and sub not in allowed:
        raise InvalidInput("root_cause", f"unknown sub-code {sub!r} of {base!r}; use one of {', '.join(allowed)}")
    return code


def record(session: Session, complaint: Complaint, code: str, note: str | None, *, config: Config, actor: str,
           at: datetime) -> None:
    """Set the complaint's root cause (replacing an earlier one) and write a ``root_cause`` audit row.

    The note is stored stripped in ``root_cause_detail`` and is the audit row's reason: an engine's note (an
    :class:`~closeloop.domain.reasons.EngineReason`) keeps its code there, which is how a page tells it from a
    person's words (:func:`closeloop.services.reads.engine_texts.root_cause_note_data`)."""
    code = validate(config, code, note)
    old = complaint.root_cause
    detail = note if isinstance(note, EngineReason) else (note or "").strip() or None  # strip() drops the code
    complaint.root_cause = code
    complaint.root_cause_detail = None if detail is None else str(detail)
    record_event(session, complaint, "root_cause", at=at, actor=actor, reason=detail,
                 data={"root_cause": code, "previous": old})


def ask(session: Session, complaint: Complaint, tasks: list[Task], at: datetime, config: Config) -> None:
    """Put a ``root-cause`` task in the queue of the first finished task's department, for its lead."""
    done = sorted((t for t in tasks if t.status == TaskStatus.DONE and t.kind != SystemTaskKind.FOLLOW_UP),
                  key=lambda t: t.id)
    department = done[0].department if done else tasks[0].department
    lead = config.departments[department].lead if department in config.departments else ""
    t = Task(complaint_id=complaint.id, department=department, kind=ROOT_CAUSE_KIND,
             title=SYSTEM_TITLES[SystemTaskKind.ROOT_CAUSE],
             instructions="Complete with --root-cause CODE (undetermined needs --root-cause-detail).",
             status=TaskStatus.OPEN, assignee=lead or None, created_at=at, updated_at=at)
    add_task(session, t, actor="system", at=at, reason=system_reason(SystemReason.ROOT_CAUSE_ASKED),
             data={"department": department, "kind": ROOT_CAUSE_KIND})


#: (source, fact, value) -> root cause code: how the replay reads a root cause from the data.
DATA_MAP: dict[tuple[str, str, str], str] = {
    # airline tweets (negativereason)
    ("airline-tweets", "category", "Late Flight"): "process_gap",
    ("airline-tweets", "category", "Cancelled Flight"): "force_majeure",
    ("airline-tweets", "category", "Lost Luggage"): "process_gap",
    ("airline-tweets", "category", "Damaged Luggage"): "process_gap",
    ("airline-tweets", "category", "Customer Service Issue"): "process_gap",
    ("airline-tweets", "category", "Flight Booking Problems"): "system",
    ("airline-tweets", "category", "Bad Flight"): "product_defect",
    ("airline-tweets", "category", "Flight Attendant Complaints"): "process_gap",
    ("airline-tweets", "category", "longlines"): "process_gap",
    # NYC 311 (Complaint Type)
    ("nyc311", "category", "HEATING"): "product_defect.heating",
    ("nyc311", "category", "HEAT/HOT WATER"): "product_defect.heating",
    ("nyc311", "category", "PLUMBING"): "product_defect.plumbing",
    ("nyc311", "category", "Noise - Residential"): "customer_side",
    ("nyc311", "category", "Noise - Street/Sidewalk"): "customer_side",
    ("nyc311", "category", "Blocked Driveway"): "customer_side",
    ("nyc311", "category", "Illegal Parking"): "customer_side",
    ("nyc311", "category", "Street Light Condition"): "product_defect",
    ("nyc311", "category", "Street Condition"): "product_defect",
    ("nyc311", "category", "Water System"): "product_defect",
    ("nyc311", "category", "Snow"): "force_majeure",
    ("nyc311", "category", "Traffic Signal Condition"): "product_defect",
    ("nyc311", "category", "ELECTRIC"): "product_defect.electric",
    ("nyc311", "category", "GENERAL CONSTRUCTION"): "product_defect",
    ("nyc311", "category", "PAINT - PLASTER"): "product_defect",
    ("nyc311", "category", "Noise - Commercial"): "customer_side",
    # CFPB (Issue, then Product)
    ("cfpb", "issue", "Incorrect information on credit report"): "information",
    ("cfpb", "issue", "Billing disputes"): "policy_rule",
    ("cfpb", "issue", "Loan modification,collection,foreclosure"): "process_gap",
    ("cfpb", "issue", "Loan servicing, payments, escrow account"): "process_gap",
    ("cfpb", "issue", "Account opening, closing, or management"): "process_gap",
    ("cfpb", "issue", "Deposits and withdrawals"): "system",
    ("cfpb", "issue", "Problems caused by my funds being low"): "policy_rule",
    ("cfpb", "issue", "Cont'd attempts collect debt not owed"): "third_party",
    ("cfpb", "issue", "Communication tactics"): "information",
    ("cfpb", "issue", "Identity theft / Fraud / Embezzlement"): "third_party",
    ("cfpb", "issue", "Incorrect information on your report"): "information",
    ("cfpb", "issue", "Improper use of your report"): "third_party",
    ("cfpb", "issue",
     "Problem with a credit reporting company's investigation into an existing problem"): "process_gap",
    ("cfpb", "issue", "Attempts to collect debt not owed"): "third_party",
    ("cfpb", "product", "Credit reporting"): "information",
    ("cfpb", "product", "Credit reporting, credit repair services, or other personal consumer reports"): "information",
    ("cfpb", "product", "Credit card or prepaid card"): "policy_rule",
    ("cfpb", "product", "Checking or savings account"): "process_gap",
    ("cfpb", "product", "Debt collection"): "third_party",
    ("cfpb", "product", "Mortgage"): "process_gap",
    ("cfpb", "product", "Credit card"): "policy_rule",
    ("cfpb", "product", "Bank account or service"): "process_gap",
}


def from_data(source: str, facts: dict[str, str]) -> tuple[str, str | None]:
    """The root cause the data suggests (code, note): first :data:`DATA_MAP` hit on issue, category, product."""
    if source not in MAPPED_SOURCES:
        return "undetermined", f"no mapping for source {source!r}: its data names no cause"
    for fact in ("issue", "category", "product"):
        code = DATA_MAP.get((source, fact, facts.get(fact) or ""))
        if code:
            return code, f"from the data: {fact} {facts.get(fact)!r}"
    return "undetermined", f"not in the replay's mapping table ({source}: {facts.get('category') or '-'})"


#: Sources :data:`DATA_MAP` has entries for; complaints of any other source have "no mapping".
MAPPED_SOURCES = frozenset(src for src, _, _ in DATA_MAP)
