"""Assist / bargain API: operators create campaigns; a customer starts a bargain and shares it; helpers
cut it from any channel; at the floor the initiator buys with an order claiming
``promotion: {"kind": "bargain", "id": "<bargain id>"}``."""

from __future__ import annotations

from fastapi import APIRouter, Response

from siyu.deps import IdempotencyKey, OperatorDep, PrincipalDep, SessionDep, claim_idempotency, remember_answer
from siyu.identity.anchors import constituents
from siyu.identity.errors import PersonNotFound
from siyu.kit.clock import utcnow
from siyu.promotions.bargain import cuts, service
from siyu.promotions.bargain.schemas import BargainOut, CampaignIn, CampaignOut, CutIn, CutResult, StartIn
from siyu.promotions.bargain.views import bargain_out, campaign_out, cut_out
from siyu.promotions.groupbuy import shares
from siyu.promotions.groupbuy.access import acting_person, is_member, optional_person
from siyu.promotions.groupbuy.schemas import OpenIn, ShareIn, ShareOut
from siyu.promotions.groupbuy.views import share_out

router = APIRouter(prefix="/api/v1/promotions/bargains", tags=["bargain"])


@router.post("/campaigns", status_code=201, response_model=CampaignOut)
def create_campaign(body: CampaignIn, session: SessionDep, _: OperatorDep) -> CampaignOut:
    """A bargain (砍价) campaign: the SKU, the start and floor prices, how many helpers reach the floor,
    the bounds of one cut, how long a bargain stays open, and the caps per customer and per helper."""
    return campaign_out(service.create_campaign(session, body))


@router.get("/campaigns", response_model=list[CampaignOut])
def list_campaigns(session: SessionDep, _: PrincipalDep, live: bool = True) -> list[CampaignOut]:
    """Campaigns running now (``live=false``: every campaign)."""
    return [campaign_out(c) for c in service.campaigns(session, utcnow(), live)]


@router.get("/campaigns/{campaign_id}", response_model=CampaignOut)
def get_campaign(campaign_id: str, session: SessionDep, _: PrincipalDep) -> CampaignOut:
    return campaign_out(service.get_campaign(session, campaign_id))


@router.post("/campaigns/{campaign_id}/start", status_code=201, response_model=BargainOut)
def start(campaign_id: str, body: StartIn, session: SessionDep, p: PrincipalDep,
          key: IdempotencyKey = None) -> Response | BargainOut:
    """A customer starts a bargain in a campaign (within its per-customer limit)."""
    if (replay := claim_idempotency(session, p, f"bargains.start:{campaign_id}", key, body)) is not None:
        return replay
    person = acting_person(session, p, body.person_id)
    now = utcnow()
    out = bargain_out(session, service.start(session, campaign_id, person, body.channel.value, now), now)
    remember_answer(session, p, f"bargains.start:{campaign_id}", key, 201, out)
    return out


@router.get("/mine", response_model=list[BargainOut])
def my_bargains(session: SessionDep, p: PrincipalDep, person_id: str | None = None) -> list[BargainOut]:
    """A customer's bargains, newest first (a member's own; servers name the customer)."""
    try:
        person = acting_person(session, p, person_id)
    except PersonNotFound:
        return []  # nobody: no bargains
    now = utcnow()
    return [bargain_out(session, b, now) for b in service.bargains_of(session, constituents(session, person))]


@router.get("/{bargain_id}", response_model=BargainOut)
def get_bargain(bargain_id: str, session: SessionDep, _: PrincipalDep) -> BargainOut:
    """A bargain's state and its cuts (what a helper sees on the shared page)."""
    return bargain_out(session, service.get_bargain(session, bargain_id), utcnow())


@router.post("/{bargain_id}/cuts", status_code=201, response_model=CutResult)
def help_cut(bargain_id: str, body: CutIn, session: SessionDep, p: PrincipalDep,
             key: IdempotencyKey = None) -> Response | CutResult:
    """A helper cuts the bargain, from any channel: a random amount within the campaign's bounds, once per
    helper; never the initiator under any of their identities; the last required helper lands exactly on
    the floor price."""
    if (replay := claim_idempotency(session, p, f"bargains.cut:{bargain_id}", key, body)) is not None:
        return replay
    helper = acting_person(session, p, body.person_id)
    now = utcnow()
    c = cuts.cut(session, bargain_id, helper, body.channel.value, now)
    out = CutResult(cut=cut_out(c), bargain=bargain_out(session, service.get_bargain(session, bargain_id), now))
    remember_answer(session, p, f"bargains.cut:{bargain_id}", key, 201, out)
    return out


@router.post("/{bargain_id}/share", response_model=ShareOut)
def share(bargain_id: str, body: ShareIn, session: SessionDep, p: PrincipalDep) -> ShareOut:
    """A share link for a bargain, carrying the bargain and the attribution (sharer, channel, UTM tags)."""
    b = service.get_bargain(session, bargain_id)
    sharer = acting_person(session, p, body.person_id)
    return share_out(shares.share(session, service.KIND, b.id, sharer, body.channel.value, utcnow(),
                                  utm_source=body.utm_source, utm_medium=body.utm_medium,
                                  utm_campaign=body.utm_campaign, campaign=f"bargain_{b.campaign_id}"))


@router.post("/shares/{share_id}/open", response_model=BargainOut)
def open_share(share_id: str, body: OpenIn, session: SessionDep, p: PrincipalDep) -> BargainOut:
    """Someone opened a bargain's share link: recorded as a ``Bargain Link Opened`` event attributed to the
    sharer; answers the bargain."""
    person = optional_person(session, p, body.person_id)
    s = shares.opened(session, share_id, service.KIND, body.channel.value, utcnow(), person_id=person,
                      anonymous_id=None if is_member(p) else body.anonymous_id)
    return bargain_out(session, service.get_bargain(session, s.target_id), utcnow())
