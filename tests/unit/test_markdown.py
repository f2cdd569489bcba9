"""Issue 18: :func:`md_text` makes any text render as itself in Markdown (CommonMark with GFM tables)."""

from __future__ import annotations

import html

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from closeloop.services.markdown import md_text

MD = MarkdownIt("commonmark").enable(["table", "strikethrough"])


def shown(markdown: str) -> str:
    """The text a reader sees for one paragraph of ``markdown``."""
    out = MD.render(markdown).strip()
    if not out:
        return ""
    assert out.startswith("<p>") and out.endswith("</p>"), out  # a paragraph: no heading, list, quote, code
    inner = out[3:-4]
    assert "<" not in inner, inner  # no tag at all, only text and entities
    return html.unescape(inner)


@pytest.mark.parametrize("text", [
    "<script>alert(1)</script>", '<img src=x onerror="alert(1)">', "**bold** and _em_ and ~~gone~~",
    "[click](http://evil.example)", "![img](x.png)", "`code`", "# heading", "## not a title", "- item", "+ item",
    "1. first", "12) twelfth", "> quote", "---", "***", "A & B &amp; &#60;", "a | b | c", "back\\slash\\",
    "product_defect.battery", "<!-- comment -->", "<http://autolink.example>", "    indented code",
])
def test_every_nasty_text_renders_as_itself(text):
    assert shown(md_text(text)) == text.strip()


def test_line_breaks_become_spaces_and_none_is_empty():
    assert md_text("first\nsecond\r\nthird") == "first second third"
    assert md_text(None) == "" and md_text(42) == "42"


@settings(max_examples=300, deadline=None)
@given(st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), max_size=60))
def test_any_text_renders_as_itself(text):
    assert shown(md_text(text)) == text.strip()
