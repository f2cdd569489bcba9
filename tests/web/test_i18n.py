"""Languages: per user (the token's), switchable, remembered in a cookie; one catalogue per language."""

from __future__ import annotations

import re
from pathlib import Path

from closeloop.web import i18n
from tests.web.conftest import csrf_of

TEMPLATES = Path(i18n.__file__).parent / "templates"


def test_catalogues_have_the_same_keys_and_placeholders():
    # English singulars (``<key>.one``, picked by ``t(..., count=1)``) have no Chinese twin: Chinese has no plural
    singular = {k for k in i18n.EN if k.endswith(".one")}
    assert set(i18n.EN) - singular == set(i18n.ZH)
    for key, text in i18n.EN.items():
        twin = i18n.ZH[key.removesuffix(".one")] if key in singular else i18n.ZH[key]
        assert set(re.findall(r"{(\w+)}", text)) == set(re.findall(r"{(\w+)}", twin)), key


def test_every_key_the_templates_use_is_in_the_catalogue():
    used = set()
    for path in TEMPLATES.glob("*.j2"):
        used |= {k for k in re.findall(r"""\bt\('([\w.<>=-]+)'""", path.read_text(encoding="utf-8"))
                 if not k.endswith(".")}  # 'status.' ~ st: dynamic keys are covered by the page tests
    assert used and used <= set(i18n.EN), sorted(used - set(i18n.EN))


def test_the_tokens_language_then_the_switch_remembered_in_a_cookie(web, complaints):
    c = web.signin("manager_zh")
    page = c.get("/overview").text
    assert "运营总览" in page and 'lang="zh-CN"' in page
    r = c.post("/language", data={"csrf": csrf_of(page), "lang": "en", "next": "/overview"})
    assert r.status_code == 303 and r.headers["location"] == "/overview"
    assert "closeloop_lang=en" in r.headers["set-cookie"]
    page = c.get("/overview").text
    assert "Operations overview" in page and "运营总览" not in page
    assert "Department queue" in c.get("/queue/operations").text
    # a different user on another browser gets their own token's language
    assert "队列" in web.signin("lead").get("/queue/operations").text
    assert "Department queue" in web.signin("member").get("/queue/operations").text


def test_chinese_pages_translate_statuses_and_messages(web, complaints):
    c = web.signin("lead")
    page = c.get("/queue/operations").text
    assert "待处理" in page and "确认" in page and "open</span>" not in page
    denied = c.get("/queue/service")
    assert denied.status_code == 403 and "不能打开" in denied.text
    assert c.post("/language", data={"csrf": "forged", "lang": "en"}).status_code == 403


def test_flash_messages_use_only_the_values_the_queue_passes():
    for key, text in i18n.EN.items():
        if key.startswith(("ok.work.", "err.work.")):  # the complaint page's (web/pages_work.py)
            assert set(re.findall(r"{(\w+)}", text)) <= {"label", "state", "field", "handle", "limit", "why"}, key
        elif key.startswith(("ok.", "err.")):
            assert set(re.findall(r"{(\w+)}", text)) <= {"task", "state", "field", "limit", "label", "why"}, key
