"""The manager overview and the complaint page."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Path, Request
from markupsafe import Markup

from closeloop.domain.complaint import COMPLAINT_MACHINE, ComplaintStatus
from closeloop.domain.outbox import dead_reason_label
from closeloop.domain.task import TaskStatus
from closeloop.domain.triage import SEVERITIES
from closeloop.http.access import MANAGER, WORK_ROLES, Principal, get_app
from closeloop.services.customers.view import customer_refs
from closeloop.services.engine.clocks import complaint_owner
from closeloop.services.inbound.attachments import attachments_of
from closeloop.services.reads.complaint_queries import complaint_detail, complaint_in_scope
from closeloop.services.reads.dashboard import recent_completions
from closeloop.services.reads.engine_texts import reopened_title_data, root_cause_note_data
from closeloop.services.reads.overview import overview as overview_svc
from closeloop.services.replay.charts import category_bars, ranked_bars
from models.types import MAX_ID

from . import i18n, pages_work
from .render import WebRoute, language, render
from .session import PageError, current

router = APIRouter(include_in_schema=False, route_class=WebRoute)


@router.get("/overview")
def overview(request: Request, who: Principal = Depends(current)):
    """Counts by status, breaches and at-risk tasks, load per department, age of open complaints."""
    if who.role != MANAGER:
        raise PageError(403, "error.403.roles", roles=(MANAGER,))
    app = get_app(request)
    data = overview_svc(app.sessions, app.config, now=app.clock.now())
    t = i18n.translator(language(request))
    depts = data["departments"]
    totals = {k: sum(d.get(k, 0) for d in depts.values()) for k in ("active", "breached", "at_risk", "ack_overdue",
                                                                        "due_today")}
    # active counts the tasks waiting on another one too (blocked): the card says how many of them
    totals["blocked"] = sum(d.get("by_status", {}).get(TaskStatus.BLOCKED, 0) for d in depts.values())
    top = max([d.get("active", 0) for d in depts.values()] + [1])
    charts = {
        "status": category_bars({t(f"status.{k}"): v for k, v in data["complaints_by_status"].items()},
                                y_title=t("overview.chart.complaints"), x_title=t("overview.chart.status"),
                                width=440, height=150, label=t("overview.by_status")),
        "load": load_chart(depts, t),
        "age": category_bars({t(f"age.{b['bucket']}"): b["count"] for b in data["age_of_open_complaints"]},
                             y_title=t("overview.open_complaints"), x_title=t("overview.chart.age"), width=440,
                             height=150, label=t("overview.age")),
    }
    names = {k: v.display_name for k, v in app.config.departments.items()}
    # the departments burning time first: breached, at risk, then load; idle ones last
    ordered = sorted(depts.items(), key=lambda kv: (-kv[1].get("breached", 0), -kv[1].get("at_risk", 0),
                                                    -kv[1].get("active", 0), kv[0]))
    dead_reasons = {r: dead_reason_label(r, language(request)) for r in data["dead_letters"] if r}
    # tasks of departments the running configuration lacks (data imported with another CLOSELOOP_CONFIG): no queue
    # page to link to, one warning naming them and the option
    unknown = [k for k, _ in ordered if k not in app.config.departments]
    return render(request, "overview.html.j2", data=data, depts=ordered, totals=totals, top=top, charts=charts,
                  names=names, recent=recent_completions(app.sessions, limit=10), now=app.clock.now(),
                  dead_reasons=dead_reasons, unknown=unknown, config_file=app.settings.config or "")


def load_chart(depts: dict[str, dict], t) -> Markup:
    """Active tasks per department as horizontal bars, worst first: most overdue (breached) tasks, then most active,
    then by code; the overdue ones drawn red within each bar. Fits the overview's half-width panel (about 460 px
    wide) whatever the number of departments: more make it taller. ``depts``: the overview's ``departments``."""
    ranked = sorted(depts.items(), key=lambda kv: (-kv[1].get("breached", 0), -kv[1].get("active", 0), kv[0]))
    return ranked_bars({k: (d.get("active", 0), d.get("breached", 0)) for k, d in ranked},
                       x_title=t("overview.active_tasks"), y_title=t("overview.department"),
                       part_title=t("overview.chart.overdue"), rest_title=t("overview.chart.not_overdue"),
                       label=t("overview.load"))


@router.get("/complaints/{complaint_id}")
def complaint(request: Request, complaint_id: int = Path(ge=1, le=MAX_ID),
              who: Principal = Depends(current)):
    """Facts, tasks, SLA clocks (business hours; due in the clock's zone and UTC) and the timeline."""
    if who.role not in WORK_ROLES:
        raise PageError(403, "error.403.roles", roles=WORK_ROLES)
    app = get_app(request)
    if not complaint_in_scope(app.sessions, complaint_id, None if who.role == MANAGER else who.department):
        raise PageError(403, "error.403.complaint", id=complaint_id)
    detail = complaint_detail(app.sessions, app.config, complaint_id, now=app.clock.now())
    c = detail.view.complaint
    # the customer promise is the complaint's resolve clock: once it stops, its verdict and instant are shown
    promise = next((v.clock for v in detail.clocks if v.owner == complaint_owner(c.id) and v.clock.name == "resolve"),
                   None)
    return render(request, "complaint.html.j2", c=c, tasks=detail.view.tasks, promise=promise,
                  titles=reopened_title_data(app.sessions, detail.view.tasks),
                  root_cause_note=root_cause_note_data(app.sessions, c.id, c.root_cause_detail),
                  timeline=detail.view.timeline, merged_from=detail.view.merged_from, clocks=detail.clocks,
                  customer_zone=str(app.config.customer_calendar.zone), now=app.clock.now(),
                  customer_ref=customer_refs(app.sessions, [c.id]).get(c.id),
                  attachments=attachments_of(app.sessions, c.id), max_upload=app.settings.attachment_max_bytes,
                  known_departments=set(app.config.departments),
                  flash=pages_work.flash(request),
                  may={a: pages_work.may(who, a) for a in pages_work.ROLES}, severities=SEVERITIES,
                  priority_refused=pages_work.priority_refused(who, c.id,
                                                               [(t.department, t.status) for t in detail.view.tasks]),
                  triggers={str(x) for x in COMPLAINT_MACHINE.allowed(ComplaintStatus(c.status))},
                  root_causes=app.config.model.improvement.root_causes)
