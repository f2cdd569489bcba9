"""Issue 14 §3: the ``/my`` page (my tasks and mentions) by who is signed in."""

from __future__ import annotations

from closeloop.services.people.tokens import create_token
from closeloop.services.people.users import create_user

from .conftest import T0


def test_my_page_without_a_user_for_an_admin_and_for_a_user(web):
    page = web.signin("member").get("/my")
    assert page.status_code == 200 and 'id="no-user"' in page.text and "tokens create --user" in page.text
    assert web.signin("admin").get("/my").status_code == 403
    create_user(web.app.sessions, web.app.config, handle="ann", name="Ann <b>Lee</b>", departments=["operations"],
                role="member", actor="t", at=T0)
    web.tokens["ann"], _ = create_token(web.app.sessions, web.app.config, role="member", department="operations",
                                        name="ann", created_by="t", at=T0, user="ann")
    mine = web.signin("ann").get("/my")
    assert mine.status_code == 200 and "@ann · Ann &lt;b&gt;Lee&lt;/b&gt;" in mine.text
    assert 'id="no-tasks"' in mine.text and 'id="no-mentions"' in mine.text and 'id="nav-my"' in mine.text


def test_a_command_in_a_message_is_code_not_literal_backticks(web):
    """/my showed "(`closeloop tokens create --user HANDLE`)" with the backticks as text."""
    for who in ("member", "lead"):  # English and Chinese
        page = web.signin(who).get("/my").text
        assert "<code>closeloop tokens create --user HANDLE</code>" in page and "`" not in page
    signin = web.client().get("/signin").text
    assert "<code>closeloop tokens create --role ROLE [--department D]</code>" in signin and "`" not in signin


def test_the_code_filter_escapes_what_is_around_and_inside_the_code():
    from closeloop.web.render import codes

    assert str(codes("run `a <b>` & <i>x</i>")) == "run <code>a &lt;b&gt;</code> &amp; &lt;i&gt;x&lt;/i&gt;"
    assert str(codes("no `closing")) == "no `closing"
