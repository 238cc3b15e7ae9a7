from siyu.errors import Conflict, Forbidden, NotFound, SiyuError


class OrderNotFound(NotFound):
    code = "order_not_found"
    message = "No such order."


class NotYourOrder(Forbidden):
    code = "not_your_order"
    message = "This order belongs to another customer."


class InvalidTransition(Conflict):
    code = "invalid_order_state"
    message = "The order is not in a state that allows this."


class PriceNotAccepted(SiyuError):
    code = "client_price_not_accepted"
    status = 422
    message = "Prices come from the channel listing; do not send one."


class CustomerRequired(SiyuError):
    code = "customer_required"
    status = 422
    message = "Say whose order this is: customer.person_id, or customer.kind and customer.value."


class PickupStoreRequired(SiyuError):
    code = "pickup_store_required"
    status = 422
    message = "Store pickup needs a pickup_location_id of a store that offers pickup."


class AddressRequired(SiyuError):
    code = "address_required"
    status = 422
    message = "Delivery needs an address."


class WrongPickupCode(SiyuError):
    code = "wrong_pickup_code"
    status = 422
    message = "The pickup code does not match."


class NotShipped(Conflict):
    code = "order_not_shipped"
    message = "Carrier updates are taken only for an order that was shipped."


class PickupLocked(Conflict):
    code = "pickup_locked"
    message = "Too many wrong pickup codes; an operator must release the order."


class PaymentNotFound(NotFound):
    code = "payment_not_found"
    message = "No such payment."


class UnknownProvider(SiyuError):
    code = "unknown_payment_provider"
    status = 422
    message = "Payment providers are: manual, webhook."


class ProviderNotConfigured(NotFound):
    code = "payment_provider_not_configured"
    message = "The webhook payment provider is off: it has no secret (SIYU_PAYMENT_WEBHOOK_SECRET)."


class BadSignature(SiyuError):
    code = "invalid_signature"
    status = 401
    message = "The webhook signature is missing, expired or wrong."


class AmountMismatch(SiyuError):
    code = "amount_mismatch"
    status = 422
    message = "The amount does not match what is due."


class RefundTooLarge(Conflict):
    code = "refund_exceeds_paid"
    message = "Refunds would exceed what was paid (or the quantity bought)."


class ReturnWindowClosed(Conflict):
    code = "return_window_closed"
    message = "The after-sales window for this order has closed."


class ReturnNotFound(NotFound):
    code = "return_not_found"
    message = "No such after-sales request."


class ReasonRequired(SiyuError):
    code = "reason_required"
    status = 422
    message = "The after-sales policy asks for a reason."


class PointsNotApplicable(Conflict):
    code = "points_not_applicable"
    message = "Points cannot pay for this order now (paid or payment opened, or over the allowed share)."
