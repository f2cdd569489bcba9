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
