from siyu.errors import Conflict, Forbidden, NotFound, SiyuError


class RuleNotFound(NotFound):
    code = "group_buy_rule_not_found"
    message = "No such group-buy rule."


class GroupNotFound(NotFound):
    code = "group_not_found"
    message = "No such group."


class ShareNotFound(NotFound):
    code = "share_not_found"
    message = "No such share link."


class InvalidRule(SiyuError):
    code = "invalid_group_buy_rule"
    status = 422
    message = "The group-buy rule is not valid."


class RuleNotLive(Conflict):
    code = "group_buy_not_live"
    message = "This group-buy is not running now."


class WrongChannel(SiyuError):
    code = "group_buy_wrong_channel"
    status = 422
    message = "This group-buy is not offered in this channel."


class GroupFull(Conflict):
    code = "group_full"
    message = "The group is full."


class GroupExpired(Conflict):
    code = "group_expired"
    message = "The group has expired."


class GroupFailed(Conflict):
    code = "group_failed"
    message = "The group failed to fill in time."


class GroupNotOpen(Conflict):
    code = "group_not_open"
    message = "The group's leader has not paid yet."


class AlreadyInGroup(Conflict):
    code = "already_in_group"
    message = "This customer already holds a seat in the group."


class MemberLimitReached(Conflict):
    code = "group_member_limit"
    message = "This customer has joined as many groups of this rule as allowed."


class NotYourGroup(Forbidden):
    code = "not_your_group"
    message = "This is not the caller's group."
