"""Escaping text for Markdown outputs (the monthly review, Prefect artifacts, chat digests, customer chat).

Text taken in from outside (complaint facts, titles, department and person names) must show as
itself, never as markup: :func:`md_text` turns it into Markdown that renders to exactly that text.
Rules (CommonMark 0.31, "Backslash escapes" and "Entity references"):

- ``&``, ``<``, ``>`` become entity references, so no raw HTML (``<script>``, ``<img onerror>``)
  reaches a renderer that passes HTML through;
- the inline markup characters ``\\ ` * _ [ ] | ~`` get a backslash (emphasis, code, links and
  images, table cells, strikethrough);
- line breaks become spaces and the ends are trimmed (a value stays inside its table cell or list
  item; indentation would start a code block), and a value that
  would start a block (``#``, ``-``, ``+``, ``=``, ``1.``) has that first character escaped.

Used as Jinja2's ``finalize`` for Markdown templates, so every ``{{ ... }}`` is escaped and a
template cannot forget one.
"""

from __future__ import annotations

import re
from functools import lru_cache

_INLINE = re.compile(r"([\\`*_\[\]|~])")
_BLOCK_START = re.compile(r"^(\s*)([#+=-]|\d+(?=[.)]))")


def md_text(value: object) -> str:
    """``value`` as Markdown that renders to its text (``None`` -> ``""``)."""
    if value is None:
        return ""
    return _md_str(str(value))


@lru_cache(maxsize=8192)
def _md_str(text: str) -> str:
    """:func:`md_text` of a string, memoised: a digest repeats its labels, departments, instants and ids
    (a catch-up renders some 150,000 values)."""
    text = _INLINE.sub(r"\\\1", _one_line(text))
    m = _BLOCK_START.match(text)
    if m:
        lead, mark = m.groups()
        text = lead + (mark + "\\" if mark[0].isdigit() else "\\" + mark) + text[m.end():]
    return text


_CELL_MARKS = re.compile(r"[`*\[\]|~]|\\(?=[!-/:-@\[-`{-~]|$)|(?<![^\W_])_|_(?![^\W_])")


def md_inline(value: object) -> str:
    """``value`` as Markdown that renders to its text where it sits inside a line (a table cell, after a
    label): like :func:`md_text` but escaping only what would be markup there (``None`` -> ``""``). Not for a
    value that may begin a line: no block-start escape (``50.00`` stays ``50.00``); ``_`` between letters or
    digits (``New_York``) and a backslash before anything but ASCII punctuation (``C:\\temp``) are left as
    written, since neither is markup there (CommonMark 0.31: intraword ``_`` opens no emphasis; a backslash
    escapes only punctuation). ``&``, ``<``, ``>`` still become entity references; ``|`` still gets a
    backslash (a table cell)."""
    if value is None:
        return ""
    return _CELL_MARKS.sub(lambda m: "\\" + m.group(0), _one_line(str(value)))


def _one_line(text: str) -> str:
    """``text`` on one line (line breaks as spaces, ends trimmed) with ``&``, ``<``, ``>`` as entity references:
    what :func:`md_text` and :func:`md_inline` both do first."""
    text = " ".join(text.splitlines()).strip()
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def md_message(text: str) -> str:
    """A whole plain-text message as Markdown that renders to that text with its paragraphs and line
    breaks kept (each line :func:`md_text`-escaped; lines of a paragraph end in a hard break, two spaces).
    For the chat and SMS bodies of customer messages, which Apprise sends as Markdown."""
    paragraphs = [p for p in text.replace("\r\n", "\n").split("\n\n") if p.strip()]
    return "\n\n".join("  \n".join(md_text(line) for line in p.split("\n") if line.strip())
                         for p in paragraphs)
