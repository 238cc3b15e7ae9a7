"""Member tokens: short-lived JWTs (HS256) naming one person, signed with a key kept in the operational
database so every API process verifies what any other issued. Member tokens are never stored; they expire
(``SIYU_MEMBER_TOKEN_TTL_S``) and carry the person id current at issue, which the API resolves through
later merges."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import jwt
from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.auth.errors import InvalidToken
from siyu.auth.models import SigningKey
from siyu.kit.clock import utcnow
from siyu.kit.ids import new_id, new_secret

ISSUER = "siyu"
AUDIENCE = "siyu-member"

_lock = threading.Lock()
_keys: dict[str, str] = {}  # signing key id -> secret (keys are never changed, so caching is safe)


def _current_key(session: Session) -> tuple[str, str]:
    with _lock:
        found = session.execute(select(SigningKey.id, SigningKey.secret).order_by(SigningKey.created_at.desc())
                                .limit(1)).first()
        if found is None:
            key = SigningKey(id=new_id(), secret=new_secret("smk", 48), created_at=utcnow())
            session.add(key)
            session.flush()
            kid, secret = key.id, key.secret
        else:
            kid, secret = found[0], found[1]
        _keys[kid] = secret
        return kid, secret


def _key(session: Session, kid: str) -> str | None:
    if kid in _keys:
        return _keys[kid]
    secret = session.scalar(select(SigningKey.secret).where(SigningKey.id == kid))
    if secret is not None:
        _keys[kid] = secret
    return secret


def issue_member_token(session: Session, person_id: str, ttl_s: int) -> tuple[str, datetime]:
    kid, secret = _current_key(session)
    now = utcnow()
    expires = now + timedelta(seconds=ttl_s)
    token = jwt.encode({"sub": person_id, "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": expires},
                       secret, algorithm="HS256", headers={"kid": kid})
    return token, expires


def verify_member_token(session: Session, token: str) -> tuple[str, datetime]:
    """The person a valid member token names, and when the token expires."""
    try:
        kid = jwt.get_unverified_header(token).get("kid")
        secret = _key(session, kid) if isinstance(kid, str) else None
        if secret is None:
            raise InvalidToken()
        claims = jwt.decode(token, secret, algorithms=["HS256"], audience=AUDIENCE, issuer=ISSUER,
                            options={"require": ["sub", "exp", "iat"]})
    except jwt.PyJWTError as exc:
        raise InvalidToken() from exc
    sub = claims.get("sub")
    if not isinstance(sub, str):
        raise InvalidToken()
    return sub, datetime.fromtimestamp(claims["exp"], UTC)
