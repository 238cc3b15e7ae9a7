"""Database rows -> API schemas."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from siyu.promotions.bargain import service
from siyu.promotions.bargain.models import Bargain, BargainCampaign, BargainCut
from siyu.promotions.bargain.schemas import BargainOut, CampaignOut, CutOut


def campaign_out(c: BargainCampaign) -> CampaignOut:
    return CampaignOut.model_validate(c, from_attributes=True)


def cut_out(c: BargainCut) -> CutOut:
    return CutOut.model_validate(c, from_attributes=True)


def bargain_out(session: Session, b: Bargain, now: datetime) -> BargainOut:
    c = service.get_campaign(session, b.campaign_id)
    return BargainOut(id=b.id, campaign_id=b.campaign_id, sku_id=c.sku_id, initiator_person_id=b.initiator_person_id,
                      channel=b.channel, status=service.effective_status(b, now), start_price_fen=b.start_price_fen,
                      floor_price_fen=b.floor_price_fen, current_price_fen=b.current_price_fen, helpers=b.helpers,
                      helpers_needed=b.helpers_needed, helpers_left=b.helpers_needed - b.helpers,
                      expires_at=b.expires_at, created_at=b.created_at, reached_at=b.reached_at, order_id=b.order_id,
                      cuts=[cut_out(x) for x in service.cuts_of(session, b.id)])
