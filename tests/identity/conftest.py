"""Identity tests run on both operational databases: SQLite (embedded) and PostgreSQL (server runtime)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Api, make_settings, open_api


@pytest.fixture
def api(tmp_path: Path, database_url: str) -> Iterator[Api]:
    with open_api(make_settings(tmp_path, database_url=database_url)) as api:
        yield api
