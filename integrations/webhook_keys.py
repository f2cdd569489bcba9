"""The webhook signing secret as written (``CLOSELOOP_WEBHOOK_SECRET``) and the HMAC keys it gives.

Two forms are accepted:

- ``whsec_<base64>``: the Standard Webhooks form (spec "Signature scheme": secrets are random, 24 to 64
  bytes, shown base64-encoded behind ``whsec_``). The ``webhook-signature`` key is the **decoded** bytes,
  as the official libraries (``standardwebhooks``, Svix) read the same string, so a receiver pastes the
  secret into them unchanged. The base64 is the standard alphabet, ``=`` padding optional; anything else
  (a character outside the alphabet, whitespace, a length no base64 has, fewer than 24 or more than 64
  decoded bytes) is a :class:`WebhookSecretError` naming the setting, never a silent fallback to the raw text.
- anything else (a raw secret, as before): the key is its UTF-8 bytes, used as is.

The deprecated ``X-Closeloop-Signature`` (body only) is always keyed by the UTF-8 bytes of the setting as
written, whatever its form: that header exists only for receivers written against the old contract, which
keyed it by the variable's text, so it stays frozen (a receiver that already held a ``whsec_``-shaped value
keeps verifying it), and no Standard Webhooks library reads it.

A webhook target of the configuration may have a secret of its own (``[webhooks.<name>]`` ``secret_env``, and
``previous_secret_env`` for a rotation: the names of environment variables, never the secrets): :func:`target_keys`
reads them, the same two forms, and refuses a variable that is unset or malformed naming the target and the variable.

Standard library only (imported by :mod:`closeloop.settings` and :mod:`closeloop.config` to refuse a bad value at
startup).
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field

SECRET_PREFIX = "whsec_"
SETTING = "CLOSELOOP_WEBHOOK_SECRET"
PREVIOUS_SETTING = "CLOSELOOP_WEBHOOK_SECRET_PREVIOUS"
MIN_KEY_BYTES = 24  # the spec's bounds for a symmetric signing secret (192 to 512 bits)
MAX_KEY_BYTES = 64
NEW_KEY_BYTES = 32
_SEPARATOR = re.compile(r"(?<!\\);")  # between the previous secrets: a ';' not escaped as '\;'


class WebhookSecretError(ValueError):
    """A ``whsec_`` secret that cannot be used; the message names the setting and the problem (never the
    secret itself)."""


@dataclass(frozen=True)
class WebhookKeys:
    """The HMAC-SHA256 keys of one secret: ``v1`` signs ``webhook-signature``, ``legacy`` signs the
    deprecated ``X-Closeloop-Signature``. Equal for a raw secret; for ``whsec_`` the decoded bytes and the
    UTF-8 text respectively."""

    v1: bytes
    legacy: bytes


def webhook_keys(secret: str, *, setting: str = SETTING) -> WebhookKeys:
    """The keys of ``secret`` (module docstring). Raises :class:`WebhookSecretError` naming ``setting`` for a
    ``whsec_`` value whose base64 does not decode or gives fewer than 24 or more than 64 bytes."""
    text = secret.encode("utf-8")
    if not secret.startswith(SECRET_PREFIX):
        return WebhookKeys(v1=text, legacy=text)
    encoded = secret[len(SECRET_PREFIX):]
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise WebhookSecretError(f"{setting}: the text after {SECRET_PREFIX!r} is not base64 (standard alphabet "
                                 "A-Z a-z 0-9 + /, optional = padding, no spaces); generate one with "
                                 "`closeloop webhooks secret`") from None
    if not MIN_KEY_BYTES <= len(key) <= MAX_KEY_BYTES:
        raise WebhookSecretError(f"{setting}: a {SECRET_PREFIX} secret must decode to {MIN_KEY_BYTES} to "
                                 f"{MAX_KEY_BYTES} bytes (Standard Webhooks), this one gives {len(key)}; "
                                 "generate one with `closeloop webhooks secret`")
    return WebhookKeys(v1=key, legacy=text)


def previous_secrets(setting_value: str) -> tuple[str, ...]:
    """The secrets listed in ``CLOSELOOP_WEBHOOK_SECRET_PREVIOUS``, as written: ``;`` between them, ``\\;`` a
    ``;`` inside one (a raw secret holding ``;`` can be rotated out too); each without surrounding blanks,
    blank parts ignored (``""``: none)."""
    parts = (part.replace("\\;", ";").strip() for part in _SEPARATOR.split(setting_value))
    return tuple(part for part in parts if part)


def previous_keys(setting_value: str, *, setting: str = PREVIOUS_SETTING) -> tuple[bytes, ...]:
    """The ``webhook-signature`` keys of ``CLOSELOOP_WEBHOOK_SECRET_PREVIOUS`` (or of a target's
    ``previous_secret_env``, named by ``setting``): secrets being rotated out (:func:`previous_secrets`), each read
    as :func:`webhook_keys` reads the current one. Raises :class:`WebhookSecretError` naming ``setting`` for a
    malformed ``whsec_`` part."""
    return tuple(webhook_keys(secret, setting=setting).v1 for secret in previous_secrets(setting_value))


@dataclass(frozen=True)
class SigningKeys:
    """Every key one webhook is signed with: ``v1`` and ``previous`` (rotated out) each sign a
    ``webhook-signature`` entry, ``legacy`` the deprecated ``X-Closeloop-Signature``. Kept out of ``repr``."""

    v1: bytes = field(repr=False)
    legacy: bytes = field(repr=False)
    previous: tuple[bytes, ...] = field(default=(), repr=False)


def target_keys(target: str, secret_env: str, previous_env: str | None, environ: Mapping[str, str]) -> SigningKeys:
    """The keys of one configured webhook target (``target``: its name in messages, ``webhooks.crm``): the
    secret in the environment variable ``secret_env`` and, when ``previous_env`` is given, the secrets being
    rotated out in that one (as ``CLOSELOOP_WEBHOOK_SECRET_PREVIOUS``: ``;`` between them, empty: none).

    Raises :class:`WebhookSecretError` with one line naming ``target`` and the variable (never its value) when
    ``secret_env`` is unset or blank, ``previous_env`` is unset, or a ``whsec_`` value in either is malformed."""
    secret = environ.get(secret_env)
    if secret is None or not secret.strip():
        what = "is not set" if secret is None else "is empty"
        raise WebhookSecretError(f"{target}.secret_env: the environment variable {secret_env} {what}; set it to "
                                 "this target's secret (`closeloop webhooks secret` prints a fresh one)")
    keys = webhook_keys(secret, setting=f"{target}.secret_env: {secret_env}")
    if previous_env is None:
        return SigningKeys(v1=keys.v1, legacy=keys.legacy)
    previous = environ.get(previous_env)
    if previous is None:
        raise WebhookSecretError(f"{target}.previous_secret_env: the environment variable {previous_env} is not "
                                 "set; set it to the secrets being rotated out (empty: none) or remove the key")
    return SigningKeys(v1=keys.v1, legacy=keys.legacy,
                       previous=previous_keys(previous, setting=f"{target}.previous_secret_env: {previous_env}"))


def new_webhook_secret(nbytes: int = NEW_KEY_BYTES) -> str:
    """A fresh ``whsec_<base64>`` secret of ``nbytes`` random bytes (``secrets.token_bytes``; 24 to 64).
    Raises ``ValueError`` for a size outside the spec's bounds."""
    if not MIN_KEY_BYTES <= nbytes <= MAX_KEY_BYTES:
        raise ValueError(f"nbytes: {MIN_KEY_BYTES} to {MAX_KEY_BYTES} bytes, got {nbytes}")
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(nbytes)).decode("ascii")
