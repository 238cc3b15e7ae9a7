"""Short codes people read aloud, type and scan: an alphabet without look-alikes (no 0/O, 1/I/L, U/V)."""

from __future__ import annotations

import secrets

ALPHABET = "23456789ABCDEFGHJKMNPQRSTWXYZ"  # 29 symbols


def short_code(length: int) -> str:
    """A random code (8 symbols: 29**8 ~ 5e11 values); callers insert it under a UNIQUE key and draw again
    on the rare collision."""
    return "".join(secrets.choice(ALPHABET) for _ in range(length))


def normalize(code: str) -> str:
    """What a person typed: case, spaces and dashes do not matter."""
    return code.strip().upper().replace(" ", "").replace("-", "")
