"""Shared pieces of the command line: consoles, app construction, errors, actor, clock display."""

from __future__ import annotations

import contextlib
import functools
import getpass
import inspect
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn, get_type_hints, overload
from zoneinfo import ZoneInfo

import typer
import typer.core
import typer.models
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from closeloop.bootstrap import App, build_app
from closeloop.config import Config, ConfigError
from closeloop.domain.errors import DomainError, IllegalTransition, InvalidInput
from closeloop.domain.improvement import ImprovementTrigger
from closeloop.domain.promise import PROMISE_MACHINE, PromiseTrigger
from closeloop.domain.sla import ClockStatus
from closeloop.domain.task import TaskTrigger
from closeloop.services.work.tasks import ACTIONS as TASK_ACTIONS
from closeloop.settings import Settings
from models import migrate
from models.types import MAX_ID  # the largest number any command takes (counts, days and years are far below)

out = Console()
err = Console(stderr=True)


def actor_name(actor: str | None) -> str:
    if actor:
        return actor
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # pragma: no cover - no user database in some containers
        return "cli"


def load_settings() -> Settings:
    """The settings from the environment; a value they refuse exits 2 with one ``CLOSELOOP_NAME: problem``
    per variable (never the value: it may be a secret)."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = []
        for e in exc.errors():
            name = "CLOSELOOP_" + "_".join(map(str, e["loc"])).upper()
            problems.append(f"{name}: {e['msg'].removeprefix('Value error, ').removeprefix(name + ': ')}")
        fail("; ".join(problems), 2)


def get_app(require_schema: bool = True) -> App:
    settings = load_settings()
    try:
        a = build_app(settings)
        up_to_date = migrate.is_up_to_date(a.engine) if require_schema else True
    except Exception as exc:  # noqa: BLE001 - a bad URL or an unreachable database: one line, not a traceback
        detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0][:300]
        fail(f"database (CLOSELOOP_DATABASE_URL): {type(exc).__name__}: {detail}", 2)
    if not up_to_date:
        err.print(f"[red]The database at {a.engine.url.render_as_string(hide_password=True)} is not at the "
                  "current schema.[/red] Run [bold]closeloop db upgrade[/bold] first.")
        raise typer.Exit(2)
    return a


def startup_config(a: App) -> Config:
    """``a``'s configuration, loaded now (a long-running command checks it before it starts serving: a bad file
    or an unset ``[webhooks.*]`` secret variable is not a failure at the first request or delivery); its
    ``ConfigError`` becomes one error line and exit 2 in :func:`report_errors`, as in every command."""
    return a.config


#: What moves each kind of record on the command line, by entity: the noun and, per machine trigger, the command
#: that fires it. An illegal transition lists only these of the triggers its state allows (``IllegalTransition.
#: only``): the machines' others are the system's (a task's ``reopen``; there is no ``tasks reopen``).
COMMANDS: dict[str, tuple[str, dict[str, str]]] = {
    "task": ("command", {str(a): f"tasks {'ack' if a == TaskTrigger.ACKNOWLEDGE else a}" for a in TASK_ACTIONS}),
    "complaint": ("command", {"await_customer": "complaints wait", "customer_replied": "complaints reply",
                              "resolve": "complaints resolve", "close": "complaints close",
                              "reopen": "complaints reopen", "merge": "complaints merge"}),
    "improvement": ("trigger", {t.value: t.value for t in ImprovementTrigger}),  # improvements fire ID TRIGGER
    PROMISE_MACHINE.entity: ("command", {PromiseTrigger.KEEP.value: "promises keep"}),
    "compensation": ("command", {"approve": "compensation approve", "reject": "compensation reject"}),
}


def callers_view(exc: DomainError) -> DomainError:
    """``exc`` as the command line shows it: an illegal transition lists the commands (:data:`COMMANDS`) that
    its state allows, or says there is none; any other error as it is."""
    if not isinstance(exc, IllegalTransition) or exc.entity not in COMMANDS:
        return exc
    noun, usable = COMMANDS[exc.entity]
    return exc.only(usable, noun=noun)


def fail(exc: Exception | str, code: int = 1) -> NoReturn:
    err.print(f"[red]error:[/red] {escape(str(exc))}")
    raise typer.Exit(code)


def _os_reason(path: Path, exc: OSError) -> str:
    """Why ``path`` cannot be written: a file where a directory of its path should be, else the system's reason."""
    blocker = next((p for p in path.parents if p.exists()), None)
    if blocker is not None and not blocker.is_dir():
        return f"{blocker} is a file, not a directory"
    return exc.strerror or type(exc).__name__


#: ``--out -``: the output goes to standard output (a command that writes one stream: :func:`out_file`).
STDOUT = Path("-")
#: The help of a one-stream ``--out`` option.
OUT_HELP = "write to this file; '-' or none: standard output"


def out_file(path: Path | None) -> Path | None:
    """The file a one-stream ``--out`` names, or None for standard output (no ``--out``, or ``--out -``)."""
    return None if path is None or path == STDOUT else path


def out_directory(path: Path, option: str = "--out") -> Path:
    """``path`` as a directory to write into, created (with its parents) when missing; exits 2 naming ``option``
    when it cannot be one (``-``: several files cannot go to standard output; a file of that name, a file among
    its parents, no permission): one line, never a traceback."""
    if path == STDOUT:
        fail(InvalidInput(option, "'-' (standard output) cannot take this command's several files; "
                                  "give a directory"), 2)
    if path.exists() and not path.is_dir():
        fail(InvalidInput(option, f"{path} is a file, not a directory"), 2)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        fail(InvalidInput(option, f"cannot create the directory {path}: {_os_reason(path, exc)}"), 2)
    return path


def write_out(path: Path, text: str, option: str = "--out", *, newline: str | None = None) -> None:
    """Write ``text`` (UTF-8) to the file ``path`` given with ``option``, creating its parent directories; exits 2
    naming ``option`` when it cannot be written (a directory of that name, a file among its parents, no
    permission): one line, never a traceback. ``-`` is standard output: the caller checks :func:`out_file`
    first (this never writes a file named ``-``)."""
    if path == STDOUT:
        raise ValueError("write_out: '-' is standard output; check out_file(path) first")
    if path.is_dir():
        fail(InvalidInput(option, f"{path} is a directory, not a file"), 2)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8", newline=newline)
    except OSError as exc:
        fail(InvalidInput(option, f"cannot write {path}: {_os_reason(path, exc)}"), 2)


def exit_code(exc: Exception) -> int:
    """The command line's exit code for an error the domain or the storage raised (the error tree and its
    HTTP mapping: ``closeloop/domain/errors.py``): 2 for input that breaks a rule (``InvalidInput``, a naive
    datetime), 1 for everything else (an illegal trigger, not found, a conflict, a refused merge, a role)."""
    return 2 if isinstance(exc, InvalidInput) else 1


class _NotStored:
    """The mark of :data:`AnyInt` (``Annotated`` metadata; Typer reads only its own and ignores this one)."""

    def __repr__(self) -> str:
        return "NOT_STORED"


NOT_STORED = _NotStored()
#: An integer parameter that never reaches the database or a date (a replay's random seed): it takes any integer,
#: exempt from the :data:`MAX_ID` check every other integer parameter of a command gets (:func:`_check_numbers`).
#: Declared on the parameter itself: ``seed: AnyInt = typer.Option(7, "--seed")``.
AnyInt = Annotated[int, NOT_STORED]


def _not_stored(f: Callable[..., Any]) -> frozenset[str]:
    """The parameters of the command ``f`` declared :data:`AnyInt`."""
    hints = get_type_hints(f, include_extras=True)
    return frozenset(name for name, hint in hints.items() if NOT_STORED in getattr(hint, "__metadata__", ()))


def _check_numbers(kw: dict[str, Any], shown: dict[str, str], any_int: frozenset[str] = frozenset()) -> None:
    """Refuse (exit 2, naming the parameter as the command line shows it: ``shown``) an integer argument beyond
    :data:`MAX_ID`: no row has such an id, and the database driver would fail on it with a traceback. The
    parameters ``any_int`` (declared :data:`AnyInt`) take any integer."""
    for name, value in kw.items():
        if name in any_int:
            continue
        values = value if isinstance(value, list | tuple) else [value]
        big = next((v for v in values if isinstance(v, int) and not isinstance(v, bool) and abs(v) > MAX_ID),
                   None)
        if big is not None:
            fail(InvalidInput(shown.get(name, name), f"{big} is out of range (at most {MAX_ID:,})"), 2)


def _shown_names(f: Callable[..., Any]) -> dict[str, str]:
    """Each parameter of the command ``f`` as the command line shows it: an option by its longest flag
    (``--into``), an argument in capitals (``TASK_ID``)."""
    shown = {}
    for name, param in inspect.signature(f).parameters.items():
        decls = [d for d in getattr(param.default, "param_decls", None) or () if d.startswith("-")]
        is_option = isinstance(param.default, typer.models.OptionInfo)
        shown[name] = max(decls, key=len) if decls else (f"--{name.replace('_', '-')}" if is_option
                                                         else name.upper())
    return shown


def _reporting(f: Callable[..., Any]) -> Callable[..., Any]:
    shown, any_int = _shown_names(f), _not_stored(f)

    @functools.wraps(f)  # Typer reads the command's parameters through __wrapped__
    def run(*a: Any, **kw: Any) -> Any:
        _check_numbers(kw, shown, any_int)
        try:
            return f(*a, **kw)
        except DomainError as exc:
            fail(callers_view(_as_typed(exc, shown)), exit_code(exc))
        except ConfigError as exc:  # the file, or a secret variable it names: one line, exit 2, no traceback
            fail(exc, 2)
    return run


def _as_typed(exc: DomainError, shown: dict[str, str]) -> DomainError:
    """An ``InvalidInput`` naming a parameter of the command names it as typed (``root_cause_detail`` ->
    ``--root-cause-detail``); a field the command has no parameter for stays as the domain named it."""
    if isinstance(exc, InvalidInput) and exc.field in shown:
        return InvalidInput(shown[exc.field], exc.problem)
    return exc


@contextlib.contextmanager
def field_as(**params: str) -> Iterator[None]:
    """Inside the block, an ``InvalidInput`` naming a service field given as a keyword names the command's
    parameter given as its value instead, then shown as typed (``field_as(body="text")``: a note's ``body`` is
    the command's ``--text``)."""
    try:
        yield
    except InvalidInput as exc:
        if exc.field not in params:
            raise
        raise InvalidInput(params[exc.field], exc.problem) from exc


def report_errors(app: typer.Typer) -> typer.Typer:
    """The one error wrapper of the command line: every command of ``app`` and of its sub-apps prints a
    domain error as one ``error:`` line naming the field and exits with :func:`exit_code` (no traceback), and a
    configuration error (:class:`~closeloop.config.ConfigError`) as one line with exit code 2.
    Called once on the finished ``closeloop`` app; returns it."""
    for each in _apps(app):
        for info in each.registered_commands:
            if info.callback is not None and not hasattr(info.callback, "__wrapped__"):
                info.callback = _reporting(info.callback)
    return app


def _apps(app: typer.Typer) -> Iterator[typer.Typer]:
    """``app`` and every sub-app under it, depth first."""
    yield app
    for group in app.registered_groups:
        if group.typer_instance is not None:
            yield from _apps(group.typer_instance)


class _FlagsAsFlags:
    """Help that shows an on/off flag (``--json``, ``--help``) as a flag: without the ``<bool>`` type the
    installed Typer prints in the value column of every option."""

    def get_params(self, ctx: Any) -> list[Any]:
        params = super().get_params(ctx)  # type: ignore[misc]
        for p in params:
            if isinstance(p, typer.core.TyperOption) and p.is_flag and p.metavar is None:
                p.metavar = ""  # the value column shows the metavar when there is one; a flag takes no value
        return params


class FlagCommand(_FlagsAsFlags, typer.core.TyperCommand):
    """A command whose help shows flags as flags (:class:`_FlagsAsFlags`)."""


class FlagGroup(_FlagsAsFlags, typer.core.TyperGroup):
    """A group whose help shows flags as flags (:class:`_FlagsAsFlags`)."""


def flags_as_flags(app: typer.Typer) -> typer.Typer:
    """Every command and group of ``app`` and its sub-apps that names no class of its own shows flags as flags
    in its help (:class:`FlagCommand`, :class:`FlagGroup`). Called once on the finished app; returns it."""
    for each in _apps(app):
        if each.info.cls is None or isinstance(each.info.cls, typer.models.DefaultPlaceholder):
            each.info.cls = FlagGroup
        for info in each.registered_commands:
            if info.cls in (None, typer.core.TyperCommand):
                info.cls = FlagCommand
    return app


def clip(text: str, width: int) -> str:
    """``text`` cut to at most ``width`` characters for a table column: at a word's end when one is near, with an
    ellipsis when cut (never silently mid-word)."""
    if len(text) <= width:
        return text
    cut = text[:width - 1]
    ends_a_word = text[width - 1] == " "
    head = cut.rsplit(" ", 1)[0] if not ends_a_word and " " in cut[width // 2:] else cut
    return head.rstrip(" ,;:") + "…"


def shown_line(total: int, offset: int, shown: int, noun: tuple[str, str]) -> str:
    """The line under a list: how many match and which of them the table shows (``"5,583 tasks; showing
    1-100"``), so a list cut at ``--limit`` never reads as the whole; ``noun`` is (singular, plural)."""
    head = f"{total:,} {noun[0] if total == 1 else noun[1]}"
    return f"{head}; showing {offset + 1:,}-{offset + shown:,}" if shown else head


def stamp(at: datetime) -> str:
    """An instant as tables and messages show it: ISO 8601 to the second (``2026-03-02T09:00:00+08:00``, no
    microseconds to cut a column); the ``--json`` outputs keep full precision."""
    return at.isoformat(timespec="seconds")


@overload
def parse_instant(value: str, option: str) -> datetime: ...
@overload
def parse_instant(value: str | None, option: str) -> datetime | None: ...
def parse_instant(value: str | None, option: str) -> datetime | None:
    """An ISO 8601 instant with an offset, or None; exits 2 naming ``option`` otherwise."""
    if value is None:
        return None
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        fail(f"{option}: {value!r} is not an ISO 8601 date-time", 2)
    if dt.tzinfo is None:
        fail(f"{option}: naive datetime; an offset or UTC is required", 2)
    return dt


def _hours(td) -> str:
    return "-" if td is None else f"{td.total_seconds() / 3600:.2f} h"


def clocks_table(views, title: str = "SLA clocks (business hours)") -> Table:
    """Target, elapsed, paused, remaining, due (department zone and UTC) and status of each clock."""
    t = Table(title=title)
    for col in ("owner", "clock", "target", "elapsed", "paused", "remaining", "due (calendar zone)", "due (UTC)",
                "status"):
        t.add_column(col)
    for v in views:
        c = v.clock
        due_local = stamp(c.due_at.astimezone(ZoneInfo(v.zone))) if c.due_at else "-"
        due_utc = stamp(c.due_at.astimezone(ZoneInfo("UTC"))).replace("+00:00", "Z") if c.due_at else "-"
        if c.status == ClockStatus.HANDED_OVER:
            to = f"task {v.handed_to_task} ({v.handed_to_department})" if v.handed_to_task else "its successor"
            status = f"handed over to {to} {stamp(c.stopped_at)}"
        else:
            status = c.status.value + (f" (stopped {stamp(c.stopped_at)})" if c.stopped_at else "")
        t.add_row(v.owner, c.name, _hours(c.target), _hours(c.elapsed), _hours(c.paused), _hours(c.remaining),
                  escape(f"{due_local} [{v.calendar_name}]") if c.due_at else "-", due_utc, status)
    return t
