"""Domain events of loyalty (through the outbox), with their event-store names.

| topic                    | event-store name   |
|--------------------------|--------------------|
| loyalty.joined           | Signed Up          |
| loyalty.checked_in       | Checked In         |
| loyalty.tier_changed     | Tier Changed       |
| loyalty.points_redeemed  | Points Redeemed    |
| loyalty.quest_completed  | Quest Completed    |
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from siyu.identity.anchors import event_anchor
from siyu.loyalty.models import Member
from siyu.outbox.service import Track, emit

NAMES = {
    "loyalty.joined": "Signed Up",
    "loyalty.checked_in": "Checked In",
    "loyalty.tier_changed": "Tier Changed",
    "loyalty.points_redeemed": "Points Redeemed",
    "loyalty.quest_completed": "Quest Completed",
}


def member_event(session: Session, m: Member, topic: str, channel: str, data: dict[str, Any],
                 at: datetime) -> str:
    kind, value = event_anchor(session, m.person_id)
    props = {"member_id": m.id, "tier": m.tier, **data}
    track = Track(event=NAMES[topic], channel=channel, user_id=value if kind == "user_id" else None,
                  anonymous_id=value if kind == "anonymous_id" else None, properties=props)
    return emit(session, topic, {"member_id": m.id, "tier": m.tier, "channel": channel, **data},
                person_id=m.person_id, track=track, at=at)


def tier_changed(session: Session, m: Member, before: str, reason: str, at: datetime) -> None:
    member_event(session, m, "loyalty.tier_changed", "server", {"from": before, "to": m.tier, "reason": reason}, at)
