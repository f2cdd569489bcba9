"""The customer as someone we speak to: display name, language, time zone and contact points.

Personal data stays minimal (issue 13): a display name, a preferred language, a time zone and the
contact points the customer gave, each with the customer's consent to be contacted there and
whether the address was verified. Nothing here is written to logs, audit rows or Prefect
artifacts; those carry the customer's id only.

Rules:

- a contact point is used for outbound messages only with ``consent`` (GDPR art. 6(1)(a) /
  PIPL art. 13: contact the customer on the channel they agreed to);
- the channel of a message to the customer is the first consented contact point in
  :data:`CHANNEL_PREFERENCE` order (e-mail first: it carries the complaint number and links);
- an erased customer (``closeloop customers forget``) has no name, language, zone or contacts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import InvalidInput


class MessageDirection(StrEnum):
    """Which way a message on a complaint went: from the customer, to the customer, or a note for us."""

    INBOUND = "inbound"
    OUTBOUND = "outbound"
    INTERNAL = "internal"


class ContactKind(StrEnum):
    EMAIL = "email"
    PHONE = "phone"
    CHAT = "chat"


#: The order in which consented contact points are chosen for a message to the customer.
CHANNEL_PREFERENCE: tuple[ContactKind, ...] = (ContactKind.EMAIL, ContactKind.PHONE, ContactKind.CHAT)

_EMAIL = re.compile(r"^[^@\s<>\"(),;:]+@[^@\s<>\"(),;:]+\.[^@\s<>\"(),;:]+$")
_PHONE = re.compile(r"^\+?[0-9][0-9 ()\-.]{3,30}[0-9]$")
_LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$")
#: Longest accepted values (RFC 5321 path limit for e-mail).
MAX_EMAIL, MAX_PHONE, MAX_CHAT, MAX_NAME = 254, 32, 200, 200


@dataclass(frozen=True)
class ContactPoint:
    """One way to reach the customer: ``kind``, ``value`` (address, number or handle),
    ``consent`` (may we contact them there), ``verified`` (the address was confirmed).

    Raises ``InvalidInput`` naming ``contacts.<kind>`` for a malformed value.
    """

    kind: ContactKind
    value: str
    consent: bool = False
    verified: bool = False

    def __post_init__(self) -> None:
        try:
            kind = ContactKind(self.kind)
        except ValueError:
            raise InvalidInput("contacts.kind", f"{self.kind!r} is not one of "
                                                f"{', '.join(k.value for k in ContactKind)}") from None
        object.__setattr__(self, "kind", kind)
        value = (self.value or "").strip()
        where = f"contacts.{kind.value}"
        if not value:
            raise InvalidInput(where, "is empty")
        if "\x00" in value or "\n" in value or "\r" in value:
            raise InvalidInput(where, "contains a control character")
        if kind is ContactKind.EMAIL and (len(value) > MAX_EMAIL or not _EMAIL.match(value)):
            raise InvalidInput(where, "is not an e-mail address (name@domain)")
        if kind is ContactKind.PHONE and (len(value) > MAX_PHONE or not _PHONE.match(value)):
            raise InvalidInput(where, "is not a phone number (digits, optionally +, spaces, dashes)")
        if kind is ContactKind.CHAT and len(value) > MAX_CHAT:
            raise InvalidInput(where, f"longer than {MAX_CHAT} characters")
        object.__setattr__(self, "value", value.lower() if kind is ContactKind.EMAIL else value)


@dataclass(frozen=True)
class CustomerProfile:
    """What the customer told us about themselves; every field optional.

    ``language``: a language tag such as ``zh`` or ``en`` (which ones are served is configuration);
    ``time_zone``: an IANA zone name (``Asia/Shanghai``). Raises ``InvalidInput`` naming the field.
    """

    display_name: str | None = None
    language: str | None = None
    time_zone: str | None = None
    contacts: tuple[ContactPoint, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if self.display_name is not None:
            name = self.display_name.strip()
            if len(name) > MAX_NAME:
                raise InvalidInput("customer.display_name", f"longer than {MAX_NAME} characters")
            if "\x00" in name:
                raise InvalidInput("customer.display_name", "contains a NUL character")
            object.__setattr__(self, "display_name", name or None)
        if self.language is not None and not _LANGUAGE.match(self.language):
            raise InvalidInput("customer.language", f"{self.language!r} is not a language tag such as zh or en")
        if self.time_zone is not None:
            check_zone(self.time_zone, "customer.time_zone")
        object.__setattr__(self, "contacts", tuple(self.contacts))

    @property
    def empty(self) -> bool:
        return not (self.display_name or self.language or self.time_zone or self.contacts)


def check_zone(name: str, where: str) -> ZoneInfo:
    """The zone called ``name``; ``InvalidInput`` naming ``where`` if there is none."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a name too long for a file name
        raise InvalidInput(where, f"{name!r} is not an IANA time zone (e.g. Asia/Shanghai)") from None


def preferred_contact(contacts: Iterable[ContactPoint]) -> ContactPoint | None:
    """The consented contact point to use for a message (see :data:`CHANNEL_PREFERENCE`), or None.

    Within one kind a verified address wins over an unverified one, then the first given.
    """
    consented = [c for c in contacts if c.consent]
    for kind in CHANNEL_PREFERENCE:
        of_kind = [c for c in consented if c.kind is kind]
        if of_kind:
            return sorted(of_kind, key=lambda c: not c.verified)[0]
    return None
