"""The referral programme's configuration: one row of JSON, validated by ``schemas.ProgramIn``."""

from __future__ import annotations

from datetime import datetime

from pydantic import ValidationError
from sqlalchemy.orm import Session

from siyu.db import upsert
from siyu.errors import SiyuError
from siyu.promotions import coupons
from siyu.promotions.referral.errors import InvalidReferralProgram
from siyu.promotions.referral.models import ReferralProgram
from siyu.promotions.referral.schemas import ProgramIn


def load(session: Session) -> ProgramIn:
    """The configuration; with none saved, a programme that binds invitees and rewards nothing."""
    row = session.get(ReferralProgram, 1)
    if row is None:
        return ProgramIn()
    try:
        return ProgramIn.model_validate(row.config)
    except ValidationError as exc:  # a hand-edited row: refuse loudly rather than guess
        raise InvalidReferralProgram(details={"errors": exc.errors(include_url=False)}) from exc


def updated_at(session: Session) -> datetime | None:
    row = session.get(ReferralProgram, 1)
    return row.updated_at if row is not None else None


def save(session: Session, body: ProgramIn, now: datetime) -> ProgramIn:
    """Replace the configuration; every coupon template it names must exist."""
    for rule in body.rewards.values():
        for grant in (rule.referrer, rule.invitee):
            if grant.coupon_template_id is not None:
                try:
                    coupons.get_template(session, grant.coupon_template_id)
                except SiyuError as exc:
                    raise InvalidReferralProgram("A reward names an unknown coupon template.",
                                                 details={"coupon_template_id": grant.coupon_template_id}) from exc
    config = body.model_dump(mode="json")
    session.execute(upsert(session, ReferralProgram).values(id=1, config=config, updated_at=now)
                    .on_conflict_do_update(index_elements=["id"], set_={"config": config, "updated_at": now}))
    session.flush()
    return body
