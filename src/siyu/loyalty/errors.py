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
