"""Database rows -> API schemas."""

from __future__ import annotations

from sqlalchemy.orm import Session

from siyu.promotions.groupbuy import service, shares
from siyu.promotions.groupbuy.models import GroupBuyGroup, GroupBuyMember, GroupBuyRule, PromotionShare
from siyu.promotions.groupbuy.schemas import GroupOut, MemberOut, RuleOut, SeatOut, ShareOut


def rule_out(rule: GroupBuyRule) -> RuleOut:
    return RuleOut.model_validate(rule, from_attributes=True)


def group_out(session: Session, g: GroupBuyGroup) -> GroupOut:
    rule = service.get_rule(session, g.rule_id)
    seated = sorted((m for m in service.members_of(session, g.id) if m.seat is not None
                     and m.status in ("seated", "refunded", "refund_blocked")), key=lambda m: m.seat or 0)
    return GroupOut(id=g.id, rule_id=g.rule_id, sku_id=rule.sku_id, status=g.status, size=g.size,
                    seats_paid=g.seats_paid, seats_left=g.size - g.seats_paid, leader_person_id=g.leader_person_id,
                    channel=g.channel, group_price_fen=rule.group_price_fen, leader_price_fen=rule.leader_price_fen,
                    expires_at=g.expires_at, created_at=g.created_at, opened_at=g.opened_at, closed_at=g.closed_at,
                    seats=[SeatOut(seat=m.seat or 0, role=m.role, seated_at=m.seated_at) for m in seated])


def member_out(m: GroupBuyMember) -> MemberOut:
    return MemberOut.model_validate(m, from_attributes=True)


def share_out(s: PromotionShare) -> ShareOut:
    return ShareOut(id=s.id, kind=s.kind, target_id=s.target_id, sharer_person_id=s.sharer_person_id,
                    channel=s.channel, utm_source=s.utm_source, utm_medium=s.utm_medium,
                    utm_campaign=s.utm_campaign, path=shares.path(s), opens=s.opens, created_at=s.created_at)
