"""Sources and their keys. Keys are stored as SHA-256 hashes; the plain value is returned once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, selectinload

from siyu.kit.clock import utcnow
from siyu.kit.ids import hash_secret, new_id, new_secret
from siyu.sources.errors import SourceNotFound
from siyu.sources.models import Source, SourceKey
from siyu.sources.schemas import Channel

WRITE_KEY = "write_key"
BEARER = "bearer"
_PREFIX = {WRITE_KEY: "wk", BEARER: "sbt"}


@dataclass(frozen=True)
class SourceAuth:
    """What the tracking API needs to know about an authenticated sender."""

    source_id: str
    channel: str
    rate_limit: float | None


def _add_key(session: Session, source: Source, kind: str) -> str:
    secret = new_secret(_PREFIX[kind])
    session.add(
        SourceKey(
            id=new_id(),
            source_id=source.id,
            kind=kind,
            key_hash=hash_secret(secret),
            prefix=secret[:10],
            created_at=utcnow(),
        )
    )
    return secret


def create_source(
    session: Session, channel: Channel, name: str, rate_limit: float | None = None
) -> tuple[Source, str]:
    source = Source(
        id=new_id(), name=name, channel=channel.value, enabled=True, rate_limit=rate_limit, created_at=utcnow()
    )
    session.add(source)
    session.flush()
    key = _add_key(session, source, WRITE_KEY)
    session.flush()
    session.refresh(source, ["keys"])
    return source, key


def get_source(session: Session, source_id: str) -> Source:
    source = session.get(Source, source_id, options=[selectinload(Source.keys)])
    if source is None:
        raise SourceNotFound(details={"source_id": source_id})
    return source


def list_sources(session: Session) -> list[Source]:
    stmt = select(Source).options(selectinload(Source.keys)).order_by(Source.created_at)
    return list(session.scalars(stmt))


def _active_keys(source: Source, kind: str, now: datetime) -> list[SourceKey]:
    return [k for k in source.keys if k.kind == kind and (k.expires_at is None or k.expires_at > now)]


def rotate_key(session: Session, source_id: str, kind: str, grace_seconds: int = 0) -> tuple[str, datetime]:
    """Issue a new key of ``kind``; every older key of that kind stops working after the grace period."""
    source = get_source(session, source_id)
    now = utcnow()
    expires = now + timedelta(seconds=grace_seconds)
    for key in _active_keys(source, kind, now):
        key.expires_at = expires
    secret = _add_key(session, source, kind)
    session.flush()
    session.refresh(source, ["keys"])
    return secret, expires


def set_enabled(session: Session, source_id: str, enabled: bool) -> Source:
    source = get_source(session, source_id)
    source.enabled = enabled
    source.disabled_at = None if enabled else utcnow()
    session.flush()
    return source


class Unset(Enum):
    UNSET = "unset"


UNSET = Unset.UNSET


def update_source(
    session: Session, source_id: str, name: str | None = None, rate_limit: float | Unset | None = UNSET
) -> Source:
    """Change what is given; ``rate_limit=None`` means "back to the deployment default", ``UNSET`` keeps it."""
    source = get_source(session, source_id)
    if name is not None:
        source.name = name
    if not isinstance(rate_limit, Unset):
        source.rate_limit = rate_limit
    session.flush()
    return source


def authenticate_key(session: Session, secret: str, kinds: tuple[str, ...]) -> SourceAuth | None:
    """The enabled source that owns this unexpired key, or None."""
    now = utcnow()
    stmt = (
        select(Source.id, Source.channel, Source.rate_limit)
        .join(SourceKey, SourceKey.source_id == Source.id)
        .where(
            SourceKey.key_hash == hash_secret(secret),
            SourceKey.kind.in_(kinds),
            Source.enabled.is_(True),
            or_(SourceKey.expires_at.is_(None), SourceKey.expires_at > now),
        )
    )
    row = session.execute(stmt).first()
    if row is None:
        return None
    return SourceAuth(source_id=row[0], channel=row[1], rate_limit=row[2])
