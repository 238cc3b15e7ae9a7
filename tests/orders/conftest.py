"""Commerce tests run on both operational databases, with the webhook payment provider configured."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Api, make_settings, open_api
from tests.orders.shop import WEBHOOK_SECRET, Shop


@pytest.fixture
def api(tmp_path: Path, database_url: str) -> Iterator[Api]:
    settings = make_settings(tmp_path, database_url=database_url, payment_webhook_secret=WEBHOOK_SECRET)
    with open_api(settings) as api:
        yield api


@pytest.fixture
def shop(api: Api) -> Shop:
    return Shop.open(api)
