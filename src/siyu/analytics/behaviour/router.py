"""``/api/v1/analytics``: KPIs, funnels (and the persons at a step), retention cohorts, paths.

Simple reports are GETs with query parameters; analyses with a definition are POSTs with a JSON body (they
change nothing). Callers need ``analytics:read`` (operators have it)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from siyu.analytics.behaviour import funnel, kpis, paths, retention
from siyu.analytics.behaviour.funnel_schemas import FunnelPersonsQuery, FunnelQuery, FunnelResult, PersonPage
from siyu.analytics.behaviour.schemas import (
    KpiQuery,
    KpiReport,
    PathsQuery,
    PathsResult,
    RetentionQuery,
    RetentionResult,
)
from siyu.analytics.web import AnalyticsDep

router = APIRouter()


@router.get("/kpis", response_model=KpiReport)
def get_kpis(q: Annotated[KpiQuery, Query()], an: AnalyticsDep) -> KpiReport:
    """New and active users (DAU / WAU / MAU), new members, orders, GMV, AOV, conversion, share and
    repurchase rates, D1 / D7 / D30 retention of the period's new users; with the previous period of the
    same length (``compare``) and per channel (``by_channel``)."""
    return kpis.kpis(an, q)


@router.post("/funnels", response_model=FunnelResult)
def run_funnel(body: FunnelQuery, an: AnalyticsDep) -> FunnelResult:
    """Persons at each step (ordered, strict or unordered), conversion overall and per step, drop-off and
    time to convert; optional steps, exclusions, property filters, breakdown by channel or UTM field with
    first- or last-touch attribution."""
    return funnel.run_funnel(an, body)


@router.post("/funnels/persons", response_model=PersonPage)
def funnel_persons(body: FunnelPersonsQuery, an: AnalyticsDep) -> PersonPage:
    """The persons who reached a step (or dropped after it), a page at a time: ids to target."""
    return funnel.funnel_persons(an, body)


@router.post("/retention", response_model=RetentionResult)
def run_retention(body: RetentionQuery, an: AnalyticsDep) -> RetentionResult:
    """Cohorts by day, week or month (first-time or recurring), returning persons per period, by acquisition
    channel, with cumulative revenue (lifetime-value curves)."""
    return retention.retention(an, body)


@router.post("/paths", response_model=PathsResult)
def run_paths(body: PathsQuery, an: AnalyticsDep) -> PathsResult:
    """The most common next (or previous) events around an event, with moves between channels."""
    return paths.paths(an, body)
