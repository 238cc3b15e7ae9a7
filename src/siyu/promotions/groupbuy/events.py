"""Domain events of group-buys and bargains, with their event-store names.

| topic                      | event-store name        | whose                |
|----------------------------|-------------------------|----------------------|
| group_buy.opened           | Group Buy Opened        | the leader (paid)    |
| group_buy.joined           | Group Buy Joined        | the member (paid)    |
| group_buy.succeeded        | Group Buy Succeeded     | the leader           |
| group_buy.failed           | Group Buy Failed        | the leader           |
| group_buy.link_opened      | Group Buy Link Opened   | whoever opened it    |
| bargain.started            | Bargain Started         | the initiator        |
| bargain.helped             | Bargain Helped          | the helper           |
| bargain.reached            | Bargain Floor Reached   | the initiator        |
| bargain.link_opened        | Bargain Link Opened     | whoever opened it    |

Link openings carry the sharer (``sharer_person_id``), the share id, the channel it was shared from and its
UTM tags, so analytics can attribute the visit (and a later join or help) to the sharer.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from siyu.identity.anchors import event_anchor
from siyu.outbox.service import Track, emit

NAMES = {
    "group_buy.opened": "Group Buy Opened",
    "group_buy.joined": "Group Buy Joined",
    "group_buy.succeeded": "Group Buy Succeeded",
    "group_buy.failed": "Group Buy Failed",
    "group_buy.link_opened": "Group Buy Link Opened",
    "bargain.started": "Bargain Started",
    "bargain.helped": "Bargain Helped",
    "bargain.reached": "Bargain Floor Reached",
    "bargain.link_opened": "Bargain Link Opened",
}


def promo_event(session: Session, topic: str, *, person_id: str | None, channel: str, data: dict[str, Any],
                at: datetime, anonymous_id: str | None = None) -> str:
    """Emit one promotion event through the outbox (same transaction as the change); its event-store form
    carries ``data`` as properties, under the person's event identifier (or ``anonymous_id``)."""
    user = None
    anon = anonymous_id
    if person_id is not None:
        kind, value = event_anchor(session, person_id)
        user, anon = (value, None) if kind == "user_id" else (None, value)
    track = Track(event=NAMES[topic], channel=channel, user_id=user, anonymous_id=anon, properties=dict(data))
    return emit(session, topic, data, person_id=person_id, track=track, at=at)
