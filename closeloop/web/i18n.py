"""The dashboard's message catalogue: every UI string, once per language (``en``, ``zh``).

Templates call ``t("key", name=value)``; a key missing in a language falls back to
English, and a test keeps both catalogues on the same keys. Statuses, flags and
clock names are keys too (``status.in_progress``, ``clock.resolve``).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from closeloop.web.i18n_zh import ZH, ZH_PROBLEM_PATTERNS, ZH_PROBLEMS

LANGUAGES = ("en", "zh")
DEFAULT = "en"

EN: dict[str, str] = {
    # the engine's own task titles and kinds (closeloop/domain/task_kinds.py), and its own actors
    "systask.follow-up": "Follow up with the customer: is the complaint resolved to their satisfaction?",
    "systask.root-cause": "Record the root cause: the work is done, the complaint resolves once its cause is known",
    "systask.triage": "Route again: every task of this complaint was cancelled",
    "systask.reopened": "Reopened: {reason}",
    "taskkind.follow-up": "follow-up", "taskkind.root-cause": "root cause", "taskkind.triage": "triage",
    "taskkind.reopened": "reopened", "taskkind.corrective": "corrective",
    "taskkind.preventive": "preventive",
    # the kinds the bundled and example configurations route to (another configured kind shows as written)
    "taskkind.investigate": "investigate", "taskkind.respond": "respond", "taskkind.resolve": "resolve",
    "taskkind.reply": "reply", "taskkind.after-sales": "after-sales", "taskkind.field-work": "field work",
    "taskkind.quality-check": "quality check", "taskkind.review-account": "account review",
    "taskkind.review-terms": "terms review",
    # a department's name when the configuration has none for it (web/labels.py:department_name)
    "dept.product": "Product", "dept.operations": "Operations", "dept.service": "Customer service",
    "dept.customer_service": "Customer service", "dept.triage": "Triage queue", "dept.billing": "Billing",
    "dept.complaints": "Complaints", "dept.quality": "Quality", "dept.legal": "Legal",
    "dept.compliance": "Compliance", "dept.logistics": "Logistics",
    # a customer's language by its code (web/labels.py:language_name; another code shows as stored)
    "language.en": "English", "language.zh": "Chinese", "language.zh-cn": "Chinese (simplified)",
    "language.zh-tw": "Chinese (traditional)", "language.es": "Spanish", "language.fr": "French",
    "language.de": "German", "language.ja": "Japanese", "language.ko": "Korean", "language.ru": "Russian",
    "language.ar": "Arabic", "language.pt": "Portuguese", "language.vi": "Vietnamese",
    "actor.system": "system", "actor.sweep": "scheduler", "actor.import": "import",
    "actor.customer (link)": "customer (link)", "actor.replay": "replay", "actor.customer": "customer",
    # the timeline's audit lines: what changed, on what (complaint/task/record/promise/compensation)
    "timeline.entity.complaint": "complaint", "timeline.entity.task": "task",
    "timeline.entity.improvement": "improvement record", "timeline.entity.promise": "promise to the customer",
    "timeline.entity.compensation": "compensation",
    "timeline.trigger.receive": "intake", "timeline.trigger.triage": "triage",
    "timeline.trigger.start": "work started",
    "timeline.trigger.await_customer": "waiting on the customer",
    "timeline.trigger.customer_replied": "customer replied",
    "timeline.trigger.resolve": "resolved", "timeline.trigger.close": "closed", "timeline.trigger.reopen": "reopened",
    "timeline.trigger.merge": "merged", "timeline.trigger.create": "created",
    "timeline.trigger.acknowledge": "acknowledged",
    "timeline.trigger.complete": "completed", "timeline.trigger.transfer": "transferred",
    "timeline.trigger.block": "blocked",
    "timeline.trigger.unblock": "unblocked", "timeline.trigger.cancel": "cancelled", "timeline.trigger.pause": "paused",
    "timeline.trigger.resume": "resumed", "timeline.trigger.release": "released",
    "timeline.trigger.make": "promise made",
    "timeline.trigger.keep": "kept", "timeline.trigger.break": "broken",
    "timeline.trigger.absorb": "duplicate absorbed",
    "timeline.trigger.assign": "assigned", "timeline.trigger.attach": "file attached",
    "timeline.trigger.compensation": "compensation recorded", "timeline.trigger.follow_up": "customer follow-up",
    "timeline.trigger.link": "linked to an improvement record", "timeline.trigger.reprioritize": "reprioritized",
    "timeline.trigger.root_cause": "root cause recorded",
    "timeline.assigned": "assigned to {assignee}", "timeline.reassigned": "reassigned from {previous} to {assignee}",
    "timeline.compensated": "compensation recorded ({kind}, {amount} {currency})",
    "promise.status.open": "open", "promise.status.kept": "kept", "promise.status.broken": "broken",
    "promise.status.cancelled": "cancelled",
    "app.name": "closeloop", "app.tagline": "complaint operations",
    "nav.overview": "Overview", "nav.queue": "Department queue", "nav.signout": "Sign out",
    "nav.language": "中文", "nav.signed_in_as": "{name} · {role}",
    "role.member": "member", "role.lead": "lead", "role.manager": "operations manager", "role.admin": "admin",
    "signin.title": "Sign in", "signin.token": "API token", "signin.help":
        "Paste the token from `closeloop tokens create --role ROLE [--department D]`.",
    "signin.submit": "Sign in", "signin.bad_token": "Unknown or revoked token.",
    "signin.too_many": "Too many failed sign-ins from your address. Try again in {minutes} minutes.",
    "signin.too_many.one": "Too many failed sign-ins from your address. Try again in {minutes} minute.",
    "signin.signed_out": "You are signed out.", "signin.expired": "Please sign in to continue.",
    "overview.title": "Operations overview", "overview.as_of": "as of {at}",
    "overview.open_complaints": "Open complaints", "overview.breached": "Breached tasks",
    "overview.at_risk": "At-risk tasks", "overview.promise_breached": "Past the customer promise",
    "overview.ack_overdue": "Acknowledge overdue",
    "overview.due_today": "Due today", "overview.active_tasks": "Active tasks",
    "overview.unknown_department": "not in this configuration",
    "overview.unknown_departments": "Tasks belong to departments this configuration does not have ({names}): they "
                                    "were routed with another configuration, so they have no queue here. Serve the "
                                    "dashboard with CLOSELOOP_CONFIG naming that configuration file (now: {config}).",
    "overview.config_default": "the bundled default",
    "overview.active_blocked": "of which {blocked} blocked by another task",
    "overview.active_none_blocked": "none blocked by another task",
    "overview.by_status": "Complaints by status", "overview.departments": "Departments",
    "overview.load": "Load per department (active tasks)",
    "overview.load_order": "Worst first: most overdue tasks, then most active tasks. Red: the overdue share.",
    "overview.chart.overdue": "overdue", "overview.chart.not_overdue": "not overdue",
    "overview.age": "Age of open complaints",
    "overview.recent": "Recently completed tasks", "overview.none_recent": "No task completed yet.",
    "overview.dead_letters": "Messages not delivered",
    "overview.dead_letters_help": "Nobody was told: re-send with `closeloop outbox retry --all-dead` "
                                  "(or POST /api/v1/outbox/ID/retry).",
    "overview.department": "Department", "overview.chart.complaints": "complaints",
    "overview.chart.status": "status", "overview.chart.age": "age (calendar days since received)",
    "age.<1d": "< 1 day", "age.1-3d": "1-3 days", "age.3-7d": "3-7 days", "age.7-30d": "7-30 days",
    "age.>=30d": "≥ 30 days",
    "queue.title": "Queue: {department}", "queue.department": "Department", "queue.show": "Show",
    "queue.empty": "No active tasks. Well done.", "queue.total": "{total} active tasks",
    "queue.total.one": "{total} active task",
    "queue.zone": "Times in {zone}", "queue.task": "Task", "queue.complaint": "Complaint", "queue.status": "Status",
    "queue.due": "Due", "queue.assignee": "Assignee",
    "queue.actions": "Actions", "queue.filter.all": "All active", "queue.filter.overdue": "Overdue",
    "queue.filter.due_today": "Due today", "queue.showing": "{first}-{last} of {total}",
    "complaints.showing": "{first}-{last} of {total}",
    "page.clamped": "Page {asked} is past the end: showing page {last}, the last.",
    "page.clamped_low": "Page {asked} is before the first: showing page 1.", "queue.prev": "previous",
    "queue.next": "next",
    "flag.overdue": "overdue", "flag.due_today": "due today",
    "action.acknowledge": "Acknowledge", "action.start": "Start", "action.complete": "Complete",
    "action.transfer": "Transfer", "action.outcome": "Outcome note", "action.reason": "Reason",
    "action.to": "To department", "action.root_cause": "Root cause", "action.root_cause_none": "(not known yet)",
    "action.root_cause_note": "Root-cause note", "action.cancel": "Cancel task", "action.assign": "Assign",
    "action.assignee": "Assignee (@handle or name)",
    "ok.cancel": "Task {task} cancelled.", "ok.assign": "Task {task} assigned.",
    "err.cancel_reason": "Cancelling a task needs a reason.",
    "err.assignee": "Task {task} was not assigned: name a person of its department (@handle or name).",
    "error.403.task_action": "Your role may not {action} a task.",
    "ok.acknowledge": "Task {task} acknowledged.", "ok.start": "Task {task} started.",
    "ok.complete": "Task {task} completed.", "ok.transfer": "Task {task} transferred.",
    "err.stale": "Task {task} was changed by someone else after this page was loaded. "
                 "The queue below is current: check it and try again.",
    "err.illegal": "Task {task} cannot do that in its current state ({state}).",
    "err.reason": "A transfer needs a reason.", "err.outcome": "Completing a task needs an outcome note.",
    "err.to": "Choose another, active department to transfer to.",
    "err.root_cause": "Task {task} needs a valid root cause (\"undetermined\" needs a note saying what was checked).",
    "err.invalid": "Invalid input ({field}).",
    "err.invalid_why": "Task {task} was not changed: “{label}” ({field}): {why}.",
    "err.not_found": "Task {task} does not exist.",
    "err.too_long": "Task {task} was not changed: “{label}” is longer than {limit} characters ({field}).",
    "error.title": "Something is not right", "error.401": "Please sign in.",
    "error.403": "You do not have access to this page.", "error.403.department":
        "Your token is for department {mine}; it cannot open {other}.",
    "error.403.complaint": "Complaint {id} has no task in your department.",
    "error.403.not_owner": "Complaint {id}: your department's task ({mine}) was transferred or cancelled and the "
                           "work now belongs to {now}: only a lead there or a manager may change the priority.",
    "error.403.roles": "This page is for these roles: {roles}.", "list.sep": ", ",
    "error.403.csrf": "The form was rejected: it did not come from this dashboard (missing or wrong "
                      "security token). Reload the page and try again.",
    "error.404": "Not found.", "error.409": "A conflicting change was made; reload and retry.",
    "error.422": "The request was not valid.", "error.500": "Internal error. It was logged.",
    "error.back": "Back to the start page",
    "complaint.title": "Complaint {id}", "complaint.facts": "Facts", "complaint.tasks": "Tasks",
    "complaint.clocks": "SLA clocks", "complaint.timeline": "Timeline", "complaint.source": "Source",
    "complaint.reference": "Reference",
    "complaint.received": "Received", "complaint.category": "Category", "complaint.product": "Product",
    "complaint.issue": "Issue", "complaint.channel": "Channel · region",
    "complaint.flags": "Risk flags", "complaint.root_cause": "Root cause", "complaint.transfers": "Transfers",
    "complaint.merged_from": "Merged from", "complaint.due": "Customer promise due",
    "complaint.due_stopped": "clock stopped {at}",
    "complaint.attachments": "Attachments", "attachment.none": "No attachments.",
    "attachment.name": "File name", "attachment.type": "Type (from the content)", "attachment.declared": "declared",
    "attachment.size": "Size", "attachment.at": "Received", "attachment.download": "Download",
    "attachment.unnamed": "(no name)", "attachment.refused": "not stored: {reason}",
    "attachment.reason.too_large": "larger than the size cap", "attachment.from": "From",
    "attachment.from_mail": "customer e-mail", "attachment.on_task": "task #{task}",
    "field.file": "Attach a file", "work.file_help": "optional, up to {size}",
    "attachment.help": "Files are always downloaded, never opened in the dashboard; the type is read from the "
                       "content, not from the name.",
    "clock.owner": "Owner", "clock.name": "Clock", "clock.state": "State", "clock.target": "Target (bh)",
    "clock.elapsed": "Elapsed (bh)", "clock.remaining": "Remaining (bh)", "clock.due_zone": "Due (local)",
    "clock.due_utc": "Due (UTC)", "clock.breached": "breached", "clock.help":
        "bh = business hours on the calendar of the clock's owner; paused time is not counted.",
    "clock.acknowledge": "acknowledge", "clock.resolve": "resolve", "clock.update": "update",
    "clock.first_response": "first response",
    "clock.owner.complaint": "complaint {id}", "clock.owner.task": "task {id} ({department})",
    "clock.owner.action": "task {id} ({department}, improvement {improvement})",
    "timeline.at": "When (UTC)", "timeline.actor": "Who", "timeline.what": "What", "timeline.internal": "internal note",
    "task.id": "Task", "task.department": "Department", "task.kind": "Kind", "task.title": "Title",
    "task.outcome": "Outcome",
    "status.received": "received", "status.triaged": "triaged", "status.in_progress": "in progress",
    "status.awaiting_customer": "awaiting customer", "status.resolved": "resolved", "status.closed": "closed",
    "status.reopened": "reopened", "status.merged": "merged", "status.rejected": "rejected",
    "status.open": "open", "status.acknowledged": "acknowledged", "status.blocked": "blocked",
    "status.waiting": "waiting", "status.done": "done", "status.transferred": "transferred",
    "status.cancelled": "cancelled",
    "clockstate.on_track": "on track", "clockstate.at_risk": "at risk", "clockstate.breached": "breached",
    "clockstate.paused": "paused", "clockstate.met": "met", "clockstate.no_target": "no target",
    "clockstate.cancelled": "cancelled", "clockstate.handed_over": "handed over",
    "clock.handed_to": "to task {id} ({department})",
    "rootcause.product_defect": "product defect", "rootcause.process_gap": "process gap",
    "rootcause.policy_rule": "policy or compensation rule", "rootcause.information": "information and communication",
    "rootcause.system": "system or tooling", "rootcause.third_party": "partner or third party",
    "rootcause.customer_side": "customer side", "rootcause.force_majeure": "force majeure (weather, a flight change)",
    "rootcause.undetermined": "undetermined (a note is required)",
    "complaints.title": "Complaints", "complaints.for": "matching “{q}”", "complaints.any_status": "any status",
    "complaints.overdue": "past the promise", "complaints.sort": "Order", "complaints.total": "{total} complaints",
    "complaints.total.one": "{total} complaint",
    "complaints.reference": "Reference", "complaints.subject": "Subject", "complaints.received": "Received",
    "complaints.none": "No complaint matches.", "nav.complaints": "Complaints", "export.label": "Export",
    "export.timeline": "Export the timeline",
    "search.placeholder": "id, reference, customer, words", "search.submit": "Search",
    "search.help": "Search complaints: an id, an external reference or a customer ref (exact), or words of the "
                   "facts and the customer's text (every word must match; a word of 3 or more characters "
                   "also finds longer words it begins, a shorter one only itself)",
    "sort.-received_at": "newest first", "sort.received_at": "oldest first", "sort.due_at": "due soonest",
    "sort.severity": "most severe", "sort.-id": "highest id",
    "risk.vulnerable_customer": "vulnerable customer", "risk.public_exposure": "public exposure",
    "risk.legal_threat": "legal threat", "risk.repeat_complainer": "repeat complainer",
    "risk.compensation_demanded": "compensation demanded",
    "customer.title": "Customer {ref}", "customer.erased": "personal data erased", "customer.name": "Name",
    "customer.language": "Language · zone", "customer.complaints_all": "Complaints (all departments)",
    "customer.shown": "{shown} shown to you", "customer.first_last": "First – last complaint",
    "customer.complaints": "Complaints", "customer.verdict": "Follow-up verdict", "customer.promises": "Promises",
    "customer.compensation": "Compensation", "customer.verdicts": "Satisfaction history (follow-up verdicts)",
    "customer.none": "None.", "customer.link": "Customer",
    "error.403.customer": "None of this customer's complaints has a task in your department ({mine}).",
    "error.403.action": "Your role may not do this on a complaint.",
    "verdict.solved": "solved", "verdict.not_solved": "not solved",
    "promise.made": "made", "promise.kept": "kept", "promise.broken": "broken", "promise.open": "open",
    "promise.cancelled": "cancelled", "promise.kind": "Promise", "promise.made_at": "Made",
    "promise.settled": "Kept / broken",
    "promisekind.call_back": "call back", "promisekind.send_document": "send a document",
    "promisekind.refund": "refund", "promisekind.other": "other",
    "compensation.kind": "Kind", "compensation.amount": "Amount", "compensation.requested": "Requested",
    "compensation.decided": "Decided", "compensation.approved": "approved",
    "compensation.pending_approval": "waiting for approval", "compensation.rejected": "rejected",
    "work.title": "Work on this complaint", "work.note": "Internal note", "work.add_note": "Add note",
    "work.reprioritize": "Change priority", "work.current": "now", "work.wait": "Wait on the customer",
    "work.wait_reason": "What we need from the customer", "work.resolve": "Resolve",
    "work.resolution": "Resolution (what was done)", "work.root_cause_kept": "keep {code}",
    "field.body": "Note (colleagues only, never sent to the customer)", "field.severity": "New priority",
    "field.reason": "Reason", "field.until": "Wait at most until", "field.root_cause": "Root cause",
    "field.note": "Root-cause note", "field.root_cause_detail": "Root-cause note",
    "field.version": "Version", "field.outcome": "Outcome", "field.complaint": "Complaint",
    "field.continuing": "Tasks that go on", "field.?": "?",
    "ok.work.note": "Note added.", "ok.work.reprioritize": "Priority changed.",
    "ok.work.wait": "Waiting on the customer: the resolution clock is paused.",
    "ok.work.resolve": "Complaint resolved.",
    "err.work.required": "“{label}” is required ({field}).",
    "err.work.too_long": "“{label}” is longer than {limit} characters ({field}): nothing was changed.",
    "err.work.invalid": "“{label}” is not valid here ({field}): check it and try again.",
    "err.work.invalid_why": "“{label}” ({field}): {why}. Nothing was changed.",
    "err.work.stale": "The complaint was changed by someone else after this page was loaded. "
                      "The page below is current: check it and try again.",
    "err.work.state": "The complaint cannot do that in its current state ({state}).",
    "err.work.version": "The form did not carry the version of the complaint it was shown with (missing or not "
                        "a number), so nothing was changed: reload the page and try again.",
    "sla.left": "{time} left", "sla.overdue_by": "overdue by {time}", "sla.time": "{h} business h {m:02d} min",
    "sla.hours": "{h} business h", "sla.minutes": "{m} business min",
    "sla.help": "business hours on the {calendar} calendar",
    "nav.improvements": "Improvements", "nav.compensation": "Compensation", "nav.views": "Saved views",
    "views.name": "Name of this view", "views.save": "Save this view", "views.delete": "Delete the view",
    "views.saved": "View saved: find it under “Saved views” in the header.", "views.deleted": "View deleted.",
    "views.invalid": "The view was not saved: check “{label}”.",
    "views.invalid_why": "The view was not saved: “{label}”: {why}.",
    "views.field.name": "name",
    "views.field.q": "search", "views.field.status": "status", "views.field.sort": "order",
    "error.403.no_user": "Your token belongs to no user: ask an admin for one made with `--user`.",
    "bulk.title": "Bulk action", "bulk.label": "With the ticked complaints", "bulk.pick": "Pick",
    "bulk.action.transfer": "Transfer", "bulk.action.reprioritize": "Change priority",
    "bulk.action.link": "Link to an improvement record", "bulk.action.close": "Close",
    "bulk.action.resolve": "Resolve",
    "bulk.field.to": "To department", "bulk.field.from_department": "Only tasks of",
    "bulk.any_department": "any department", "bulk.field.severity": "New priority",
    "bulk.field.improvement_id": "Improvement record", "bulk.field.reason": "Reason (audited per complaint)",
    "bulk.field.items": "ticked complaints", "bulk.field.action": "action", "bulk.run": "Run on ticked",
    "bulk.help": "Each complaint is done on its own: one that changed since this page was loaded fails alone.",
    "bulk.problem": "Nothing was done: check “{label}”.",
    "bulk.too_long": "Nothing was done: “{label}” is longer than {limit} characters.",
    "bulk.summary": "{ok} done, {failed} failed.",
    "bulk.result": "Result", "bulk.detail": "Detail", "bulk.done": "done", "bulk.failed": "failed",
    "bulk.version": "now version {version}", "bulk.back": "Back to the list",
    "bulk.unchanged": "already so: nothing changed (version {version})",
    "bulk.err.stale": "Changed by someone else since the list was loaded.",
    "bulk.err.state": "Not possible in its current state.", "bulk.err.missing": "Not found.",
    "bulk.err.invalid": "Not possible for this complaint.",
    "imp.title": "Improvement records", "imp.all": "All", "imp.record": "Record", "imp.title_col": "Title",
    "imp.linked": "Complaints", "imp.check_due": "Effectiveness check due", "imp.none": "No improvement record.",
    "imp.problem": "Problem", "imp.created": "Created", "imp.actions_title": "Change the record",
    "imp.checks": "Effectiveness checks", "imp.checks_none": "No effectiveness check has run yet.",
    "imp.checks_help": "Complaints matching this record, counted in equal windows before and after the fix was "
                       "implemented (internal figures; the customers' own verdicts are on their complaints).",
    "imp.check.window": "Each window", "imp.check.days": "{days} days",
    "imp.check.days.one": "{days} day", "imp.check.before": "Before",
    "imp.check.after": "After", "imp.check.reduction": "Reduction", "imp.check.verdict": "Verdict",
    "imp.check.rule": "rule: at least {reduction} fewer, from at least {before} before",
    "imp.verdict.effective": "effective", "imp.verdict.ineffective": "not effective",
    "imp.verdict.not_enough_data": "not enough data",
    "imp.linked_complaints": "Linked complaints", "imp.action_tasks": "Actions", "imp.source": "Linked by rule",
    "imp.link_source.manual": "by hand", "imp.link_source.cluster": "recurring cluster (proposal)",
    "imp.link_source.recurrence": "recurred after the fix",
    "imp.linked_by": "Linked", "imp.when": "When", "imp.change": "Change", "imp.who": "Who",
    "imp.status.proposed": "proposed", "imp.status.approved": "approved", "imp.status.in_progress": "in progress",
    "imp.status.implemented": "implemented", "imp.status.verifying": "verifying", "imp.status.effective": "effective",
    "imp.status.ineffective": "ineffective", "imp.status.rejected": "rejected",
    "trigger.approve": "Approve", "trigger.start": "Start", "trigger.implement": "Mark implemented",
    "trigger.begin_verification": "Begin verification", "trigger.confirm_effective": "Confirm effective",
    "trigger.confirm_ineffective": "Confirm ineffective", "trigger.rework": "Rework", "trigger.reject": "Reject",
    "trigger.create": "Created", "trigger.link": "Linked",
    "records.ok": "Done: {what}.", "records.err.stale": "The record was changed by someone else since this page "
    "was loaded: check it and try again.", "records.err.state": "Not possible in the current state.",
    "records.err.decided": "This entry was already decided since this page was loaded: nothing was changed; the "
                           "list shows its decision now.",
    "records.err.required": "“{label}” is required.",
    "records.err.too_long": "“{label}” is longer than {limit} characters: nothing was changed.",
    "records.err.invalid": "“{label}” is missing or not valid.",
    "records.err.invalid_why": "“{label}”: {why}. Nothing was changed.",
    "records.err.own": "You requested this compensation: another approver must decide it.",
    "comp.title": "Compensation approvals", "comp.entry": "Entry", "comp.kind": "Kind", "comp.amount": "Amount",
    "comp.cap": "Cap", "comp.requested": "Requested by", "comp.decision": "Decision",
    "comp.status.pending_approval": "Waiting for approval", "comp.status.approved": "Approved",
    "comp.status.rejected": "Rejected", "comp.none": "No compensation recorded.", "comp.own": "your own request",
    "comp.kind.refund": "refund", "comp.kind.credit": "credit", "comp.kind.voucher": "voucher",
    "comp.kind.goodwill": "goodwill", "comp.kind.fee_waiver": "fee waiver", "comp.kind.other": "other",
    "comp.help": "Approvers: operations manager and admin; nobody decides their own request. The cap counts "
                 "every approved and pending entry of the complaint.",
    "nav.my": "My tasks", "my.title": "My tasks and mentions", "my.tasks": "Assigned to me ({n})",
    "my.mentions": "Notes that mention me", "my.note": "Note", "my.at": "When ({zone})",
    "my.no_tasks": "No active task is assigned to you.",
    "my.no_mentions": "Nobody has mentioned you yet.",
    "my.no_user": "Your sign-in token belongs to no user. Ask an administrator for a token of your own "
                  "(`closeloop tokens create --user HANDLE`) to see your tasks and mentions.",
    "work.mention_help": "Write @handle to notify a colleague.",
    "err.work.unknown_handle": "Nobody has the handle @{handle}: the note was not saved.",
}

CATALOGUES = {"en": EN, "zh": ZH}


def translator(language: str) -> Callable[..., str]:
    """``t(key, count=None, **values)`` for ``language`` (English fallback; an unknown key shows as itself).

    ``count`` (a number, not a placeholder) picks the singular: with ``count == 1`` the catalogue's ``<key>.one``
    is used when the catalogue that holds ``key`` has one ("1 complaint"); Chinese has no plural forms and no
    ``.one`` keys, so it always takes ``key``."""
    table = CATALOGUES.get(language, EN)

    def t(key: str, default: str | None = None, count: float | None = None, **values) -> str:
        source = table if key in table else EN
        if count == 1 and f"{key}.one" in source:
            key = f"{key}.one"
        text = table.get(key) or EN.get(key) or default or key
        return text.format(**values) if values else text

    return t


def problem(text: str, language: str) -> str:
    """A service's reason for refusing input (``InvalidInput.problem``, English) in ``language``: the Chinese of
    :data:`~closeloop.web.i18n_zh.ZH_PROBLEMS` (or of a pattern of ``ZH_PROBLEM_PATTERNS``) where there is one,
    else as raised (English is the text as raised)."""
    if language != "zh":
        return text
    if text in ZH_PROBLEMS:
        return ZH_PROBLEMS[text]
    for pattern, zh in ZH_PROBLEM_PATTERNS:
        m = re.fullmatch(pattern, text)
        if m:
            return zh.format(*m.groups())
    return text


def pick(*candidates: str | None) -> str:
    """The first candidate that is a supported language, else the default."""
    for c in candidates:
        if c in LANGUAGES:
            return c
    return DEFAULT
