from __future__ import annotations

import typer

from siyu.auth import service
from siyu.auth.schemas import Role, Scope
from siyu.kit.cli import cli_session, print_json, print_table

app = typer.Typer(help="Platform API tokens.", no_args_is_help=True)


@app.command("create")
def create(
    role: Role = typer.Option(Role.admin, help="admin: everything; operator: customers, not credentials; "
                              "server: a brand server's secret key with --scope"),
    name: str = typer.Option("operator"),
    scope: list[Scope] = typer.Option([], "--scope", help="Scopes of a server key (repeat)"),
    json: bool = typer.Option(False, "--json"),
) -> None:
    """Create a token; prints it once (use it as Authorization: Bearer TOKEN)."""
    with cli_session() as session:
        token, secret = service.create_token(session, role, name, scope)
        token_id, scopes = token.id, token.scopes
    if json:
        print_json({"id": token_id, "role": role.value, "scopes": scopes, "token": secret})
    else:
        print(secret)


@app.command("list")
def list_() -> None:
    with cli_session() as session:
        rows = [[t.id, t.role, t.name, " ".join(t.scopes or []), t.prefix + "…", t.revoked_at]
                for t in service.list_tokens(session)]
    print_table(["id", "role", "name", "scopes", "prefix", "revoked"], rows)


@app.command("revoke")
def revoke(token_id: str) -> None:
    with cli_session() as session:
        found = service.revoke_token(session, token_id)
    if found is None:
        raise typer.Exit(code=1)
    print(f"revoked {token_id}")
