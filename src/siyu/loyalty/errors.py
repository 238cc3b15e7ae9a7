from siyu.errors import Conflict, Forbidden, NotFound, SiyuError


class NotAMember(NotFound):
    code = "not_a_member"
    message = "This customer has not joined the membership programme."


class InsufficientPoints(Conflict):
    code = "insufficient_points"
    message = "Not enough points."


class AlreadyCheckedIn(Conflict):
    code = "already_checked_in"
    message = "Already checked in today."


class InvalidProgram(SiyuError):
    code = "invalid_program"
    status = 422
    message = "The programme configuration is not valid."


class ItemNotFound(NotFound):
    code = "mall_item_not_found"
    message = "No such points-mall item."


class ItemUnavailable(Conflict):
    code = "mall_item_unavailable"
    message = "This item is not available (inactive, out of stock, or not for your tier)."


class LimitReached(Conflict):
    code = "mall_limit_reached"
    message = "You have redeemed this item as many times as allowed."


class TierRequired(Forbidden):
    code = "tier_required"
    message = "This needs a higher membership tier."


class RedemptionRefused(Conflict):
    code = "points_redemption_refused"
    message = "Points cannot pay for this (order state, minimum or maximum share)."


class QuestNotFound(NotFound):
    code = "quest_not_found"
    message = "No such quest."


class CashNeedsGoods(SiyuError):
    """Points plus money is paid as an order of the item's SKU (the special price is its cash part); virtual
    goods and coupons have no SKU for an order to carry, so they are for points only."""

    code = "mall_cash_needs_goods"
    status = 422
    message = "Points plus money is only for goods items with a SKU (the money is paid as an order of it)."


class RedemptionNotFound(NotFound):
    code = "redemption_not_found"
    message = "No such redemption."


class RedemptionNotPayable(Conflict):
    code = "redemption_not_payable"
    message = "This redemption is not waiting for its money (ordered already, completed, given back or too late)."


class MallOrderQuantity(SiyuError):
    code = "mall_order_quantity"
    status = 422
    message = "The order must hold exactly the quantity redeemed."
