"""Routing: matchers, first-match-wins rules, the explicit fallback, validation, and the shipped configs."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path

import pytest

from closeloop.config import load_config
from closeloop.domain.errors import InvalidInput
from closeloop.domain.facts import ComplaintFacts
from closeloop.domain.routing import Matcher, Route, Router, RoutingRule, TaskTemplate

ROOT = Path(__file__).resolve().parents[2]
AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def facts(**kw) -> ComplaintFacts:
    base = dict(source="test", external_ref="1", received_at=AT)
    base.update(kw)
    return ComplaintFacts(**base)


def tt(kind: str, department: str = "ops", depends_on: tuple[str, ...] = ()) -> TaskTemplate:
    return TaskTemplate(department, kind, f"do {kind}", depends_on=depends_on)


FALLBACK = [tt("triage", "triage")]
DEPTS = frozenset({"ops", "service", "triage"})


# ------------------------------------------------------------------ Matcher

MATCHER_CASES = [
    # (id, matcher kwargs, value, expected)
    ("equals-exact", {"equals": ("Noise",)}, "Noise", True),
    ("equals-case-sensitive", {"equals": ("Noise",)}, "noise", False),
    ("equals-trims-value", {"equals": ("Noise",)}, "  Noise  ", True),
    ("equals-trims-pattern", {"equals": (" Noise ",)}, "Noise", True),
    ("equals-not-prefix", {"equals": ("Noise",)}, "Noise - Residential", False),
    ("equals-any-of", {"equals": ("A", "B")}, "B", True),
    ("equals-ignore-case", {"equals": ("Noise",), "ignore_case": True}, "NOISE", True),
    ("prefix", {"prefix": ("Noise - ",)}, "Noise - Residential", True),
    ("prefix-not-bare", {"prefix": ("Noise - ",)}, "Noise", False),
    ("prefix-case-sensitive", {"prefix": ("Noise - ",)}, "noise - residential", False),
    ("prefix-ignore-case", {"prefix": ("Noise - ",), "ignore_case": True}, "noise - residential", True),
    ("prefix-not-suffix", {"prefix": ("card",)}, "Credit card", False),
    ("contains", {"contains": ("card",)}, "Credit card or prepaid card", True),
    ("contains-case-sensitive", {"contains": ("card",)}, "CARD services", False),
    ("contains-ignore-case", {"contains": ("card",), "ignore_case": True}, "CARD services", True),
    ("contains-absent", {"contains": ("loan",)}, "Mortgage", False),
    ("regex-search", {"regex": (r"Light",)}, "Street Light Condition", True),
    ("regex-anchored", {"regex": (r"^Light",)}, "Street Light Condition", False),
    ("regex-alternation", {"regex": (r"^Street (Light|Sign)",)}, "Street Sign - Missing", True),
    ("regex-case-sensitive", {"regex": (r"^street light",)}, "Street Light Condition", False),
    ("regex-ignore-case", {"regex": (r"^street light",), "ignore_case": True}, "Street Light Condition", True),
    ("regex-on-trimmed-value", {"regex": (r"^Sewer$",)}, " Sewer ", True),
    ("casefold-eszett", {"equals": ("STRASSE",), "ignore_case": True}, "straße", True),
    ("or-across-kinds-1", {"equals": ("A",), "prefix": ("B",)}, "A", True),
    ("or-across-kinds-2", {"equals": ("A",), "prefix": ("B",)}, "Bee", True),
    ("or-across-kinds-none", {"equals": ("A",), "prefix": ("B",)}, "C", False),
    ("empty-matcher-matches-nothing", {}, "anything", False),
    ("cjk-equals", {"equals": ("手机",)}, "手机", True),
]


@pytest.mark.parametrize("kw,value,expected", [c[1:] for c in MATCHER_CASES], ids=[c[0] for c in MATCHER_CASES])
def test_matcher(kw, value, expected):
    assert Matcher(**kw).matches(value) is expected


def test_invalid_regex_fails_at_construction():
    import re

    with pytest.raises(re.error):
        Matcher(regex=("(unclosed",))


# ------------------------------------------------------------------ Router.route


def test_first_matching_rule_wins():
    rules = [
        RoutingRule("specific", {"category": Matcher(equals=("Noise - Helicopter",))}, (tt("a", "ops"),)),
        RoutingRule("general", {"category": Matcher(prefix=("Noise",))}, (tt("b", "service"),), "P2"),
    ]
    router = Router(rules, FALLBACK, DEPTS)
    r = router.route(facts(category="Noise - Helicopter"))
    assert r == Route("specific", (tt("a", "ops"),), None)
    r = router.route(facts(category="Noise - Residential"))
    assert r.rule == "general" and r.severity == "P2" and r.tasks[0].department == "service"
    # reversed order: the general rule now shadows the specific one
    assert Router(rules[::-1], FALLBACK, DEPTS).route(facts(category="Noise - Helicopter")).rule == "general"


def test_all_conditions_of_a_rule_must_hold():
    rule = RoutingRule("zh-phone", {"source": Matcher(equals=("zh-reviews",)), "category": Matcher(equals=("手机",))},
                       (tt("a"),))
    router = Router([rule], FALLBACK, DEPTS)
    assert router.route(facts(source="zh-reviews", category="手机")).rule == "zh-phone"
    assert router.route(facts(source="zh-reviews", category="酒店")).is_fallback
    assert router.route(facts(source="cfpb", category="手机")).is_fallback


def test_rule_without_conditions_matches_everything():
    router = Router([RoutingRule("catch-all", {}, (tt("a"),))], FALLBACK, DEPTS)
    assert router.route(facts()).rule == "catch-all"


@pytest.mark.parametrize("rules", [[], [RoutingRule("x", {"product": Matcher(equals=("Mortgage",))}, (tt("a"),))]],
                         ids=["no-rules", "no-match"])
def test_fallback_when_nothing_matches(rules):
    router = Router(rules, FALLBACK, DEPTS)
    r = router.route(facts(product="Something new", category=""))
    assert r.rule is None
    assert r.is_fallback
    assert r.tasks == tuple(FALLBACK)
    assert r.severity is None


def test_matched_route_is_not_fallback():
    router = Router([RoutingRule("x", {}, (tt("a"),))], FALLBACK, DEPTS)
    assert router.route(facts()).is_fallback is False


# ------------------------------------------------------------------ Router validation

VALIDATION_CASES = [
    # (id, rules, fallback, departments, expected field, expected problem fragment)
    ("no-fallback", [], [], DEPTS, "routing.fallback", "fallback"),
    ("unknown-fact",
     [RoutingRule("r", {"colour": Matcher(equals=("red",))}, (tt("a"),))], FALLBACK, DEPTS,
     "routing.rules[0] (r).when.colour", "unknown fact"),
    ("unknown-department",
     [RoutingRule("r", {}, (tt("a", "legal"),))], FALLBACK, DEPTS,
     "routing.rules[0] (r).tasks.a.department", "unknown department 'legal'"),
    ("unknown-department-in-fallback",
     [], [tt("triage", "nowhere")], DEPTS,
     "routing.fallback.tasks.triage.department", "unknown department 'nowhere'"),
    ("depends-on-unknown-kind",
     [RoutingRule("r", {}, (tt("a"), tt("b", depends_on=("zzz",))))], FALLBACK, DEPTS,
     "routing.rules[0] (r).tasks.b.depends_on", "'zzz'"),
    ("depends-on-itself",
     [RoutingRule("r", {}, (tt("a", depends_on=("a",)),))], FALLBACK, DEPTS,
     "routing.rules[0] (r).tasks.a.depends_on", "itself"),
    ("cycle",
     [RoutingRule("r", {}, (tt("a", depends_on=("c",)), tt("b", depends_on=("a",)), tt("c", depends_on=("b",))))],
     FALLBACK, DEPTS, "routing.rules[0] (r).tasks", "cycle"),
    ("duplicate-kinds",
     [RoutingRule("r", {}, (tt("a", "ops"), tt("a", "service")))], FALLBACK, DEPTS,
     "routing.rules[0] (r).tasks", "unique"),
    ("no-tasks",
     [RoutingRule("r", {}, ())], FALLBACK, DEPTS, "routing.rules[0] (r)", "no tasks"),
    ("second-rule-is-named",
     [RoutingRule("ok", {}, (tt("a"),)), RoutingRule("bad", {"shoe_size": Matcher(equals=("9",))}, (tt("a"),))],
     FALLBACK, DEPTS, "routing.rules[1] (bad).when.shoe_size", "unknown fact"),
]


@pytest.mark.parametrize("rules,fallback,departments,field,problem", [c[1:] for c in VALIDATION_CASES],
                         ids=[c[0] for c in VALIDATION_CASES])
def test_router_validation_names_the_field(rules, fallback, departments, field, problem):
    with pytest.raises(InvalidInput) as info:
        Router(rules, fallback, departments)
    assert info.value.field == field
    assert problem in info.value.problem
    assert str(info.value).startswith(field + ":")


def test_departments_unchecked_when_not_given():
    router = Router([RoutingRule("r", {}, (tt("a", "anything"),))], [tt("t", "whatever")], None)
    assert router.route(facts()).tasks[0].department == "anything"


def test_valid_diamond_dependencies_are_accepted():
    tasks = (tt("a"), tt("b", depends_on=("a",)), tt("c", depends_on=("a",)), tt("d", depends_on=("b", "c")))
    router = Router([RoutingRule("r", {}, tasks)], FALLBACK, DEPTS)
    assert [t.kind for t in router.route(facts()).tasks] == ["a", "b", "c", "d"]


# ------------------------------------------------------------------ default configuration (CFPB)

CREDIT_SPELLINGS = [
    "Credit reporting",
    "Credit reporting, credit repair services, or other personal consumer reports",
    "Credit reporting or other personal consumer reports",
]


@pytest.fixture(scope="module")
def default_router():
    return load_config().router


@pytest.fixture(scope="module")
def nyc_router():
    return load_config(ROOT / "examples" / "nyc311.toml").router


@pytest.mark.parametrize("product", CREDIT_SPELLINGS)
def test_all_credit_reporting_spellings_route_alike(default_router, product):
    r = default_router.route(facts(source="cfpb", product=product, category=product))
    assert r.rule == "credit-reporting"
    assert [(t.department, t.kind, t.depends_on) for t in r.tasks] == [
        ("operations", "investigate", ()),
        ("service", "respond", ("investigate",)),
    ]


def test_credit_reporting_spellings_give_identical_tasks(default_router):
    routes = {default_router.route(facts(source="cfpb", product=p)) for p in CREDIT_SPELLINGS}
    assert len(routes) == 1


@pytest.mark.parametrize("product,rule,departments", [
    ("Debt collection", "debt-collection", ["operations", "service"]),
    ("Mortgage", "mortgage-servicing", ["operations", "product", "service"]),
    ("Credit card or prepaid card", "cards-and-accounts", ["operations", "service"]),
    ("Checking or savings account", "cards-and-accounts", ["operations", "service"]),
    ("Payday loan, title loan, or personal loan", "lending-products", ["product", "service"]),
    ("student loan", "lending-products", ["product", "service"]),  # ignore_case prefix
    ("Credit repair", None, ["triage"]),  # neither a credit-reporting spelling nor a prefix rule
])
def test_default_config_cfpb_products(default_router, product, rule, departments):
    r = default_router.route(facts(source="cfpb", product=product))
    assert r.rule == rule
    assert [t.department for t in r.tasks] == departments


def test_default_config_unmatched_goes_to_triage_queue(default_router):
    r = default_router.route(facts(source="somewhere-else", product="Gadget", category="Gadget"))
    assert r.is_fallback
    assert [(t.department, t.kind) for t in r.tasks] == [("triage", "triage")]


def test_default_config_every_cfpb_sample_row_is_routed_by_a_rule(default_router):
    from integrations.formats import CFPB

    with open(ROOT / "examples" / "cfpb_sample.csv", encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows
    unrouted = {CFPB().parse(row)[0].product for row in rows
                if default_router.route(CFPB().parse(row)[0]).is_fallback}
    assert unrouted == set()


# ------------------------------------------------------------------ NYC 311 example configuration

@pytest.mark.parametrize("category,department,rule", [
    ("PLUMBING", "HPD", "housing-hpd"),
    ("Plumbing", "DOB", "buildings-dob"),
    ("Noise", "DEP", "noise-dep"),
    ("Noise - Residential", "NYPD", "noise-police"),
    ("Noise - Street/Sidewalk", "NYPD", "noise-police"),
    ("Noise - Helicopter", "EDC", "noise-helicopter"),
    ("HEAT/HOT WATER", "HPD", "housing-hpd"),
    ("Elevator", "DOB", "buildings-dob"),
    ("ELEVATOR", "HPD", "housing-hpd"),
    ("Street Sign - Missing", "DOT", "transportation"),
    ("Missed Collection (All Materials)", "DSNY", "sanitation"),
    ("A complaint type nobody has seen", "triage", None),
])
def test_nyc311_examples(nyc_router, category, department, rule):
    r = nyc_router.route(facts(source="nyc311", category=category))
    assert r.rule == rule
    assert [t.department for t in r.tasks] == [department]


def test_nyc311_sample_rows_route_to_the_agency_that_handled_them(nyc_router):
    from integrations.formats import NYC311

    with open(ROOT / "examples" / "nyc311_sample.csv", encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) > 100
    wrong = []
    for row in rows:
        f, _ = NYC311().parse(row)
        got = [t.department for t in nyc_router.route(f).tasks]
        if got != [row["Agency"]]:
            wrong.append((row["Complaint Type"], row["Agency"], got))
    assert wrong == []
