"""Group-buy API: operators create rules; customers open and join groups by ordering with
``promotion: {"kind": "group_buy", "id": "rule:<rule id>" | "<group id>"}`` and paying; anyone may read a
group and share it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from siyu.auth.errors import NotYourData
from siyu.deps import OperatorDep, PrincipalDep, SessionDep
from siyu.identity.anchors import constituents, same_person
from siyu.identity.errors import PersonNotFound
from siyu.kit.clock import utcnow
from siyu.promotions.groupbuy import service, shares
from siyu.promotions.groupbuy.access import acting_person, is_member, optional_person, require_writer
from siyu.promotions.groupbuy.errors import GroupNotFound
from siyu.promotions.groupbuy.schemas import (
    GroupOut,
    GroupShareOpened,
    MemberOut,
    OpenIn,
    RuleIn,
    RuleOut,
    ShareIn,
    ShareOut,
)
from siyu.promotions.groupbuy.views import group_out, member_out, rule_out, share_out

router = APIRouter(prefix="/api/v1/promotions/group-buys", tags=["group-buy"])


@router.post("/rules", status_code=201, response_model=RuleOut)
def create_rule(body: RuleIn, session: SessionDep, _: OperatorDep) -> RuleOut:
    """A group-buy (拼团) rule: the SKU, the group price (and a leader price), how many make a group, how long
    a group may take to fill, seats per customer, units per order, channels and the running window."""
    return rule_out(service.create_rule(session, body))


@router.get("/rules", response_model=list[RuleOut])
def list_rules(session: SessionDep, _: PrincipalDep, live: bool = True) -> list[RuleOut]:
    """Rules running now (``live=false``: every rule)."""
    return [rule_out(r) for r in service.rules(session, utcnow(), live)]


@router.get("/rules/{rule_id}", response_model=RuleOut)
def get_rule(rule_id: str, session: SessionDep, _: PrincipalDep) -> RuleOut:
    return rule_out(service.get_rule(session, rule_id))


@router.get("/rules/{rule_id}/groups", response_model=list[GroupOut])
def rule_groups(rule_id: str, session: SessionDep, _: PrincipalDep, status: str | None = "forming",
                limit: Annotated[int, Query(ge=1, le=200)] = 50) -> list[GroupOut]:
    """A rule's groups, newest first (by default those forming: the ones a customer can join)."""
    service.get_rule(session, rule_id)
    return [group_out(session, g) for g in service.groups_of_rule(session, rule_id, status or None, limit)]


@router.get("/groups/{group_id}", response_model=GroupOut)
def get_group(group_id: str, session: SessionDep, _: PrincipalDep) -> GroupOut:
    """A group's state: status, seats paid and left, expiry, prices."""
    return group_out(session, service.get_group(session, group_id))


@router.get("/groups/{group_id}/members", response_model=list[MemberOut])
def group_members(group_id: str, session: SessionDep, p: PrincipalDep) -> list[MemberOut]:
    """Every order in a group and what became of it (operators and servers)."""
    require_writer(p)
    service.get_group(session, group_id)
    return [member_out(m) for m in service.members_of(session, group_id)]


@router.get("/orders/{order_id}", response_model=GroupOut)
def group_of_order(order_id: str, session: SessionDep, p: PrincipalDep) -> GroupOut:
    """The group an order opened or joined (a leader learns their new group's id here)."""
    m = service.member_by_order(session, order_id)
    if m is None:
        raise GroupNotFound(details={"order_id": order_id})
    if is_member(p):
        assert p.person_id is not None
        if not same_person(session, m.person_id, p.person_id):
            raise NotYourData()
    else:
        require_writer(p)
    return group_out(session, service.get_group(session, m.group_id))


@router.get("/mine", response_model=list[GroupOut])
def my_groups(session: SessionDep, p: PrincipalDep, person_id: str | None = None) -> list[GroupOut]:
    """A customer's groups, newest first (a member's own; servers name the customer)."""
    try:
        person = acting_person(session, p, person_id)
    except PersonNotFound:
        return []  # nobody: no groups
    return [group_out(session, g) for g in service.groups_of_persons(session, constituents(session, person))]


@router.post("/groups/{group_id}/share", response_model=ShareOut)
def share_group(group_id: str, body: ShareIn, session: SessionDep, p: PrincipalDep) -> ShareOut:
    """A share link for a group: its path carries the group and a share id that stands for the sharer, the
    channel and the UTM tags."""
    g = service.get_group(session, group_id)
    sharer = acting_person(session, p, body.person_id)
    s = shares.share(session, service.KIND, g.id, sharer, body.channel.value, utcnow(), utm_source=body.utm_source,
                     utm_medium=body.utm_medium, utm_campaign=body.utm_campaign, campaign=f"group_buy_{g.rule_id}")
    return share_out(s)


@router.post("/shares/{share_id}/open", response_model=GroupShareOpened)
def open_share(share_id: str, body: OpenIn, session: SessionDep, p: PrincipalDep) -> GroupShareOpened:
    """Someone opened a group's share link: recorded as a ``Group Buy Link Opened`` event attributed to the
    sharer; answers the share and the group."""
    person = optional_person(session, p, body.person_id)
    s = shares.opened(session, share_id, service.KIND, body.channel.value, utcnow(), person_id=person,
                      anonymous_id=None if is_member(p) else body.anonymous_id)
    return GroupShareOpened(share=share_out(s), group=group_out(session, service.get_group(session, s.target_id)))
