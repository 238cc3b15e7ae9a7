from siyu.errors import Conflict, Forbidden, NotFound, SiyuError


class InviteCodeNotFound(NotFound):
    code = "invite_code_not_found"
    message = "No such invite code."


class ReferralNotFound(NotFound):
    code = "referral_not_found"
    message = "No such referral."


class SelfReferral(SiyuError):
    code = "self_referral"
    status = 422
    message = "A customer cannot invite themselves (the invite code belongs to the same customer)."


class AlreadyReferred(Conflict):
    code = "already_referred"
    message = "This customer was already invited by someone else."


class NotNewCustomer(Conflict):
    code = "referral_not_new_customer"
    message = "Only new customers can accept an invitation; this one has already bought."


class BindWindowClosed(Conflict):
    code = "referral_window_closed"
    message = "This customer joined too long ago to accept an invitation."


class ReferralClosed(Forbidden):
    code = "referral_program_disabled"
    message = "The referral programme is not running."


class InvalidReferralProgram(SiyuError):
    code = "invalid_referral_program"
    status = 422
    message = "The referral programme configuration is not valid."
