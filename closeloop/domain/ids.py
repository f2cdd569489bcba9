"""The range of row ids, shared by every layer (the domain reads ids out of text: ``[CL-123]``, ``CL-123``)."""

from __future__ import annotations

#: The largest id (and version) a row can have: every key is a 32-bit integer on PostgreSQL. A larger number is
#: no row's, and the driver would fail on it (an overflow) instead of finding nothing: the API, the dashboard,
#: bulk requests, the command line, the search and the e-mail subject token treat it as naming no row.
MAX_ID = 2_147_483_647
