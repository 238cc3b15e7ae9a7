from siyu.errors import Forbidden, Unauthorized


class InvalidToken(Unauthorized):
    code = "invalid_token"
    message = "The bearer token is missing, unknown, expired or revoked."


class AdminRequired(Forbidden):
    code = "admin_required"
    message = "This needs an operator (admin) token."
