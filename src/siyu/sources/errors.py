from siyu.errors import NotFound


class SourceNotFound(NotFound):
    code = "source_not_found"
    message = "No such source."
