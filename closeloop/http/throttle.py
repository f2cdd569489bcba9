"""Failed sign-in and token attempts, limited per client address (issue 14).

Every request that presents an API token (``Authorization: Bearer``) or submits the dashboard's
sign-in form counts as an attempt; a failed one (unknown or revoked token) is recorded against
the client's address with the ``limits`` library (moving windows, in this process's memory).
Once an address is over any of ``Settings.auth_failure_limits`` (default ``10/minute;100/hour``),
its attempts are answered 429 *before* the token is checked (so a guess cannot be confirmed),
with ``Retry-After`` in seconds, until the window moves on. Successful attempts are never counted.
The address is the connecting peer's (behind a proxy, run uvicorn with ``--proxy-headers`` and
``--forwarded-allow-ips`` so it is the client's). Windows run on the wall clock (a rate, not a
business rule).
"""

from __future__ import annotations

import math
import time

from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

DEFAULT_LIMITS = "10/minute;100/hour"


class AuthThrottle:
    """Per-address failure counters: :meth:`retry_after` before checking, :meth:`failed` after."""

    def __init__(self, spec: str = DEFAULT_LIMITS):
        self.items: list[RateLimitItem] = parse_many(spec)
        self.limiter = MovingWindowRateLimiter(MemoryStorage())

    def retry_after(self, address: str) -> int | None:
        """Seconds until ``address`` may try again, or None when it is within every limit."""
        waits = []
        for item in self.items:
            if not self.limiter.test(item, "auth-failure", address):
                reset = self.limiter.get_window_stats(item, "auth-failure", address).reset_time
                waits.append(max(1, math.ceil(reset - time.time())))
        return max(waits) if waits else None

    def failed(self, address: str) -> None:
        """Record one failed attempt from ``address``."""
        for item in self.items:
            self.limiter.hit(item, "auth-failure", address)


def address_of(request) -> str:
    """The client's address as the server sees it ('unknown' without one)."""
    return request.client.host if request.client else "unknown"
