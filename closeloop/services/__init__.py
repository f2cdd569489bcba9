"""Use cases: the only layer that opens and commits transactions.

One sub-package per capability (``intake``, ``work``, ``engine``, ``capa``, ``customers``, ``inbound``,
``reads``, ``review``, ``replay``, ``people``); the plumbing they share sits here at the top: ``uow`` (one unit of
work per use case), ``transitions`` (the one gate of every status change), ``audit``, ``bulk`` (set-based
inserts), ``departments`` (the configuration's departments in the database) and ``markdown`` (escaping).
See ARCHITECTURE.md for the map.
"""
