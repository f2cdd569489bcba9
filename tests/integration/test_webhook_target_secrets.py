"""Per-target webhook secrets: a ``[webhooks.<name>]`` target names the environment variable holding its own
secret (``secret_env``, and ``previous_secret_env`` while rotating), so that one leaked secret does not let anyone
forge webhooks to every receiver. Targets without one keep ``CLOSELOOP_WEBHOOK_SECRET``.

Delivered through the deliver flow to the delivery tests' real HTTP receiver; every signature is checked against
an HMAC computed here from the Standard Webhooks formula, not by our signing code.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import socket
from datetime import UTC, datetime, timedelta
from importlib import resources

import pytest
from sqlalchemy.orm import sessionmaker
from typer.testing import CliRunner

from closeloop.cli import app as cli_app
from closeloop.config import ConfigError, parse_config

from . import test_delivery
from .receiver import Reply
from .test_delivery import add, path

receiver = test_delivery.receiver  # the delivery tests' local HTTP receiver, shared
runner = CliRunner()

GLOBAL = "the global raw secret"
CRM = "whsec_" + base64.b64encode(b"c" * 32).decode()
CHAT = "chat bridge raw secret"
CRM_OLD = "whsec_" + base64.b64encode(b"o" * 24).decode()
CRM_OLDER = "an older crm raw secret"
DEFAULT_TOML = resources.files("closeloop.config").joinpath("default.toml").read_text("utf-8")


def _key(secret: str) -> bytes:
    """What a receiver derives from the string it holds (Standard Webhooks: ``whsec_`` is base64)."""
    if secret.startswith("whsec_"):
        return base64.b64decode(secret.removeprefix("whsec_"))
    return secret.encode()


def _v1(secret: str, headers, body: bytes) -> str:
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(_key(secret), signed, hashlib.sha256).digest()).decode()


def _legacy(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _config(**hooks: dict) -> str:
    """The bundled configuration plus one ``[webhooks.<name>]`` table per keyword."""
    tables = [f"[webhooks.{name}]\n" + "".join(f'{k} = "{v}"\n' for k, v in hook.items())
              for name, hook in hooks.items()]
    return DEFAULT_TOML + "\n" + "\n".join(tables)


def _deliver(tmp_path, monkeypatch, urls: list[str], config: str) -> dict:
    """Queue one webhook row per url (before any configuration is read), then run the deliver flow once."""
    from flows.deliver import deliver_outbox
    from models import migrate
    from models.db import make_engine

    db = f"sqlite:///{tmp_path / 'flow.db'}"
    eng = make_engine(db)
    migrate.upgrade(eng)
    add(sessionmaker(eng), datetime.now(UTC) - timedelta(seconds=1), urls)
    eng.dispose()
    conf = tmp_path / "closeloop.toml"
    conf.write_text(config, "utf-8")
    monkeypatch.setenv("CLOSELOOP_CONFIG", str(conf))
    monkeypatch.setenv("CLOSELOOP_DATABASE_URL", db)
    monkeypatch.setenv("CLOSELOOP_CAPTURE_DIR", str(tmp_path / "cap"))
    monkeypatch.setenv("CLOSELOOP_WEBHOOK_SECRET", GLOBAL)
    return deliver_outbox.fn(max_batches=1)


def _hit(receiver, p: str):
    [hit] = receiver.hits(p)
    return hit.headers, hit.body


def test_two_targets_are_each_signed_with_their_own_secret_and_not_the_others(tmp_path, monkeypatch, receiver):
    monkeypatch.setenv("CLOSELOOP_TEST_SECRET_CRM", CRM)
    monkeypatch.setenv("CLOSELOOP_TEST_SECRET_CHAT", CHAT)
    monkeypatch.delenv("CLOSELOOP_WEBHOOK_SECRET_PREVIOUS", raising=False)
    crm, chat, other = path(), path(), path()
    urls = [receiver.script(p, Reply(204, body=b"")) for p in (crm, chat, other)]
    config = _config(crm={"url": urls[0], "secret_env": "CLOSELOOP_TEST_SECRET_CRM"},
                     chat={"url": urls[1], "secret_env": "CLOSELOOP_TEST_SECRET_CHAT"})
    assert _deliver(tmp_path, monkeypatch, urls, config)["delivered"] == 3
    for p, own, others in ((crm, CRM, (CHAT, GLOBAL)), (chat, CHAT, (CRM, GLOBAL)), (other, GLOBAL, (CRM, CHAT))):
        h, body = _hit(receiver, p)
        assert h["webhook-signature"] == _v1(own, h, body)  # one entry: its own secret
        assert all(_v1(secret, h, body) not in h["webhook-signature"].split() for secret in others)
        # the deprecated header follows the same choice (keyed by the target's secret as written)
        assert h["x-closeloop-signature"] == _legacy(own, body)
        assert all(h["x-closeloop-signature"] != _legacy(secret, body) for secret in others)


def test_a_rotation_is_per_target(tmp_path, monkeypatch, receiver):
    monkeypatch.setenv("CLOSELOOP_TEST_SECRET_CRM", CRM)
    monkeypatch.setenv("CLOSELOOP_TEST_SECRET_CRM_PREVIOUS", f"{CRM_OLD}; {CRM_OLDER}")
    monkeypatch.setenv("CLOSELOOP_TEST_SECRET_CHAT", CHAT)
    monkeypatch.setenv("CLOSELOOP_WEBHOOK_SECRET_PREVIOUS", "a global secret being rotated out")
    crm, chat, other = path(), path(), path()
    urls = [receiver.script(p, Reply(204, body=b"")) for p in (crm, chat, other)]
    config = _config(crm={"url": urls[0], "secret_env": "CLOSELOOP_TEST_SECRET_CRM",
                          "previous_secret_env": "CLOSELOOP_TEST_SECRET_CRM_PREVIOUS"},
                     chat={"url": urls[1], "secret_env": "CLOSELOOP_TEST_SECRET_CHAT"})
    assert _deliver(tmp_path, monkeypatch, urls, config)["delivered"] == 3
    h, body = _hit(receiver, crm)  # the crm's new secret first, then each of its own old ones, nothing else
    assert h["webhook-signature"].split() == [_v1(s, h, body) for s in (CRM, CRM_OLD, CRM_OLDER)]
    assert h["x-closeloop-signature"] == _legacy(CRM, body)  # the current secret only, as for the global one
    h, body = _hit(receiver, chat)  # not rotating: its own secret only (neither the crm's nor the global old ones)
    assert h["webhook-signature"] == _v1(CHAT, h, body)
    h, body = _hit(receiver, other)  # the global secret and the global rotation, as before
    assert h["webhook-signature"].split() == [_v1(s, h, body) for s in (GLOBAL, "a global secret being rotated out")]


def test_a_target_moves_off_the_global_secret_without_a_window(tmp_path, monkeypatch, receiver):
    """README: while receivers still hold the global secret, list it as the target's previous secret."""
    monkeypatch.setenv("CLOSELOOP_TEST_SECRET_CRM", CRM)
    monkeypatch.delenv("CLOSELOOP_WEBHOOK_SECRET_PREVIOUS", raising=False)
    crm = path()
    url = receiver.script(crm, Reply(204, body=b""))
    config = _config(crm={"url": url, "secret_env": "CLOSELOOP_TEST_SECRET_CRM",
                          "previous_secret_env": "CLOSELOOP_WEBHOOK_SECRET"})
    assert _deliver(tmp_path, monkeypatch, [url], config)["delivered"] == 1
    h, body = _hit(receiver, crm)
    assert h["webhook-signature"].split() == [_v1(CRM, h, body), _v1(GLOBAL, h, body)]


HOOK = {"url": "https://crm.example/hook", "secret_env": "CLOSELOOP_TEST_SECRET_CRM"}


def test_an_unset_variable_is_refused_when_the_configuration_loads_naming_target_and_variable():
    with pytest.raises(ConfigError) as exc:
        parse_config(_config(crm=HOOK), "site.toml", environ={})
    message = str(exc.value)
    assert "\n" not in message and message.startswith("site.toml: webhooks.crm.secret_env: ")
    assert "CLOSELOOP_TEST_SECRET_CRM is not set" in message
    with pytest.raises(ConfigError, match="CLOSELOOP_TEST_SECRET_CRM is empty"):
        parse_config(_config(crm=HOOK), "site.toml", environ={"CLOSELOOP_TEST_SECRET_CRM": " "})
    rotating = {**HOOK, "previous_secret_env": "CLOSELOOP_TEST_SECRET_CRM_PREVIOUS"}
    with pytest.raises(ConfigError) as exc:
        parse_config(_config(crm=rotating), "site.toml", environ={"CLOSELOOP_TEST_SECRET_CRM": CRM})
    assert "webhooks.crm.previous_secret_env: the environment variable CLOSELOOP_TEST_SECRET_CRM_PREVIOUS is " \
           "not set" in str(exc.value)
    # set (an empty previous list: none being rotated out): loads
    cfg = parse_config(_config(crm=rotating), "site.toml",
                       environ={"CLOSELOOP_TEST_SECRET_CRM": CRM, "CLOSELOOP_TEST_SECRET_CRM_PREVIOUS": ""})
    assert cfg.webhook_keys({"CLOSELOOP_TEST_SECRET_CRM": CRM, "CLOSELOOP_TEST_SECRET_CRM_PREVIOUS": ""})[
        HOOK["url"]].v1 == b"c" * 32


@pytest.mark.parametrize("variable", ["CLOSELOOP_TEST_SECRET_CRM", "CLOSELOOP_TEST_SECRET_CRM_PREVIOUS"])
def test_a_malformed_secret_is_refused_naming_target_and_variable_never_the_value(variable):
    bad = "whsec_not base64!"
    env = {"CLOSELOOP_TEST_SECRET_CRM": CRM, "CLOSELOOP_TEST_SECRET_CRM_PREVIOUS": CRM_OLD, variable: bad}
    with pytest.raises(ConfigError) as exc:
        parse_config(_config(crm={**HOOK, "previous_secret_env": "CLOSELOOP_TEST_SECRET_CRM_PREVIOUS"}), "site.toml",
                     environ=env)
    message = str(exc.value)
    assert f"webhooks.crm.{'previous_' if variable.endswith('PREVIOUS') else ''}secret_env: {variable}: " in message
    assert "not base64!" not in message and "\n" not in message


def test_the_configuration_names_variables_never_secrets():
    with pytest.raises(ConfigError) as exc:
        parse_config(_config(crm={**HOOK, "secret": "s3cret in the file"}), "site.toml",
                     environ={"CLOSELOOP_TEST_SECRET_CRM": CRM})
    assert "webhooks.crm: " in str(exc.value) and "secret_env" in str(exc.value)
    assert "s3cret in the file" not in str(exc.value)
    twice = _config(crm=HOOK, crm2=HOOK)
    with pytest.raises(ConfigError, match="webhooks.crm2.url: the same url as webhooks.crm"):
        parse_config(twice, "site.toml", environ={"CLOSELOOP_TEST_SECRET_CRM": CRM})


def test_config_validate_and_the_deliver_flow_refuse_an_unset_variable_at_startup(tmp_path, monkeypatch, receiver):
    monkeypatch.delenv("CLOSELOOP_TEST_SECRET_CRM", raising=False)
    p = path()
    url = receiver.script(p, Reply(204, body=b""))
    config = _config(crm={"url": url, "secret_env": "CLOSELOOP_TEST_SECRET_CRM"})
    conf = tmp_path / "site.toml"
    conf.write_text(config, "utf-8")
    res = runner.invoke(cli_app, ["config", "validate", str(conf)])
    assert res.exit_code == 2
    assert "webhooks.crm.secret_env: the environment variable CLOSELOOP_TEST_SECRET_CRM is not set" in res.stderr
    # the flow stops before sending anything (not at the first delivery to that target)
    with pytest.raises(ConfigError, match="CLOSELOOP_TEST_SECRET_CRM is not set"):
        _deliver(tmp_path, monkeypatch, [url], config)
    assert receiver.hits(p) == []
    monkeypatch.setenv("CLOSELOOP_TEST_SECRET_CRM", CRM)
    res = runner.invoke(cli_app, ["config", "validate", str(conf)])
    assert res.exit_code == 0 and ": ok (" in res.stdout


def test_the_api_and_other_commands_refuse_an_unset_variable_at_startup(tmp_path, monkeypatch):
    from closeloop.cli import api as api_cli
    from models import migrate
    from models.db import make_engine

    db = f"sqlite:///{tmp_path / 'api.db'}"
    eng = make_engine(db)
    migrate.upgrade(eng)
    eng.dispose()
    conf = tmp_path / "site.toml"
    conf.write_text(_config(crm=HOOK), "utf-8")
    monkeypatch.setenv("CLOSELOOP_DATABASE_URL", db)
    monkeypatch.setenv("CLOSELOOP_CONFIG", str(conf))
    monkeypatch.delenv("CLOSELOOP_TEST_SECRET_CRM", raising=False)
    served: list[object] = []
    monkeypatch.setattr(api_cli, "run_api", lambda app, socks, log_level="info": served.append(socks))
    with socket.socket() as probe:  # a free port (bound only if the command failed to refuse)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    res = runner.invoke(cli_app, ["api", "--port", str(port)])
    assert res.exit_code == 2 and served == []  # refused before binding or serving (not at the first request)
    assert "webhooks.crm.secret_env: the environment variable CLOSELOOP_TEST_SECRET_CRM is not set" in res.stderr
    # any command reading the configuration: the same line, exit 2, no traceback
    res = runner.invoke(cli_app, ["digest"])
    assert res.exit_code == 2 and "Traceback" not in res.output + res.stderr
    assert res.stderr.startswith("error: ") and "CLOSELOOP_TEST_SECRET_CRM is not set" in res.stderr


# ---------------------------------------------------------------- notify8: targets compared normalised


def test_a_target_spelled_with_another_case_or_the_default_port_gets_its_own_secret(tmp_path, monkeypatch, receiver):
    """httpx's normalisation: scheme and host in any case, the default port dropped; the path stays exact."""
    monkeypatch.setenv("CLOSELOOP_TEST_SECRET_CRM", CRM)
    monkeypatch.delenv("CLOSELOOP_WEBHOOK_SECRET_PREVIOUS", raising=False)
    crm = path()
    url = receiver.script(crm, Reply(204, body=b""))
    shouted = url.replace("http://", "HTTP://", 1)
    assert shouted != url
    config = _config(crm={"url": url, "secret_env": "CLOSELOOP_TEST_SECRET_CRM"})
    assert _deliver(tmp_path, monkeypatch, [shouted], config)["delivered"] == 1
    h, body = _hit(receiver, crm)
    assert h["webhook-signature"] == _v1(CRM, h, body)  # was the global secret


def test_the_same_target_in_another_spelling_is_refused_and_the_url_may_be_upper_case():
    env = {"CLOSELOOP_TEST_SECRET_CRM": CRM}
    cfg = parse_config(_config(crm={**HOOK, "url": "HTTPS://CRM.example:443/hook"}), "site.toml", environ=env)
    assert set(cfg.webhook_keys(env)) == {"https://crm.example/hook"}
    with pytest.raises(ConfigError, match="webhooks.crm2.url: the same url as webhooks.crm"):
        parse_config(_config(crm=HOOK, crm2={**HOOK, "url": "HTTPS://crm.example:443/hook"}), "site.toml",
                     environ=env)
    # a different path is a different target (servers need not treat //hook or /hook/ as /hook)
    parse_config(_config(crm=HOOK, crm2={**HOOK, "url": "https://crm.example//hook"},
                         crm3={**HOOK, "url": "https://crm.example/hook/"}), "site.toml", environ=env)


def test_config_validate_warns_of_a_webhooks_url_no_notify_field_names(tmp_path, monkeypatch):
    monkeypatch.setenv("CLOSELOOP_TEST_SECRET_CRM", CRM)
    conf = tmp_path / "site.toml"
    notify = 'display_name = "Operations"\nlead = "operations-lead"\nnotify = ""'
    assert notify in DEFAULT_TOML
    for spelled, warned in (("HTTPS://CRM.example:443/hook", False), ("https://crm.example//hook", True),
                            ("https://crm.example/hook/", True)):
        conf.write_text(_config(crm=HOOK).replace(notify, notify.replace('""', f'"{spelled}"'), 1), "utf-8")
        res = runner.invoke(cli_app, ["config", "validate", str(conf)])
        assert res.exit_code == 0 and ": ok (" in res.stdout, res.output
        assert ("webhooks.crm.url: 'https://crm.example/hook' matches no notify field" in res.stderr) is warned


def test_a_deliver_run_failing_at_startup_is_counted_as_a_failed_run(tmp_path, monkeypatch, receiver):
    from closeloop.services.engine.engine_runs import RunKind, run_stats
    from models.db import make_engine

    monkeypatch.delenv("CLOSELOOP_TEST_SECRET_CRM", raising=False)
    with pytest.raises(ConfigError, match="CLOSELOOP_TEST_SECRET_CRM is not set"):
        _deliver(tmp_path, monkeypatch, [], _config(crm=HOOK))
    eng = make_engine(f"sqlite:///{tmp_path / 'flow.db'}")
    stats = run_stats(sessionmaker(eng), RunKind.DELIVER, datetime.now(UTC) + timedelta(minutes=1),
                      timedelta(hours=1))
    eng.dispose()
    assert stats.failed == 1 and stats.runs == 0


@pytest.mark.parametrize("url", ["HTTP://127.0.0.1:4311/hook", "http://127.0.0.1:4311//hook", "http://h/hook/",
                                 "HTTPS://CRM.example:443/hook", "http://Ex.com:80/a?x=1#f", "http://u:p@EX.com:8080/x",
                                 "http://[::1]:80/x", "http://[::1]:81/x", "http://Bücher.example/x"])
def test_targets_are_compared_as_httpx_normalises_them(url):
    import httpx

    from integrations.webhook_urls import webhook_key

    parsed = httpx.URL(url)
    assert webhook_key(url) == str(parsed.copy_with(scheme=parsed.scheme))  # httpx: the scheme lower case first
    assert webhook_key("https://ex.com") == webhook_key("HTTPS://EX.COM:443/") == "https://ex.com/"
