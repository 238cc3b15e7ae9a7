"""The ground truth of a simulation: the true person behind every message, for accuracy checks.

Written to ``<data_dir>/simulation/`` (or ``siyu simulate --out DIR``):

- ``messages.csv.gz``: ``channel, message_id, person`` for every message, in the order sent;
- ``identifiers.csv.gz``: ``kind, value, person`` for every identifier some message revealed. Kinds:
  ``user_id``, ``anonymous_id``, ``phone`` (E.164), ``email`` (lower case), ``wechat_unionid``,
  ``wechat_openid`` (written ``APPID:OPENID``, since an OpenID means something only within its app) and
  ``device_id``. Junk ids ("undefined", "null", "0") are never listed. A value may belong to two people:
  the family tablets share one ``device_id`` and one ``anonymous_id``;
- ``summary.json``: the config, counts per channel / type / event name, people, cross-channel people and
  how they are linked, the hard cases, and how the delivery went.

Files are written under temporary names and renamed when complete, so a reader never sees half a truth.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from siyu.simulate.model import SimEvent

IDENTIFIER_KINDS = ("user_id", "anonymous_id", "phone", "email", "wechat_unionid", "wechat_openid", "device_id")
MESSAGES = "messages.csv.gz"
IDENTIFIERS = "identifiers.csv.gz"
SUMMARY = "summary.json"


def default_dir(data_dir: Path) -> Path:
    return data_dir / "simulation"


def normalize_phone(value: str) -> str:
    """A mainland-China mobile number in E.164 (the form the truth uses), from how clients send it."""
    digits = re.sub(r"\D", "", value)
    if digits.startswith("0086"):
        digits = digits[4:]
    elif digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    return "+86" + digits


class TruthWriter:
    """Streams ``messages.csv.gz`` while the messages are sent; the rest is written by :meth:`finish`."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self._tmp = directory / (MESSAGES + ".tmp")
        self._gz = gzip.open(self._tmp, "wt", compresslevel=5, newline="", encoding="utf-8")  # noqa: SIM115
        self._csv = csv.writer(self._gz)
        self._csv.writerow(("channel", "message_id", "person"))
        self.count = 0

    def add(self, ev: SimEvent) -> None:
        self._csv.writerow((ev.channel, ev.message["messageId"], ev.person))
        self.count += 1

    def finish(self, identifiers: list[tuple[str, str, str]], summary: dict[str, Any]) -> None:
        self._gz.close()
        tmp = self.directory / (IDENTIFIERS + ".tmp")
        with gzip.open(tmp, "wt", compresslevel=5, newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(("kind", "value", "person"))
            w.writerows(identifiers)
        tmp.replace(self.directory / IDENTIFIERS)
        self._tmp.replace(self.directory / MESSAGES)
        tmp = self.directory / (SUMMARY + ".tmp")
        tmp.write_text(json.dumps(summary, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        tmp.replace(self.directory / SUMMARY)

    def abort(self) -> None:
        self._gz.close()
        self._tmp.unlink(missing_ok=True)


@dataclass
class Truth:
    """A loaded ground truth."""

    messages: dict[str, tuple[str, str]]  # message id -> (channel, person)
    identifiers: list[tuple[str, str, str]]  # (kind, value, person)
    summary: dict[str, Any]

    def person(self, message_id: str) -> str:
        return self.messages[message_id][1]

    def people_by_identifier(self) -> dict[tuple[str, str], set[str]]:
        """(kind, value) -> the people it belongs to (one, except on shared devices)."""
        out: dict[tuple[str, str], set[str]] = {}
        for kind, value, person in self.identifiers:
            out.setdefault((kind, value), set()).add(person)
        return out

    def persons(self) -> set[str]:
        return {person for _, person in self.messages.values()}


def _rows(path: Path) -> list[list[str]]:
    with gzip.open(path, "rb") as raw:
        rows = list(csv.reader(io.TextIOWrapper(raw, encoding="utf-8", newline="")))
    return rows[1:]


def load_truth(directory: Path) -> Truth:
    """Read a simulation's ground truth from ``directory`` (see the module docstring)."""
    messages = {r[1]: (r[0], r[2]) for r in _rows(directory / MESSAGES)}
    identifiers = [(r[0], r[1], r[2]) for r in _rows(directory / IDENTIFIERS)]
    summary = json.loads((directory / SUMMARY).read_text(encoding="utf-8"))
    return Truth(messages=messages, identifiers=identifiers, summary=summary)
