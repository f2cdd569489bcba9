"""The follow-up engine: timers, clocks, the sweep, notices, the daily digest, delivery, retention."""
