from __future__ import annotations

from fastapi import APIRouter

from siyu.deps import AdminDep, RuntimeDep, SessionDep
from siyu.sources import service
from siyu.sources.models import Source
from siyu.sources.schemas import (
    Channel,
    KeyCreated,
    KeyOut,
    RotateRequest,
    SourceCreate,
    SourceCreated,
    SourceOut,
    SourceUpdate,
)

router = APIRouter(prefix="/api/v1/sources", tags=["sources"])


def source_out(source: Source) -> SourceOut:
    return SourceOut(
        id=source.id,
        name=source.name,
        channel=Channel(source.channel),
        enabled=source.enabled,
        rate_limit=source.rate_limit,
        created_at=source.created_at,
        disabled_at=source.disabled_at,
        keys=[
            KeyOut(id=k.id, kind=k.kind, prefix=k.prefix, created_at=k.created_at, expires_at=k.expires_at)
            for k in source.keys
        ],
    )


@router.post("", status_code=201, response_model=SourceCreated)
def create_source(body: SourceCreate, session: SessionDep, _: AdminDep) -> SourceCreated:
    source, key = service.create_source(session, body.channel, body.name, body.rate_limit)
    return SourceCreated(**source_out(source).model_dump(), write_key=key)


@router.get("", response_model=list[SourceOut])
def list_sources(session: SessionDep, _: AdminDep) -> list[SourceOut]:
    return [source_out(s) for s in service.list_sources(session)]


@router.get("/{source_id}", response_model=SourceOut)
def get_source(source_id: str, session: SessionDep, _: AdminDep) -> SourceOut:
    return source_out(service.get_source(session, source_id))


@router.patch("/{source_id}", response_model=SourceOut)
def update_source(
    source_id: str, body: SourceUpdate, session: SessionDep, runtime: RuntimeDep, _: AdminDep
) -> SourceOut:
    """Change the fields given; ``"rate_limit": null`` returns to the deployment default."""
    rate_limit = body.rate_limit if "rate_limit" in body.model_fields_set else service.UNSET
    source = service.update_source(session, source_id, body.name, rate_limit)
    runtime.keys.clear()  # the cached key lookups carry the rate limit
    return source_out(source)


@router.post("/{source_id}/rotate", response_model=KeyCreated)
def rotate_write_key(
    source_id: str, session: SessionDep, runtime: RuntimeDep, _: AdminDep, body: RotateRequest | None = None
) -> KeyCreated:
    """Issue a new write key; the old ones stop working after ``grace_seconds`` (no body: at once)."""
    grace = body.grace_seconds if body is not None else 0
    key, expires = service.rotate_key(session, source_id, service.WRITE_KEY, grace)
    runtime.keys.clear()  # this process stops accepting the old key now, the others within KeyCache's TTL
    return KeyCreated(source_id=source_id, kind=service.WRITE_KEY, key=key, old_keys_expire_at=expires)


@router.post("/{source_id}/bearer-token", response_model=KeyCreated)
def create_bearer_token(
    source_id: str, session: SessionDep, runtime: RuntimeDep, _: AdminDep, body: RotateRequest | None = None
) -> KeyCreated:
    """Issue (or rotate) the source's secret bearer token, for senders that authenticate with
    ``Authorization: Bearer``."""
    grace = body.grace_seconds if body is not None else 0
    key, expires = service.rotate_key(session, source_id, service.BEARER, grace)
    runtime.keys.clear()
    return KeyCreated(source_id=source_id, kind=service.BEARER, key=key, old_keys_expire_at=expires)


@router.post("/{source_id}/disable", response_model=SourceOut)
def disable_source(source_id: str, session: SessionDep, runtime: RuntimeDep, _: AdminDep) -> SourceOut:
    source = service.set_enabled(session, source_id, False)
    runtime.keys.clear()
    return source_out(source)


@router.post("/{source_id}/enable", response_model=SourceOut)
def enable_source(source_id: str, session: SessionDep, _: AdminDep) -> SourceOut:
    return source_out(service.set_enabled(session, source_id, True))
