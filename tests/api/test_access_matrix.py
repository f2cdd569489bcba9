"""Role by endpoint: every cell (caller x endpoint -> status) is asserted, on SQLite and PostgreSQL.

Callers: no token, a member and a lead of ``operations``, a member of ``service``, a manager, an admin.
Writes get fresh records per cell, so one cell's success never changes another's answer.
"""

from __future__ import annotations

import itertools
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select, update

from closeloop.domain.customer import ContactPoint, CustomerProfile
from closeloop.services.capa import improvement
from closeloop.services.customers.promises import make_promise
from closeloop.services.people.tokens import create_token
from closeloop.services.people.users import create_user
from closeloop.services.reads.saved_views import normalise, save_view
from closeloop.services.work import compensation
from models.tables import ApiToken, Task
from tests.integration.attach import attach
from tests.integration.helpers import facts, intake

from .conftest import T0

CALLERS = ("anon", "member", "lead", "member_service", "manager", "admin")
_refs = itertools.count()


def _status(row: str) -> dict[str, int]:
    """'mem lead msvc mgr adm' as five numbers; anon is always 401."""
    return dict(zip(CALLERS, [401, *map(int, row.split())], strict=True))


#: Operations endpoints at the root (not under /api/v1): open to every caller, no token (probes, Prometheus).
ROOT_PATHS = ("/healthz", "/readyz", "/metrics")
OPEN = dict.fromkeys(CALLERS, 200)

#   endpoint                                   member lead msvc mgr  admin
MATRIX = {
    "GET /healthz":                            OPEN,
    "GET /readyz":                             OPEN,
    "GET /metrics":                            OPEN,
    "GET /me":                                 _status("200 200 200 200 200"),
    "GET /departments":                        _status("200 200 200 200 200"),
    "GET /config":                             _status("403 403 403 403 200"),
    "GET /tokens":                             _status("403 403 403 403 200"),
    "POST /tokens":                            _status("403 403 403 403 201"),
    "POST /tokens/{id}/revoke":                _status("403 403 403 403 200"),
    "POST /complaints":                        _status("403 403 403 201 403"),
    "GET /complaints":                         _status("200 200 200 200 403"),
    "GET /complaints?department=operations":   _status("200 200 403 200 403"),
    "GET /complaints/{ops}":                   _status("200 200 200 200 403"),
    "GET /complaints/{lending}":               _status("403 403 200 200 403"),
    "POST /complaints/{id}/transitions":       _status("403 403 403 200 403"),
    "POST /complaints/{ops}/replies":          _status("201 201 201 201 403"),
    "POST /complaints/{lending}/replies":      _status("403 403 201 201 403"),
    "GET /departments/operations/tasks":       _status("200 200 403 200 403"),
    "GET /tasks/{ops}":                        _status("200 200 403 200 403"),
    "POST /tasks/{ops}/transitions acknowledge": _status("200 200 403 200 403"),
    "POST /tasks/{ops}/transitions transfer":  _status("200 200 403 200 403"),
    "POST /tasks/{ops}/transitions cancel":    _status("403 200 403 200 403"),
    "POST /tasks/{ops}/transitions assign":    _status("403 200 403 200 403"),
    "GET /overview":                           _status("403 403 403 200 403"),
    "GET /improvements":                       _status("200 200 200 200 403"),
    "GET /improvements/{ops}":                 _status("200 200 403 200 403"),
    "POST /improvements/{ops}/complaints":     _status("403 200 403 200 403"),
    "POST /improvements/{ops}/transitions":    _status("403 200 403 200 403"),
    "POST /complaints/{ops}/compensation":     _status("201 201 201 201 403"),
    "POST /complaints/{lending}/compensation": _status("403 403 201 201 403"),
    "GET /compensation":                       _status("403 403 403 200 200"),
    "POST /compensation/{pending}/approve":    _status("403 403 403 200 200"),
    "POST /compensation/{pending}/reject":     _status("403 403 403 200 200"),
    "GET /exports/complaints":                 _status("200 200 200 200 403"),
    "GET /complaints/{ops}/timeline":          _status("200 200 200 200 403"),
    "GET /complaints/{lending}/timeline":      _status("403 403 200 200 403"),
    "GET /customers/{ops}":                    _status("200 200 200 200 403"),
    "GET /customers/{lending}":                _status("403 403 200 200 403"),
    "GET /customers/{unknown}":                _status("404 404 404 404 403"),
    "GET /complaints/{ops}/attachments":       _status("200 200 200 200 403"),
    "GET /complaints/{lending}/attachments":   _status("403 403 200 200 403"),
    "GET /complaints/{ops}/attachments/{id}":  _status("200 200 200 200 403"),
    "GET /complaints/{lending}/attachments/{id}": _status("403 403 200 200 403"),
    "GET /complaints/{ops}/attachments/{other}": _status("404 404 404 404 403"),  # another complaint's file
    "POST /complaints/{ops}/attachments":      _status("201 201 201 201 403"),  # staff upload (multipart)
    "POST /complaints/{lending}/attachments":  _status("403 403 201 201 403"),
    "POST /inbound/email/reprocess":           _status("403 403 403 200 403"),
    # work from the complaint page over the API, people and mentions (issue 14)
    "POST /complaints/{ops}/notes":            _status("201 201 201 201 403"),
    "POST /complaints/{lending}/notes":        _status("403 403 201 201 403"),
    "POST /complaints/{ops}/priority":         _status("403 200 403 200 403"),
    "POST /complaints/{lending}/priority":     _status("403 403 403 200 403"),
    "POST /complaints/{ops}/wait":             _status("200 200 200 200 403"),
    "POST /complaints/{lending}/wait":         _status("403 403 200 200 403"),
    "GET /complaints/{ops}/promises":          _status("200 200 200 200 403"),
    "POST /complaints/{ops}/promises":         _status("201 201 201 201 403"),
    "POST /complaints/{lending}/promises":     _status("403 403 201 201 403"),
    "POST /promises/{ops}/keep":               _status("200 200 200 200 403"),
    "GET /users":                              _status("200 200 200 200 200"),
    "POST /users":                             _status("403 403 403 403 201"),
    "GET /me/tasks":                           _status("200 200 200 200 403"),
    "GET /me/mentions":                        _status("200 200 200 200 403"),
    "POST /complaints/bulk":                   _status("403 403 403 200 403"),
    "GET /me/views":                           _status("200 200 200 200 403"),
    "POST /me/views":                          _status("201 201 201 201 403"),
    "DELETE /me/views/{mine}":                 _status("204 204 204 204 403"),
    "DELETE /me/views/{other}":                _status("404 404 404 404 403"),  # another user's view
}


def _complaint(api, product: str) -> int:
    at = T0 - timedelta(hours=2)
    return intake(api.app.sessions, api.app.config, T0,
                  [facts(f"M-{next(_refs)}", at, product=product, category=product)])[0]


def _ops_task(api) -> int:
    cid = _complaint(api, "Credit reporting")
    with api.app.sessions() as s:
        return s.scalar(select(Task.id).where(Task.complaint_id == cid, Task.department == "operations"))


def _user_id(api, caller: str) -> int:
    """The user of ``caller``'s token (the manager's for anon, who never gets that far)."""
    with api.app.sessions() as s:
        return s.scalar(select(ApiToken.user_id).where(ApiToken.name == ("manager" if caller == "anon" else caller)))


def _request(api, endpoint: str, caller: str = "manager"):
    """(method, url, json body) for one cell, with fresh records for writes."""
    method, rest = endpoint.split(" ", 1)
    path, _, trigger = rest.partition(" ")
    body = None
    if path == "/tokens/{id}/revoke":
        _, info = create_token(api.app.sessions, api.app.config, role="manager", name="spare", created_by="t", at=T0)
        path = f"/tokens/{info.id}/revoke"
    elif path == "/tokens":
        body = {"role": "member", "department": "service", "name": "new"} if method == "POST" else None
    elif path == "/complaints" and method == "POST":
        body = {"external_ref": f"NEW-{next(_refs)}", "received_at": "2026-03-01T09:00:00Z", "product": "Mortgage"}
    elif path.startswith("/compensation/{pending}"):
        entry = compensation.add(api.app.sessions, _complaint(api, "Credit reporting"), config=api.app.config,
                                 kind="refund", amount="100000", actor="api:agent (member@operations)",
                                 requester="token:0", at=T0)
        path = path.replace("{pending}", str(entry.id))
        body = {"note": "checked"}
    elif path.startswith("/complaints/") and path.endswith("/compensation"):
        product = "Credit reporting" if "{ops}" in path else "Payday loan"
        path = f"/complaints/{_complaint(api, product)}/compensation"
        body = {"kind": "refund", "amount": "10.00"}
    elif path.endswith("/replies"):
        product = "Credit reporting" if "{ops}" in path else "Payday loan"
        cid = intake(api.app.sessions, api.app.config, T0, [facts(
            f"M-{next(_refs)}", T0 - timedelta(hours=2), product=product, category=product, customer_ref="reach",
            customer=CustomerProfile(contacts=(ContactPoint("email", "reach@example.com", consent=True),)))])[0]
        path, body = f"/complaints/{cid}/replies", {"text": "we are on it"}
    elif path == "/inbound/email/reprocess":
        body = {"all": True}
    elif "/attachments" in path and method == "POST":
        product = "Credit reporting" if "{ops}" in path else "Payday loan"
        path, body = f"/complaints/{_complaint(api, product)}/attachments", UPLOAD
    elif "/attachments" in path:
        product = "Credit reporting" if "{ops}" in path else "Payday loan"
        cid = _complaint(api, product)
        (aid,) = attach(api.app.sessions, Path(api.app.settings.attachment_dir), cid, (b"%PDF-1", "a.pdf", "x/y"))
        if path.endswith("{other}"):
            aid = attach(api.app.sessions, Path(api.app.settings.attachment_dir), _complaint(api, "Payday loan"),
                         (b"%PDF-2", "b.pdf", "x/y"))[0]
        path = f"/complaints/{cid}/attachments" + ("" if path.endswith("/attachments") else f"/{aid}")
    elif path.startswith("/complaints/{") and path.rsplit("/", 1)[1] in WORK_BODIES:
        product = "Credit reporting" if "{ops}" in path else "Payday loan"
        action = path.rsplit("/", 1)[1]
        body = WORK_BODIES[action] if method == "POST" else None
        path = f"/complaints/{_complaint(api, product)}/{action}"
    elif path == "/promises/{ops}/keep":
        cid = _complaint(api, "Credit reporting")
        p = make_promise(api.app.sessions, api.app.config, cid, department="operations", kind="call_back",
                         business_hours=4, actor="t", at=T0)
        path, body = f"/promises/{p.id}/keep", {"contact": "called the customer back"}
    elif path == "/complaints/bulk":
        body = {"action": "reprioritize", "severity": "P1", "reason": "incident",
                "items": [{"id": _complaint(api, "Mortgage")}]}
    elif path == "/me/views" and method == "POST":
        body = {"name": f"view {next(_refs)}", "q": "dispute", "overdue": True}
    elif path.startswith("/me/views/"):
        view = save_view(api.app.sessions, _user_id(api, caller if "{mine}" in path else "admin"),
                         f"v{next(_refs)}", normalise(q="x"), at=T0)
        path = f"/me/views/{view.id}"
    elif path == "/users" and method == "POST":
        body = {"handle": f"user-{next(_refs)}", "name": "New Person", "role": "member", "departments": ["service"]}
    elif path.endswith("/timeline"):
        product = "Credit reporting" if "{ops}" in path else "Payday loan"
        path = f"/complaints/{_complaint(api, product)}/timeline"
    elif path.startswith("/customers/"):
        ref = f"matrix-{next(_refs)}"
        if "{unknown}" not in path:
            product = "Credit reporting" if "{ops}" in path else "Payday loan"
            intake(api.app.sessions, api.app.config, T0, [facts(f"M-{next(_refs)}", T0 - timedelta(hours=2),
                                                                product=product, category=product, customer_ref=ref)])
        path = f"/customers/{ref}"
    elif path == "/complaints/{ops}":
        path = f"/complaints/{_complaint(api, 'Credit reporting')}"
    elif path == "/complaints/{lending}":
        path = f"/complaints/{_complaint(api, 'Payday loan')}"
    elif path == "/complaints/{id}/transitions":
        into = _complaint(api, "Mortgage")
        path = f"/complaints/{_complaint(api, 'Mortgage')}/transitions"
        body = {"trigger": "merge", "into": into, "reason": "the same mortgage complaint"}
    elif path.startswith("/improvements/{ops}"):
        rec = improvement.create(api.app.sessions, config=api.app.config, title="recurring disputes",
                                 owner_department="operations", actor="t", at=T0,
                                 complaint_ids=[_complaint(api, "Credit reporting")])
        path = path.replace("{ops}", str(rec.id))
        if path.endswith("/complaints"):
            body = {"complaint_ids": [_complaint(api, "Credit reporting")]}
        elif path.endswith("/transitions"):
            body = {"trigger": "approve", "root_cause": next(iter(api.app.config.model.improvement.root_causes))}
    elif path.startswith("/tasks/{ops}"):
        path = path.replace("{ops}", str(_ops_task(api)))
        body = {"acknowledge": {"trigger": "acknowledge"},
                "transfer": {"trigger": "transfer", "to": "product", "reason": "a product question"},
                "cancel": {"trigger": "cancel", "reason": "not needed"},
                "assign": {"trigger": "assign", "assignee": "wang.li"}}.get(trigger)
    return method, (path if path in ROOT_PATHS else "/api/v1" + path), body


UPLOAD = {"files": {"file": ("statement.pdf", b"%PDF-1.7 matrix", "application/pdf")}, "data": {"note": "scan"}}
WORK_BODIES = {"notes": {"body": "checked the file with @matrix.member"},
               "priority": {"severity": "P1", "reason": "regulator asked"},
               "wait": {"reason": "the customer sends the statement"},
               "promises": {"department": "operations", "kind": "call_back", "business_hours": 4}}


def _users_for_tokens(api) -> None:
    """Every caller's token belongs to a user of its role and department ("my tasks", mentions)."""
    spec = {"member": ("member", ["operations"]), "lead": ("lead", ["operations"]),
            "member_service": ("member", ["service"]), "manager": ("manager", []), "admin": ("admin", [])}
    for caller, (role, departments) in spec.items():
        u = create_user(api.app.sessions, api.app.config, handle=f"matrix.{caller.replace('_', '-')}",
                        name=f"Matrix {caller}", departments=departments, role=role, actor="t", at=T0)
        with api.app.sessions.begin() as s:
            s.execute(update(ApiToken).where(ApiToken.name == caller).values(user_id=u.id))


def test_every_cell_of_the_access_matrix(api, tmp_path):
    api.app.settings = api.app.settings.model_copy(update={"attachment_dir": str(tmp_path / "att")})
    _users_for_tokens(api)
    got: dict[tuple[str, str], int] = {}
    for endpoint in MATRIX:
        for caller in CALLERS:
            method, url, body = _request(api, endpoint, caller)
            headers = {} if caller == "anon" else api.h(caller)
            sent = body if body is UPLOAD else {"json": body}  # multipart for the upload
            r = api.client.request(method, url, headers=headers, **sent)
            got[(endpoint, caller)] = r.status_code
            if r.status_code >= 400:
                assert set(r.json()["error"]) == {"code", "message", "field", "details"}, (endpoint, caller)
    wrong = {k: (v, MATRIX[k[0]][k[1]]) for k, v in got.items() if v != MATRIX[k[0]][k[1]]}
    assert not wrong, f"(endpoint, caller): (got, expected): {wrong}"
    assert len(got) == len(MATRIX) * len(CALLERS)
