from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field


class Role(StrEnum):
    admin = "admin"  # everything, including sources and tokens
    operator = "operator"  # the operator console: read and manage customers, not credentials
    server = "server"  # a brand server's secret API key: only its scopes
    member = "member"  # an end customer's short-lived member token: only their own data


class Scope(StrEnum):
    persons_read = "persons:read"
    identity_write = "identity:write"  # trusted logins: assert verified identities, issue member tokens
    identity_admin = "identity:admin"  # merge, unmerge, conflicts
    catalog_write = "catalog:write"  # products, listings, locations, stock
    orders_read = "orders:read"  # every customer's orders
    orders_write = "orders:write"  # orders for any customer, payments, fulfilment, refunds, after-sales
    loyalty_read = "loyalty:read"  # every member's account and ledger
    loyalty_write = "loyalty:write"  # join members, grant and spend points, check in for a member
    promotions_write = "promotions:write"  # issue coupons, create promotions
    analytics_read = "analytics:read"  # every report and the read-only query API's answers


OPERATOR_SCOPES = frozenset(Scope)


class TokenCreate(BaseModel):
    role: Role = Role.admin
    name: str = Field(default="operator", min_length=1, max_length=200)
    scopes: list[Scope] = Field(default_factory=list, description="For server keys; admin and operator tokens "
                                "have every scope.")


class TokenCreated(BaseModel):
    id: str
    role: Role
    name: str
    scopes: list[Scope]
    token: str = Field(description="Shown once; only its hash is stored.")


class TokenOut(BaseModel):
    id: str
    role: Role
    name: str
    scopes: list[Scope]
    prefix: str
    created_at: datetime
    revoked_at: datetime | None
