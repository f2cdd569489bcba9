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

from .ids import MAX_ID

# Han (with extension A and compatibility ideographs), kana, Hangul syllables
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
_RUN = re.compile(rf"([{_CJK}]+)|([^\W_{_CJK}]+)")
_ASCII_WORD = re.compile(r"[a-z0-9]+")
MAX_QUERY_TERMS = 32
#: PostgreSQL's longest lexeme of a ``tsvector`` in bytes (UTF-8), ``MAXSTRLEN`` = 2^11 - 1: a longer term makes
#: ``array_to_tsvector`` (the search index, migration 0008) fail with "word is too long", and the whole write with it.
MAX_TERM_BYTES = 2_047
#: PostgreSQL's largest sum of the lexemes' bytes in one ``tsvector``, ``MAXSTRPOS`` = 2^20 - 1 ("string is too long
#: for tsvector"). The longest facts the intake takes (``MAX_CHARS``, tags) stay far below: every field at its
#: longest in distinct Chinese characters (each a term and the start of a bigram) makes 189 KB of terms, and NFKC
#: expands a character to at most 8 bytes of one word; :func:`fit_document` still stops there.
MAX_DOC_BYTES = 1_048_575
_LONG_TERM = re.compile(rf"[^ ]{{{MAX_TERM_BYTES // 4 + 1},}}")  # a term of 512+ characters may be over 2,047 bytes
MIN_PREFIX = 3
#: The rule as the documents state it (the API's ``q``, the CLI's help): the length below which a word is whole.
PREFIX_RULE = (f"words of {MIN_PREFIX} or more characters match as prefixes (`refu` finds `refund`), shorter "
               "ones only as whole words (`eq` finds `eq` but not `equifax`)")


_NUMBER = re.compile(r"CL-(\d{1,18})|\[CL-(\d{1,18})\]", re.IGNORECASE)


def complaint_number(query: str) -> int | None:
    """The complaint id a query names: its digits (``123``) or the number customers are given in every mail
    (``CL-123``, also ``[CL-123]`` as in a subject, any case); None for anything else. A search for the number
    a customer reads out finds the complaint, as the id does. A number over :data:`~closeloop.domain.ids.MAX_ID`
    names no complaint: None (PostgreSQL would fail comparing it with the 32-bit id column)."""
    q = query.strip()
    number = None
    if q.isascii() and q.isdigit() and len(q) <= 18:
        number = int(q)
    elif m := _NUMBER.fullmatch(q):
        number = int(m.group(1) or m.group(2))
    return number if number is not None and number <= MAX_ID else None


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
    """The stored search document: :func:`index_terms` joined by single spaces (:func:`fit_document`)."""
    return fit_document(" ".join(index_terms(*texts)))


def fit_document(doc: str) -> str:
    """``doc`` (distinct terms joined by single spaces) as PostgreSQL's ``tsvector`` can hold it, so that the
    search index never refuses a complaint both backends otherwise take: a term over :data:`MAX_TERM_BYTES`
    UTF-8 bytes (a base64 token, a long URL path, 2,048 times "a") is cut to its longest prefix within them (it
    is still found by that prefix), and terms past :data:`MAX_DOC_BYTES` in all are left out. The same document
    is stored on SQLite, so both backends find the same complaints. A document within both limits is returned
    as it is (checked without encoding it: no term of 512+ characters, at most 262,143 characters)."""
    if len(doc) <= MAX_DOC_BYTES // 4 and _LONG_TERM.search(doc) is None:
        return doc
    kept: dict[str, None] = {}
    total = 0
    for term in doc.split(" "):
        raw = term.encode()
        if len(raw) > MAX_TERM_BYTES:
            raw = raw[:MAX_TERM_BYTES].decode("utf-8", "ignore").encode()  # no character cut in two
        if total + len(raw) > MAX_DOC_BYTES:
            break
        cut = raw.decode()
        if cut and cut not in kept:
            kept[cut] = None
            total += len(raw)
    return " ".join(kept)


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
