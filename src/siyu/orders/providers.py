"""Payment providers.

- ``manual``: offline payments (cash at a store, a bank transfer) confirmed by an operator or the brand's
  server; refunds are paid out by hand and count as done when recorded.
- ``webhook``: an online provider that calls Siyu back. A payment is opened with a reference the client
  hands to the provider; the provider's ``payment.succeeded`` / ``payment.failed`` / ``refund.succeeded`` /
  ``refund.failed`` callbacks settle it. Callbacks are signed with HMAC-SHA256 over
  ``"{timestamp}.{raw body}"`` with the shared secret (``SIYU_PAYMENT_WEBHOOK_SECRET``), sent as
  ``Siyu-Signature: t=<unix seconds>,v1=<hex digest>``; signatures older than five minutes are refused
  (replays). Refunds through it are requested and stay ``pending`` until the provider's callback.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass

from siyu.orders.errors import BadSignature, ProviderNotConfigured, UnknownProvider

TOLERANCE_S = 300


@dataclass(frozen=True)
class Provider:
    name: str
    settles_refunds_at_once: bool  # manual: a recorded refund is done; webhook: wait for the callback
    opens_pending: bool  # webhook: a payment starts pending and is settled by a callback


MANUAL = Provider("manual", settles_refunds_at_once=True, opens_pending=False)
WEBHOOK = Provider("webhook", settles_refunds_at_once=False, opens_pending=True)
PROVIDERS = {p.name: p for p in (MANUAL, WEBHOOK)}


def provider(name: str) -> Provider:
    found = PROVIDERS.get(name)
    if found is None:
        raise UnknownProvider(details={"provider": name})
    return found


def sign(secret: str, body: bytes, at: int | None = None) -> str:
    """The ``Siyu-Signature`` header value for ``body`` (what a provider sends; tests and tools use it)."""
    t = int(time.time()) if at is None else at
    digest = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


def verify(secret: str, header: str | None, body: bytes, now: float | None = None) -> None:
    if not secret:
        raise ProviderNotConfigured()
    if not header:
        raise BadSignature()
    parts = dict(p.strip().split("=", 1) for p in header.split(",") if "=" in p)
    try:
        t = int(parts.get("t", ""))
    except ValueError as exc:
        raise BadSignature() from exc
    if abs((time.time() if now is None else now) - t) > TOLERANCE_S:
        raise BadSignature("The webhook signature is too old (or from the future).")
    expected = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, parts.get("v1", "")):
        raise BadSignature()
