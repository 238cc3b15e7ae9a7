"""The simulator's sources: one per channel ("Demo mini-program", "Demo website", "Demo APP"), plus
"Demo brand server" for the demo.

Found or created in the configured database. Their write keys (public credentials, the kind an app
embeds) are kept in ``<data_dir>/simulation/sources.json`` so later runs reuse the same sources, which
also makes a re-run of the same seed a no-op (messages are deduplicated per source).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from siyu.sources.errors import SourceNotFound
from siyu.sources.schemas import Channel
from siyu.sources.service import WRITE_KEY, SourceAuth, authenticate_key, create_source, get_source

NAMES = {"miniprogram": "Demo mini-program", "web": "Demo website", "app": "Demo APP",
         "server": "Demo brand server"}
KEYS_FILE = "sources.json"


@dataclass(frozen=True)
class SimSource:
    channel: str
    source_id: str
    name: str
    write_key: str

    def auth(self) -> SourceAuth:
        return SourceAuth(source_id=self.source_id, channel=self.channel, rate_limit=0.0)


def keys_path(data_dir: Path) -> Path:
    return data_dir / "simulation" / KEYS_FILE


def _load(path: Path) -> dict[str, SimSource]:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return {ch: SimSource(**v) for ch, v in raw.items()}
    except (OSError, ValueError, TypeError):
        return {}


def _usable(session: Session, src: SimSource) -> bool:
    try:
        source = get_source(session, src.source_id)
    except SourceNotFound:
        return False
    return source.enabled and authenticate_key(session, src.write_key, (WRITE_KEY,)) is not None


def ensure_sources(session: Session, data_dir: Path, channels: tuple[str, ...]) -> dict[str, SimSource]:
    """The simulator's source for each channel, reused when still usable, created otherwise.

    New sources have no rate limit (0), so a bulk load through the API is not throttled."""
    path = keys_path(data_dir)
    known = _load(path)
    out: dict[str, SimSource] = {}
    changed = False
    for ch in channels:
        src = known.get(ch)
        if src is None or not _usable(session, src):
            source, key = create_source(session, Channel(ch), NAMES[ch], rate_limit=0.0)
            src = SimSource(channel=ch, source_id=source.id, name=source.name, write_key=key)
            known[ch] = src
            changed = True
        out[ch] = src
    if changed:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({ch: asdict(s) for ch, s in known.items()}, indent=2) + "\n", encoding="utf-8")
        os.chmod(tmp, 0o600)
        tmp.replace(path)
    return out
