"""The schedules ``closeloop serve`` registers, as data (tested against Prefect's own schedule engine).

- ``sweep`` every few minutes (interval, so no DST question arises);
- ``deliver`` every minute;
- ``overdue-digest`` daily by cron in the operations manager's time zone, evaluated by
  Prefect (3.9.1 resolves the DST cases of CASES.md C07 correctly: one firing per local
  day, the spring-forward gap fires once just after it, the repeated hour fires once);
- ``monthly-review`` on the first of each month, early morning in the manager's zone,
  reviewing the month before (published as a Prefect artifact).
"""

from __future__ import annotations

SWEEP_INTERVAL_SECONDS = 300
DELIVER_INTERVAL_SECONDS = 60
OVERDUE_DIGEST_CRON = "10 0 * * *"
MONTHLY_REVIEW_CRON = "0 6 1 * *"


# Every flow's timeout and retry policy, by flow name (read by the @flow decorators; tested).
# The timeouts stay below the interval where runs repeat, so a hung run ends before it could
# pile up behind the next; retries are safe because every effect is keyed in the database.
#   flow name: (timeout in seconds, retries, seconds between retries)
POLICIES: dict[str, tuple[int, int, int]] = {
    "sweep": (240, 1, 30),             # every 5 min; a retry re-runs an idempotent sweep
    "deliver-outbox": (600, 1, 30),    # every minute; leases (>= 5 min) keep overlapping runs apart
    "overdue-digest": (300, 2, 60),    # once per local day; a second firing writes nothing
    "monthly-review": (1800, 1, 300),  # read-only but heavy
    "import-exports": (3600, 0, 0),    # a bad file fails the same way again; import_one retries
                                       # transient (non-ImportFailed) errors twice itself
    "purge": (1800, 1, 60),            # daily; deletes in bounded batches, a retry finishes the rest
}


def policy(flow_name: str) -> dict:
    """The ``@flow`` keyword arguments (timeout_seconds, retries, retry_delay_seconds) for ``flow_name``."""
    timeout, retries, delay = POLICIES[flow_name]
    return {"timeout_seconds": timeout, "retries": retries, "retry_delay_seconds": delay}
