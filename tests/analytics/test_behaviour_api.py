"""KPIs, funnels, retention and paths through the API (embedded runtime: DuckDB)."""

from __future__ import annotations

from pathlib import Path

from siyu.auth.schemas import Role, Scope
from siyu.auth.service import create_token
from tests.analytics import test_behaviour_funnel as funnel_fixture
from tests.analytics.stores import load
from tests.conftest import Api

A = "/api/v1/analytics"
FUNNEL = {"start": "2026-03-02", "end": "2026-03-08", "window": "1d",
          "steps": [{"event": "Product Viewed"}, {"event": "Product Added"}, {"event": "Order Completed"}]}


def token(api: Api, scopes: list[Scope]) -> dict[str, str]:
    with api.runtime.db.session() as s:
        _, secret = create_token(s, Role.server, "t", scopes)
    return {"Authorization": f"Bearer {secret}"}


def test_every_behaviour_analysis_as_json(api: Api, tmp_path: Path) -> None:
    load(api.runtime.warehouse, funnel_fixture.history())
    h, c = api.admin_headers(), api.client
    r = c.post(f"{A}/funnels", json={**FUNNEL, "breakdown": "channel"}, headers=h)
    assert r.status_code == 200, r.text
    body = r.json()
    assert [s["persons"] for s in body["steps"]] == [6, 5, 3]
    assert body["groups"][0]["value"] == "web" and body["window_seconds"] == 86_400
    r = c.post(f"{A}/funnels/persons", json={"funnel": FUNNEL, "step": 2, "status": "dropped"}, headers=h)
    assert r.status_code == 200 and r.json() == {"items": ["carol", "gina"], "next_cursor": None}
    r = c.get(f"{A}/kpis", params={"start": "2026-03-02", "end": "2026-03-08", "channels": ["web", "app"],
                                   "as_of": "2026-04-30"}, headers=h)
    assert r.status_code == 200, r.text
    assert r.json()["channels"] == ["web", "app"] and r.json()["overall"]["current"]["orders"] == 2
    r = c.post(f"{A}/retention", json={"start": "2026-03-01", "end": "2026-03-08", "unit": "week", "periods": 1,
                                       "as_of": "2026-04-30"}, headers=h)
    assert r.status_code == 200, r.text
    assert [x["size"] for x in r.json()["cohorts"]] == [1, 6]  # frank was first seen on Sunday (day 0)
    r = c.post(f"{A}/paths", json={"start": "2026-03-02", "end": "2026-03-08", "event": "Product Added"}, headers=h)
    assert r.status_code == 200 and r.json()["occurrences"] == 6  # erin and gina added on day 8


def test_bad_definitions_and_permissions(api: Api) -> None:
    h, c = api.admin_headers(), api.client
    r = c.post(f"{A}/funnels", json={**FUNNEL, "order": "strict", "exclusions": [{"event": "X"}]}, headers=h)
    assert r.status_code == 422 and r.json()["error"]["code"] == "validation_error"
    r = c.post(f"{A}/funnels/persons", json={"funnel": FUNNEL, "step": 4}, headers=h)
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_analysis"
    r = c.get(f"{A}/kpis", params={"start": "2026-03-08", "end": "2026-03-02"}, headers=h)
    assert r.status_code == 422
    assert c.post(f"{A}/funnels", json=FUNNEL).status_code == 401
    assert c.post(f"{A}/funnels", json=FUNNEL, headers=token(api, [Scope.analytics_read])).status_code == 200
    other = [s for s in Scope if s is not Scope.analytics_read][:1]
    assert c.post(f"{A}/paths", json={**FUNNEL, "event": "x"}, headers=token(api, other)).status_code == 403
