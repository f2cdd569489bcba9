"""Configuration of how closeloop speaks to customers: ``[customers]`` (issue 13).

::

    [customers]
    languages = ["zh", "en"]     # languages served; each needs every customer template (closeloop/templates/customer)
    default_language = "en"      # for a customer who gave none (or one not served)
    milestones = ["acknowledged", "transferred", "waiting", "resolved", "reopened", "follow_up", "improved"]
                                 # automatic notices (acknowledged: every new complaint, ISO 10002 7.3;
                                 # follow_up: the follow-up mail with signed "solved" / "not solved" links;
                                 # improved: an improvement record linked to the complaint proved effective)
    verdict_link_days = 14       # how long those links work
    promise_reminder_hours = 4   # remind the promising department this long before a promise is due
    chat_notify = ""             # Apprise URL template for chat handles, {handle} replaced (empty: no chat)
    sms_notify = ""              # Apprise URL template for phone numbers, {phone} replaced (empty: no SMS)
    [customers.department_names.zh]   # names shown to customers and on the dashboard per language
                                      # (default: display_name)
    operations = "运营部"
"""

from __future__ import annotations

from enum import StrEnum
from importlib import resources

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .targets import NotifyTemplate


class Milestone(StrEnum):
    """A moment the customer is told about automatically (issue 13 §4)."""

    ACKNOWLEDGED = "acknowledged"
    TRANSFERRED = "transferred"
    WAITING = "waiting"
    RESOLVED = "resolved"
    REOPENED = "reopened"
    FOLLOW_UP = "follow_up"
    #: an improvement record linked to the complaint was verified effective: the cause was found and fixed
    IMPROVED = "improved"


class CustomersModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    languages: list[str] = Field(["en", "zh"], min_length=1)
    default_language: str = "en"
    milestones: list[Milestone] = Field(default_factory=lambda: list(Milestone))
    chat_notify: NotifyTemplate = ""
    sms_notify: NotifyTemplate = ""
    #: department names as the customer (and a dashboard page in that language) reads them, per language (default:
    #: the department's display_name; web/labels.py:department_name)
    department_names: dict[str, dict[str, str]] = {}
    #: how long the follow-up mail's verdict links work (calendar days)
    verdict_link_days: int = Field(14, ge=1, le=365)
    #: the promising department is reminded this many calendar hours before a promise is due
    promise_reminder_hours: float = Field(4, ge=0, le=720)

    @field_validator("languages")
    @classmethod
    def _templates(cls, v: list[str]) -> list[str]:
        files = [f.name for f in resources.files("closeloop.templates").iterdir() if f.name.startswith("customer_")]
        kinds = {name.split(".")[0] for name in files}
        for lang in v:
            missing = sorted(k for k in kinds if f"{k}.{lang}.j2" not in files)
            if missing:
                names = ", ".join(m + "." + lang + ".j2" for m in missing)
                raise ValueError(f"language {lang!r} has no template(s) {names} in closeloop/templates")
        return v

    @field_validator("milestones", mode="before")
    @classmethod
    def _milestones(cls, v):
        if isinstance(v, list):
            known = {m.value for m in Milestone}
            bad = [x for x in v if x not in known]
            if bad:
                raise ValueError(f"unknown milestone(s) {', '.join(map(str, bad))}; use {', '.join(sorted(known))}")
            return [Milestone(x) for x in v]
        return v

    @field_validator("default_language")
    @classmethod
    def _default(cls, v: str, info) -> str:
        if "languages" not in info.data:
            return v  # languages itself was refused; that error says it
        langs = info.data["languages"]
        if v not in langs:
            raise ValueError(f"{v!r} is not one of languages ({', '.join(langs)})")
        return v

    def language_for(self, wanted: str | None) -> str:
        """The served language closest to ``wanted`` (``zh-CN`` -> ``zh``), else the default."""
        if wanted:
            if wanted in self.languages:
                return wanted
            base = wanted.split("-")[0].lower()
            if base in self.languages:
                return base
        return self.default_language
