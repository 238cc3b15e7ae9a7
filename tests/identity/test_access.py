"""Who may read and change identity over the platform API (/api/v1): write keys nothing; server keys what
their scopes say; operators customers but not credentials; member tokens their own person only."""

from __future__ import annotations

import base64
import json
from typing import Any

import jwt
from sqlalchemy import select

from siyu.auth import tokens
from siyu.auth.models import SigningKey
from tests.conftest import Api
from tests.identity.journeys import basic, msg, person_id, send


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def make_token(api: Api, role: str, *scopes: str) -> tuple[str, str]:
    """(token id, secret) of a new platform API token, made by the admin."""
    r = api.client.post("/api/v1/tokens", json={"role": role, "name": f"{role} test", "scopes": list(scopes)},
                        headers=api.admin_headers())
    assert r.status_code == 201, r.text
    return r.json()["id"], r.json()["token"]


def login(api: Api, **body: Any) -> dict[str, Any]:
    r = api.client.post("/api/v1/identity/login", json=body, headers=api.admin_headers())
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def error(r: Any, status: int, code: str) -> None:
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code, r.text


def people(api: Api) -> tuple[str, str]:
    """Two customers with events and traits: 'ming' and 'hong'."""
    send(api, "web",
         msg("identify", userId="ming", anonymousId="ming-browser", traits={"phone": "13800000001", "tier": "gold"}),
         msg("track", userId="ming", event="Product Viewed"),
         msg("identify", userId="hong", traits={"phone": "13800000002"}),
         msg("track", userId="hong", event="Order Completed"))
    api.drain()
    ming, hong = person_id(api, "user_id", "ming"), person_id(api, "user_id", "hong")
    assert ming and hong
    return ming, hong


def reads(person: str) -> list[tuple[str, str, dict[str, Any] | None]]:
    """Every person read (method, path, body)."""
    return [("GET", f"/api/v1/persons/{person}", None),
            ("GET", f"/api/v1/persons/{person}/timeline", None),
            ("GET", f"/api/v1/persons/{person}/traits/history", None),
            ("GET", f"/api/v1/persons/{person}/identity-history", None),
            ("GET", "/api/v1/persons/by-identifier/user_id/ming", None)]


def admin_calls(person: str, other: str) -> list[tuple[str, str, dict[str, Any] | None]]:
    """Identity administration (``identity:admin``)."""
    return [("GET", "/api/v1/identity/conflicts", None),
            ("POST", "/api/v1/identity/merges", {"into_person": person, "from_person": other, "reason": "x"}),
            ("GET", "/api/v1/identity/merges/no-such-merge", None),
            ("POST", "/api/v1/identity/merges/no-such-merge/undo", None),
            ("POST", "/api/v1/identity/conflicts/no-such-conflict/dismiss", None)]


def credential_calls() -> list[tuple[str, str, dict[str, Any] | None]]:
    """Credentials and raw events: admin only."""
    return [("POST", "/api/v1/tokens", {"role": "admin"}), ("GET", "/api/v1/tokens", None),
            ("POST", "/api/v1/sources", {"channel": "web", "name": "x"}), ("GET", "/api/v1/sources", None),
            ("POST", "/api/v1/query", {"sql": "SELECT count(*) FROM events"})]


def call(api: Api, headers: dict[str, str], method: str, path: str, body: dict[str, Any] | None) -> Any:
    return api.client.request(method, path, json=body, headers=headers)


def test_write_keys_and_source_tokens_read_nothing(api: Api) -> None:
    ming, hong = people(api)
    r = api.client.post(f"/api/v1/sources/{api.source_ids['server']}/bearer-token", headers=api.admin_headers())
    source_bearer = r.json()["key"]
    login_call = ("POST", "/api/v1/identity/login", {"user_id": "ming"})
    for headers in (basic(api.keys["web"]), bearer(api.keys["web"]), bearer(source_bearer), basic(api.admin), {}):
        for method, path, body in [*reads(ming), ("GET", "/api/v1/me", None), login_call,
                                   *admin_calls(ming, hong), *credential_calls()]:
            error(call(api, headers, method, path, body), 401, "invalid_token")
    assert person_id(api, "user_id", "hong") == hong  # the merge attempts did nothing


def test_server_keys_get_what_their_scopes_say(api: Api) -> None:
    ming, hong = people(api)
    _, bare = make_token(api, "server")
    _, reader = make_token(api, "server", "persons:read")
    _, writer = make_token(api, "server", "identity:write")
    _, admin = make_token(api, "server", "identity:admin")
    login_call = ("POST", "/api/v1/identity/login", {"user_id": "ming"})

    for method, path, body in reads(ming):
        error(call(api, bearer(bare), method, path, body), 403, "scope_required")
        error(call(api, bearer(writer), method, path, body), 403, "scope_required")
        r = call(api, bearer(reader), method, path, body)
        assert r.status_code == 200, (path, r.text)
    r = api.client.get(f"/api/v1/persons/{ming}", headers=bearer(bare))
    assert r.json()["error"]["details"] == {"scope": "persons:read"}

    for key in (bare, reader, admin):
        error(call(api, bearer(key), *login_call), 403, "scope_required")
    r = call(api, bearer(writer), *login_call)
    assert r.status_code == 200 and r.json()["person_id"] == ming

    for method, path, body in admin_calls(ming, hong):
        for key in (bare, reader, writer):
            error(call(api, bearer(key), method, path, body), 403, "scope_required")
    r = api.client.get("/api/v1/identity/conflicts?status=all", headers=bearer(admin))
    assert r.status_code == 200
    r = api.client.post("/api/v1/identity/merges", headers=bearer(admin),
                        json={"into_person": ming, "from_person": hong, "reason": "same customer"})
    assert r.status_code == 201 and r.json()["actor"].startswith("server:")
    assert api.client.post(f"/api/v1/identity/merges/{r.json()['id']}/undo", headers=bearer(admin)).status_code == 200

    for key in (bare, reader, writer, admin):
        for method, path, body in credential_calls():
            error(call(api, bearer(key), method, path, body), 403, "admin_required")
        error(api.client.get("/api/v1/me", headers=bearer(key)), 403, "not_your_data")


def test_operators_do_identity_work_but_not_credentials(api: Api) -> None:
    ming, hong = people(api)
    _, operator = make_token(api, "operator")
    for method, path, body in reads(ming):
        assert call(api, bearer(operator), method, path, body).status_code == 200, path
    r = api.client.post("/api/v1/identity/merges", headers=bearer(operator),
                        json={"into_person": ming, "from_person": hong, "reason": "same customer"})
    assert r.status_code == 201 and r.json()["actor"].startswith("operator:")
    undo = api.client.post(f"/api/v1/identity/merges/{r.json()['id']}/undo", headers=bearer(operator))
    assert undo.status_code == 200
    assert api.client.get("/api/v1/identity/conflicts", headers=bearer(operator)).status_code == 200
    r = api.client.post("/api/v1/identity/login", headers=bearer(operator), json={"user_id": "ming"})
    assert r.status_code == 200 and r.json()["person_id"] == ming
    for method, path, body in credential_calls():
        error(call(api, bearer(operator), method, path, body), 403, "admin_required")
    # an operator cannot mint itself an admin token (nor a server key with scopes)
    r = api.client.post("/api/v1/tokens", headers=bearer(operator), json={"role": "server", "scopes": ["persons:read"]})
    error(r, 403, "admin_required")
    error(api.client.get("/api/v1/me", headers=bearer(operator)), 403, "not_your_data")


def test_a_member_token_reads_its_own_person_only(api: Api) -> None:
    ming, hong = people(api)
    member = bearer(login(api, user_id="ming")["member_token"])

    me = api.client.get("/api/v1/me", headers=member)
    assert me.status_code == 200 and me.json()["id"] == ming and me.json()["traits"]["tier"] == "gold"
    assert api.client.get(f"/api/v1/persons/{ming}", headers=member).json()["id"] == ming
    timeline = api.client.get(f"/api/v1/persons/{ming}/timeline", headers=member)
    assert timeline.status_code == 200
    assert {e["event"] for e in timeline.json()["items"]} == {"Product Viewed", None}
    history = api.client.get(f"/api/v1/persons/{ming}/traits/history", headers=member)
    assert history.status_code == 200 and {t["key"] for t in history.json()} == {"phone", "tier"}

    # anyone else's data, or a person that does not exist, is not_your_data
    for other in (hong, "no-such-person"):
        for path in (f"/api/v1/persons/{other}", f"/api/v1/persons/{other}/timeline",
                     f"/api/v1/persons/{other}/traits/history"):
            error(api.client.get(path, headers=member), 403, "not_your_data")
    # nothing beyond its own person: no lookups, no identity work, no raw events, no credentials
    error(api.client.get("/api/v1/persons/by-identifier/user_id/ming", headers=member), 403, "scope_required")
    error(api.client.get(f"/api/v1/persons/{ming}/identity-history", headers=member), 403, "scope_required")
    error(api.client.post("/api/v1/identity/login", json={"user_id": "hong"}, headers=member), 403,
          "scope_required")
    for method, path, body in admin_calls(ming, hong):
        error(call(api, member, method, path, body), 403, "scope_required")
    for method, path, body in credential_calls():
        error(call(api, member, method, path, body), 403, "admin_required")


def test_a_member_token_follows_its_person_through_merges(api: Api) -> None:
    ming, hong = people(api)
    ming_token = bearer(login(api, user_id="ming")["member_token"])
    hong_token = bearer(login(api, user_id="hong")["member_token"])
    third = login(api, user_id="third")["person_id"]

    # ming is merged into hong: ming's token still works and now sees the surviving person
    r = api.client.post("/api/v1/identity/merges", headers=api.admin_headers(),
                        json={"into_person": hong, "from_person": ming, "reason": "same customer"})
    assert r.status_code == 201
    api.drain()
    for token in (ming_token, hong_token):
        me = api.client.get("/api/v1/me", headers=token)
        assert me.status_code == 200 and me.json()["id"] == hong and me.json()["merged_from"] == [ming]
        for pid in (ming, hong):
            got = api.client.get(f"/api/v1/persons/{pid}", headers=token)
            assert got.status_code == 200 and got.json()["id"] == hong
        timeline = api.client.get(f"/api/v1/persons/{ming}/timeline", headers=token)
        assert {e["user_id"] for e in timeline.json()["items"]} == {"ming", "hong"}
        error(api.client.get(f"/api/v1/persons/{third}", headers=token), 403, "not_your_data")

    # after the undo each token is back to its own person
    assert api.client.post(f"/api/v1/identity/merges/{r.json()['id']}/undo",
                           headers=api.admin_headers()).status_code == 200
    api.drain()
    assert api.client.get("/api/v1/me", headers=ming_token).json()["id"] == ming
    error(api.client.get(f"/api/v1/persons/{hong}", headers=ming_token), 403, "not_your_data")
    error(api.client.get(f"/api/v1/persons/{ming}/timeline", headers=hong_token), 403, "not_your_data")


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def test_expired_tampered_and_forged_member_tokens_are_refused(api: Api) -> None:
    ming, hong = people(api)
    good = login(api, user_id="ming")["member_token"]
    assert api.client.get("/api/v1/me", headers=bearer(good)).status_code == 200
    with api.runtime.db.session() as s:
        expired, _ = tokens.issue_member_token(s, ming, -1)
        kid = jwt.get_unverified_header(good)["kid"]
        secret = s.scalar(select(SigningKey.secret).where(SigningKey.id == kid))
    assert secret
    header, _, signature = good.split(".")
    claims = jwt.decode(good, options={"verify_signature": False})
    now = int(claims["iat"])
    base = {"iss": "siyu", "aud": "siyu-member", "iat": now, "exp": now + 3600}
    forged = [
        expired,
        # another person's id in the claims, the signature left as it was
        f"{header}.{_b64({**claims, 'sub': hong})}.{signature}",
        good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB"),
        # not signed at all, or signed with another key
        f"{_b64({'alg': 'none', 'typ': 'JWT', 'kid': kid})}.{_b64({**base, 'sub': hong})}.",
        jwt.encode({**base, "sub": hong}, "not-the-key-" * 4, algorithm="HS256", headers={"kid": kid}),
        # the right key, but an unknown key id, another audience or issuer, or no expiry
        jwt.encode({**base, "sub": hong}, secret, algorithm="HS256", headers={"kid": "other"}),
        jwt.encode({**base, "sub": hong, "aud": "someone-else"}, secret, algorithm="HS256", headers={"kid": kid}),
        jwt.encode({**base, "sub": hong, "iss": "elsewhere"}, secret, algorithm="HS256", headers={"kid": kid}),
        jwt.encode({"iss": "siyu", "aud": "siyu-member", "iat": now, "sub": hong}, secret, algorithm="HS256",
                   headers={"kid": kid}),
        "a.b.c",
        "..",
    ]
    for token in forged:
        error(api.client.get("/api/v1/me", headers=bearer(token)), 401, "invalid_token")
        error(api.client.get(f"/api/v1/persons/{hong}", headers=bearer(token)), 401, "invalid_token")
    # the key itself is fine: signed properly, the same claims are accepted
    ok = jwt.encode({**base, "sub": hong}, secret, algorithm="HS256", headers={"kid": kid})
    assert api.client.get("/api/v1/me", headers=bearer(ok)).json()["id"] == hong


def test_revoked_tokens_are_refused_at_once(api: Api) -> None:
    ming, _ = people(api)
    for role, scopes in (("admin", ()), ("operator", ()), ("server", ("persons:read", "identity:admin"))):
        token_id, token = make_token(api, role, *scopes)
        assert api.client.get(f"/api/v1/persons/{ming}", headers=bearer(token)).status_code == 200
        r = api.client.post(f"/api/v1/tokens/{token_id}/revoke", headers=api.admin_headers())
        assert r.status_code == 200 and r.json()["revoked_at"]
        error(api.client.get(f"/api/v1/persons/{ming}", headers=bearer(token)), 401, "invalid_token")
        error(api.client.get("/api/v1/identity/conflicts", headers=bearer(token)), 401, "invalid_token")
