"""Flash-sale errors (codes are stable: clients show a message per code)."""

from siyu.errors import Conflict, Forbidden, NotFound, SiyuError, Unavailable


class FlashSessionNotFound(NotFound):
    code = "flash_session_not_found"
    message = "No such flash sale."


class FlashNotStarted(Conflict):
    code = "flash_not_started"
    message = "The flash sale has not started yet."


class FlashEnded(Conflict):
    code = "flash_ended"
    message = "The flash sale has ended."


class FlashSoldOut(Conflict):
    code = "flash_sold_out"
    message = "The flash sale's quota is taken."


class FlashLimitReached(Conflict):
    code = "flash_limit_reached"
    message = "This customer already holds as many units of this flash sale as allowed."


class FlashWrongChannel(Forbidden):
    code = "flash_wrong_channel"
    message = "This flash sale is not open in this channel."


class InvalidFlashSession(SiyuError):
    code = "invalid_flash_session"
    status = 422
    message = "The flash sale is not valid."


class ReservationNotFound(NotFound):
    code = "flash_reservation_not_found"
    message = "No such flash-sale reservation for this customer."


class ReservationExpired(Conflict):
    code = "reservation_expired"
    message = "The flash-sale reservation has expired; its unit went back to the quota."


class ReservationUsed(Conflict):
    code = "reservation_used"
    message = "The flash-sale reservation is already used by an order (or was given back)."


class FlashCounterElsewhere(Unavailable):
    code = "flash_counter_elsewhere"
    message = "This flash sale's quota is kept by another store (Redis or the database) than this server uses."


class FlashBusy(Unavailable):
    code = "flash_busy"
    message = "The flash sale could not record the reservation; retry."
