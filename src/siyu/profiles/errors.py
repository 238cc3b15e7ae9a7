from siyu.errors import SiyuError


class InvalidCursor(SiyuError):
    code = "invalid_cursor"
    status = 400
    message = "The cursor is not one this API returned."
