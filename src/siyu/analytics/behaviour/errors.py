"""Errors of the behaviour analyses (KPIs, funnels, retention, paths)."""

from __future__ import annotations

from siyu.errors import SiyuError


class InvalidAnalysis(SiyuError):
    """A definition that cannot be run as asked (say, an exclusion step on a strict funnel)."""

    code = "invalid_analysis"
    status = 422
    message = "This analysis cannot be run as defined."


class InvalidFilter(InvalidAnalysis):
    code = "invalid_property_filter"
    message = "A property filter is not valid."
