from siyu.errors import NotFound, SiyuError


class LinkNotFound(NotFound):
    code = "link_not_found"
    message = "No such link."


class LinkExpired(SiyuError):
    code = "link_expired"
    status = 410
    message = "This link has expired."


class InvalidLink(SiyuError):
    code = "invalid_link"
    status = 422
    message = "The link is not valid."
