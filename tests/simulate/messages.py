"""Reading simulated messages independently of the simulator: the identifiers a message reveals."""

from __future__ import annotations

import re
from typing import Any

JUNK = {"undefined", "null", "0"}


def phone_e164(value: str) -> str:
    digits = re.sub(r"\D", "", value)
    for prefix in ("0086", "86"):
        if digits.startswith(prefix) and len(digits) == len(prefix) + 11:
            digits = digits[len(prefix):]
    assert len(digits) == 11 and digits.startswith("1"), value
    return "+86" + digits


def identifiers(m: dict[str, Any]) -> set[tuple[str, str]]:
    """(kind, value) pairs this message reveals, normalised as the ground truth writes them."""
    out: set[tuple[str, str]] = set()
    if m.get("userId"):
        out.add(("user_id", m["userId"]))
    if m.get("anonymousId") and m["anonymousId"] not in JUNK:
        out.add(("anonymous_id", m["anonymousId"]))
    if m.get("previousId"):
        out.add(("anonymous_id", m["previousId"]))
    traits = m.get("traits") or {}
    if "phone" in traits:
        out.add(("phone", phone_e164(traits["phone"])))
    if "email" in traits:
        out.add(("email", traits["email"].strip().lower()))
    if "wechat_unionid" in traits:
        out.add(("wechat_unionid", traits["wechat_unionid"]))
    if "wechat_openid" in traits:
        out.add(("wechat_openid", f"{traits['wechat_appid']}:{traits['wechat_openid']}"))
    ctx = m.get("context") or {}
    for ext in ctx.get("externalIds") or []:
        if ext["type"] == "wechat_openid":
            out.add(("wechat_openid", f"{ext['collection']}:{ext['id']}"))
    device = ctx.get("device") or {}
    if device.get("id"):
        out.add(("device_id", device["id"]))
    return out
