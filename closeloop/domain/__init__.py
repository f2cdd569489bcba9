"""The pure domain: standard library only, no I/O and no clock reads.

Everything here takes the time it needs as an argument (UTC-aware datetimes).
An import-linter contract in ``pyproject.toml`` (checked by the test suite)
keeps SQLAlchemy, httpx, Prefect, pydantic and the outer layers out.
"""
