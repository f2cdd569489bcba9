"""API tokens (issue 7): create, verify, list, revoke. Only the SHA-256 of a secret is stored.

A token is ``cl_`` followed by 43 URL-safe characters (256 random bits); its first
10 characters are kept as ``prefix`` so a holder can tell tokens apart in
``closeloop tokens list``. :func:`create_token` returns the secret once; it cannot
be recovered later.

Roles: ``member`` and ``lead`` act for one ``department`` (required, a configured
department); ``manager`` and ``admin`` have none. ``language`` is ``en`` or ``zh``.
Errors: ``InvalidInput`` naming the field; ``NotFound`` for an unknown token id.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from closeloop.config import Config
from closeloop.domain.errors import InvalidInput, NotFound
from closeloop.services.departments import sync_departments
from closeloop.services.people.users import check_handle  # users imports nothing from here
from closeloop.services.uow import unit_of_work
from models.tables import ApiToken, User

ROLES = ("member", "lead", "manager", "admin")
DEPARTMENT_ROLES = ("member", "lead")
LANGUAGES = ("en", "zh")
TOKEN_PREFIX = "cl_"
#: ``last_used_at`` is written at most once per this interval per token (a write per request would
#: serialise every read on SQLite).
LAST_USED_RESOLUTION = timedelta(seconds=60)


@dataclass(frozen=True)
class TokenInfo:
    """A token without its secret. Instants are UTC-aware; ``department`` is None for manager/admin."""

    id: int
    prefix: str
    name: str
    role: str
    department: str | None
    language: str
    created_at: datetime
    created_by: str
    last_used_at: datetime | None
    revoked_at: datetime | None
    user_id: int | None = None  # the person the token belongs to (issue 14), if any

    @classmethod
    def of(cls, row: ApiToken) -> TokenInfo:
        return cls(row.id, row.prefix, row.name, row.role, row.department, row.language, row.created_at,
                   row.created_by, row.last_used_at, row.revoked_at, row.user_id)


def hash_secret(secret: str) -> str:
    """Hex SHA-256 of the token text (what the ``token_hash`` column stores)."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _check_role(config: Config, role: str, department: str | None) -> None:
    if role not in ROLES:
        raise InvalidInput("role", f"must be one of {', '.join(ROLES)}")
    if role in DEPARTMENT_ROLES:
        if not department:
            raise InvalidInput("department", f"a {role} token needs a department")
        if department not in config.departments:
            raise InvalidInput("department", f"unknown department {department!r}; configured: "
                                             f"{', '.join(sorted(config.departments))}")
    elif department:
        raise InvalidInput("department", f"a {role} token is not bound to a department")


def _check_holder(language: str, name: str) -> None:
    if language not in LANGUAGES:
        raise InvalidInput("language", f"must be one of {', '.join(LANGUAGES)}")
    if not name or not name.strip() or len(name) > 200:
        raise InvalidInput("name", "is required, at most 200 characters")


def create_token(sessions, config: Config, *, role: str, created_by: str, at: datetime, name: str | None = None,
                 department: str | None = None, language: str | None = None,
                 user: str | None = None) -> tuple[str, TokenInfo]:
    """Create a token; returns ``(secret, info)``. The secret is shown once and never stored.

    ``user``: the handle of the person it belongs to (issue 14); the token then carries that user's role,
    and a member or lead token one of the user's departments (``InvalidInput`` naming ``user`` otherwise).
    ``name`` and ``language`` not given: the user's name and language for a user's token, else
    ``role[@department]`` and ``en``."""
    _check_role(config, role, department)
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with unit_of_work(sessions) as s:
        owner = _owner(s, user, role, department) if user is not None else None
        if name is None:
            name = owner.name if owner is not None else (f"{role}@{department}" if department else role)
        if language is None:
            language = owner.language if owner is not None else "en"
        _check_holder(language, name)
        if department:
            sync_departments(s, config, at)
        row = ApiToken(token_hash=hash_secret(secret), prefix=secret[:10], name=name.strip(), role=role,
                       department=department or None, language=language, created_at=at, created_by=created_by,
                       user_id=owner.id if owner is not None else None)
        s.add(row)
        s.flush()
        return secret, TokenInfo.of(row)


def _owner(s, handle: str, role: str, department: str | None) -> User:
    h = check_handle(handle, "user")
    row = s.scalar(select(User).where(User.handle == h))
    if row is None:
        raise InvalidInput("user", f"no user with the handle {h!r}")
    if row.role != role:
        raise InvalidInput("user", f"user {h!r} is a {row.role}; the token's role is {role}")
    if department and department not in (row.departments or []):
        raise InvalidInput("user", f"user {h!r} does not work for department {department!r}")
    return row


def verify_token(sessions, secret: str, *, at: datetime) -> TokenInfo | None:
    """The live token for ``secret``, or None (unknown or revoked). Records ``last_used_at = at``
    (at most once per :data:`LAST_USED_RESOLUTION`)."""
    if not secret or not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
        return None
    with unit_of_work(sessions) as s:
        row = s.scalar(select(ApiToken).where(ApiToken.token_hash == hash_secret(secret)))
        if row is None or row.revoked_at is not None:
            return None
        if row.last_used_at is None or at - row.last_used_at >= LAST_USED_RESOLUTION:
            row.last_used_at = at
        return TokenInfo.of(row)


def list_tokens(sessions, *, include_revoked: bool = True) -> list[TokenInfo]:
    """Every token, oldest first."""
    with unit_of_work(sessions) as s:
        q = select(ApiToken).order_by(ApiToken.id)
        if not include_revoked:
            q = q.where(ApiToken.revoked_at.is_(None))
        return [TokenInfo.of(r) for r in s.scalars(q)]


def revoke_token(sessions, token_id: int, *, at: datetime) -> TokenInfo:
    """Revoke a token (idempotent: an already revoked token keeps its first ``revoked_at``)."""
    with unit_of_work(sessions) as s:
        row = s.get(ApiToken, token_id)
        if row is None:
            raise NotFound("token", token_id)
        if row.revoked_at is None:
            row.revoked_at = at
        return TokenInfo.of(row)
