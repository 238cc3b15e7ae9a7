"""The ``siyu report`` group, with every analysis' commands registered."""

from __future__ import annotations

from siyu.analytics.behaviour import cli as _behaviour  # noqa: F401  (registers its commands)
from siyu.analytics.reporting import report
from siyu.analytics.value import cli as _value  # noqa: F401  (registers its commands)

__all__ = ["report"]
