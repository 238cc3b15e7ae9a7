"""Group-buy rules and groups: creating rules, the special price a cart claims (registered with
``promotions.specials`` as ``group_buy``) and the pending membership an order records.

A leader opens a group with an order claiming ``{"kind": "group_buy", "id": "rule:<rule id>"}`` (the leader
price, if the rule has one); others join with ``{"kind": "group_buy", "id": "<group id>"}`` (the group
price). Creating the order only records a *pending* member: seats are taken when the order is paid
(``seats.py``), so an unpaid order never holds a seat and a group never waits for money that never comes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.catalog import service as catalog
from siyu.db import get_or_raise
from siyu.identity.anchors import constituents
from siyu.kit.clock import utcnow
from siyu.kit.ids import new_id
from siyu.orders import repository as orders
from siyu.promotions import specials
from siyu.promotions.groupbuy.errors import (
    AlreadyInGroup,
    GroupExpired,
    GroupFailed,
    GroupFull,
    GroupNotFound,
    GroupNotOpen,
    MemberLimitReached,
    RuleNotFound,
    RuleNotLive,
    WrongChannel,
)
from siyu.promotions.groupbuy.models import GroupBuyGroup, GroupBuyMember, GroupBuyRule
from siyu.promotions.groupbuy.schemas import RuleIn
from siyu.promotions.specials import Special

KIND = "group_buy"
RULE_PREFIX = "rule:"


# -- rules --------------------------------------------------------------------------------------------------
def create_rule(session: Session, body: RuleIn, now: datetime | None = None) -> GroupBuyRule:
    now = now or utcnow()
    catalog.get_sku(session, body.sku_id)
    rule = GroupBuyRule(id=new_id(), name=body.name, sku_id=body.sku_id, channels=[c.value for c in body.channels],
                        group_price_fen=body.group_price_fen, leader_price_fen=body.leader_price_fen, size=body.size,
                        duration_minutes=body.duration_minutes, per_member_limit=body.per_member_limit,
                        max_quantity=body.max_quantity, starts_at=body.starts_at or now, ends_at=body.ends_at,
                        active=True, created_at=now)
    session.add(rule)
    session.flush()
    return rule


def get_rule(session: Session, rule_id: str) -> GroupBuyRule:
    return get_or_raise(session, GroupBuyRule, rule_id, RuleNotFound, "rule_id")


def rules(session: Session, now: datetime, live_only: bool) -> Sequence[GroupBuyRule]:
    q = select(GroupBuyRule).order_by(GroupBuyRule.created_at.desc()).limit(500)
    if live_only:
        q = q.where(GroupBuyRule.active.is_(True), GroupBuyRule.starts_at <= now,
                    GroupBuyRule.ends_at.is_(None) | (GroupBuyRule.ends_at > now))
    return session.scalars(q).all()


def live_rule(session: Session, rule_id: str, at: datetime) -> GroupBuyRule:
    rule = get_rule(session, rule_id)
    if not rule.active or at < rule.starts_at or (rule.ends_at is not None and at >= rule.ends_at):
        raise RuleNotLive(details={"rule_id": rule_id})
    return rule


# -- groups -------------------------------------------------------------------------------------------------
def get_group(session: Session, group_id: str) -> GroupBuyGroup:
    return get_or_raise(session, GroupBuyGroup, group_id, GroupNotFound, "group_id", fresh=True)


def groups_of_rule(session: Session, rule_id: str, status: str | None, limit: int) -> Sequence[GroupBuyGroup]:
    q = select(GroupBuyGroup).where(GroupBuyGroup.rule_id == rule_id).order_by(GroupBuyGroup.id.desc()).limit(limit)
    if status:
        q = q.where(GroupBuyGroup.status == status)
    return session.scalars(q).all()


def groups_of_persons(session: Session, persons: Sequence[str], limit: int = 100) -> Sequence[GroupBuyGroup]:
    ids = select(GroupBuyMember.group_id).where(GroupBuyMember.person_id.in_(persons))
    return session.scalars(select(GroupBuyGroup).where(GroupBuyGroup.id.in_(ids))
                           .order_by(GroupBuyGroup.id.desc()).limit(limit)).all()


def members_of(session: Session, group_id: str) -> Sequence[GroupBuyMember]:
    return session.scalars(select(GroupBuyMember).where(GroupBuyMember.group_id == group_id)
                           .order_by(GroupBuyMember.id)).all()


def member_by_order(session: Session, order_id: str) -> GroupBuyMember | None:
    return session.scalar(select(GroupBuyMember).where(GroupBuyMember.order_id == order_id)
                          .execution_options(populate_existing=True))


def seated_in_group(session: Session, group_id: str, persons: Sequence[str]) -> bool:
    return session.scalar(select(GroupBuyMember.id).where(
        GroupBuyMember.group_id == group_id, GroupBuyMember.person_id.in_(persons),
        GroupBuyMember.status == "seated").limit(1)) is not None


def seats_held(session: Session, rule_id: str, persons: Sequence[str]) -> int:
    return int(session.scalar(select(func.count()).select_from(GroupBuyMember).where(
        GroupBuyMember.rule_id == rule_id, GroupBuyMember.person_id.in_(persons),
        GroupBuyMember.status == "seated")) or 0)


# -- the special price and the pending membership -----------------------------------------------------------
def _check_limit(session: Session, rule: GroupBuyRule, persons: Sequence[str]) -> None:
    if seats_held(session, rule.id, persons) >= rule.per_member_limit:
        raise MemberLimitReached(details={"rule_id": rule.id, "limit": rule.per_member_limit})


def check_joinable(session: Session, group: GroupBuyGroup, persons: Sequence[str], at: datetime) -> None:
    """Why ``persons`` could not join ``group`` now, as an error (a hint at checkout; the seat itself is
    taken, or refused, at payment)."""
    if group.status == "opening":
        raise GroupNotOpen(details={"group_id": group.id})
    if group.status == "succeeded" or group.seats_paid >= group.size:
        raise GroupFull(details={"group_id": group.id, "size": group.size})
    if group.status == "failed":
        raise GroupFailed(details={"group_id": group.id})
    if group.expires_at <= at:
        raise GroupExpired(details={"group_id": group.id, "expires_at": group.expires_at.isoformat()})
    if seated_in_group(session, group.id, persons):
        raise AlreadyInGroup(details={"group_id": group.id})


def resolve(session: Session, promotion_id: str, person_id: str, at: datetime) -> Special:
    persons = constituents(session, person_id)
    if promotion_id.startswith(RULE_PREFIX):
        rule = live_rule(session, promotion_id.removeprefix(RULE_PREFIX), at)
        _check_limit(session, rule, persons)
        price = rule.group_price_fen if rule.leader_price_fen is None else rule.leader_price_fen
        return Special(sku_id=rule.sku_id, unit_price_fen=price, max_quantity=rule.max_quantity,
                       source=f"group_buy:leader:{rule.id}")
    group = get_group(session, promotion_id)
    rule = get_rule(session, group.rule_id)
    if not rule.active:
        raise RuleNotLive(details={"rule_id": rule.id})
    check_joinable(session, group, persons, at)
    _check_limit(session, rule, persons)
    return Special(sku_id=rule.sku_id, unit_price_fen=rule.group_price_fen, max_quantity=rule.max_quantity,
                   source=f"group_buy:{group.id}")


def attach(session: Session, promotion_id: str, order_id: str, person_id: str, at: datetime) -> None:
    """The order claims the group-buy: a leader's order opens a group (``opening`` until it is paid); a
    member's order waits, pending, for its payment."""
    channel = orders.get(session, order_id).channel
    if promotion_id.startswith(RULE_PREFIX):
        rule = get_rule(session, promotion_id.removeprefix(RULE_PREFIX))
        group = GroupBuyGroup(id=new_id(), rule_id=rule.id, leader_person_id=person_id, channel=channel,
                              status="opening", size=rule.size, seats_paid=0,
                              expires_at=at + timedelta(minutes=rule.duration_minutes), created_at=at)
        session.add(group)
        role = "leader"
    else:
        group = get_group(session, promotion_id)
        rule = get_rule(session, group.rule_id)
        role = "member"
    if rule.channels and channel not in rule.channels:
        raise WrongChannel(details={"channel": channel, "channels": rule.channels})
    session.add(GroupBuyMember(id=new_id(), group_id=group.id, rule_id=rule.id, order_id=order_id,
                               person_id=person_id, role=role, status="pending", channel=channel, created_at=at))
    session.flush()


specials.register(KIND, resolve, attach)
