"""Cross-channel links: creating them, resolving a short code, and recording each open as a touch.

An open (or a scan of the link's QR code, or a mini-program launched by its mini-program code) writes a
tracked event, ``Channel Link Opened``, through the outbox in the same transaction: the event store gets it
with the link's ``utm_*`` labels in its UTM columns, so attribution credits the link like any campaign
touch. Opening a link writes nothing else (no counter row to contend on): counts come from the event store.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.db import get_or_raise, upsert
from siyu.identity.errors import PersonNotFound
from siyu.identity.kinds import is_junk
from siyu.identity.service import person_by_identifier
from siyu.kit.ids import new_id
from siyu.outbox.service import Track, emit
from siyu.promotions.links.codes import normalize, short_code
from siyu.promotions.links.errors import InvalidLink, LinkExpired, LinkNotFound
from siyu.promotions.links.models import ChannelLink
from siyu.promotions.links.schemas import SOURCE, TARGET, LinkChannel, LinkIn, LinkKind, LinkOut, LinkTarget, Via

CODE_LENGTH = 8
OPENED = "Channel Link Opened"
UTM = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")


def create(session: Session, body: LinkIn, created_by: str, now: datetime) -> ChannelLink:
    """A new link under a fresh short code (drawn again on the rare collision with an existing one)."""
    if body.expires_at is not None and body.expires_at <= now:
        raise InvalidLink("expires_at is in the past.")
    values: dict[str, Any] = body.model_dump(mode="python")
    values["kind"] = body.kind.value
    values["source_channel"] = (body.source_channel or SOURCE[body.kind]).value
    for _ in range(8):
        code = short_code(CODE_LENGTH)
        if body.kind is LinkKind.web_to_miniprogram and body.scene is None:
            values["scene"] = f"l={code}"
        lid = new_id()
        won = session.execute(upsert(session, ChannelLink).values(
            id=lid, code=code, created_by=created_by[:64], created_at=now, **values,
        ).on_conflict_do_nothing().returning(ChannelLink.id)).first()
        if won is not None:
            return get(session, lid)
    raise RuntimeError("no free link code after 8 draws")  # 29**8 codes: practically unreachable


def get(session: Session, link_id: str) -> ChannelLink:
    return get_or_raise(session, ChannelLink, link_id, LinkNotFound, "link_id")


def by_code(session: Session, code: str) -> ChannelLink:
    link = session.scalar(select(ChannelLink).where(ChannelLink.code == normalize(code)[:16]))
    if link is None:
        raise LinkNotFound(details={"code": code[:32]})
    return link


def page(session: Session, before: str | None, limit: int) -> Sequence[ChannelLink]:
    q = select(ChannelLink).order_by(ChannelLink.id.desc()).limit(limit)
    if before:
        q = q.where(ChannelLink.id < before)
    return session.scalars(q).all()


def opens_url(link: ChannelLink) -> str:
    """Where an open goes: the target; a website target with the link's UTM parameters (replacing any)."""
    if link.kind != LinkKind.to_web:
        return link.target_url
    parts = urlsplit(link.target_url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in UTM]
    query += [(k, v) for k in UTM if (v := getattr(link, k))]
    return urlunsplit(parts._replace(query=urlencode(query)))


def short_url(base: str, link: ChannelLink, via: Via | None = None) -> str:
    url = f"{base.rstrip('/')}/l/{link.code}"
    return f"{url}?via={via.value}" if via is not None else url


def anonymous_id(given: str | None) -> tuple[str, bool]:
    """The opener's anonymous id (from the query or the analytics cookie), or a new one (True: new)."""
    if given:
        value = unquote(given).strip().strip('"')[:200]  # analytics.js stores it JSON-quoted
        if value and not is_junk(value):
            return value, False
    return str(uuid.uuid4()), True


def record_open(session: Session, link: ChannelLink, *, via: Via, anonymous: str, now: datetime,
                page_url: str | None = None, referrer: str | None = None, wx_scene: str | None = None) -> str:
    """Check the link is live and write its ``Channel Link Opened`` touch (a tracked event, anonymous unless
    the anonymous id already belongs to a known person). Returns the outbox event id."""
    if link.expires_at is not None and link.expires_at <= now:
        raise LinkExpired(details={"code": link.code})
    try:
        person: str | None = person_by_identifier(session, "anonymous_id", anonymous)
    except PersonNotFound:
        person = None
    # Where the open happened: a mini-program code launches the mini-program; a short URL or its QR code
    # opens wherever the link was shown (a browser, for links shown "anywhere").
    channel = "miniprogram" if via is Via.wxacode else (link.source_channel if link.source_channel != "any"
                                                         else "web")
    target = TARGET[LinkKind(link.kind)]
    props: dict[str, Any] = {
        "link_id": link.id, "link_code": link.code, "link_name": link.name, "kind": link.kind, "via": via.value,
        "source_channel": channel, "target_channel": target, "page_path": link.page_path,
        "link_scene": link.scene, **{k: getattr(link, k) for k in UTM},
    }
    track = Track(event=OPENED, channel=channel, user_id=None, anonymous_id=anonymous, properties=props,
                  utm_source=link.utm_source, utm_medium=link.utm_medium, utm_campaign=link.utm_campaign,
                  utm_term=link.utm_term, utm_content=link.utm_content, scene=wx_scene,
                  page_url=page_url, referrer=referrer[:1024] if referrer else None)
    return emit(session, "links.opened", {"link_id": link.id, "code": link.code, "kind": link.kind,
                                          "via": via.value, "anonymous_id": anonymous},
                person_id=person, track=track, at=now)


def target(link: ChannelLink) -> LinkTarget:
    return LinkTarget(code=link.code, kind=LinkKind(link.kind), url=opens_url(link),
                      target_channel=TARGET[LinkKind(link.kind)], page_path=link.page_path, scene=link.scene)


def out(link: ChannelLink) -> LinkOut:
    return LinkOut(id=link.id, code=link.code, kind=LinkKind(link.kind), name=link.name, target_url=link.target_url,
                   page_path=link.page_path, scene=link.scene, source_channel=LinkChannel(link.source_channel),
                   target_channel=TARGET[LinkKind(link.kind)], utm_source=link.utm_source,
                   utm_medium=link.utm_medium, utm_campaign=link.utm_campaign, utm_term=link.utm_term,
                   utm_content=link.utm_content, created_by=link.created_by, created_at=link.created_at,
                   expires_at=link.expires_at, short_path=f"/l/{link.code}", opens_url=opens_url(link))
