"""Prefect flows: short runs, thin over :mod:`closeloop.services`.

The database is the source of truth (DESIGN section 4): a flow never waits
inside a run for days; it reads what is due, calls a service, and ends.
Deployments (``deploy/prefect.yaml``) point at the modules here.
"""
