"""The configuration file's shape: pydantic models of every TOML table, strict (unknown keys are errors).

:func:`closeloop.config.parse_config` validates a file against :class:`ConfigModel` and builds the domain objects
from it; errors are :class:`ConfigError` with the dotted path of the bad field.
"""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from closeloop.domain.triage import DEFAULT_WEIGHTS, SEVERITIES

from .customers import CustomersModel, Milestone
from .improvement import CompensationModel, ImprovementModel
from .targets import NotifyTarget


class ConfigError(ValueError):
    """The configuration file is unreadable or invalid; the message names file and field."""


class _Strict(BaseModel):
    """Unknown keys are errors and values are not coerced (a quoted "14" is not a number)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class DepartmentModel(_Strict):
    display_name: str
    lead: str = ""
    notify: NotifyTarget = Field("", description="notification target: https://... (webhook), capture://file.jsonl, "
                                        "or an Apprise URL (wecom://, dingtalk://, feishu://, slack://, mailto://)")
    calendar: str = "default"
    language: str = Field("en", pattern="^(en|zh)$")


class PersonModel(_Strict):
    """A named role holder outside the departments (operations manager, crisis owner)."""

    name: str
    notify: NotifyTarget = ""
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
    default_notify: NotifyTarget = "capture://notifications.jsonl"

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
    customer_notify: NotifyTarget = "capture://customer-notices.jsonl"


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
    exposure_verbs: list[str] | None = None
    exposure_media: list[str] | None = None
    exposure_reactions: list[str] | None = None
    exposure_phrases: list[str] | None = None
    #: deprecated (the mention list before 2026-12): each word still flags public exposure by itself, read as
    #: more ``exposure_phrases``; kept so that a configuration written for it loads unchanged
    media_keywords: list[str] | None = None
    legal_keywords: list[str] | None = None
    compensation_keywords: list[str] | None = None
    vulnerable_keywords: list[str] | None = None
    vulnerable_age: int = Field(65, ge=0, le=150)  # 0: no age rule
    negation_words: list[str] | None = None
    negation_exceptions: list[str] | None = None
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


ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"


class WebhookModel(_Strict):
    """A webhook target with a signing secret of its own (``[webhooks.<name>]``): outbox rows whose target is
    exactly ``url`` are signed with the secret in the environment variable ``secret_env`` (and the ones being
    rotated out in ``previous_secret_env``) instead of ``CLOSELOOP_WEBHOOK_SECRET``. The configuration names
    the variables only; the secrets are read from the environment when it loads
    (:func:`integrations.webhook_keys.target_keys`)."""

    url: str = Field(pattern=r"^(?i:https?)://\S+$",
                     description="the target as the notify fields write it (compared with the scheme and host "
                                 "in any case and a default port dropped; the path exactly)")
    secret_env: str = Field(pattern=ENV_NAME, description="the environment variable holding this target's secret")
    previous_secret_env: str | None = Field(None, pattern=ENV_NAME,
                                            description="the variable holding the secrets being rotated out")

    @model_validator(mode="before")
    @classmethod
    def _no_inline_secret(cls, v):
        if isinstance(v, dict) and ("secret" in v or "previous_secret" in v):
            raise ValueError("a secret is never written in the configuration: put it in an environment variable "
                             "and name that variable with secret_env (previous_secret_env)")
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
    webhooks: dict[str, WebhookModel] = {}
    rules: list[RuleModel] = []
    fallback: FallbackModel

    @model_validator(mode="before")
    @classmethod
    def _legacy_notify_customers(cls, v):
        """``[improvement] notify_customers`` (before the ``improved`` milestone) still loads and keeps its
        meaning: ``false`` leaves ``improved`` out of ``[customers] milestones``, ``true`` puts it in."""
        if not isinstance(v, dict) or not isinstance(v.get("improvement"), dict):
            return v
        if "notify_customers" not in v["improvement"]:
            return v
        improvement = dict(v["improvement"])
        wanted = improvement.pop("notify_customers")
        if not isinstance(wanted, bool):
            raise ValueError("improvement.notify_customers: must be true or false (deprecated: use the "
                             "'improved' entry of [customers] milestones)")
        customers = dict(v.get("customers") or {})
        given = customers.get("milestones", [str(m) for m in Milestone])
        milestones = [m for m in given if str(m) != Milestone.IMPROVED]
        customers["milestones"] = milestones + [str(Milestone.IMPROVED)] if wanted else milestones
        return {**v, "improvement": improvement, "customers": customers}
