"""Catalog tests run on both operational databases, with the shop of the commerce tests."""

from __future__ import annotations

from tests.orders.conftest import api, shop

__all__ = ["api", "shop"]
