"""The configuration's notification targets, checked with the rule the delivery applies
(:func:`integrations.targets.target_problem`): a target its sender would dead-letter at once (``ftp://x``) stops
start-up with the field's dotted path instead."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator

from integrations.targets import target_problem


def _target(v: str) -> str:
    """The target without surrounding blanks (as the users' ``notify`` is kept), checked by the delivery's rule."""
    t = v.strip()
    problem = target_problem(t) if t else None
    if problem:
        raise ValueError(f"{v!r}: {problem}")
    return t


def _template(v: str) -> str:
    """A customer channel template (``{phone}`` / ``{handle}`` replaced at send time): checked filled in."""
    _target(v.replace("{phone}", "+8613800000000").replace("{handle}", "someone"))
    return v


#: a notify field: empty, an e-mail address or a URL its sender understands
NotifyTarget = Annotated[str, AfterValidator(_target)]
#: ``[customers] chat_notify`` / ``sms_notify``: an Apprise URL template
NotifyTemplate = Annotated[str, AfterValidator(_template)]
