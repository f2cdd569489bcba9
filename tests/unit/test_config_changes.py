"""K10: what a configuration change can reach (``closeloop.config.changes.policy_scope``)."""

from __future__ import annotations

from closeloop.config import load_config, parse_config
from closeloop.config.changes import PolicyScope, policy_scope

BASE = load_config()


def _edited(old: str, new: str, *, count: int = 1):
    assert BASE.text.count(old) == count, old
    return parse_config(BASE.text.replace(old, new), "edited")


def test_a_comment_or_a_routing_rule_reaches_nothing():
    assert policy_scope(BASE, parse_config(BASE.text + "\n# a comment\n", "c")) == PolicyScope()
    changed = _edited('title = "Verify the debt and the collector\'s conduct"', 'title = "Verify the debt"')
    assert policy_scope(BASE, changed) == PolicyScope()


def test_a_lead_or_an_escalation_recipient_reaches_nothing_but_improvement_records():
    scope = policy_scope(BASE, _edited('lead = "product-lead"', 'lead = "someone-else"'))
    assert scope.empty and scope.improvements
    scope = policy_scope(BASE, _edited('crisis_owner = { name = "crisis-owner"', 'crisis_owner = { name = "cro"'))
    assert scope.empty


def test_a_severity_target_reaches_that_severity():
    scope = policy_scope(BASE, _edited("P3 = { acknowledge = 4, resolve = 40, update = 8 }",
                                       "P3 = { acknowledge = 4, resolve = 60, update = 8 }"))
    assert scope == PolicyScope(severities=frozenset({"P3"}), improvements=True)
    scope = policy_scope(BASE, _edited("P1 = { acknowledge = 2, resolve = 24, update = 4 }",
                                       "P1 = { acknowledge = 2, resolve = 20, update = 4 }"))  # the customer's
    assert scope.severities == {"P1"} and not scope.all


def test_a_department_override_reaches_that_severity_in_that_department():
    scope = policy_scope(BASE, _edited("P4 = { acknowledge = 16, resolve = 160 }",
                                       "P4 = { acknowledge = 16, resolve = 200 }"))
    assert scope == PolicyScope(pairs=frozenset({("product", "P4")}), improvements=True)


def test_a_department_moved_to_another_calendar_reaches_that_department():
    text = BASE.text.replace('[calendars.default]', '[calendars.uk]\ntimezone = "Europe/London"\n\n'
                                                    '[calendars.default]')
    with_uk = parse_config(text, "uk")
    product_on_uk = parse_config(text.replace('lead = "product-lead"\nnotify = ""\ncalendar = "default"',
                                              'lead = "product-lead"\nnotify = ""\ncalendar = "uk"'), "moved")
    assert product_on_uk.departments["product"].calendar == "uk"
    assert policy_scope(with_uk, product_on_uk) == PolicyScope(departments=frozenset({"product"}),
                                                               improvements=True)
    # that calendar's hours change: its departments only
    later = parse_config(product_on_uk.text.replace('timezone = "Europe/London"',
                                                    'timezone = "Europe/London"\nhours = "mon-fri 10:00-18:00"'),
                         "later")
    assert policy_scope(product_on_uk, later).departments == {"product"}
    assert not policy_scope(product_on_uk, later).all


def test_the_customer_calendar_and_the_ladder_reach_everything():
    assert policy_scope(BASE, _edited('hours = "mon-fri 09:00-17:00"', 'hours = "mon-fri 08:00-17:00"')).all
    assert policy_scope(BASE, _edited("ladder_hours = [0, 4, 8, 16]", "ladder_hours = [0, 2, 8, 16]")).all
    assert policy_scope(BASE, _edited("reminder_thresholds = [0.5, 0.8, 1.0]",
                                      "reminder_thresholds = [0.5, 1.0]")).all


def test_crisis_severities_and_follow_up_days_reach_the_severities_that_changed():
    scope = policy_scope(BASE, _edited('crisis_severities = ["P1", "P2"]', 'crisis_severities = ["P1", "P3"]'))
    assert scope.severities == {"P2", "P3"} and not scope.all
    scope = policy_scope(BASE, _edited("business_days = { P1 = 1, P2 = 2, P3 = 3, P4 = 5 }",
                                       "business_days = { P1 = 1, P2 = 2, P3 = 4, P4 = 5 }"))
    assert scope.severities == {"P3"} and not scope.all


def test_a_webhook_signing_secret_reaches_nothing():
    hook = '\n[webhooks.crm]\nurl = "https://crm.example/hook"\nsecret_env = "CLOSELOOP_TEST_SECRET_CRM"\n'
    with_secret = parse_config(BASE.text + hook, "crm", environ={"CLOSELOOP_TEST_SECRET_CRM": "a raw secret"})
    assert policy_scope(BASE, with_secret) == PolicyScope()
