"""Configuration file (TOML) validated with pydantic and turned into domain objects.

Shape (see ``closeloop/config/default.toml`` for a full example)::

    [departments.<name>]   display_name, lead, notify, calendar
    [triage]               TriagePolicy fields
    [dedupe]               window_days
    [[rules]]              name, severity?,
                           [rules.when] fact = [values] | {equals, prefix, contains, regex, ignore_case},
                           [[rules.tasks]] department, kind, title, instructions?, depends_on?
    [fallback]             [[fallback.tasks]] as above (the triage queue)

Errors are :class:`ConfigError` with the dotted path of the bad field.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from closeloop.calendars import holiday_calendar  # holidays package: outside the domain
from closeloop.domain.errors import InvalidInput
from closeloop.domain.routing import Matcher, Router, RoutingRule, TaskTemplate
from closeloop.domain.sla import SlaPolicy, SlaTargets, hours
from closeloop.domain.triage import DEFAULT_WEIGHTS, SEVERITIES, Triage, TriagePolicy

from .customers import CustomersModel
from .improvement import CompensationModel, ImprovementModel

DEFAULT_CONFIG_NAME = "default.toml"


class ConfigError(ValueError):
    """The configuration file is unreadable or invalid; the message names file and field."""


class _Strict(BaseModel):
    """Unknown keys are errors and values are not coerced (a quoted "14" is not a number)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class DepartmentModel(_Strict):
    display_name: str
    lead: str = ""
    notify: str = Field("", description="notification target: https://... (webhook), capture://file.jsonl, "
                                        "or an Apprise URL (wecom://, dingtalk://, feishu://, slack://, mailto://)")
    calendar: str = "default"
    language: str = Field("en", pattern="^(en|zh)$")


class PersonModel(_Strict):
    """A named role holder outside the departments (operations manager, crisis owner)."""

    name: str
    notify: str = ""
    calendar: str = "default"
    language: str = Field("en", pattern="^(en|zh)$")


class EscalationModel(_Strict):
    """Reminders before due and the escalation ladder after a breach (business hours)."""

    reminder_thresholds: list[float] = Field([0.5, 0.8, 1.0], min_length=0, max_length=10)
    ladder_hours: list[float] = Field([0, 4, 8, 16], min_length=1, max_length=4)
    public_exposure_start_level: int = Field(2, ge=1, le=4)
    transfer_limit: int = Field(2, ge=0)
    #: business hours between acknowledgement pages (queue, lead, operations manager, then again)
    ack_page_hours: float = Field(2.0, gt=0, le=720)
    #: pages at most per unacknowledged task (after the last one the resolve escalation ladder carries on);
    #: like PagerDuty's "repeat this policy up to N times" (escalation policy ``num_loops``, at most 9 loops)
    ack_page_limit: int = Field(6, ge=1, le=100)
    #: a transfer back to a department that passed the complaint on within this many calendar hours
    #: raises a ping-pong escalation at run time
    ping_pong_window_hours: float = Field(72.0, gt=0, le=8760)
    #: the crisis owner (ladder level 4, and the customer promise's level 4) hears only of complaints of
    #: these severities or with one of these risk flags; other complaints' ladders stop at level 3
    #: (the operations manager). Issue 16: a crisis owner who hears of every late P4 stops listening.
    crisis_severities: list[str] = Field(["P1", "P2"], max_length=10)
    crisis_risk_flags: list[str] = Field(["public_exposure"], max_length=20)
    operations_manager: PersonModel = PersonModel(name="operations-manager")
    crisis_owner: PersonModel = PersonModel(name="crisis-owner")
    default_notify: str = "capture://notifications.jsonl"

    @field_validator("reminder_thresholds")
    @classmethod
    def _thresholds(cls, v: list[float]) -> list[float]:
        if any(not 0 < x <= 1 for x in v) or sorted(v) != v or len(set(v)) != len(v):
            raise ValueError("must be increasing fractions of the budget in (0, 1], e.g. [0.5, 0.8, 1.0]")
        return v

    @field_validator("crisis_severities")
    @classmethod
    def _crisis_severities(cls, v: list[str]) -> list[str]:
        bad = [x for x in v if x not in SEVERITIES]
        if bad:
            raise ValueError(f"{bad[0]!r} is not a severity; use some of {', '.join(SEVERITIES)}")
        return v

    @field_validator("ladder_hours")
    @classmethod
    def _ladder(cls, v: list[float]) -> list[float]:
        if any(x < 0 for x in v) or sorted(v) != v:
            raise ValueError("must be non-decreasing business hours after the breach, e.g. [0, 4, 8, 16]")
        return v


class FollowUpModel(_Strict):
    """Customer follow-up after resolution, N business days later, per severity."""

    department: str | None = None  # default: "service" if configured, else the fallback (triage) department
    business_days: dict[str, int] = {"P1": 1, "P2": 2, "P3": 3, "P4": 5}

    @field_validator("business_days")
    @classmethod
    def _days(cls, v: dict[str, int]) -> dict[str, int]:
        for sev, n in v.items():
            if sev not in SEVERITIES:
                raise ValueError(f"unknown severity {sev!r}; use {', '.join(SEVERITIES)}")
            if not 1 <= n <= 60:
                raise ValueError(f"{sev}: must be between 1 and 60 business days, got {n}")
        return v
    auto_close_wait_after_max: bool = True
    customer_notify: str = "capture://customer-notices.jsonl"


class MatcherModel(_Strict):
    equals: list[str] = []
    prefix: list[str] = []
    contains: list[str] = []
    regex: list[str] = []
    ignore_case: bool = False


class TaskModel(_Strict):
    department: str
    kind: str = Field(pattern=r"^[a-z][a-z0-9_-]*$")
    title: str
    instructions: str = ""
    depends_on: list[str] = []


class RuleModel(_Strict):
    name: str
    severity: str | None = None
    when: dict[str, list[str] | MatcherModel] = {}
    tasks: list[TaskModel]

    @field_validator("severity")
    @classmethod
    def _sev(cls, v: str | None) -> str | None:
        if v is not None and v not in SEVERITIES:
            raise ValueError(f"must be one of {', '.join(SEVERITIES)}")
        return v


class FallbackModel(_Strict):
    tasks: list[TaskModel]


class TriageModel(_Strict):
    default_severity: str = "P3"

    @field_validator("default_severity")
    @classmethod
    def _sev(cls, v: str) -> str:
        if v not in SEVERITIES:
            raise ValueError(f"must be one of {', '.join(SEVERITIES)}")
        return v

    @field_validator("weights")
    @classmethod
    def _weights(cls, v: dict[str, int] | None) -> dict[str, int] | None:
        for flag, w in (v or {}).items():
            if flag not in DEFAULT_WEIGHTS:
                raise ValueError(f"unknown risk flag {flag!r}; use one of {', '.join(DEFAULT_WEIGHTS)}")
            if w < 0 or w > 3:
                raise ValueError(f"weight of {flag!r} must be between 0 and 3, got {w}")
        return v

    vulnerable_tags: list[str] | None = None
    social_channels: list[str] | None = None
    media_keywords: list[str] | None = None
    legal_keywords: list[str] | None = None
    compensation_keywords: list[str] | None = None
    repeat_window_days: int = Field(90, ge=1, le=3650)
    weights: dict[str, int] | None = None


class CalendarModel(_Strict):
    timezone: str
    hours: str = "mon-fri 09:00-17:00"
    country: str | None = None
    subdivision: str | None = None
    extra_closed: list[date] = []
    extra_open: list[date] = []


class TargetsModel(_Strict):
    """Business hours; omit a clock for no target."""

    acknowledge: float | None = Field(None, ge=0, le=10_000)
    resolve: float | None = Field(None, ge=0, le=10_000)
    update: float | None = Field(None, ge=0, le=10_000)


def _check_severities(v: dict[str, TargetsModel]) -> dict[str, TargetsModel]:
    for sev in v:
        if sev not in SEVERITIES:
            raise ValueError(f"unknown severity {sev!r}; use {', '.join(SEVERITIES)}")
    return v


class SlaModel(_Strict):
    at_risk_ratio: float = Field(0.8, gt=0, lt=1)
    customer_calendar: str = "default"
    targets: dict[str, TargetsModel] = {}
    customer: dict[str, TargetsModel] = {}
    departments: dict[str, dict[str, TargetsModel]] = {}

    @field_validator("targets", "customer")
    @classmethod
    def _sev(cls, v):
        return _check_severities(v)

    @field_validator("departments")
    @classmethod
    def _deps(cls, v):
        for targets in v.values():
            _check_severities(targets)
        return v


class DedupeModel(_Strict):
    window_days: float = Field(14, gt=0, le=3650)


class ConfigModel(_Strict):
    """The whole file."""

    departments: dict[str, DepartmentModel]
    calendars: dict[str, CalendarModel] = {"default": CalendarModel(timezone="UTC")}
    sla: SlaModel = SlaModel()
    escalation: EscalationModel = EscalationModel()
    follow_up: FollowUpModel = FollowUpModel()
    triage: TriageModel = TriageModel()
    dedupe: DedupeModel = DedupeModel()
    improvement: ImprovementModel = ImprovementModel()
    compensation: CompensationModel = CompensationModel()
    customers: CustomersModel = CustomersModel()
    rules: list[RuleModel] = []
    fallback: FallbackModel


@dataclass(frozen=True)
class Config:
    """A validated configuration: departments, triage policy, routing rules, de-dup window."""

    model: ConfigModel
    text: str
    source: str

    @property
    def departments(self) -> dict[str, DepartmentModel]:
        return self.model.departments

    @property
    def version_hash(self) -> str:
        """SHA-256 of the file's text: identifies the routing-config version used for a complaint."""
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()

    @property
    def dedupe_window(self) -> timedelta:
        return timedelta(days=self.model.dedupe.window_days)

    @cached_property
    def triage(self) -> Triage:
        t = self.model.triage
        kwargs: dict[str, Any] = {k: (tuple(v) if isinstance(v, list) else v)
                  for k, v in t.model_dump().items() if v is not None}
        if "weights" in kwargs:
            kwargs["weights"] = {**DEFAULT_WEIGHTS, **kwargs["weights"]}
        return Triage(TriagePolicy(**kwargs))

    @cached_property
    def router(self) -> Router:
        return build_router(self.model)

    @cached_property
    def sla(self) -> SlaPolicy:
        m = self.model.sla

        def t(x: TargetsModel) -> SlaTargets:
            return SlaTargets(hours(x.acknowledge), hours(x.resolve), hours(x.update))

        return SlaPolicy(
            targets={k: t(v) for k, v in m.targets.items()},
            department_targets={d: {k: t(v) for k, v in sev.items()} for d, sev in m.departments.items()},
            customer_targets={k: t(v) for k, v in m.customer.items()},
            at_risk_ratio=m.at_risk_ratio,
        )

    @property
    def follow_up_department(self) -> str:
        """Where customer follow-up tasks go (``[follow_up] department``)."""
        fu = self.model.follow_up.department
        if fu:
            return fu
        return "service" if "service" in self.departments else self.model.fallback.tasks[0].department

    def calendar(self, name: str):
        """The :class:`~closeloop.domain.calendar.BusinessCalendar` called ``name`` (built once)."""
        cache = self.__dict__.setdefault("_calendars", {})
        if name not in cache:
            spec = self.model.calendars.get(name)
            if spec is None:
                raise ConfigError(f"{self.source}: calendars.{name}: no such calendar")

            try:
                cache[name] = holiday_calendar(spec.timezone, spec.hours, country=spec.country,
                                               subdivision=spec.subdivision, extra_closed=spec.extra_closed,
                                               extra_open=spec.extra_open, name=name)
            except InvalidInput as exc:
                raise ConfigError(f"{self.source}: calendars.{name}.{exc.field}: {exc.problem}") from None
        return cache[name]

    def department_calendar(self, department: str):
        dep = self.departments.get(department)
        return self.calendar(dep.calendar if dep else self.model.sla.customer_calendar)

    @property
    def customer_calendar(self):
        return self.calendar(self.model.sla.customer_calendar)


def _task(t: TaskModel) -> TaskTemplate:
    return TaskTemplate(t.department, t.kind, t.title, t.instructions, tuple(t.depends_on))


def _matcher(v: list[str] | MatcherModel) -> Matcher:
    if isinstance(v, list):
        return Matcher(equals=tuple(v))
    return Matcher(tuple(v.equals), tuple(v.prefix), tuple(v.contains), tuple(v.regex), v.ignore_case)


def build_router(model: ConfigModel) -> Router:
    rules = []
    for i, r in enumerate(model.rules):
        when = {}
        for k, v in r.when.items():
            try:
                when[k] = _matcher(v)
            except re.error as exc:
                raise InvalidInput(f"rules[{i}] ({r.name}).when.{k}.regex", f"bad regular expression: {exc}") from None
        rules.append(RoutingRule(r.name, when, tuple(_task(t) for t in r.tasks), r.severity))
    return Router(rules, [_task(t) for t in model.fallback.tasks], frozenset(model.departments))


def parse_config(text: str, source: str = "<string>") -> Config:
    """Validate TOML ``text``. Raises :class:`ConfigError` naming the file and the field."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from None
    try:
        model = ConfigModel.model_validate(data)
    except ValidationError as exc:
        lines = [f"{source}: invalid configuration"]
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"])
            lines.append(f"  {loc}: {err['msg']}")
        raise ConfigError("\n".join(lines)) from None
    cfg = Config(model, text, source)
    names = [r.name for r in model.rules]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ConfigError(f"{source}: rules: names must be unique; repeated: {', '.join(repeated)}")
    for name, dep in model.departments.items():
        if dep.calendar not in model.calendars:
            raise ConfigError(f"{source}: departments.{name}.calendar: no calendar named {dep.calendar!r} "
                              f"(defined: {', '.join(sorted(model.calendars))})")
    for role in ("operations_manager", "crisis_owner"):
        person = getattr(model.escalation, role)
        if person.calendar not in model.calendars:
            raise ConfigError(f"{source}: escalation.{role}.calendar: no calendar named {person.calendar!r}")
    if model.follow_up.department is not None and model.follow_up.department not in model.departments:
        raise ConfigError(f"{source}: follow_up.department: unknown department {model.follow_up.department!r}")
    if model.sla.customer_calendar not in model.calendars:
        raise ConfigError(f"{source}: sla.customer_calendar: no calendar named {model.sla.customer_calendar!r}")
    for dep_name in model.sla.departments:
        if dep_name not in model.departments:
            raise ConfigError(f"{source}: sla.departments.{dep_name}: unknown department")
    try:
        cfg.router  # noqa: B018 - validate rules now, not at first use
        cfg.triage  # noqa: B018
        for name in model.calendars:
            cfg.calendar(name)
    except ConfigError:
        raise
    except (InvalidInput, ValueError) as exc:
        raise ConfigError(f"{source}: {exc}") from None
    except ImportError:  # pragma: no cover - closeloop.calendars not built yet
        pass
    return cfg


def load_config(path: str | Path | None = None) -> Config:
    """Load ``path`` or, when None, the bundled default configuration."""
    if path is None:
        text = resources.files("closeloop.config").joinpath(DEFAULT_CONFIG_NAME).read_text("utf-8")
        return parse_config(text, f"closeloop/config/{DEFAULT_CONFIG_NAME}")
    p = Path(path)
    try:
        text = p.read_text("utf-8")
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read configuration: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{p}: not UTF-8 text; TOML files are UTF-8") from None
    return parse_config(text, str(p))
