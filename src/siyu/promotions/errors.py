from siyu.errors import Conflict, Forbidden, NotFound, SiyuError


class TemplateNotFound(NotFound):
    code = "coupon_template_not_found"
    message = "No such coupon template."


class CouponNotFound(NotFound):
    code = "coupon_not_found"
    message = "No such coupon."


class SoldOut(Conflict):
    code = "coupons_sold_out"
    message = "All coupons of this template have been issued."


class CouponLimitReached(Conflict):
    code = "coupon_limit_reached"
    message = "This customer already has as many of these coupons as allowed."


class NotClaimable(Forbidden):
    code = "coupon_not_claimable"
    message = "This coupon cannot be claimed (inactive, granted only, or not for you)."


class CouponNotUsable(SiyuError):
    code = "coupon_not_usable"
    status = 422
    message = "A coupon cannot be used on this order."


class CouponInUse(Conflict):
    code = "coupon_in_use"
    message = "The coupon is already locked by another order or used."


class InvalidTemplate(SiyuError):
    code = "invalid_coupon_template"
    status = 422
    message = "The coupon template is not valid."


class UnknownPromotion(SiyuError):
    code = "unknown_promotion"
    status = 422
    message = "No such promotion kind."
