"""Search words: three or more characters match as prefixes, shorter ones only whole; the API's ``q``, the
README, the CLI and the dashboard's help say so (they had said only "words match as prefixes")."""

from __future__ import annotations

from closeloop.cli.complaints import complaints_search
from closeloop.domain.search_text import MIN_PREFIX
from closeloop.web.i18n import EN, ZH
from tests.conftest import ROOT


def _total(api, q: str) -> int:
    r = api.get("manager", "/complaints", params={"q": q})
    assert r.status_code == 200, r.text
    return r.json()["total"]


def test_short_words_match_whole_and_the_documents_say_so(api, complaints):
    assert MIN_PREFIX == 3
    assert _total(api, "cr") == 0  # two characters: only the word "cr", never a prefix of "credit"
    assert _total(api, "cre") == 2 and _total(api, "credit") == 2
    doc = api.client.get("/api/v1/openapi.json").json()
    q = next(p for p in doc["paths"]["/api/v1/complaints"]["get"]["parameters"] if p["name"] == "q")
    assert "3 or more characters match as prefixes" in q["description"]
    assert "shorter ones only as whole words" in q["description"]
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "Words of three or more characters match as prefixes" in readme
    assert "shorter one only itself" in EN["search.help"] and "更短的词须完全一致" in ZH["search.help"]
    assert "shorter ones whole" in (complaints_search.__doc__ or "")
