"""The value analyses and acquisition spend through the API (SQLite and PostgreSQL for spend)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from siyu.auth.schemas import Role, Scope
from siyu.auth.service import create_token
from siyu.migrate import upgrade
from siyu.models import Base
from tests.analytics import test_value_attribution as fixture
from tests.analytics.stores import load
from tests.conftest import Api, make_settings, open_api

A = "/api/v1/analytics"


@pytest.fixture
def app(tmp_path: Path, database_url: str) -> Iterator[Api]:
    with open_api(make_settings(tmp_path, database_url=database_url)) as api:
        load(api.runtime.warehouse, fixture.history())
        yield api


def token(api: Api, role: Role, scopes: list[Scope]) -> dict[str, str]:
    with api.runtime.db.session() as s:
        _, secret = create_token(s, role, "t", scopes)
    return {"Authorization": f"Bearer {secret}"}


def test_every_analysis_as_json(app: Api) -> None:
    h = app.admin_headers()
    c = app.client
    period = {"start": "2026-03-01", "end": "2026-03-31"}
    r = c.post(f"{A}/attribution", json={**period, "model": "linear"}, headers=h)
    assert r.status_code == 200, r.text
    assert {x["channel"]: x["revenue_fen"] for x in r.json()["rows"]} == {
        k: v[1] for k, v in fixture.EXPECTED[fixture.Model.linear].items()}
    r = c.post(f"{A}/rfm", json={"as_of": "2026-03-31", "window_days": 90, "members": 5}, headers=h)
    assert r.status_code == 200, r.text
    assert r.json()["customers"] == 4 and len(r.json()["members"]) == 4
    r = c.post(f"{A}/rfm/movement", json={"start": "2026-03-10", "end": "2026-03-31", "window_days": 90}, headers=h)
    assert r.status_code == 200 and sum(map(sum, r.json()["matrix"])) == 4
    assert c.get(f"{A}/rfm/segments", headers=h).json()[0]["name"] == "Champions"
    r = c.post(f"{A}/clv", json={"until": "2026-03-31"}, headers=h)
    assert r.status_code == 422 and r.json()["error"]["code"] == "not_enough_data"  # one repeat buyer
    r = c.post(f"{A}/economics", json={**period, "as_of": "2026-04-30"}, headers=h)
    assert r.status_code == 200, r.text
    assert {x["channel"] for x in r.json()["rows"]} >= {"paid_search", "social", "direct"}
    r = c.post(f"{A}/attribution", json={**period, "model": "nope"}, headers=h)
    assert r.status_code == 422 and r.json()["error"]["code"] == "validation_error"


def test_spend_crud_import_and_economics(app: Api) -> None:
    h = app.admin_headers()
    c = app.client
    body = {"channel": "paid_search", "campaign": "spring", "start": "2026-03-01", "end": "2026-03-31",
            "amount_fen": 31000}
    r = c.post(f"{A}/spend", json=body, headers=h)
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    assert c.post(f"{A}/spend", json=body, headers=h).json()["error"]["code"] == "duplicate_spend"
    r = c.put(f"{A}/spend/{sid}", json={**body, "amount_fen": 62000, "note": "doubled"}, headers=h)
    assert r.status_code == 200 and r.json()["amount_fen"] == 62000
    csv_text = ("channel,campaign,start,end,amount,currency\n"
                "social,,2026-03-01,2026-03-31,\"1,234.56\",CNY\n"
                "paid_search,spring,2026-03-01,2026-03-31,620.00,CNY\n")
    r = c.post(f"{A}/spend/import", content=csv_text.encode(), headers={**h, "Content-Type": "text/csv"})
    assert r.status_code == 200 and r.json() == {"rows": 2, "created": 1, "updated": 1}, r.text  # note cleared
    again = c.post(f"{A}/spend/import", content=csv_text.encode(), headers=h).json()
    assert again == {"rows": 2, "created": 0, "updated": 0}
    bad = "channel,start,end,amount_fen\nsocial,2026-03-01,2026-02-01,5\nsocial,x,2026-03-01,5\n"
    r = c.post(f"{A}/spend/import", content=bad.encode(), headers=h)
    assert r.status_code == 422 and [e["line"] for e in r.json()["error"]["details"]["errors"]] == [2, 3]
    page = c.get(f"{A}/spend", params={"limit": 1}, headers=h).json()
    assert len(page["items"]) == 1 and page["next_cursor"]
    rest = c.get(f"{A}/spend", params={"after": page["next_cursor"]}, headers=h).json()
    assert {x["channel"] for x in page["items"] + rest["items"]} == {"paid_search", "social"}
    social = next(x for x in page["items"] + rest["items"] if x["channel"] == "social")
    assert (social["amount_fen"], social["campaign"]) == (123456, None)
    r = c.post(f"{A}/economics", json={"start": "2026-03-01", "end": "2026-03-31", "as_of": "2026-04-30"},
               headers=h)
    rows = {x["channel"]: x for x in r.json()["rows"]}
    assert rows["paid_search"]["spend_fen"] == 62000 and rows["social"]["spend_fen"] == 123456
    assert rows["paid_search"]["new_customers"] == 2 and rows["paid_search"]["cac_fen"] == 31000
    assert c.delete(f"{A}/spend/{sid}", headers=h).status_code == 204
    assert c.get(f"{A}/spend/{sid}", headers=h).json()["error"]["code"] == "spend_not_found"


def test_scopes(app: Api) -> None:
    reader = token(app, Role.server, [Scope.analytics_read])
    other = token(app, Role.server, [Scope.orders_read])
    body = {"as_of": "2026-03-31"}
    assert app.client.post(f"{A}/rfm", json=body, headers=reader).status_code == 200
    assert app.client.post(f"{A}/rfm", json=body, headers=other).status_code == 403
    assert app.client.get(f"{A}/spend", headers=reader).status_code == 200
    spend = {"channel": "x", "start": "2026-03-01", "end": "2026-03-01", "amount_fen": 1}
    assert app.client.post(f"{A}/spend", json=spend, headers=reader).status_code == 403
    assert app.client.post(f"{A}/spend", json=spend, headers=token(app, Role.operator, [])).status_code == 201


def test_migration_matches_the_model(database_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    upgrade(database_url)
    engine = create_engine(database_url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    finally:
        engine.dispose()
    mine = [d for d in diff if "acquisition_spend" in repr(d)]
    assert mine == []
