"""``siyu demo``: the simulated brand loaded once into the data directory, and what to try with it.

The first run creates the demo sources (mini-program, website, APP and a brand server), an admin
token, loads the simulated brand through the bulk path, and records all of it in
``<data_dir>/demo.json``. Later runs find that file and load nothing again.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from siyu.config import Settings
from siyu.simulate.model import CHANNELS, SimConfig
from siyu.simulate.run import Progress, run_bulk
from siyu.simulate.sources import ensure_sources
from siyu.simulate.truth import default_dir

DEMO_FILE = "demo.json"


def demo_path(settings: Settings) -> Path:
    return settings.data_dir / DEMO_FILE


def load_demo(settings: Settings) -> dict[str, Any] | None:
    path = demo_path(settings)
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and "admin_token" in data and "sources" in data else None


def prepare_demo(settings: Settings, config: SimConfig, progress: Progress | None = None) -> dict[str, Any]:
    """Create the demo's sources and admin token and load the simulated brand (first run only)."""
    from siyu.auth.schemas import Role
    from siyu.auth.service import create_token
    from siyu.kit.cli import cli_session

    settings.ensure_data_dir()
    from siyu.simulate.seed import seed_shop

    with cli_session() as session:
        sources = ensure_sources(session, settings.data_dir, (*CHANNELS, "server"))
        _, token = create_token(session, Role.admin, "demo")
        seed_shop(session)
    summary = run_bulk(settings, config, default_dir(settings.data_dir),
                       sources={ch: sources[ch] for ch in CHANNELS}, progress=progress)
    demo = {
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "config": config.as_dict(),
        "admin_token": token,
        "sources": {ch: {"id": s.source_id, "name": s.name, "write_key": s.write_key} for ch, s in sources.items()},
        "loaded": {k: summary[k] for k in ("events", "events_by_channel", "people", "cross_channel_people",
                                            "orders", "first_timestamp", "last_timestamp")},
        "delivery": summary["delivery"],
    }
    path = demo_path(settings)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(demo, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    os.chmod(tmp, 0o600)
    tmp.replace(path)
    return demo


def _siyu() -> str:
    if shutil.which("siyu"):
        return "siyu"
    exe = Path(sys.executable).parent / "siyu"
    try:
        return str(exe.relative_to(Path.cwd()))
    except ValueError:
        return str(exe)


def banner(demo: dict[str, Any], host: str, port: int, data_dir: Path) -> str:
    """What to open and what to try, with the demo's own keys filled in."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    base = f"http://{shown}:{port}"
    token = demo["admin_token"]
    keys = {ch: s["write_key"] for ch, s in demo["sources"].items()}
    loaded = demo["loaded"]
    event = json.dumps({"anonymousId": "demo-visitor-1", "event": "Product Viewed",
                        "properties": {"product_id": "P0101", "sku": "SC-LC-001", "price": 168,
                                       "currency": "CNY"},
                        "context": {"campaign": {"source": "baidu", "medium": "cpc", "name": "demo"}}},
                       ensure_ascii=False)
    sql = "SELECT channel, count(*) AS events FROM events GROUP BY channel ORDER BY events DESC"
    sql2 = "SELECT event, count(*) AS n FROM events WHERE event IS NOT NULL GROUP BY event ORDER BY n DESC LIMIT 10"
    siyu = _siyu()
    q = shlex.quote
    lines = [
        "",
        "Siyu demo: the simulated tea brand 山茶集 "
        f"({loaded['people']:,} people, {loaded['events']:,} events, "
        f"{loaded['first_timestamp'][:10]} to {loaded['last_timestamp'][:10]}), data in {data_dir}",
        "",
        f"  API and docs     {base}/docs   (OpenAPI UI: tracking API /v1/..., platform API /api/v1/...)",
        f"  readiness        {base}/readyz",
        f"  metrics          {base}/metrics",
        f"  admin token      {token}",
        "  write keys       " + "  ".join(f"{ch}={k}" for ch, k in keys.items()),
        "",
        "Try:",
        "  # send an event as the website (Basic auth: the write key, empty password)",
        f"  curl -u {q(keys['web'] + ':')} {base}/v1/track -H 'Content-Type: application/json' \\",
        f"       -d {q(event)}",
        "",
        "  # events per channel (the worker moves the demo's events into the event store in the first",
        "  # minute or so, so the counts grow until then)",
        f"  curl {base}/api/v1/query -H {q('Authorization: Bearer ' + token)} \\",
        f"       -H 'Content-Type: application/json' -d {q(json.dumps({'sql': sql}))}",
        f"  curl {base}/api/v1/query -H {q('Authorization: Bearer ' + token)} \\",
        f"       -H 'Content-Type: application/json' -d {q(json.dumps({'sql': sql2}))}",
        "",
        "  # the shop: one catalog in every channel, the member programme, coupons, reports",
        f"  curl '{base}/api/v1/catalog/products?channel=app' -H {q('Authorization: Bearer ' + token)}",
        f"  curl {base}/api/v1/loyalty/program -H {q('Authorization: Bearer ' + token)}",
        f"  curl '{base}/api/v1/promotions/coupon-templates?claimable=true' -H {q('Authorization: Bearer ' + token)}",
        f"  {siyu} report rfm",
        "",
        "  # the command line (same data directory)",
        f"  {siyu} sources list",
        f"  {siyu} simulate --via api --url {base} --people 500 --days 7 --seed 7 "
        f"--out {data_dir / 'simulation-7'}",
        "",
        "Stop with Ctrl+C; run the same command again to restart with the same data.",
        "",
    ]
    return "\n".join(lines)
