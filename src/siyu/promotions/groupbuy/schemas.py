from __future__ import annotations

from datetime import datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from siyu.catalog.schemas import SaleChannel

MAX_FEN = 10**12


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RuleIn(Strict):
    name: str = Field(min_length=1, max_length=200)
    sku_id: str = Field(max_length=32)
    channels: list[SaleChannel] = Field(default_factory=list, description="Only in these channels (all if empty).")
    group_price_fen: int = Field(ge=0, le=MAX_FEN, description="What each member pays per unit.")
    leader_price_fen: int | None = Field(default=None, ge=0, le=MAX_FEN,
                                         description="What the leader (团长) pays per unit, if less.")
    size: int = Field(ge=2, le=100, description="Members (the leader included) for the group to succeed.")
    duration_minutes: int = Field(ge=1, le=60 * 24 * 30, description="How long a group may take to fill.")
    per_member_limit: int = Field(default=1, ge=1, le=100, description="Seats one customer may hold across "
                                  "the groups of this rule.")
    max_quantity: int = Field(default=1, ge=1, le=99, description="Units per order at the group price.")
    starts_at: AwareDatetime | None = Field(default=None, description="Now if not given.")
    ends_at: AwareDatetime | None = Field(default=None, description="No new groups open after this.")

    @model_validator(mode="after")
    def _shape(self) -> RuleIn:
        if self.leader_price_fen is not None and self.leader_price_fen > self.group_price_fen:
            raise ValueError("leader_price_fen is a discount: at most group_price_fen")
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self


class RuleOut(BaseModel):
    id: str
    name: str
    sku_id: str
    channels: list[str]
    group_price_fen: int
    leader_price_fen: int | None
    size: int
    duration_minutes: int
    per_member_limit: int
    max_quantity: int
    starts_at: datetime
    ends_at: datetime | None
    active: bool
    created_at: datetime


class SeatOut(BaseModel):
    seat: int
    role: str
    seated_at: datetime | None


class GroupOut(BaseModel):
    id: str
    rule_id: str
    sku_id: str
    status: str = Field(description="opening (the leader has not paid) | forming | succeeded | failed")
    size: int
    seats_paid: int
    seats_left: int
    leader_person_id: str
    channel: str
    group_price_fen: int
    leader_price_fen: int | None
    expires_at: datetime
    created_at: datetime
    opened_at: datetime | None
    closed_at: datetime | None
    seats: list[SeatOut]


class MemberOut(BaseModel):
    id: str
    group_id: str
    order_id: str
    person_id: str
    role: str
    status: str
    seat: int | None
    reason: str | None
    channel: str
    created_at: datetime
    seated_at: datetime | None
    closed_at: datetime | None


class ShareIn(Strict):
    channel: SaleChannel = Field(description="Where the link is shared from.")
    person_id: str | None = Field(default=None, max_length=32, description="Servers: who shares.")
    utm_source: str | None = Field(default=None, max_length=100)
    utm_medium: str | None = Field(default=None, max_length=100)
    utm_campaign: str | None = Field(default=None, max_length=100)


class ShareOut(BaseModel):
    id: str
    kind: str
    target_id: str
    sharer_person_id: str
    channel: str
    utm_source: str
    utm_medium: str
    utm_campaign: str
    path: str = Field(description="The page path with the target, the share id and the UTM tags.")
    opens: int
    created_at: datetime


class OpenIn(Strict):
    channel: SaleChannel = Field(description="Where the link was opened.")
    person_id: str | None = Field(default=None, max_length=32, description="Servers: who opened it.")
    anonymous_id: str | None = Field(default=None, max_length=200,
                                     description="Servers: the visitor's anonymous id, if not a known person.")


class GroupShareOpened(BaseModel):
    share: ShareOut
    group: GroupOut
