"""The web dashboard: server-rendered Jinja2 pages beside the REST API (``closeloop.api.create_app``
includes :data:`router`).

Pages: ``/signin`` (a token; HttpOnly SameSite=Strict cookie), ``/overview`` (operations manager),
``/queue/{department}`` (members and leads: their own; manager: any) with acknowledge, start,
complete and transfer, ``/complaints/{id}`` (facts, tasks, clocks, timeline; note, reprioritize, wait on
the customer, resolve), ``/customers/{ref}`` (a customer's complaints, promises, compensation, verdicts),
``/my`` (the signed-in user's tasks and mentions), bulk actions and saved views from the complaint list
(``POST /complaints/bulk``, ``/views``), ``/improvements`` and ``/compensation`` (records and approvals).
English and Chinese (:mod:`closeloop.web.i18n`). Access rules are the API's (:class:`closeloop.http.access.Principal`).
"""

from __future__ import annotations

from fastapi import APIRouter

from .render import WebRoute

router = APIRouter(include_in_schema=False, route_class=WebRoute)

from . import (  # noqa: E402
    pages_auth,
    pages_bulk,
    pages_complaints,
    pages_customers,
    pages_overview,
    pages_people,
    pages_queue,
    pages_records,
    pages_views,
    pages_work,
)

for _module in (pages_auth, pages_overview, pages_queue, pages_bulk, pages_complaints, pages_customers, pages_work,
                pages_people, pages_views, pages_records):
    router.include_router(_module.router)
