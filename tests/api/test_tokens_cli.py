"""``closeloop tokens create|list|revoke``: the token alone on stdout, only its hash stored."""

from __future__ import annotations

import hashlib
import shutil

from sqlalchemy import select
from typer.testing import CliRunner

from closeloop.cli import app
from models.db import make_engine
from models.tables import ApiToken


def test_create_prints_the_token_alone_and_stores_only_its_hash(sqlite_template, tmp_path, monkeypatch):
    db = tmp_path / "cli.db"
    shutil.copy(sqlite_template, db)
    monkeypatch.setenv("CLOSELOOP_DATABASE_URL", f"sqlite:///{db}")
    runner = CliRunner()
    r = runner.invoke(app, ["tokens", "create", "--role", "member", "--department", "operations",
                            "--name", "Wang Li", "--language", "zh"])
    assert r.exit_code == 0, r.output
    token = r.stdout.strip()
    assert r.stdout == token + "\n" and token.startswith("cl_") and len(token) > 40
    engine = make_engine(f"sqlite:///{db}")
    with engine.connect() as c:
        row = c.execute(select(ApiToken)).one()
    engine.dispose()
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in str(tuple(row)) and (row.role, row.department, row.language) == ("member", "operations", "zh")
    r = runner.invoke(app, ["tokens", "create", "--role", "member"])
    assert r.exit_code == 2 and "department" in r.output
    r = runner.invoke(app, ["tokens", "create", "--role", "boss"])
    assert r.exit_code == 2 and "role" in r.output
    r = runner.invoke(app, ["tokens", "list", "--json"])
    assert r.exit_code == 0 and '"name": "Wang Li"' in r.stdout and token not in r.stdout
    r = runner.invoke(app, ["tokens", "revoke", str(row.id)])
    assert r.exit_code == 0 and "revoked" in r.stdout
    r = runner.invoke(app, ["tokens", "revoke", "999"])
    assert r.exit_code == 1 and "not found" in r.output


def test_a_token_for_a_user_takes_the_users_language_and_name(sqlite_template, tmp_path, monkeypatch):
    db = tmp_path / "cli.db"
    shutil.copy(sqlite_template, db)
    monkeypatch.setenv("CLOSELOOP_DATABASE_URL", f"sqlite:///{db}")
    runner = CliRunner()
    r = runner.invoke(app, ["users", "add", "wang.li", "--name", "王丽", "--role", "member", "-d", "operations",
                            "--language", "zh"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["tokens", "create", "--role", "member", "-d", "operations", "--user", "wang.li"])
    assert r.exit_code == 0, r.output
    engine = make_engine(f"sqlite:///{db}")
    with engine.connect() as c:
        row = c.execute(select(ApiToken)).one()
    engine.dispose()
    assert (row.language, row.name) == ("zh", "王丽")
