"""HTTP plumbing shared by the REST API (``closeloop.api``) and the dashboard (``closeloop.web``).

The two are siblings: neither imports the other (an import-linter contract in ``pyproject.toml``); what both need
lives here: who is calling and what each role may do (:mod:`~closeloop.http.access`), the failed-attempt limits
(:mod:`~closeloop.http.throttle`) and file downloads (:mod:`~closeloop.http.files`). The API's app factory
(``closeloop.api.app.create_app``) mounts the dashboard's router beside ``/api/v1``.
"""
