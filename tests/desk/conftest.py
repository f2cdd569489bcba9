"""The desk tests (issue 14) use the REST API fixtures."""

from tests.api.conftest import api, complaints  # noqa: F401
