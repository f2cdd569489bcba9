"""Streaming readers for complaint exports, one *profile* per format.

A profile turns one CSV row (a dict keyed by header) into
:class:`ComplaintFacts`, or raises :class:`RowError` naming the column, the
value and the problem. :func:`read_export` streams a file row by row (memory
does not grow with the file) and yields :class:`ParsedRow` or
:class:`RowError` with the physical line number where the record starts
(line 1 is the header).
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, time
from pathlib import Path
from typing import Any, Protocol, TypeVar
from zoneinfo import ZoneInfo

from closeloop.domain.errors import InvalidInput, InvalidInputs
from closeloop.domain.facts import ComplaintFacts, check_received_by, check_ref

csv.field_size_limit(16 * 1024 * 1024)

T = TypeVar("T")


@dataclass(frozen=True)
class RowError:
    """A row that cannot be imported: ``line`` (1-based, header is line 1), ``column``, ``value``, ``problem``
    of its first problem; ``more``: the row's other problems (same ``line``), in column order. ``withheld``: the
    value is personal data (a customer's name or contact point), not quoted (``value`` is then empty)."""

    line: int
    column: str
    value: str
    problem: str
    more: tuple[RowError, ...] = ()
    withheld: bool = False

    def __str__(self) -> str:
        value = "value withheld (personal data)" if self.withheld else f"value {self.value!r}"
        return f"line {self.line}, column {self.column!r}, {value}: {self.problem}"

    def problems(self) -> tuple[RowError, ...]:
        """Every problem of the row, each a :class:`RowError` of its own (``more`` empty), first one first."""
        return (replace(self, more=()), *self.more) if self.more else (self,)


class RowProblem(Exception):
    """Raised by a profile's ``parse`` for one bad cell; ``withheld``: the value is personal data, not quoted."""

    def __init__(self, column: str, value: str, problem: str, *, withheld: bool = False):
        super().__init__(problem)
        self.column, self.value, self.problem, self.withheld = column, value, problem, withheld


class RowProblems(Exception):
    """Raised by a profile's ``parse`` for a row with several bad cells: ``problems``, in the order found.
    ``rules``: the shared field rules' problems of the facts built from the other cells, and ``given`` those
    facts (the bad cells' facts stand-ins, never taken in), so the row's every problem is reported
    (:meth:`Cells.check`)."""

    def __init__(self, problems: list[RowProblem], rules: tuple[InvalidInput, ...] = (),
                 given: ComplaintFacts | None = None):
        super().__init__("; ".join(p.problem for p in problems))
        self.problems, self.rules, self.given = problems, rules, given


class Cells:
    """Reads a row's cells so that every bad cell is reported, not only the first: :meth:`read` calls a cell
    reader (:func:`required`, :func:`identifier`, :func:`parse_local`, ...) and notes its
    :class:`RowProblem` instead of raising it; :meth:`check` then raises the one problem, or
    :class:`RowProblems` for several, or returns when there were none."""

    def __init__(self) -> None:
        self.problems: list[RowProblem] = []

    def read(self, reader: Callable[..., T], *args: Any) -> T | None:
        """``reader(*args)``, or None when it raised :class:`RowProblem` (noted for :meth:`check`)."""
        try:
            return reader(*args)
        except RowProblem as p:
            self.problems.append(p)
            return None

    def check(self, build: Callable[[], ComplaintFacts] | None = None) -> None:
        """Raises the noted problem (:class:`RowProblem`) or problems (:class:`RowProblems`), if any.

        ``build`` (given): the row's facts from its good cells (stand-ins for the bad ones); their field rules'
        problems and the facts go with the cells' (:class:`RowProblems` ``rules`` and ``given``), so a row with a
        bad cell still has its other problems reported."""
        if not self.problems:
            return
        rules: tuple[InvalidInput, ...] = ()
        given: ComplaintFacts | None = None
        if build is not None:
            try:
                given = build()
            except InvalidInput as e:
                rules = e.problems
                given = e.given if isinstance(e, InvalidInputs) and isinstance(e.given, ComplaintFacts) else None
        if len(self.problems) == 1 and not rules and given is None:
            raise self.problems[0]
        raise RowProblems(self.problems, rules, given)


@dataclass(frozen=True)
class ParsedRow:
    """A good row. ``reject_reason`` is set when the row is valid but not a complaint
    (a positive review, a neutral tweet): it is recorded as ``rejected``, with no tasks."""

    line: int
    facts: ComplaintFacts
    reject_reason: str | None = None


class Profile(Protocol):
    """``fact_columns`` (optional): the columns a fact comes from when they are not named after it
    (``{"received_at": ("Date received", "date_received")}``), so a fact's error names the file's column.
    ``layouts`` (optional): the required columns of each header layout the profile reads (CFPB: the current
    and the 2013 one); a refused header then names the columns it lacks (:func:`missing_columns`)."""

    name: str
    description: str

    def detect(self, header: list[str]) -> bool: ...

    def parse(self, row: Mapping[str, str]) -> tuple[ComplaintFacts, str | None]: ...


# ---------------------------------------------------------------- cell helpers

def cell(row: Mapping[str, str], column: str) -> str:
    return (row.get(column) or "").strip()


def required(row: Mapping[str, str], column: str) -> str:
    value = cell(row, column)
    if not value:
        raise RowProblem(column, "", "required value is missing")
    return value


#: A number a spreadsheet turned into scientific notation (``5.70301E+17``): its digits are lost.
_SCIENTIFIC = re.compile(r"^[+-]?\d+(?:[.,]\d+)?[eE][+-]?\d+$")


def identifier(row: Mapping[str, str], column: str, pattern: re.Pattern | None = None, what: str = "") -> str:
    """The row's identifier in ``column``: required, and a value that can be this export's id
    (``pattern``, described by ``what``). A value that cannot be one is a bad row in that column,
    never a duplicate of another row with the same broken value (issue 12, K16): for example
    ``5.70301E+17``, a tweet id a spreadsheet rounded."""
    value = required(row, column)
    if _SCIENTIFIC.match(value):
        raise RowProblem(column, value, "not an identifier: a number in scientific notation (a spreadsheet "
                                        "rounded it and its digits are lost); re-export the column as text")
    if pattern is not None and not pattern.fullmatch(value):
        digits = f"a number of {len(value)} digits; " if value.isascii() and value.isdigit() else ""
        raise RowProblem(column, value, f"not an identifier of this export: {digits}expected {what}")
    return value


def parse_local(value: str, column: str, formats: tuple[str, ...], zone: ZoneInfo) -> datetime:
    """Parse a wall-clock time in ``zone`` with the first matching format; UTC-aware result."""
    for fmt in formats:
        try:
            naive = datetime.strptime(value, fmt)
        except ValueError:
            continue
        return naive.replace(tzinfo=zone)
    raise RowProblem(column, value, f"not a date in any of the expected formats {', '.join(formats)}")


def parse_local_date(value: str, column: str, formats: tuple[str, ...], zone: ZoneInfo) -> datetime:
    """A date-only cell, taken as midnight in ``zone``."""
    if "%Y-%m-%d" in formats and len(value) == 10 and value[4] == "-":
        try:  # fast path for ISO dates (the current CFPB layout)
            return datetime.combine(date.fromisoformat(value), time(0, 0), tzinfo=zone)
        except ValueError:
            pass
    for fmt in formats:
        try:
            d: date = datetime.strptime(value, fmt).date()
        except ValueError:
            continue
        return datetime.combine(d, time(0, 0), tzinfo=zone)
    raise RowProblem(column, value, f"not a date in any of the expected formats {', '.join(formats)}")


def parse_iso_aware(value: str, column: str) -> datetime:
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise RowProblem(column, value, "not an ISO 8601 date-time") from None
    if dt.tzinfo is None:
        raise RowProblem(column, value, "date-time has no UTC offset (add Z or +hh:mm)")
    return dt


# ---------------------------------------------------------------- registry

_PROFILES: dict[str, Profile] = {}


def register(profile: Profile) -> Profile:
    _PROFILES[profile.name] = profile
    return profile


def profiles() -> dict[str, Profile]:
    # deferred: import cycle: formats registers its profiles through this module
    from integrations import formats  # noqa: F401  (registers the built-in profiles)

    return dict(_PROFILES)


def detect_profile(header: list[str]) -> Profile | None:
    for p in profiles().values():
        if p.detect(header):
            return p
    return None


class UnknownFormat(InvalidInput):
    pass


def has_layout(profile: Profile, header: list[str]) -> bool:
    """Whether ``header`` holds every required column of one of the profile's ``layouts``."""
    columns = set(header)
    return any(set(layout) <= columns for layout in getattr(profile, "layouts", ()))


def missing_columns(profile: Profile, header: list[str]) -> tuple[str, ...]:
    """The required columns ``header`` lacks for the profile's layout it is closest to (most required columns
    present, then fewest missing; in the layout's order), or ``()`` when one layout is complete or the profile
    declares no ``layouts``."""
    columns = set(header)
    best: tuple[str, ...] = ()
    best_key = (-1, 0)
    for layout in getattr(profile, "layouts", ()):
        gap = tuple(c for c in layout if c not in columns)
        if not gap:
            return ()
        key = (len(layout) - len(gap), -len(gap))
        if key > best_key:
            best, best_key = gap, key
    return best


def closest_profile(header: list[str]) -> tuple[Profile, tuple[str, ...]] | None:
    """For a header no profile detects: the profile with the most of one layout's required columns in it, and
    the columns it lacks (see :func:`missing_columns`); None when the header holds none of any layout's."""
    columns, best, score = set(header), None, 0
    for p in profiles().values():
        for layout in getattr(p, "layouts", ()):
            present = sum(c in columns for c in layout)
            if present > score:
                best, score = p, present
    return (best, missing_columns(best, header)) if best is not None else None


def _columns_text(names: tuple[str, ...]) -> str:
    return ", ".join(repr(n) for n in names)


def _open_text(path: Path, encoding: str = "utf-8") -> io.TextIOBase:
    # utf-8-sig: exports saved by spreadsheet tools often start with a BOM.
    enc = "utf-8-sig" if codecs.lookup(encoding).name == "utf-8" else encoding
    return open(path, newline="", encoding=enc)


#: Bytes read to guess the encoding of a file that is not UTF-8.
SNIFF_BYTES = 1 << 20


def likely_encoding(path: str | Path) -> str | None:
    """The encoding charset-normalizer finds most likely for the first MiB of ``path`` (e.g. ``gb18030``),
    or None when it cannot tell."""
    # deferred: only a file that fails to decode needs the encoding detector
    from charset_normalizer import from_bytes

    with open(path, "rb") as fh:
        best = from_bytes(fh.read(SNIFF_BYTES)).best()
    return best.encoding if best is not None else None


def check_encoding(encoding: str) -> str:
    """``encoding`` if Python knows it; raises :class:`InvalidInput` (field ``--encoding``) otherwise."""
    try:
        return codecs.lookup(encoding).name
    except LookupError:
        raise InvalidInput("--encoding", f"unknown encoding {encoding!r} (e.g. utf-8, gb18030, cp1252)") from None


def read_export(path: str | Path, fmt: str = "auto", on_profile: Callable[[Profile], None] | None = None,
                encoding: str = "utf-8", now: datetime | None = None,
                stored_ref: Callable[[str], bool] | None = None) -> Iterator[ParsedRow | RowError]:
    """Stream ``path`` (see :func:`_read_export`) decoded as ``encoding``. A file that does not decode
    raises :class:`UnknownFormat` naming the likely encoding (charset-normalizer) and ``--encoding``.
    With ``now`` (the importing clock's instant) a row received more than five minutes after it is a bad
    row, as in the API (:func:`~closeloop.domain.facts.check_received_by`). A ``customer_ref`` no URL can carry
    is a bad row unless ``stored_ref(ref)`` is true (a customer stored with it before that rule;
    :func:`~closeloop.domain.facts.check_ref`). Every problem of a bad row is in its :class:`RowError`."""
    rows = 0
    encoding = check_encoding(encoding)
    try:
        for item in _read_export(path, fmt, on_profile, encoding, now, stored_ref):
            rows += 1
            yield item
    except UnicodeDecodeError as exc:
        guess = likely_encoding(path)
        hint = (f"it looks like {guess}: pass --encoding {guess} (or convert it: iconv -f {guess} -t utf-8)"
                if guess and guess != encoding else "pass its encoding with --encoding")
        raise UnknownFormat("file", f"{path} is not {encoding.upper()} text (after about {rows} rows: byte "
                                    f"0x{exc.object[exc.start]:02x}); {hint}") from None


def _read_export(path: str | Path, fmt: str = "auto", on_profile: Callable[[Profile], None] | None = None,
                 encoding: str = "utf-8", now: datetime | None = None,
                 stored_ref: Callable[[str], bool] | None = None) -> Iterator[ParsedRow | RowError]:
    """Stream ``path`` as parsed rows and row errors.

    ``fmt`` is a profile name or ``auto`` (detected from the header; ``.jsonl``
    files are closeloop's JSON Lines). Raises :class:`UnknownFormat` when the
    format cannot be told or a required column is absent.
    """
    path = Path(path)
    known = profiles()
    if fmt == "jsonl" or (fmt == "auto" and path.suffix.lower() in (".jsonl", ".ndjson")):
        profile = known["jsonl"]
        if on_profile:
            on_profile(profile)
        yield from _read_jsonl(path, profile, encoding, now, stored_ref)
        return
    with _open_text(path, encoding) as fh:
        reader = csv.reader(fh, strict=True)
        try:
            header = next(reader)
        except StopIteration:
            raise UnknownFormat("file", f"{path} is empty") from None
        header = [h.strip() for h in header]
        dupes = sorted({h for h in header if header.count(h) > 1 and h})
        if dupes:
            raise UnknownFormat("header", f"{path}: duplicated column(s) {', '.join(dupes)}; a value would be lost")
        if fmt == "auto":
            detected = detect_profile(header)
            if detected is None:
                raise UnknownFormat("--format", _undetected(path, header, known))
            profile = detected
        elif fmt in known:
            profile = known[fmt]
            if not profile.detect(header):
                lacks = missing_columns(profile, header)
                raise UnknownFormat("--format", f"{path} does not have the columns of format {fmt!r}"
                                                + (f": it lacks {_columns_text(lacks)}" if lacks else ""))
        else:
            raise UnknownFormat("--format", f"unknown format {fmt!r}; use one of: auto, {', '.join(sorted(known))}")
        if on_profile:
            on_profile(profile)
        yield from _csv_rows(fh, reader, header, profile, now, stored_ref)


def _undetected(path: Path, header: list[str], known: Mapping[str, Profile]) -> str:
    """Why no format fits ``header``: the closest format and the required columns the header lacks for it."""
    text = f"cannot tell the format of {path} from its header"
    closest = closest_profile(header)
    if closest is not None and closest[1]:
        text += f" (closest: format {closest[0].name!r}, but it lacks {_columns_text(closest[1])})"
    return text + f"; pass one of: {', '.join(sorted(known))}"


def _csv_rows(fh, reader, header: list[str], profile: Profile, now: datetime | None = None,
              stored_ref: Callable[[str], bool] | None = None) -> Iterator[ParsedRow | RowError]:
    """The data rows after the header. A row the csv module cannot read (a quoted field the file ends
    inside, a field over the 16 MiB limit, a stray quote) is a bad row naming the line it starts on."""
    start = reader.line_num + 1
    while True:
        line = start
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            start = reader.line_num + 1
            problem = str(exc)
            if "unexpected end of data" in problem:
                problem = "the file ends inside a quoted field (cut short?); the row is incomplete"
            yield RowError(line, "*", f"lines {line}-{reader.line_num}", f"unreadable CSV row: {problem}")
            continue
        start = reader.line_num + 1
        if not any(v.strip() for v in values):
            continue
        if len(values) != len(header):
            yield RowError(line, "*", f"{len(values)} fields",
                           f"row has {len(values)} fields, the header has {len(header)}")
            continue
        yield _parse(profile, dict(zip(header, values, strict=True)), line, now, stored_ref)


def _shown(value: str, limit: int = 200) -> str:
    """A cell as quoted in an error, as read (without surrounding blanks, as the rules judge it: a length in the
    problem is this value's): long values cut, with their length."""
    value = value.strip()
    return value if len(value) <= limit else f"{value[:limit]}... ({len(value):,} characters)"


def _column(profile: Profile, row: Mapping[str, str], fact: str) -> str:
    """The file's column a fact came from (``fact_columns``; the fact's own name otherwise)."""
    candidates = getattr(profile, "fact_columns", {}).get(fact, ())
    return next((c for c in candidates if c in row), fact)


def _parse(profile: Profile, row: Mapping[str, str], line: int, now: datetime | None = None,
           stored_ref: Callable[[str], bool] | None = None) -> ParsedRow | RowError:
    """One row as a :class:`ParsedRow`, or a :class:`RowError` carrying every problem found: the profile's
    cells, else the shared field rules (:class:`ComplaintFacts`) and the intake's (:func:`_intake_problems`)."""
    facts: ComplaintFacts | None = None
    reject: str | None = None
    cells: list[RowProblem] = []
    problems: list[InvalidInput] = []
    try:
        facts, reject = profile.parse(row)
    except RowProblem as one:
        cells = [one]
    except RowProblems as ps:
        cells, problems, facts = list(ps.problems), list(ps.rules), ps.given
    except InvalidInput as e:
        problems = list(e.problems)
        if isinstance(e, InvalidInputs) and isinstance(e.given, ComplaintFacts):
            facts = e.given  # refused: checked on for the intake's rules, never taken in
    bad = {p.column for p in cells}
    if facts is not None:  # the intake's rules, on the facts whose cells were read (not the bad cells' stand-ins)
        judged = {p.field for p in problems} | {f for f in ("received_at", "customer_ref")
                                                if _column(profile, row, f) in bad}
        problems += _intake_problems(facts, judged, now, stored_ref)
    errors = [RowError(line, p.column, "" if p.withheld else _shown(p.value), p.problem, withheld=p.withheld)
              for p in cells]
    for rule in problems:
        column = _column(profile, row, rule.field)
        if column not in bad:  # a bad cell's problem is said once (a stand-in's rules are not its)
            errors.append(RowError(line, column, _shown(str(row.get(column, ""))), rule.problem))
    if errors:
        order = {column: n for n, column in enumerate(row)}
        unique = list(dict.fromkeys(errors))  # one column read into two facts (CFPB Product): said once
        first, *others = sorted(unique, key=lambda e: order.get(e.column, len(order)))  # in column order
        return replace(first, more=tuple(others))
    assert facts is not None
    return ParsedRow(line, facts, reject)


def _intake_problems(facts: ComplaintFacts, bad: set[str], now: datetime | None,
                     stored_ref: Callable[[str], bool] | None) -> list[InvalidInput]:
    """The rules the intake adds to the field rules, for the fields not already ``bad``: received by ``now``
    (:func:`~closeloop.domain.facts.check_received_by`) and a new ``customer_ref`` a URL can carry
    (:func:`~closeloop.domain.facts.check_ref`; ``stored_ref`` tells a stored customer's ref)."""
    problems: list[InvalidInput] = []
    if now is not None and "received_at" not in bad:
        try:
            check_received_by(facts.received_at, now)
        except InvalidInput as e:
            problems.append(e)
    if facts.customer_ref and "customer_ref" not in bad:
        try:
            check_ref(facts.customer_ref, stored_ref)
        except InvalidInput as e:
            problems.append(e)
    return problems


def _read_jsonl(path: Path, profile: Profile, encoding: str = "utf-8", now: datetime | None = None,
                stored_ref: Callable[[str], bool] | None = None) -> Iterator[ParsedRow | RowError]:
    with _open_text(path, encoding) as fh:
        for n, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw)
            except json.JSONDecodeError as exc:
                yield RowError(n, "*", raw[:60].strip(), f"not valid JSON: {exc.msg}")
                continue
            if not isinstance(obj, dict):
                yield RowError(n, "*", raw[:60].strip(), "each line must be a JSON object")
                continue
            yield _parse(profile, {k: "" if v is None else (v if isinstance(v, str) else json.dumps(v)
                                                            if isinstance(v, (list, dict)) else str(v))
                                   for k, v in obj.items()}, n, now, stored_ref)
