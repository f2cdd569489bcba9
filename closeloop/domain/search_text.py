"""Search terms of a text: words for alphabetic scripts, character n-grams for Chinese and Japanese.

Chinese is written without spaces, so a word tokenizer would need a dictionary; instead every run of
CJK characters is indexed as its single characters and its overlapping character pairs (bigrams,
the scheme of Lucene's CJKAnalyzer and of Elasticsearch's ``cjk_bigram`` filter). A query run of two
or more characters becomes its bigrams, all required, so "退款" finds "申请退款三次" and a one-character
query finds every text holding that character. Other text is split into words of letters and digits
(Unicode ``str.isalnum`` classes; ``_``, punctuation and spaces separate), after NFKC normalisation and
case folding (so full-width "ＡＢＣ" is "abc"). Pure: no I/O.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

# Han (with extension A and compatibility ideographs), kana, Hangul syllables
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
_RUN = re.compile(rf"([{_CJK}]+)|([^\W_{_CJK}]+)")
_ASCII_WORD = re.compile(r"[a-z0-9]+")
MAX_QUERY_TERMS = 32
MIN_PREFIX = 3
#: The rule as the documents state it (the API's ``q``, the CLI's help): the length below which a word is whole.
PREFIX_RULE = (f"words of {MIN_PREFIX} or more characters match as prefixes (`refu` finds `refund`), shorter "
               "ones only as whole words (`eq` finds `eq` but not `equifax`)")


_NUMBER = re.compile(r"CL-(\d{1,18})|\[CL-(\d{1,18})\]", re.IGNORECASE)


def complaint_number(query: str) -> int | None:
    """The complaint id a query names: its digits (``123``) or the number customers are given in every mail
    (``CL-123``, also ``[CL-123]`` as in a subject, any case); None for anything else. A search for the number
    a customer reads out finds the complaint, as the id does."""
    q = query.strip()
    if q.isascii() and q.isdigit() and len(q) <= 18:
        return int(q)
    m = _NUMBER.fullmatch(q)
    return int(m.group(1) or m.group(2)) if m else None


def _normal(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def index_terms(*texts: str) -> list[str]:
    """Distinct terms of ``texts`` in first-seen order: words, CJK characters and CJK bigrams."""
    seen: dict[str, None] = {}
    for text in texts:
        seen.update(dict.fromkeys(short_terms(text or "")))
    return list(seen)


def short_terms(text: str) -> tuple[str, ...]:
    """:func:`index_terms` of one text, memoised when it is short (imports repeat the same categories,
    companies, ...)."""
    return _cached_terms(text) if len(text) <= 200 else _text_terms(text)


def text_terms(text: str) -> tuple[str, ...]:
    """:func:`index_terms` of one text, not memoised (for texts that seldom repeat: references)."""
    return _text_terms(text) if text else ()


@lru_cache(maxsize=4096)
def _cached_terms(text: str) -> tuple[str, ...]:
    return _text_terms(text)


def _text_terms(text: str) -> tuple[str, ...]:
    """:func:`index_terms` of one text. ASCII text is its own NFKC form and case-folds as ``lower``,
    and its words are the runs of ``[a-z0-9]`` (``\\w`` without ``_``): the same terms without the
    normalisation and the CJK branch."""
    if text.isascii():
        return tuple(dict.fromkeys(_ASCII_WORD.findall(text.lower())))
    return _unicode_terms(text)


def _unicode_terms(text: str) -> tuple[str, ...]:
    """:func:`index_terms` of one text, any script."""
    seen: dict[str, None] = {}
    for cjk, word in _RUN.findall(_normal(text)):
        if word:
            seen.setdefault(word, None)
            continue
        for i, ch in enumerate(cjk):
            seen.setdefault(ch, None)
            if i + 1 < len(cjk):
                seen.setdefault(cjk[i:i + 2], None)
    return tuple(seen)


def document(*texts: str) -> str:
    """The stored search document: :func:`index_terms` joined by single spaces."""
    return " ".join(index_terms(*texts))


@dataclass(frozen=True)
class QueryTerms:
    """A parsed query: ``exact`` terms must all be present; ``prefix`` words match any term they start."""

    exact: tuple[str, ...]
    prefix: tuple[str, ...]

    def __bool__(self) -> bool:
        return bool(self.exact or self.prefix)


def query_terms(query: str) -> QueryTerms:
    """Terms of a free-text query, all required: words of ``MIN_PREFIX`` or more characters match
    as prefixes (``"refu"`` finds ``refund``), shorter ones exactly (a prefix that short would match
    most of the index); a CJK run as its bigrams (a single character as itself). At most
    ``MAX_QUERY_TERMS`` distinct terms are kept (the rest are dropped, which widens the match)."""
    exact: dict[str, None] = {}
    prefix: dict[str, None] = {}
    for cjk, word in _RUN.findall(_normal(query)):
        if word:
            (prefix if len(word) >= MIN_PREFIX else exact).setdefault(word, None)
        elif len(cjk) == 1:
            exact.setdefault(cjk, None)
        else:
            for i in range(len(cjk) - 1):
                exact.setdefault(cjk[i:i + 2], None)
    ex = list(exact)[:MAX_QUERY_TERMS]
    return QueryTerms(tuple(ex), tuple(list(prefix)[:MAX_QUERY_TERMS - len(ex)]))
