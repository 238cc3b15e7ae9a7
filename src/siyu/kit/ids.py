"""Identifiers: time-ordered ids for rows, random secrets for keys and tokens."""

from __future__ import annotations

import hashlib
import random
import secrets
import time


def new_id() -> str:
    """A 32-hex-digit id whose first 12 digits are the millisecond clock (UUIDv7 layout), so ids sort by
    creation time and index well. Ids are not secrets; use :func:`new_secret` for those."""
    ms = time.time_ns() // 1_000_000
    rand = random.getrandbits(80)  # not a secret: the module's generator (reseeded after fork) is enough
    value = (ms << 80) | rand
    # version 7 and RFC 4122 variant bits
    value = (value & ~(0xF << 76)) | (0x7 << 76)
    value = (value & ~(0x3 << 62)) | (0x2 << 62)
    return f"{value:032x}"


def new_secret(prefix: str, nbytes: int = 24) -> str:
    """A random secret with a readable prefix (``wk_`` write key, ``sat_`` admin token, ...), so a
    leaked value can be recognised by secret scanners."""
    return f"{prefix}_{secrets.token_urlsafe(nbytes)}"


def hash_secret(value: str) -> str:
    """Secrets are stored only as their SHA-256; they are long random strings, so no salt is needed."""
    return hashlib.sha256(value.encode()).hexdigest()
