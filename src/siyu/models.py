"""Every database model, imported in one place so metadata is complete (migrations, tests)."""

from siyu.analytics.value.models import AcquisitionSpend
from siyu.auth.models import ApiToken, SigningKey
from siyu.catalog.models import Category, Listing, Location, Product, Sku, Stock
from siyu.db import Base
from siyu.identity.models import (
    Identifier,
    IdentifierChannel,
    IdentifierTrait,
    IdentityClock,
    IdentityConflict,
    IdentityMerge,
    IdentitySeparation,
    Person,
    PersonCounters,
    TraitChange,
)
from siyu.imports.models import ImportedMember, ImportRowError, ImportRun
from siyu.loyalty.models import (
    CheckIn,
    GrowthEntry,
    MallItem,
    Member,
    PointEntry,
    PointLot,
    Program,
    Quest,
    QuestAction,
    QuestCompletion,
    Redemption,
    SpendPart,
    TierChange,
)
from siyu.orders.models import CommercePolicy, Order, OrderLine, Payment, Refund, ReturnRequest, Shipment
from siyu.outbox.models import IdempotencyRecord, InboxMessage, OutboxMessage
from siyu.promotions.bargain.models import Bargain, BargainCampaign, BargainCut
from siyu.promotions.flash.models import FlashHolding, FlashReservation, FlashSession
from siyu.promotions.groupbuy.models import GroupBuyGroup, GroupBuyMember, GroupBuyRule, PromotionShare
from siyu.promotions.links.models import ChannelLink
from siyu.promotions.models import Coupon, CouponTemplate, EarlyAccess, PriceSchedule
from siyu.promotions.referral.models import (
    InviteCode,
    LedgerEntry,
    LedgerHead,
    Referral,
    ReferralProgram,
    ReferralReward,
)
from siyu.sources.models import Source, SourceKey

__all__ = [
    "AcquisitionSpend",
    "ApiToken",
    "Bargain",
    "BargainCampaign",
    "BargainCut",
    "Base",
    "Category",
    "ChannelLink",
    "CheckIn",
    "CommercePolicy",
    "Coupon",
    "CouponTemplate",
    "EarlyAccess",
    "FlashHolding",
    "FlashReservation",
    "FlashSession",
    "GroupBuyGroup",
    "GroupBuyMember",
    "GroupBuyRule",
    "GrowthEntry",
    "IdempotencyRecord",
    "Identifier",
    "IdentifierChannel",
    "IdentifierTrait",
    "IdentityClock",
    "IdentityConflict",
    "IdentityMerge",
    "IdentitySeparation",
    "ImportRowError",
    "ImportRun",
    "ImportedMember",
    "InboxMessage",
    "InviteCode",
    "LedgerEntry",
    "LedgerHead",
    "Listing",
    "Location",
    "MallItem",
    "Member",
    "Order",
    "OrderLine",
    "OutboxMessage",
    "Payment",
    "Person",
    "PersonCounters",
    "PointEntry",
    "PointLot",
    "PriceSchedule",
    "Product",
    "Program",
    "PromotionShare",
    "Quest",
    "QuestAction",
    "QuestCompletion",
    "Redemption",
    "Referral",
    "ReferralProgram",
    "ReferralReward",
    "Refund",
    "ReturnRequest",
    "Shipment",
    "SigningKey",
    "Sku",
    "Source",
    "SourceKey",
    "SpendPart",
    "Stock",
    "TierChange",
    "TraitChange",
]
