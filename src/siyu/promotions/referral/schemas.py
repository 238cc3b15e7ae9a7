from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

from siyu.catalog.schemas import SaleChannel


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Trigger(StrEnum):
    signup = "signup"  # the invitee joined the membership programme (or was bound right after joining)
    first_purchase = "first_purchase"  # the invitee's first paid order after being bound
    every_purchase = "every_purchase"  # each paid order of the invitee after being bound


class Grant(Strict):
    """What one side gets when a trigger fires: points and/or one coupon of a template."""

    points: int = Field(default=0, ge=0, le=1_000_000)
    coupon_template_id: str | None = Field(default=None, max_length=32)


class TriggerRewards(Strict):
    referrer: Grant = Field(default_factory=Grant)
    invitee: Grant = Field(default_factory=Grant)


class ProgramIn(Strict):
    enabled: bool = True
    rewards: dict[Trigger, TriggerRewards] = Field(default_factory=dict, description=(
        "Per trigger, what the referrer and the invitee get."))
    min_order_fen: int = Field(default=0, ge=0, le=10**10, description="Smaller paid orders trigger nothing.")
    referrer_monthly_cap: int = Field(default=0, ge=0, le=1_000_000, description=(
        "Rewards one referrer may receive per calendar month (in ``timezone``); 0 = no cap."))
    referrer_total_cap: int = Field(default=0, ge=0, le=1_000_000, description="Ever; 0 = no cap.")
    new_customers_only: bool = Field(default=True, description="Refuse to bind an invitee with a paid order.")
    bind_window_hours: int = Field(default=72, ge=0, le=24 * 365, description=(
        "A member may still be bound this long after joining (0: only before joining)."))
    timezone: str = Field(default="Asia/Shanghai", max_length=64)
    landing_url: str | None = Field(default=None, max_length=1000, pattern=r"^https?://\S+$", description=(
        "The website's invite page: invite links open it with ?ref=<code> and UTM parameters."))
    miniprogram_page: str | None = Field(default=None, max_length=256, pattern=r"^[A-Za-z0-9_\-./]+$",
                                         description="The mini-program's invite page (path?ref=<code>).")
    utm_source: str = Field(default="referral", min_length=1, max_length=100)
    utm_medium: str = Field(default="invite", min_length=1, max_length=100)
    campaign: str = Field(default="referral", min_length=1, max_length=100, description="utm_campaign.")

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError("unknown time zone") from exc
        return v


class ProgramOut(ProgramIn):
    updated_at: datetime | None


class InviteRequest(Strict):
    person_id: str | None = Field(default=None, max_length=32, description="Servers and operators: whose.")


class InviteOut(BaseModel):
    code: str
    person_id: str
    url: str | None = Field(description="The website invite URL (with ?ref and UTM), if a landing page is set.")
    link_id: str | None = Field(description="The invite's channel link (its QR code: /links/{id}/qr.png).")
    short_path: str | None = Field(description="The invite's short link on this server: /l/<code>.")
    miniprogram_path: str | None = Field(description="The mini-program invite page with ?ref=<code>.")
    scene: str = Field(description="The scene value for the invite's mini-program code (r=<code>).")


class BindRequest(Strict):
    code: str = Field(min_length=4, max_length=32)
    channel: SaleChannel = SaleChannel.miniprogram
    person_id: str | None = Field(default=None, max_length=32, description="Servers and operators: the invitee.")


class ReferralOut(BaseModel):
    id: str
    code: str
    referrer_person_id: str
    invitee_person_id: str
    channel: str
    status: str
    void_reason: str | None
    first_order_id: str | None
    bound_at: datetime


class RewardOut(BaseModel):
    id: str
    referral_id: str
    trigger: str
    ref: str
    beneficiary: str
    person_id: str
    status: str
    points: int
    coupon_template_id: str | None
    coupon_id: str | None
    note: str
    ledger_seq: int | None
    at: datetime


class SummaryOut(BaseModel):
    code: str | None
    invited: int = Field(description="Customers bound to this referrer.")
    referred_by: ReferralOut | None
    rewards: list[RewardOut] = Field(description="The newest rewards (as referrer or invitee), up to 100.")


class Checkpoint(BaseModel):
    seq: int
    hash: str


class VerifyOut(BaseModel):
    ok: bool
    entries: int
    first_bad: int | None = Field(description="The sequence number of the first entry that fails (or is missing).")
    reason: str | None
    checkpoint: Checkpoint


class EntryOut(BaseModel):
    seq: int
    payload: str = Field(description="Canonical JSON, exactly as hashed.")
    prev_hash: str
    hash: str


class LedgerPage(BaseModel):
    items: list[EntryOut]
    next_after: int | None
