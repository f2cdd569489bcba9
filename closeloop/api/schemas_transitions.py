"""Trigger bodies: ``POST /tasks/{id}/transitions`` and ``POST /complaints/{id}/transitions``.

Each body names its ``trigger`` (the discriminator) with the fields that trigger
needs; ``version`` is the record's version as read (or send ``If-Match``).
A trigger the current state does not allow is a 409 naming the state.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StrictInt

from closeloop.domain.limits import MAX_OUTCOME_CHARS, MAX_REASON_CHARS
from models.types import MAX_ID

from .schemas import Instant, Version, VersionNumber

Reason = Annotated[str, Field(min_length=1, max_length=MAX_REASON_CHARS, pattern=r"\S")]


class Acknowledge(Version):
    trigger: Literal["acknowledge"]


class Start(Version):
    trigger: Literal["start"]


class Complete(Version):
    trigger: Literal["complete"]
    outcome: str = Field("", max_length=MAX_OUTCOME_CHARS, description="the outcome note")
    root_cause: str | None = Field(None, max_length=100,
                                   description="the complaint's root cause (required on a root-cause task)")
    root_cause_detail: str | None = Field(None, max_length=MAX_REASON_CHARS,
                                          description="a note; required with undetermined")
    satisfied: bool | None = Field(None, description="the customer's verdict: required on a follow-up task "
                                                     "(false reopens the complaint to the department that did "
                                                     "the work), refused on any other")


class Pause(Version):
    trigger: Literal["pause"]
    reason: Reason
    until: Instant | None = Field(None, description="expected end of the wait (UTC-aware)")


class Resume(Version):
    trigger: Literal["resume"]


class Transfer(Version):
    trigger: Literal["transfer"]
    to: str = Field(min_length=1, max_length=64, description="target department")
    reason: Reason


class Cancel(Version):
    trigger: Literal["cancel"]
    reason: Reason


class Assign(Version):
    trigger: Literal["assign"]
    assignee: str = Field(min_length=1, max_length=200, pattern=r"\S")


TaskTransition = Annotated[Acknowledge | Start | Complete | Pause | Resume | Transfer | Cancel | Assign,
                           Field(discriminator="trigger")]



class Reopen(Version):
    trigger: Literal["reopen"]
    reason: Reason
    department: str | None = Field(None, max_length=64, description="default: the department that finished last")


class Merge(Version):
    trigger: Literal["merge"]
    into: StrictInt = Field(ge=1, le=MAX_ID, description="the surviving complaint")
    into_version: VersionNumber | None = Field(None, description="the survivor's version as read (optional: "
                                                                  "without it the survivor is not checked)")
    reason: Reason


class Resolve(Version):
    trigger: Literal["resolve"]
    reason: Reason
    root_cause: str | None = Field(None, max_length=100, description="a root-cause code, if the complaint has none")
    root_cause_detail: str | None = Field(None, max_length=MAX_REASON_CHARS)


class Close(Version):
    trigger: Literal["close"]
    reason: Reason


ComplaintTransition = Annotated[Reopen | Merge | Resolve | Close, Field(discriminator="trigger")]
