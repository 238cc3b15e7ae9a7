from siyu.errors import SiyuError, Unauthorized


class InvalidBody(SiyuError):
    code = "invalid_json"
    status = 400
    message = "The body is not valid JSON (UTF-8)."


class PayloadTooLarge(SiyuError):
    code = "payload_too_large"
    status = 413
    message = "The request body is larger than allowed."


class InvalidMessage(SiyuError):
    """A single-call endpoint's message failed validation; ``code`` says why."""

    status = 400
    code = "invalid_message"


class MissingWriteKey(Unauthorized):
    code = "missing_write_key"
    message = "Send the source's write key (Basic auth username, or writeKey in the body)."


class InvalidWriteKey(Unauthorized):
    code = "invalid_write_key"
    message = "The write key is unknown, rotated away, or its source is disabled."


class RateLimited(SiyuError):
    code = "rate_limited"
    status = 429
    message = "Too many events for this source; retry after the number of seconds in Retry-After."


class AllRejected(SiyuError):
    code = "all_messages_rejected"
    status = 400
    message = "Every message in the batch was rejected; see details."
