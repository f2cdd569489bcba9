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
