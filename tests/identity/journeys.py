"""Helpers for identity tests: send messages through the tracking API and read persons back."""

from __future__ import annotations

import base64
import itertools
from typing import Any

from tests.conftest import Api

_ids = itertools.count()


def basic(key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


def msg(type_: str, **kw: Any) -> dict[str, Any]:
    m: dict[str, Any] = {"type": type_, "messageId": f"id-{next(_ids)}"}
    if type_ == "track":
        m["event"] = kw.pop("event", "Product Viewed")
    m.update(kw)
    return m


def send(api: Api, channel: str, *messages: dict[str, Any]) -> None:
    r = api.client.post("/v1/batch", json={"batch": list(messages)}, headers=basic(api.keys[channel]))
    assert r.status_code == 200 and not r.json()["rejected"], r.text


def person(api: Api, kind: str, value: str) -> dict[str, Any] | None:
    r = api.client.get(f"/api/v1/persons/by-identifier/{kind}/{value}", headers=api.admin_headers())
    if r.status_code == 404:
        assert r.json()["error"]["code"] == "person_not_found"
        return None
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def person_id(api: Api, kind: str, value: str) -> str | None:
    p = person(api, kind, value)
    return p["id"] if p else None


def identifiers(p: dict[str, Any]) -> set[tuple[str, str]]:
    return {(i["kind"], i["value"]) for i in p["identifiers"]}
