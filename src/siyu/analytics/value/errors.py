from siyu.errors import Conflict, NotFound, SiyuError


class NotEnoughData(SiyuError):
    code = "not_enough_data"
    status = 422
    message = "There is not enough order history for this analysis."


class FitFailed(SiyuError):
    code = "fit_failed"
    status = 422
    message = "The model could not be fitted to this order history."


class TooManyRows(SiyuError):
    code = "too_many_rows"
    status = 422
    message = "The analysis needs more rows than one query may return; narrow the period."


class BadSegments(SiyuError):
    code = "bad_segments"
    status = 422
    message = "The segment definitions are not valid."


class SpendNotFound(NotFound):
    code = "spend_not_found"
    message = "No such spend entry."


class DuplicateSpend(Conflict):
    code = "duplicate_spend"
    message = "There is already a spend entry for this channel, campaign and period."


class BadSpendFile(SiyuError):
    code = "bad_spend_file"
    status = 422
    message = "The spend file could not be read."
