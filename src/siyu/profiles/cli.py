"""``siyu persons ...``: read a unified profile from the configured database (safe while a server runs)."""

from __future__ import annotations

import json as jsonlib

import typer

from siyu.identity import service as identity
from siyu.identity.cli import operator_session, print_rows, when
from siyu.identity.kinds import Kind
from siyu.kit.cli import print_json
from siyu.profiles import service
from siyu.profiles.schemas import PersonOut

app = typer.Typer(help="Persons: unified profiles across channels.", no_args_is_help=True)


def show(p: PersonOut) -> None:
    print_rows(["person", p.id], [["created", when(p.created_at)], ["orders", p.counters.orders],
                                  ["revenue (fen)", p.counters.revenue_fen],
                                  ["last order", when(p.counters.last_order_at)],
                                  ["merged from", " ".join(p.merged_from) or None]], whole={p.id})
    print_rows(["kind", "value"], [[i.kind, i.value] for i in p.identifiers], title="identifiers")
    if p.channels:
        print_rows(["channel", "first seen (UTC)", "last seen (UTC)"],
                    [[c.channel, when(c.first_seen), when(c.last_seen)] for c in p.channels], title="channels")
    if p.traits:
        print_rows(["trait", "value"],
                    [[k, v if isinstance(v, str) else jsonlib.dumps(v, ensure_ascii=False)]
                     for k, v in p.traits.items()], title="traits")


@app.command("get")
def get(person_id: str, json: bool = typer.Option(False, "--json", help="Print JSON")) -> None:
    """A person by id; an id merged into another answers the surviving person."""
    with operator_session() as session:
        out = service.profile(session, person_id)
    if json:
        print_json(out.model_dump(mode="json"))
    else:
        show(out)


@app.command("find")
def find(
    kind: Kind = typer.Argument(..., help="user_id, wechat_unionid, phone, email, wechat_openid, device_id or "
                                "anonymous_id"),
    value: str = typer.Argument(..., help="Any common format (phones: CN by default); an OpenID is APPID:OPENID "
                                "or give --app-id"),
    app_id: str | None = typer.Option(None, "--app-id", help="The WeChat app id of an OpenID"),
    json: bool = typer.Option(False, "--json", help="Print JSON"),
) -> None:
    """The person holding an identifier."""
    if app_id is not None and kind is Kind.wechat_openid:
        value = f"{app_id}:{value}"
    with operator_session() as session:
        out = service.profile(session, identity.person_by_identifier(session, kind.value, value))
    if json:
        print_json(out.model_dump(mode="json"))
    else:
        show(out)
