"""Import tests run on both operational databases, the CLI against the same database as a running app."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Api, make_settings, open_api
from tests.imports.helpers import Cli


@pytest.fixture
def api(tmp_path: Path, database_url: str) -> Iterator[Api]:
    with open_api(make_settings(tmp_path, database_url=database_url)) as api:
        yield api


@pytest.fixture
def cli(tmp_path: Path, database_url: str, api: Api) -> Cli:
    return Cli({"SIYU_DATABASE_URL": database_url, "SIYU_DATA_DIR": str(tmp_path / "cli-data")})
