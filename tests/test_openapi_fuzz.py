"""Schema-driven fuzzing of every operation in the OpenAPI document (schemathesis), in process.

Requests carry valid credentials (the admin token for ``/api/v1``, a source's Basic write key for
``/v1``), so they get past authentication into the handlers. Whatever schemathesis sends, schema-valid
or not, the answer is never a 5xx, its status code, content type and body are the ones the document
declares, and every JSON error answer has Siyu's ``{"error": {"code", ...}}``.
"""

from __future__ import annotations

import base64
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.python.asgi import ASGIClient, get_client, shutdown_lifespans

from siyu.app import create_app
from siyu.auth.schemas import Role
from siyu.auth.service import create_token
from siyu.config import Settings
from siyu.sources.schemas import Channel
from siyu.sources.service import create_source

BASE_URL = "http://testserver"


def _document() -> dict[str, Any]:
    """The OpenAPI document as the app serves it (it does not depend on the app's settings)."""
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(Settings(data_dir=Path(tmp)), run_worker=False)
        runtime = app.state.runtime
        document: dict[str, Any] = app.openapi()
        if runtime.warehouse is not None:
            runtime.warehouse.close()
        runtime.db.dispose()
    return document


schema = schemathesis.openapi.from_dict(_document())


@dataclass
class Target:
    session: ASGIClient
    admin: str
    write_key: str

    def auth_for(self, path: str) -> str:
        return self.write_key if path.startswith("/v1/") else self.admin


@pytest.fixture
def target(tmp_path: Path) -> Iterator[Target]:
    """The app on a fresh embedded runtime, with an admin token and a source. (Schemathesis' pytest plugin
    ends every ASGI lifespan after each test, so each operation gets its own app.)"""
    app = create_app(Settings(data_dir=tmp_path / "data", embedded_worker=False), run_worker=False)
    try:
        with get_client(app) as session:  # starts the lifespan: migrations, bus, event store
            with app.state.runtime.db.session() as db:
                _, key = create_source(db, Channel.web, "fuzzed web")
                _, admin = create_token(db, Role.admin, "fuzz")
            basic = "Basic " + base64.b64encode(f"{key}:".encode()).decode()
            yield Target(session, "Bearer " + admin, basic)
    finally:
        shutdown_lifespans()


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_operation_answers_5xx(case: Any, target: Target) -> None:
    response = case.call(base_url=BASE_URL, session=target.session,
                         headers={"Authorization": target.auth_for(case.path)})
    # No 5xx; and the document tells the truth: every status code, content type and body is documented.
    case.validate_response(response, checks=[not_a_server_error, status_code_conformance,
                                              content_type_conformance, response_schema_conformance])
    content_type = response.headers.get("content-type", [""])[0]
    if response.status_code >= 400 and content_type.startswith("application/json"):
        error = response.json()["error"]
        assert isinstance(error["code"], str) and error["code"], response.text
