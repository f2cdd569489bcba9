"""An integration tester's findings (notify8): one rule for notification targets in the configuration, the users
API and the CLI, the one the senders apply (blanks, a URL without a host, a capture path leaving the capture
directory, Apprise's ``mailto://``); the overview's instant in Z; a reply's idempotency key without blanks."""

from __future__ import annotations

from importlib import resources

import pytest
from typer.testing import CliRunner

from closeloop.config import ConfigError, parse_config
from tests.integration.helpers import facts, intake

from .conftest import T0
from .test_api_tester_findings import _error, _instants

TEXT = resources.files("closeloop.config").joinpath("default.toml").read_text("utf-8")
OPS = 'display_name = "Operations"\nlead = "operations-lead"\nnotify = ""'
DEFAULT = 'default_notify = "capture://notifications.jsonl"'
USER = {"handle": "ann", "name": "Ann", "role": "member", "departments": ["operations"]}


@pytest.mark.parametrize(("old", "new", "field", "why"), [
    (OPS, OPS.replace('""', '"http://"'), "departments.operations.notify", "no host"),
    (OPS, OPS.replace('""', '"https://:443/hook"'), "departments.operations.notify", "no host"),
    (DEFAULT, 'default_notify = "capture://../../outside.jsonl"', "escalation.default_notify",
     "leaves the capture directory"),
    (DEFAULT, 'default_notify = "capture://"', "escalation.default_notify", "capture:///absolute/path")])
def test_a_configured_target_the_sender_would_dead_letter_stops_the_configuration(old, new, field, why):
    assert old in TEXT
    with pytest.raises(ConfigError, match=rf"{field}.*{why}"):
        parse_config(TEXT.replace(old, new, 1))


def test_a_configured_target_is_kept_without_surrounding_blanks():
    cfg = parse_config(TEXT.replace(OPS, OPS.replace('""', '" http://127.0.0.1:4311/hook "'), 1))
    assert cfg.model.departments["operations"].notify == "http://127.0.0.1:4311/hook"


@pytest.mark.parametrize(("notify", "why"), [
    ("capture://../../etc/evil.jsonl", "leaves the capture directory"), ("https://:443/hook", "no host"),
    ("mailto:", "names no e-mail address"), ("mailto:  ", "names no e-mail address")])
def test_a_users_target_the_sender_would_dead_letter_is_a_422_naming_notify(api, notify, why):
    err = _error(api.post("admin", "/users", USER | {"notify": notify}))
    assert err["field"] == "notify" and why in err["message"], err


@pytest.mark.parametrize(("notify", "kept"), [
    ("mailto://user:pass@gmail.com", "mailto://user:pass@gmail.com"),  # Apprise's e-mail URL, as the ftp hint says
    ("mailto:ann@example.com", "ann@example.com"), (" http://127.0.0.1:4311/hook ", "http://127.0.0.1:4311/hook"),
    ("capture://people/ann", "capture://people/ann")])
def test_a_users_target_the_sender_understands_is_kept(api, notify, kept):
    r = api.post("admin", "/users", USER | {"notify": notify})
    assert r.status_code == 201, r.text
    assert r.json()["notify"] == kept


def test_users_add_refuses_a_capture_path_leaving_the_capture_directory(tmp_path, monkeypatch):
    from closeloop.cli import app

    monkeypatch.setenv("CLOSELOOP_DATABASE_URL", f"sqlite:///{tmp_path / 'u.db'}")
    monkeypatch.delenv("CLOSELOOP_CONFIG", raising=False)
    runner = CliRunner()
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    res = runner.invoke(app, ["users", "add", "ann", "--name", "Ann", "-d", "operations",
                              "--notify", "capture://../../etc/evil.jsonl"])
    assert res.exit_code == 2 and "error: --notify: " in res.output
    assert "leaves the capture directory" in res.output, res.output


def test_the_overview_instant_is_utc_in_z(api):
    r = api.get("manager", "/overview")
    assert r.status_code == 200, r.text
    assert r.json()["as_of"].endswith("Z") and _instants(r.json(), []) == [r.json()["as_of"]]


@pytest.mark.parametrize("key", ["   ", "a\nb", " k1", "k1\t"])
def test_a_reply_key_of_blanks_or_with_a_control_character_is_a_422_naming_it(api, config, clock, key):
    from datetime import timedelta

    from closeloop.domain.customer import ContactPoint, CustomerProfile

    who = CustomerProfile("Ann Example", "en", "UTC", (ContactPoint("email", "ann@example.com", consent=True),))
    (cid,) = intake(api.app.sessions, config, clock.now(), [facts("NK-1", T0 - timedelta(hours=1),
                                                                  customer_ref="nk", customer=who)])
    err = _error(api.post("manager", f"/complaints/{cid}/replies", {"text": "We are checking.",
                                                                    "idempotency_key": key}))
    assert err["field"] == "idempotency_key"
    ok = api.post("manager", f"/complaints/{cid}/replies", {"text": "We are checking.", "idempotency_key": "k 1"})
    assert ok.status_code == 201, ok.text
