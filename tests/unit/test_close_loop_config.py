"""``[improvement]`` and ``[compensation]`` configuration: defaults and errors that name the field."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from closeloop.config import ConfigError, load_config, parse_config
from closeloop.config.customers import Milestone
from closeloop.domain.improvement import ROOT_CAUSES
from tests.conftest import ROOT

BASE = (ROOT / "closeloop" / "config" / "default.toml").read_text("utf-8")


def test_defaults_are_the_domain_taxonomy_and_six_weeks():
    m = load_config().model
    assert m.improvement.root_causes == ROOT_CAUSES and m.improvement.effectiveness_weeks == 6
    assert m.improvement.match_on == ["category", "product"] and "improved" in m.customers.milestones
    assert m.compensation.cap("anything", "P1") == Decimal("500")


@pytest.mark.parametrize("extra,field", [
    ('[improvement]\nroot_causes = { weather = "w" }', "improvement.root_causes"),
    ('[improvement]\nmatch_on = ["colour"]', "improvement.match_on"),
    ("[improvement]\neffectiveness_weeks = 0", "improvement.effectiveness_weeks"),
    ("[improvement]\nmin_reduction = 1.5", "improvement.min_reduction"),
    ('[improvement]\nroot_causes = { "a.b" = "x", undetermined = "u" }', "improvement.root_causes"),
    ('[compensation.caps."*"]\nP9 = "5"', "compensation.caps"),
    ('[compensation.caps."*"]\nP1 = "lots"', "compensation.caps"),
    ('[compensation]\ncurrency = "usd"', "compensation.currency"),
])
def test_bad_settings_name_the_field(extra, field):
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        parse_config(BASE + "\n" + extra + "\n")


def test_the_deprecated_notify_customers_keeps_its_meaning_through_the_improved_milestone():
    """Customers are told of an effective record by the ``improved`` milestone now; a configuration written
    before it still loads: ``notify_customers = false`` (the old default) leaves ``improved`` out, ``true`` puts
    it in, whatever else ``milestones`` says; anything but a boolean is refused naming the field."""
    off = parse_config(BASE + "\n[improvement]\nnotify_customers = false\n")
    assert Milestone.IMPROVED not in off.model.customers.milestones
    assert Milestone.ACKNOWLEDGED in off.model.customers.milestones
    only_resolved = re.sub(r"(?m)^milestones = .*$", 'milestones = ["resolved"]', BASE)
    on = parse_config(only_resolved + "\n[improvement]\nnotify_customers = true\n")
    assert on.model.customers.milestones == [Milestone.RESOLVED, Milestone.IMPROVED]
    assert Milestone.IMPROVED in parse_config(BASE).model.customers.milestones
    with pytest.raises(ConfigError, match=r"notify_customers"):
        parse_config(BASE + '\n[improvement]\nnotify_customers = "yes"\n')


def test_category_cap_overrides_the_default_and_missing_severity_means_no_cap():
    cfg = parse_config(BASE + '\n[compensation.caps.Mortgage]\nP1 = "2000.50"\n[compensation.caps."*"]\nP2 = "10"\n')
    comp = cfg.model.compensation
    assert comp.cap("Mortgage", "P1") == Decimal("2000.50")
    assert comp.cap("Mortgage", "P2") == Decimal("10")
    assert comp.cap("Other", "P1") is None
