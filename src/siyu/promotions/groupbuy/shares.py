"""Share links of promotion pages (a group to join, a bargain to help), carrying the target and the
attribution: who shared it (a share id standing for the sharer, so no person id travels in the link), the
channel it was shared from and its UTM tags. Opening one counts it and records a tracked event (``Group
Buy Link Opened`` / ``Bargain Link Opened``) with the sharer, for analytics to attribute the visit."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from siyu.db import upsert
from siyu.errors import SiyuError
from siyu.kit.ids import new_id
from siyu.promotions.groupbuy.errors import ShareNotFound
from siyu.promotions.groupbuy.events import promo_event
from siyu.promotions.groupbuy.models import PromotionShare

PAGES = {"group_buy": "group-buy", "bargain": "bargain"}


def share(session: Session, kind: str, target_id: str, sharer: str, channel: str, now: datetime, *,
          utm_source: str | None = None, utm_medium: str | None = None, utm_campaign: str | None = None,
          campaign: str = "") -> PromotionShare:
    """The sharer's link to the target from ``channel`` (the same link each time it is asked for)."""
    values: dict[str, Any] = {"kind": kind, "target_id": target_id, "sharer_person_id": sharer, "channel": channel,
                              "utm_source": utm_source or channel, "utm_medium": utm_medium or "share",
                              "utm_campaign": utm_campaign or campaign}
    session.execute(upsert(session, PromotionShare).values(id=new_id(), opens=0, created_at=now, **values)
                    .on_conflict_do_nothing())
    found = session.scalar(select(PromotionShare).where(*(getattr(PromotionShare, k) == v for k, v in values.items()))
                           .execution_options(populate_existing=True))
    assert found is not None
    return found


def path(s: PromotionShare) -> str:
    query = urlencode({"share": s.id, "utm_source": s.utm_source, "utm_medium": s.utm_medium,
                       "utm_campaign": s.utm_campaign})
    return f"/{PAGES[s.kind]}/{s.target_id}?{query}"


def get(session: Session, share_id: str, kind: str) -> PromotionShare:
    s = session.get(PromotionShare, share_id, populate_existing=True)
    if s is None or s.kind != kind:
        raise ShareNotFound(details={"share_id": share_id})
    return s


def opened(session: Session, share_id: str, kind: str, channel: str, now: datetime, *, person_id: str | None,
           anonymous_id: str | None) -> PromotionShare:
    """Someone opened the link: count it and record the touch, attributed to the sharer."""
    s = get(session, share_id, kind)
    if person_id is None and anonymous_id is None:
        raise SiyuError("Say who opened the link: person_id or anonymous_id.", code="visitor_required", status=422)
    session.execute(update(PromotionShare).where(PromotionShare.id == share_id)
                    .values(opens=PromotionShare.opens + 1))
    promo_event(session, f"{kind}.link_opened", person_id=person_id, anonymous_id=anonymous_id, channel=channel,
                at=now, data={f"{'group' if kind == 'group_buy' else kind}_id": s.target_id, "share_id": s.id,
                              "sharer_person_id": s.sharer_person_id, "shared_from": s.channel,
                              "utm_source": s.utm_source, "utm_medium": s.utm_medium,
                              "utm_campaign": s.utm_campaign})
    return get(session, share_id, kind)
