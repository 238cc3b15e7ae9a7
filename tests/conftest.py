from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings

from siyu.app import create_app
from siyu.auth.schemas import Role
from siyu.auth.service import create_token
from siyu.config import Settings
from siyu.sources.schemas import Channel
from siyu.sources.service import create_source

settings.register_profile("siyu", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("siyu")


class Api:
    """An in-process app (embedded runtime) with an admin token and one source per channel."""

    def __init__(self, client: TestClient, admin: str, keys: dict[str, str], source_ids: dict[str, str]):
        self.client = client
        self.admin = admin
        self.keys = keys
        self.source_ids = source_ids

    @property
    def runtime(self):  # type: ignore[no-untyped-def]
        return self.client.app.state.runtime  # type: ignore[attr-defined]

    def admin_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin}"}

    def drain(self) -> None:
        """Run the worker until the bus is empty."""
        self.client.portal.call(self.runtime.drain)

    def sql(self, sql: str) -> list[list[object]]:
        r = self.client.post("/api/v1/query", json={"sql": sql}, headers=self.admin_headers())
        assert r.status_code == 200, r.text
        return r.json()["rows"]  # type: ignore[no-any-return]


def make_settings(tmp_path: Path, **kw: object) -> Settings:
    return Settings(data_dir=tmp_path / "data", embedded_worker=False, **kw)  # type: ignore[arg-type]


@contextmanager
def open_api(settings: Settings) -> Iterator[Api]:
    """An in-process app on ``settings`` with an admin token and one source per channel."""
    app = create_app(settings, run_worker=False)
    with TestClient(app) as client:
        runtime = app.state.runtime
        keys, ids = {}, {}
        with runtime.db.session() as s:
            for ch in Channel:
                src, key = create_source(s, ch, f"{ch.value} app")
                keys[ch.value], ids[ch.value] = key, src.id
            _, admin = create_token(s, Role.admin, "test")
        yield Api(client, admin, keys, ids)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.server)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty operational database of each kind (for suites that run on both)."""
    from tests.support import postgres_database

    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ops.sqlite3'}"
        return
    with postgres_database() as url:
        yield url


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    with open_api(make_settings(tmp_path)) as api:
        yield api
