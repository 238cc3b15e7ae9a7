from siyu.errors import Conflict, Forbidden, NotFound, SiyuError


class CampaignNotFound(NotFound):
    code = "bargain_campaign_not_found"
    message = "No such bargain campaign."


class BargainNotFound(NotFound):
    code = "bargain_not_found"
    message = "No such bargain."


class InvalidCampaign(SiyuError):
    code = "invalid_bargain_campaign"
    status = 422
    message = "The bargain campaign is not valid."


class CampaignNotLive(Conflict):
    code = "bargain_not_live"
    message = "This bargain campaign is not running now."


class WrongChannel(SiyuError):
    code = "bargain_wrong_channel"
    status = 422
    message = "This bargain campaign is not offered in this channel."


class BargainLimitReached(Conflict):
    code = "bargain_limit_reached"
    message = "This customer has started as many bargains in this campaign as allowed."


class BargainExpired(Conflict):
    code = "bargain_expired"
    message = "The bargain has expired."


class BargainComplete(Conflict):
    code = "bargain_complete"
    message = "The bargain is already at its floor price; no more cuts."


class SelfHelpRefused(Conflict):
    code = "self_help_refused"
    message = "A customer cannot help their own bargain (from any of their identities)."


class AlreadyHelped(Conflict):
    code = "already_helped"
    message = "This helper has already cut this bargain."


class HelpLimitReached(Conflict):
    code = "help_limit_reached"
    message = "This helper has cut as many bargains today as allowed."


class NotYourBargain(Forbidden):
    code = "not_your_bargain"
    message = "Only the customer who started the bargain can buy with it."


class BargainNotReached(Conflict):
    code = "bargain_not_reached"
    message = "The bargain has not reached its floor price yet."


class BargainUsed(Conflict):
    code = "bargain_used"
    message = "The bargain is already used by an order."
