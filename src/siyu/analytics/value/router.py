"""``/api/v1/analytics/...`` of the value analyses: RFM, lifetime value, attribution, channel economics, and
acquisition spend (read with ``analytics:read``; written by operators and admins)."""

from __future__ import annotations

from typing import Annotated

import anyio.to_thread
from fastapi import APIRouter, Query, Request, Response

from siyu.analytics.value import attribution as attribution_service
from siyu.analytics.value import clv as clv_service
from siyu.analytics.value import economics as economics_service
from siyu.analytics.value import rfm as rfm_service
from siyu.analytics.value import spend
from siyu.analytics.value.channel_schemas import (
    AttributionQuery,
    AttributionReport,
    EconomicsQuery,
    EconomicsReport,
    SpendImport,
    SpendIn,
    SpendOut,
    SpendPage,
)
from siyu.analytics.value.errors import BadSpendFile
from siyu.analytics.value.schemas import (
    NO_NUL,
    ClvQuery,
    ClvReport,
    Movement,
    MovementQuery,
    RfmQuery,
    RfmReport,
    SegmentRule,
)
from siyu.analytics.value.segments import DEFAULT_SEGMENTS
from siyu.analytics.web import AnalyticsDep, AnalyticsReader
from siyu.deps import OperatorDep, SessionDep

router = APIRouter()
MAX_CSV_BYTES = 10 * 1024 * 1024


@router.post("/rfm", response_model=RfmReport)
def rfm(body: RfmQuery, an: AnalyticsDep) -> RfmReport:
    """Recency, frequency and monetary scores (1-5 by quintile) as of a day, segment sizes, and optionally the
    members' scores."""
    return rfm_service.rfm(an, body)


@router.post("/rfm/movement", response_model=Movement)
def rfm_movement(body: MovementQuery, an: AnalyticsDep) -> Movement:
    """How many members moved from each segment on ``start`` to each segment on ``end``."""
    return rfm_service.movement(an, body)


@router.get("/rfm/segments", response_model=list[SegmentRule])
def rfm_segments(_: AnalyticsReader) -> list[SegmentRule]:
    """The default segment rules (used when a query gives none)."""
    return DEFAULT_SEGMENTS


@router.post("/clv", response_model=ClvReport)
def clv(body: ClvQuery, an: AnalyticsDep) -> ClvReport:
    """BG/NBD and Gamma-Gamma fitted on the orders up to ``until``; per-member expected purchases, P(alive)
    and value over the horizon; a holdout comparison when there are orders after ``until``."""
    return clv_service.clv(an, body)


@router.post("/attribution", response_model=AttributionReport)
def attribution(body: AttributionQuery, an: AnalyticsDep) -> AttributionReport:
    """Conversions and revenue credited to channels, sources or campaigns by one attribution model."""
    return attribution_service.attribution(an, body)


@router.post("/economics", response_model=EconomicsReport)
def economics(body: EconomicsQuery, an: AnalyticsDep, session: SessionDep) -> EconomicsReport:
    """Per acquisition channel (or campaign): spend, visitors and conversion, new customers and CAC,
    retention, repurchase, lifetime value and LTV/CAC."""
    spends = spend.in_period(session, body.start, body.end)
    return economics_service.economics(an, body, spends)


# -- acquisition spend ------------------------------------------------------------------------------------------
@router.post("/spend", status_code=201, response_model=SpendOut)
def create_spend(body: SpendIn, session: SessionDep, _: OperatorDep) -> SpendOut:
    return spend.spend_out(spend.create(session, body))


@router.get("/spend", response_model=SpendPage)
def list_spend(session: SessionDep, _: AnalyticsReader,
               channel: Annotated[str | None, Query(max_length=64, pattern=NO_NUL)] = None,
               after: Annotated[str | None, Query(max_length=64, pattern=NO_NUL)] = None,
               limit: Annotated[int, Query(ge=1, le=500)] = 100) -> SpendPage:
    items = spend.list_spend(session, channel, after, limit + 1)
    page = items[:limit]
    return SpendPage(items=[spend.spend_out(s) for s in page],
                     next_cursor=page[-1].id if len(items) > limit and page else None)


@router.get("/spend/{spend_id}", response_model=SpendOut)
def get_spend(spend_id: str, session: SessionDep, _: AnalyticsReader) -> SpendOut:
    return spend.spend_out(spend.get(session, spend_id))


@router.put("/spend/{spend_id}", response_model=SpendOut)
def replace_spend(spend_id: str, body: SpendIn, session: SessionDep, _: OperatorDep) -> SpendOut:
    return spend.spend_out(spend.replace(session, spend_id, body))


@router.delete("/spend/{spend_id}", status_code=204)
def delete_spend(spend_id: str, session: SessionDep, _: OperatorDep) -> Response:
    spend.delete(session, spend_id)
    return Response(status_code=204)


@router.post("/spend/import", response_model=SpendImport,
             openapi_extra={"requestBody": {"required": True, "content": {"text/csv": {"schema": {"type": "string"}}}}})
async def import_spend(request: Request, session: SessionDep, _: OperatorDep) -> SpendImport:
    """A CSV file as the body (UTF-8, header ``channel,campaign,start,end,amount_fen[,currency,note]``, or
    ``amount`` in yuan): entries are created or updated by (channel, campaign, start, end), all or none."""
    body = await request.body()
    if len(body) > MAX_CSV_BYTES:
        raise BadSpendFile("The file is larger than 10 MB.")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadSpendFile("The file is not UTF-8.") from exc
    return await anyio.to_thread.run_sync(spend.import_csv, session, text)
