from siyu.errors import Forbidden, SiyuError, Unauthorized


class InvalidToken(Unauthorized):
    code = "invalid_token"
    message = "The bearer token is missing, unknown, expired or revoked."


class AdminRequired(Forbidden):
    code = "admin_required"
    message = "This needs an operator (admin) token."


class ScopeRequired(Forbidden):
    code = "scope_required"
    message = "This token lacks the scope this call needs."


class NotYourData(Forbidden):
    code = "not_your_data"
    message = "A member token reads only its own member's data."


class RoleNotIssuable(SiyuError):
    code = "role_not_issuable"
    status = 422
    message = "Member tokens are issued by the login call, not created here."
