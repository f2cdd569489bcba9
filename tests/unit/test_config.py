"""Configuration parsing: every error names the file and the dotted field path."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from closeloop.config import ConfigError, load_config, parse_config
from closeloop.domain.facts import ComplaintFacts
from closeloop.domain.routing import Router
from closeloop.domain.triage import Triage, TriagePolicy

ROOT = Path(__file__).resolve().parents[2]
SRC = "my.toml"

MINIMAL = """\
[departments.ops]
display_name = "Operations"

[departments.triage]
display_name = "Triage queue"

[[rules]]
name = "cards"
severity = "P2"
[rules.when]
product = { prefix = ["credit card"], ignore_case = true }
[[rules.tasks]]
department = "ops"
kind = "investigate"
title = "Investigate"

[fallback]
[[fallback.tasks]]
department = "triage"
kind = "triage"
title = "Route by hand"
"""


def _facts(**kw) -> ComplaintFacts:
    return ComplaintFacts(source="t", external_ref="1", received_at=datetime(2026, 1, 1, tzinfo=UTC), **kw)


def test_minimal_config_parses_and_builds_router_and_triage():
    cfg = parse_config(MINIMAL, SRC)
    assert cfg.source == SRC
    assert set(cfg.departments) == {"ops", "triage"}
    assert cfg.departments["ops"].display_name == "Operations"
    assert cfg.departments["ops"].calendar == "default"
    assert isinstance(cfg.router, Router)
    r = cfg.router.route(_facts(product="Credit Card or prepaid card"))
    assert (r.rule, r.severity, [t.kind for t in r.tasks]) == ("cards", "P2", ["investigate"])
    assert cfg.router.route(_facts(product="Mortgage")).is_fallback
    assert isinstance(cfg.triage, Triage)
    assert cfg.triage.policy == TriagePolicy()
    assert cfg.dedupe_window == timedelta(days=14)


def test_plain_list_means_equals():
    text = MINIMAL.replace('product = { prefix = ["credit card"], ignore_case = true }', 'product = ["Credit card"]')
    router = parse_config(text, SRC).router
    assert router.route(_facts(product="Credit card")).rule == "cards"
    assert router.route(_facts(product="Credit card or prepaid card")).is_fallback
    assert router.route(_facts(product="credit card")).is_fallback


def test_triage_section_is_applied():
    text = MINIMAL + '\n[triage]\ndefault_severity = "P4"\nsocial_channels = ["fax"]\nrepeat_window_days = 30\n' \
                     '[dedupe]\nwindow_days = 2.5\n'
    cfg = parse_config(text, SRC)
    p = cfg.triage.policy
    assert (p.default_severity, p.social_channels, p.repeat_window_days) == ("P4", ("fax",), 30)
    assert cfg.triage.assess(_facts(channel="Fax")).flags == ("public_exposure",)
    assert cfg.dedupe_window == timedelta(days=2, hours=12)


# ------------------------------------------------------------------ errors name the field path

ERROR_CASES = [
    # (id, transform of MINIMAL, fragments the message must contain)
    ("bad-rule-severity",
     lambda t: t.replace('severity = "P2"', 'severity = "P9"'),
     ["rules.0.severity", "must be one of P1, P2, P3, P4"]),
    ("unknown-top-level-key",
     lambda t: 'colour = "blue"\n' + t,
     ["colour", "Extra inputs are not permitted"]),
    ("unknown-department-key",
     lambda t: t.replace('display_name = "Operations"', 'display_name = "Operations"\nfloor = 3'),
     ["departments.ops.floor", "Extra inputs are not permitted"]),
    ("unknown-task-key",
     lambda t: t.replace('title = "Investigate"', 'title = "Investigate"\nowner = "bob"'),
     ["rules.0.tasks.0.owner", "Extra inputs are not permitted"]),
    ("unknown-matcher-key",
     lambda t: t.replace("prefix = [", "startswith = ["),
     ["rules.0.when.product", "startswith", "Extra inputs are not permitted"]),
    ("missing-display-name",
     lambda t: t.replace('display_name = "Operations"', 'lead = "x"'),
     ["departments.ops.display_name", "Field required"]),
    ("missing-fallback",
     lambda t: t[: t.index("[fallback]")],
     ["fallback", "Field required"]),
    ("bad-task-kind",
     lambda t: t.replace('kind = "investigate"', 'kind = "Investigate Now"'),
     ["rules.0.tasks.0.kind"]),
    ("window-days-zero",
     lambda t: t + "\n[dedupe]\nwindow_days = 0\n",
     ["dedupe.window_days", "greater than 0"]),
    ("repeat-window-zero",
     lambda t: t + "\n[triage]\nrepeat_window_days = 0\n",
     ["triage.repeat_window_days"]),
    ("weights-not-int",
     lambda t: t + '\n[triage]\nweights = { legal_threat = "high" }\n',
     ["triage.weights.legal_threat"]),
    ("unknown-department-in-rule",
     lambda t: t.replace('department = "ops"', 'department = "legal"'),
     ["routing.rules[0] (cards).tasks.investigate.department", "unknown department 'legal'"]),
    ("unknown-fact",
     lambda t: t.replace("product = {", "colour = {"),
     ["routing.rules[0] (cards).when.colour", "unknown fact"]),
    ("depends-on-unknown",
     lambda t: t.replace('title = "Investigate"', 'title = "Investigate"\ndepends_on = ["approve"]'),
     ["routing.rules[0] (cards).tasks.investigate.depends_on", "'approve'"]),
    ("bad-default-severity",
     lambda t: t + '\n[triage]\ndefault_severity = "P9"\n',
     ["triage.default_severity", "must be one of P1, P2, P3, P4"]),
    ("negative-weight",
     lambda t: t + "\n[triage]\nweights = { public_exposure = -1 }\n",
     ["triage.weights", "'public_exposure'", "between 0 and 3"]),
    ("weight-too-large",
     lambda t: t + "\n[triage]\nweights = { legal_threat = 4 }\n",
     ["triage.weights", "'legal_threat'", "between 0 and 3"]),
    ("bad-regex",
     lambda t: t.replace('prefix = ["credit card"]', 'regex = ["(unclosed"]'),
     ["rules[0] (cards).when.product.regex", "bad regular expression"]),
    ("bad-crisis-severity",
     lambda t: t + '\n[escalation]\ncrisis_severities = ["P1", "high"]\n',
     ["escalation.crisis_severities", "'high' is not a severity"]),
    ("not-toml",
     lambda t: t + "\nthis is = = not toml\n",
     ["not valid TOML"]),
]


@pytest.mark.parametrize("transform,fragments", [c[1:] for c in ERROR_CASES], ids=[c[0] for c in ERROR_CASES])
def test_parse_config_errors_name_file_and_field(transform, fragments):
    text = transform(MINIMAL)
    assert text != MINIMAL
    with pytest.raises(ConfigError) as info:
        parse_config(text, SRC)
    msg = str(info.value)
    assert msg.startswith(f"{SRC}:")
    for frag in fragments:
        assert frag in msg


def test_weights_in_range_are_merged_over_the_defaults():
    cfg = parse_config(MINIMAL + "\n[triage]\nweights = { legal_threat = 0, public_exposure = 3 }\n", SRC)
    assert dict(cfg.triage.policy.weights) == {"legal_threat": 0, "public_exposure": 3, "vulnerable_customer": 1,
                                               "repeat_complainer": 1, "compensation_demanded": 1}
    assert cfg.triage.assess(_facts(text="my lawyer")).severity == "P3"
    assert cfg.triage.assess(_facts(channel="twitter")).severity == "P1"


def test_config_error_is_a_value_error():
    assert issubclass(ConfigError, ValueError)


# ------------------------------------------------------------------ bundled files


def test_load_default_config():
    cfg = load_config()
    assert cfg.source == "closeloop/config/default.toml"
    assert set(cfg.departments) == {"product", "operations", "service", "triage"}
    assert [r.name for r in cfg.router.rules] == [
        "credit-reporting", "debt-collection", "mortgage-servicing", "cards-and-accounts",
        "lending-products", "municipal-service-request", "airline-social",
        "shop-product-quality", "shop-supply-quality", "shop-hotel-service",
    ]
    assert [t.department for t in cfg.router.fallback] == ["triage"]
    assert cfg.dedupe_window == timedelta(days=14)
    assert cfg.triage.policy.default_severity == "P3"
    assert cfg.triage.policy.repeat_window_days == 90


def test_load_nyc_example():
    cfg = load_config(ROOT / "examples" / "nyc311.toml")
    assert cfg.source.endswith("nyc311.toml")
    assert "NYPD" in cfg.departments and "triage" in cfg.departments
    assert cfg.dedupe_window == timedelta(days=7)


def test_load_missing_file_names_it(tmp_path):
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError) as info:
        load_config(missing)
    assert str(missing) in str(info.value)
    assert "cannot read configuration" in str(info.value)


def test_load_invalid_file_names_it(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(MINIMAL.replace('severity = "P2"', 'severity = "high"'), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}:")
    assert "rules.0.severity" in str(info.value)


# ------------------------------------------------------------------ version_hash


def test_version_hash_is_sha256_of_text_and_stable():
    a, b = load_config(), load_config()
    assert a.version_hash == b.version_hash
    assert a.version_hash == hashlib.sha256(a.text.encode("utf-8")).hexdigest()
    assert len(a.version_hash) == 64
    # the same text from a different source name hashes the same
    assert parse_config(a.text, "elsewhere.toml").version_hash == a.version_hash


def test_version_hash_changes_with_any_text_change():
    h = parse_config(MINIMAL, SRC).version_hash
    assert parse_config(MINIMAL + "\n# a comment\n", SRC).version_hash != h
    assert parse_config(MINIMAL.replace('"P2"', '"P1"'), SRC).version_hash != h


def test_version_hash_differs_between_bundled_configs():
    assert load_config().version_hash != load_config(ROOT / "examples" / "nyc311.toml").version_hash


def test_version_hash_of_loaded_file_matches_its_bytes(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text(MINIMAL, encoding="utf-8")
    assert load_config(path).version_hash == hashlib.sha256(MINIMAL.encode("utf-8")).hexdigest()


def test_unknown_weight_flag_is_an_error_naming_it():
    with pytest.raises(ConfigError, match="triage.weights.*unknown risk flag 'lawyer_threat'"):
        parse_config(MINIMAL + "\n[triage]\nweights = { lawyer_threat = 1 }\n", SRC)


def test_quoted_numbers_duplicate_rule_names_and_bad_follow_up_days_are_errors():
    with pytest.raises(ConfigError, match="dedupe.window_days"):
        parse_config(MINIMAL + '\n[dedupe]\nwindow_days = "14"\n', SRC)
    with pytest.raises(ConfigError, match="follow_up.business_days"):
        parse_config(MINIMAL + "\n[follow_up]\nbusiness_days = { P1 = -1 }\n", SRC)
    rule = '\n[[rules]]\nname = "same"\n[[rules.tasks]]\ndepartment = "{d}"\nkind = "k"\ntitle = "t"\n'
    dep = MINIMAL.split("[departments.")[1].split("]")[0]
    with pytest.raises(ConfigError, match="repeated: same"):
        parse_config(MINIMAL + rule.format(d=dep) + rule.format(d=dep), SRC)
