"""Replay of real exports in simulated time, its report, charts and the what-if comparison."""
