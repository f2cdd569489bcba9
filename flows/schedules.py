"""The schedules ``closeloop serve`` registers, as data (tested against Prefect's own schedule engine).

- ``sweep`` every few minutes (interval, so no DST question arises);
- ``deliver`` every minute;
- ``overdue-digest`` every few minutes; the service writes one digest per working day of the
  operations manager, at the first run inside their working hours (a cron cannot know the
  manager's calendar: weekends, holidays, make-up days; K14), keyed by the local date;
- ``monthly-review`` on the first of each month, early morning in the zone of the calendar whose
  month it reports (the customer calendar), so that month has ended there when it runs (K14;
  in the manager's zone, a manager east of the customers ran it before the month ended).
"""

from __future__ import annotations

SWEEP_INTERVAL_SECONDS = 300
DELIVER_INTERVAL_SECONDS = 60
OVERDUE_DIGEST_INTERVAL_SECONDS = 600
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
    "poll-mailbox": (50, 1, 5),        # every minute; idempotent by Message-ID, seen only after the commit
}


def policy(flow_name: str) -> dict:
    """The ``@flow`` keyword arguments (timeout_seconds, retries, retry_delay_seconds) for ``flow_name``."""
    timeout, retries, delay = POLICIES[flow_name]
    return {"timeout_seconds": timeout, "retries": retries, "retry_delay_seconds": delay}
