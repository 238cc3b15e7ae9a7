"""Platform API tokens. Only SHA-256 hashes are stored; the token itself is shown once."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.auth import tokens
from siyu.auth.errors import InvalidToken, RoleNotIssuable
from siyu.auth.models import ApiToken
from siyu.auth.schemas import OPERATOR_SCOPES, Role, Scope
from siyu.kit.clock import utcnow
from siyu.kit.ids import hash_secret, new_id, new_secret

TOKEN_PREFIX = {Role.admin: "sat", Role.operator: "sop", Role.server: "ssk"}


@dataclass(frozen=True)
class Principal:
    token_id: str
    role: Role
    scopes: tuple[str, ...] = ()
    person_id: str | None = None  # member tokens: whose data this is
    expires_at: datetime | None = field(default=None, compare=False)  # the token's own expiry, if any

    @property
    def is_admin(self) -> bool:
        return self.role is Role.admin

    @property
    def actor(self) -> str:
        """Who did it, for audit records."""
        return f"{self.role.value}:{self.token_id}"

    def has(self, scope: Scope) -> bool:
        if self.role in (Role.admin, Role.operator):
            return scope in OPERATOR_SCOPES
        return self.role is Role.server and scope.value in self.scopes


def create_token(session: Session, role: Role, name: str, scopes: Sequence[Scope] = ()) -> tuple[ApiToken, str]:
    if role is Role.member:
        raise RoleNotIssuable()
    secret = new_secret(TOKEN_PREFIX[role])
    token = ApiToken(
        id=new_id(),
        name=name,
        role=role.value,
        scopes=sorted({s.value for s in scopes}) if role is Role.server else [],
        token_hash=hash_secret(secret),
        prefix=secret[:10],
        created_at=utcnow(),
    )
    session.add(token)
    session.flush()
    return token, secret


def list_tokens(session: Session) -> list[ApiToken]:
    return list(session.scalars(select(ApiToken).order_by(ApiToken.created_at)))


def revoke_token(session: Session, token_id: str) -> ApiToken | None:
    token = session.get(ApiToken, token_id)
    if token is not None and token.revoked_at is None:
        token.revoked_at = utcnow()
        session.flush()
    return token


def authenticate(session: Session, secret: str) -> Principal:
    if secret.count(".") == 2:
        return member_principal(session, secret)
    token = session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_secret(secret)))
    now = utcnow()
    if (
        token is None
        or token.revoked_at is not None
        or (token.expires_at is not None and token.expires_at <= now)
    ):
        raise InvalidToken()
    return Principal(token_id=token.id, role=Role(token.role), scopes=tuple(token.scopes or ()),
                     expires_at=token.expires_at)


def member_principal(session: Session, token: str) -> Principal:
    person_id, expires_at = tokens.verify_member_token(session, token)
    return Principal(token_id="member", role=Role.member, person_id=person_id, expires_at=expires_at)
