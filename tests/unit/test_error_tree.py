"""The error tree in ``closeloop/domain/errors.py``'s docstring is the rule: the API's status, the page's status
and the CLI's exit code of every error in it are what the table says, and every ``DomainError`` subclass the
code defines is in the table."""

from __future__ import annotations

import re

import pytest

import closeloop.domain.errors as errors
from closeloop.api.errors import domain_error
from closeloop.cli.common import exit_code
from closeloop.services.customers.links import LinkRefused
from closeloop.web.render import page_status
from integrations.exports import UnknownFormat

ROW = re.compile(r"^\s*[├└│ ─]*(\w+)(?:\([^)]*\))?\s+(\d{3})[^\n]*?\s{2,}(\d{3}|-)\s+(\d|-)\s*$")

#: one instance per class, built with its real constructor
SAMPLES = {
    "DomainError": errors.DomainError("something"),
    "InvalidInput": errors.InvalidInput("severity", "must be one of P1, P2"),
    "InvalidInputs": errors.InvalidInputs([errors.InvalidInput("source", "is required"),
                                           errors.InvalidInput("tags", "51 tags, more than 50")]),
    "NaiveDatetimeError": errors.NaiveDatetimeError("naive datetime 2026-01-01T00:00:00 rejected"),
    "UnknownFormat": UnknownFormat("format", "unknown format 'x'"),
    "IllegalTransition": errors.IllegalTransition("task", "done", "start", []),
    "NotFound": errors.NotFound("complaint", 7),
    "Conflict": errors.Conflict("complaint 7 changed since version 2"),
    "MergeRejected": errors.MergeRejected("a complaint cannot be merged into itself"),
    "NotPermitted": errors.NotPermitted("member", "may not approve"),
    "LinkRefused": LinkRefused("signature does not verify"),
}


def table() -> dict[str, tuple[int, int | None, int | None]]:
    doc = errors.__doc__ or ""
    rows = {}
    for line in doc.splitlines():
        m = ROW.match(line)
        if m:
            name, api, page, cli = m.groups()
            rows[name] = (int(api), None if page == "-" else int(page), None if cli == "-" else int(cli))
    return rows


def test_the_docstring_table_lists_every_error_of_the_tree():
    rows = table()
    assert set(rows) == set(SAMPLES), "the table and this test's samples list the same errors"
    for name, exc in SAMPLES.items():
        assert isinstance(exc, errors.DomainError), name


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_each_mapping_answers_what_the_table_says(name):
    api, page, cli = table()[name]
    exc = SAMPLES[name]
    if page is None:  # answered by its own route (LinkRefused: a verdict page), not the generic mappings
        assert name == "LinkRefused"
        return
    assert domain_error(exc).status_code == api, f"API status of {name}"
    assert page_status(exc) == page, f"page status of {name}"
    assert exit_code(exc) == cli, f"CLI exit code of {name}"


def test_a_naive_datetime_is_bad_input_naming_its_field():
    exc = errors.NaiveDatetimeError("naive datetime rejected", field="received_at")
    assert isinstance(exc, errors.InvalidInput) and isinstance(exc, ValueError)
    assert str(exc) == "received_at: naive datetime rejected"


def _all_subclasses(cls: type) -> set[type]:
    out = set()
    for sub in cls.__subclasses__():
        out |= {sub} | _all_subclasses(sub)
    return out


def test_no_domain_error_is_defined_outside_the_table():
    import importlib
    import pkgutil

    import closeloop
    import integrations

    for pkg in (closeloop, integrations):
        for info in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + "."):
            if not info.name.endswith("__main__"):
                importlib.import_module(info.name)
    defined = {c.__name__ for c in _all_subclasses(errors.DomainError) if c.__module__.split(".")[0] != "tests"}
    assert defined <= set(table()), f"add to the tree in closeloop/domain/errors.py: {sorted(defined - set(table()))}"
