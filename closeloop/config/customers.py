"""Configuration of how closeloop speaks to customers: ``[customers]`` (issue 13).

::

    [customers]
    languages = ["zh", "en"]     # languages served; each needs every customer template (closeloop/templates/customer)
    default_language = "en"      # for a customer who gave none (or one not served)
    acknowledge = true           # acknowledge every new complaint to the customer (ISO 10002 7.3)
    milestones = ["acknowledged", "transferred", "waiting", "resolved", "reopened"]   # automatic notices
    chat_notify = ""             # Apprise URL template for chat handles, {handle} replaced (empty: no chat)
    sms_notify = ""              # Apprise URL template for phone numbers, {phone} replaced (empty: no SMS)
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator


class Milestone(StrEnum):
    """A moment the customer is told about automatically (issue 13 §4)."""

    ACKNOWLEDGED = "acknowledged"
    TRANSFERRED = "transferred"
    WAITING = "waiting"
    RESOLVED = "resolved"
    REOPENED = "reopened"


class CustomersModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    languages: list[str] = Field(["en", "zh"], min_length=1)
    default_language: str = "en"
    acknowledge: bool = True
    milestones: list[Milestone] = Field(default_factory=lambda: list(Milestone))
    chat_notify: str = ""
    sms_notify: str = ""

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
        langs = info.data.get("languages") or []
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
