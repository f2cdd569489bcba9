"""Intake: complaints in (one, a batch, an export file), de-duplicated, triaged, routed; recurrence."""
