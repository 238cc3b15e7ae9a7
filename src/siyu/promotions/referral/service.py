"""Referral: invite codes and links, binding an invitee to a referrer, and what a customer sees.

Binding (``bind``) happens once per invitee, when the invitee (logged in, member token) sends the code it
arrived with, or a brand server does so for it at sign-up. It is refused when the code is the invitee's
own: the two resolve to the same person through linked identities, or an identity conflict shows they
already shared an identifier (a device, a phone); also when the referrer was invited by the invitee (a
cycle), when the invitee is not new (a paid order, with ``new_customers_only``) or joined longer ago than
``bind_window_hours``. Concurrent binds of one invitee insert under UNIQUE ``invitee_person_id``: one wins,
and the others answer it (same referrer) or ``already_referred``.

Rewards are not given here: binding emits ``referral.bound``, and ``rewards.py`` acts on it (and on
``loyalty.joined`` / ``orders.paid``) from the bus.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from siyu.db import upsert
from siyu.identity import service as identity
from siyu.identity.anchors import constituents, event_anchor
from siyu.kit.ids import new_id
from siyu.loyalty import members
from siyu.orders.models import Order
from siyu.outbox.service import Track, emit
from siyu.promotions.links import service as links
from siyu.promotions.links.codes import normalize, short_code
from siyu.promotions.links.schemas import LinkIn, LinkKind
from siyu.promotions.referral import program
from siyu.promotions.referral.errors import (
    AlreadyReferred,
    BindWindowClosed,
    InviteCodeNotFound,
    NotNewCustomer,
    ReferralClosed,
    SelfReferral,
)
from siyu.promotions.referral.models import InviteCode, Referral, ReferralReward
from siyu.promotions.referral.schemas import InviteOut, ProgramIn

ACCEPTED = "Referral Accepted"


def code_of(session: Session, person_id: str) -> InviteCode | None:
    persons = constituents(session, person_id)
    return session.scalar(select(InviteCode).where(InviteCode.person_id.in_(persons))
                          .order_by(InviteCode.created_at).limit(1))


def _new_code(session: Session, person: str, now: datetime) -> InviteCode:
    for _ in range(8):
        won = session.execute(upsert(session, InviteCode).values(
            code=short_code(8), person_id=person, link_id=None, created_at=now,
        ).on_conflict_do_nothing().returning(InviteCode.code)).first()
        found = session.get(InviteCode, won[0]) if won is not None else code_of(session, person)
        if found is not None:  # ours, or one a concurrent call made for this person
            return found
    raise RuntimeError("no free invite code after 8 draws")  # 29**8 codes: practically unreachable


def _with_ref(url: str, code: str) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "ref"] + [("ref", code)]
    return urlunsplit(parts._replace(query=urlencode(query)))


def invite(session: Session, person_id: str, now: datetime) -> InviteCode:
    """A member's invite code (made at the first call) and, when the programme has a landing page, its
    invite link (a channel link to the page with ?ref=<code> and the programme's UTM labels)."""
    person = identity.current(session, person_id)
    members.get(session, person)  # invite codes are for members
    code = code_of(session, person) or _new_code(session, person, now)
    prog = program.load(session)
    if prog.landing_url and code.link_id is None:
        link = links.create(session, LinkIn(
            kind=LinkKind.to_web, name=f"invite {code.code}", target_url=_with_ref(prog.landing_url, code.code),
            utm_source=prog.utm_source, utm_medium=prog.utm_medium, utm_campaign=prog.campaign,
            utm_content=code.code), f"referral:{person}", now)
        session.execute(update(InviteCode).where(InviteCode.code == code.code, InviteCode.link_id.is_(None))
                        .values(link_id=link.id), execution_options={"synchronize_session": False})
        session.refresh(code)
    return code


def invite_out(session: Session, code: InviteCode, prog: ProgramIn) -> InviteOut:
    link = links.get(session, code.link_id) if code.link_id else None
    page = f"{prog.miniprogram_page}?ref={code.code}" if prog.miniprogram_page else None
    return InviteOut(code=code.code, person_id=code.person_id, url=links.opens_url(link) if link else None,
                     link_id=link.id if link else None, short_path=f"/l/{link.code}" if link else None,
                     miniprogram_path=page, scene=f"r={code.code}")


def same_customer(session: Session, a: str, b: str) -> bool:
    """Whether two persons are one customer: linked identities (one is merged into the other, or both into
    a third), or an identity conflict recorded an identifier of one seen with the other."""
    ours, theirs = set(constituents(session, a)), set(constituents(session, b))
    if ours & theirs:
        return True
    for person in sorted(ours):
        for c in identity.conflicts(session, "all", None, 1000, person_id=person):
            if (c.other_person_id if c.person_id == person else c.person_id) in theirs:
                return True
    return False


def _has_paid_order(session: Session, persons: list[str]) -> bool:
    # The same check as pricing's "new members only" coupons.
    return session.scalar(select(Order.id).where(Order.person_id.in_(persons), Order.paid_at.is_not(None))
                          .limit(1)) is not None


def _referral_of(session: Session, persons: list[str]) -> Referral | None:
    return session.scalar(select(Referral).where(Referral.invitee_person_id.in_(persons))
                          .order_by(Referral.bound_at).limit(1))


def bind(session: Session, invitee_id: str, code: str, channel: str, now: datetime) -> tuple[Referral, bool]:
    """Bind the invitee to the owner of ``code`` (see the module docstring); (referral, newly bound)."""
    prog = program.load(session)
    if not prog.enabled:
        raise ReferralClosed()
    inv = session.get(InviteCode, normalize(code)[:16])
    if inv is None:
        raise InviteCodeNotFound(details={"code": code})
    invitee, referrer = identity.current(session, invitee_id), identity.current(session, inv.person_id)
    if same_customer(session, referrer, invitee):
        raise SelfReferral()
    mine = constituents(session, invitee)
    existing = _referral_of(session, mine)
    if existing is not None:
        return _again(session, existing, referrer)
    if session.scalar(select(Referral.id).where(Referral.invitee_person_id.in_(constituents(session, referrer)),
                                                Referral.referrer_person_id.in_(mine)).limit(1)) is not None:
        raise SelfReferral("The inviter was invited by this customer: invitations cannot go both ways.",
                           code="referral_cycle")
    if prog.new_customers_only and _has_paid_order(session, mine):
        raise NotNewCustomer()
    m = members.find(session, invitee)
    if m is not None and m.joined_at < now - timedelta(hours=prog.bind_window_hours):
        raise BindWindowClosed(details={"joined_at": m.joined_at.isoformat(), "hours": prog.bind_window_hours})
    rid = new_id()
    won = session.execute(upsert(session, Referral).values(
        id=rid, code=inv.code, referrer_person_id=referrer, invitee_person_id=invitee, channel=channel,
        status="active", void_reason=None, first_order_id=None, bound_at=now,
    ).on_conflict_do_nothing().returning(Referral.id)).first()
    if won is None:  # bound concurrently
        again = _referral_of(session, mine)
        assert again is not None
        return _again(session, again, referrer)
    r = session.get(Referral, rid)
    assert r is not None
    _bound_event(session, r, prog, now)
    return r, True


def _again(session: Session, existing: Referral, referrer: str) -> tuple[Referral, bool]:
    if identity.current(session, existing.referrer_person_id) == referrer:
        return existing, False  # the same invitation again (a retry): the same answer
    raise AlreadyReferred(details={"referral_id": existing.id})


def _bound_event(session: Session, r: Referral, prog: ProgramIn, now: datetime) -> None:
    """``referral.bound``; in the event store ``Referral Accepted``, a touch of the referral campaign."""
    kind, value = event_anchor(session, r.invitee_person_id)
    props = {"referral_id": r.id, "code": r.code, "referrer_person_id": r.referrer_person_id}
    track = Track(event=ACCEPTED, channel=r.channel, user_id=value if kind == "user_id" else None,
                  anonymous_id=value if kind == "anonymous_id" else None, properties=props,
                  utm_source=prog.utm_source, utm_medium=prog.utm_medium, utm_campaign=prog.campaign,
                  utm_content=r.code)
    emit(session, "referral.bound", {**props, "invitee_person_id": r.invitee_person_id, "channel": r.channel},
         person_id=r.invitee_person_id, track=track, at=now)


def referral_of(session: Session, person_id: str) -> Referral | None:
    """The referral that brought this customer (as the invitee), if any."""
    return _referral_of(session, constituents(session, person_id))


def invited_count(session: Session, person_id: str) -> int:
    persons = constituents(session, person_id)
    return int(session.scalar(select(func.count()).select_from(Referral)
                              .where(Referral.referrer_person_id.in_(persons))) or 0)


def rewards_of(session: Session, person_id: str, limit: int = 100) -> list[ReferralReward]:
    persons = constituents(session, person_id)
    return list(session.scalars(select(ReferralReward).where(ReferralReward.person_id.in_(persons))
                                .order_by(ReferralReward.at.desc(), ReferralReward.id.desc()).limit(limit)))
