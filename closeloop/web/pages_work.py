"""Work from the complaint page (issue 14 §9): an internal note, a priority change, waiting on the
customer and resolving with a root cause, each a form posting to the service the API and the CLI use.

Roles (the API's where it has the action, the same scope rule everywhere: a member or lead acts only
on a complaint their department's tasks touch):

- note (with an optional file: ``multipart/form-data``, stored as ``POST .../attachments``), wait on the
  customer: member, lead, manager (as replies to the customer, ``POST .../replies``);
- change the priority: lead, manager (a lead's powers over the department's work, as cancel/assign);
- resolve: manager (as ``POST /complaints/{id}/transitions``).

Priority, wait and resolve carry the complaint's ``version`` the page showed: a stale one is the "changed by
someone else" message, a missing or garbled one (empty, ``-5``, ``abc``) its own message; nothing is written
in either case. (A note adds to the complaint without changing its state: no version.)

A forbidden role is a 403 page. Bad input comes back to the complaint page (POST/redirect/GET) with a
message naming the field; a stale version or an illegal trigger with its own message.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import RedirectResponse

from closeloop.bootstrap import App
from closeloop.domain.errors import Conflict, IllegalTransition, InvalidInput, NotPermitted
from closeloop.domain.limits import EARLIEST_INSTANT, LATEST_INSTANT
from closeloop.http.access import ACTION_ROLES, MANAGER, Principal, get_app
from closeloop.services.inbound import InboundOptions
from closeloop.services.people.users import HANDLE
from closeloop.services.reads.complaint_queries import complaint_in_scope
from closeloop.services.work import lifecycle
from closeloop.services.work.notes import add_note
from closeloop.services.work.uploads import upload
from models.types import MAX_ID

from .form_text import form_text, limit_of, problem_kind, required_text
from .render import WebRoute
from .session import PageError, check_csrf, current, form, web_actor, why_of, why_params

router = APIRouter(include_in_schema=False, route_class=WebRoute)

ROLES: dict[str, tuple[str, ...]] = ACTION_ROLES  # one table with the API (closeloop/http/access.py)
FIELDS = ("body", "severity", "reason", "until", "root_cause", "root_cause_detail", "note", "version", "complaint",
          "continuing", "file")
WHY = ("required", "too_long", "invalid")  # what is wrong with the named field
#: The label a form shows for a service field where it is not ``field.<name>``: (form, field) -> message key
#: (the service's ``reason`` is "What we need from the customer" on the wait form, "Resolution" on resolve).
FORM_LABELS: dict[tuple[str, str], str] = {("wait", "reason"): "work.wait_reason",
                                           ("resolve", "reason"): "work.resolution"}


def may(who: Principal, action: str) -> bool:
    """Whether ``who``'s role may take ``action`` (the page shows only these forms)."""
    return who.role in ROLES[action]


def priority_refused(who: Principal, complaint_id: int, tasks: Iterable[tuple[str, str]]) -> dict[str, str] | None:
    """Why ``who``, a lead whose department's task on the complaint was transferred away or cancelled, may not
    change its priority (``lifecycle.priority_refusal``, the service's own rule, on the complaint's ``tasks`` as
    ``(department, status)`` pairs): the values of ``error.403.not_owner``, shown instead of the form; None when
    they may (or their role may not at all)."""
    if not may(who, "reprioritize"):
        return None
    refusal = lifecycle.priority_refusal(complaint_id, who.lead_of, tasks)
    return None if refusal is None else _not_owner(refusal, who, complaint_id)


def _not_owner(exc: NotPermitted, who: Principal, complaint_id: int) -> dict[str, str]:
    """The values of ``error.403.not_owner`` (the refused form's page and the complaint page's notice)."""
    return {"id": str(complaint_id), "mine": who.department or "-", "now": ", ".join(exc.owners) or "-"}


def flash(request: Request) -> dict | None:
    """The message of a redirect back to the complaint page (whitelisted keys and values only; ``why``: the
    service's reason for refusing a field, signed for this session by :func:`~.session.why_params`; ``label``:
    the message key of the field's label on the form named by ``on``, :data:`FORM_LABELS`)."""
    query = request.query_params
    if query.get("ok") in ROLES:
        return {"kind": "ok", "key": f"ok.work.{query['ok']}", "values": {}}
    err = query.get("err")
    field = query.get("field", "")
    field = field if field in FIELDS else "?"
    state = query.get("state", "")
    state = state if re.fullmatch(r"[a-z_]{1,32}", state) else "?"
    handle = query.get("handle", "")
    handle = handle if HANDLE.fullmatch(handle) else "?"
    if err in WHY or err in ("stale", "state", "unknown_handle", "version"):
        why = why_of(request) if err == "invalid" else None
        label = FORM_LABELS.get((query.get("on", ""), field), f"field.{field}")  # the refused form's own label
        return {"kind": "err", "key": f"err.work.{err}" + ("_why" if why else ""), "why": why, "label": label,
                "values": {"field": field, "state": state, "handle": handle, "limit": limit_of(field)}}
    return None


#: What an ``until`` outside the instants closeloop takes is told (:data:`~closeloop.domain.limits.LATEST_INSTANT`,
#: the API's bound too).
UNTIL_TOO_LATE = (f"too far ahead: must be before {LATEST_INSTANT:%Y-%m-%dT%H:%MZ} (UTC), "
                  "the latest instant closeloop takes")
UNTIL_TOO_EARLY = (f"too far back: must be from {EARLIEST_INSTANT:%Y-%m-%dT%H:%MZ} (UTC), "
                   "the earliest instant closeloop takes")


def _until(app: App, raw: str) -> datetime | None:
    """A ``datetime-local`` value read in the customer calendar's zone, as a UTC instant (empty: no maximum).
    Raises ``InvalidInput("until", ...)``: not a date and time, one with an offset, or outside
    ``EARLIEST_INSTANT..LATEST_INSTANT`` (:data:`UNTIL_TOO_LATE`, :data:`UNTIL_TOO_EARLY`)."""
    if not raw.strip():
        return None
    try:
        local = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise InvalidInput("until", "not a date and time") from None
    if local.tzinfo is not None:
        raise InvalidInput("until", "a local date and time, e.g. 2026-03-05T17:00")
    if local.year < EARLIEST_INSTANT.year:  # checked before the zone: year 1 or 9999 overflows converting
        raise InvalidInput("until", UNTIL_TOO_EARLY)
    if local.year >= LATEST_INSTANT.year:
        raise InvalidInput("until", UNTIL_TOO_LATE)
    instant = local.replace(tzinfo=ZoneInfo(str(app.config.customer_calendar.zone))).astimezone(UTC)
    if not EARLIEST_INSTANT <= instant < LATEST_INSTANT:
        raise InvalidInput("until", UNTIL_TOO_LATE if instant >= LATEST_INSTANT else UNTIL_TOO_EARLY)
    return instant


class NoVersion(Exception):
    """The form carried no usable complaint ``version`` (missing, empty, not ASCII digits): refused, never
    taken as "do not check" (every state-changing form on the complaint page carries the version it showed)."""


def _version(data: dict) -> int:
    """The form's ``version`` as an int (ASCII digits only: "²".isdigit() is true); :class:`NoVersion` else."""
    v = data.get("version", "")
    if not (v.isascii() and v.isdigit() and len(v) <= 10):
        raise NoVersion()
    return int(v)


def _note(app: App, cid: int, data: dict, who: Principal, at: datetime) -> None:
    actor = web_actor(who)
    body = required_text(data, "body")
    file = data.get("_upload")
    if file is None:
        add_note(app.sessions, app.config, cid, body, author=actor, at=at, channel="dashboard")
        return
    upload(app.sessions, app.config, cid, file, options=InboundOptions.from_settings(app.settings), actor=actor, at=at,
           note=body, channel="dashboard")


def _reprioritize(app: App, cid: int, data: dict, who: Principal, at: datetime) -> None:
    # a lead: only while the department owns the work now, judged before the form's version and fields are read
    lifecycle.check_priority_owner(app.sessions, cid, who.lead_of)
    actor = web_actor(who)
    lifecycle.reprioritize(app.sessions, cid, data.get("severity", ""), config=app.config,
                           reason=required_text(data, "reason"), actor=actor, at=at, expected_version=_version(data),
                           lead_of=who.lead_of)


def _wait(app: App, cid: int, data: dict, who: Principal, at: datetime) -> None:
    actor = web_actor(who)
    lifecycle.await_customer(app.sessions, cid, config=app.config, reason=required_text(data, "reason"),
                             until=_until(app, data.get("until", "")), actor=actor, at=at,
                             expected_version=_version(data))


def _resolve(app: App, cid: int, data: dict, who: Principal, at: datetime) -> None:
    actor = web_actor(who)
    lifecycle.resolve(app.sessions, cid, config=app.config, reason=required_text(data, "reason"), actor=actor, at=at,
                      expected_version=_version(data), root_cause=data.get("root_cause") or None,
                      root_cause_detail=form_text(data, "root_cause_note", field="root_cause_detail"))


ACTIONS: dict[str, Callable[[App, int, dict, Principal, datetime], None]] = {
    "note": _note, "reprioritize": _reprioritize, "wait": _wait, "resolve": _resolve}


def _back(cid: int, **params: str) -> RedirectResponse:
    return RedirectResponse(f"/complaints/{cid}?{urlencode(params)}#work", status_code=303)


@router.post("/complaints/{complaint_id}/work/{action}")
def work(request: Request, complaint_id: int = Path(ge=1, le=MAX_ID), action: str = Path(max_length=20),
         data: dict = Depends(form), who: Principal = Depends(current)):
    """Take ``action`` on the complaint; back to its page with what happened."""
    check_csrf(request, data)
    if action not in ACTIONS:
        raise PageError(404)
    if not may(who, action):
        raise PageError(403, "error.403.action")
    app = get_app(request)
    if not complaint_in_scope(app.sessions, complaint_id, None if who.role == MANAGER else who.department):
        raise PageError(403, "error.403.complaint", id=complaint_id)
    if action == "note" and getattr(request.state, "upload", None) is not None:
        data = {**data, "_upload": request.state.upload}  # the note form's file (session.form)
    try:
        ACTIONS[action](app, complaint_id, data, who, app.clock.now())
    except InvalidInput as exc:
        unknown = re.match(r"@(\S+): no user", exc.problem) if exc.field == "body" else None
        if unknown:
            return _back(complaint_id, err="unknown_handle", handle=unknown.group(1))
        kind = problem_kind(exc)
        return _back(complaint_id, err=kind, field=exc.field if exc.field in FIELDS else "complaint", on=action,
                     **(why_params(request, exc.problem) if kind == "invalid" else {}))
    except NotPermitted as exc:  # a lead whose department's task was transferred away or cancelled
        raise PageError(403, "error.403.not_owner", **_not_owner(exc, who, complaint_id)) from None
    except NoVersion:
        return _back(complaint_id, err="version")
    except Conflict:
        return _back(complaint_id, err="stale")
    except IllegalTransition as exc:
        return _back(complaint_id, err="state", state=exc.state)
    return _back(complaint_id, ok=action)
