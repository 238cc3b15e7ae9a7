"""Shared pieces of the benchmarks: servers as subprocesses, realistic payloads, results files."""

from __future__ import annotations

import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
RESULTS = ROOT / "benchmarks" / "results.json"
MARKDOWN = ROOT / "BENCHMARKS.md"


def machine() -> str:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    system = f"{platform.system()} {platform.release()}"
    return f"{os.cpu_count()} cores {cpu} / {system} / Python {platform.python_version()}"


def record(name: str, value: float, unit: str, baseline: float | None, command: str, **extra: Any) -> None:
    data = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    data[name] = {
        "value": round(value, 3),
        "unit": unit,
        "baseline": None if baseline is None else round(baseline, 3),
        "command": command,
        "date": datetime.now(UTC).date().isoformat(),
        "machine": machine(),
        **extra,
    }
    RESULTS.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    write_markdown(data)


def write_markdown(data: dict[str, Any]) -> None:
    lines = MARKDOWN.read_text().split("<!-- results -->")[0] if MARKDOWN.exists() else "# Benchmarks\n\n"
    rows = ["| figure | value | baseline (same run) | ratio | command | date | machine |",
            "|---|---|---|---|---|---|---|"]
    for name, r in sorted(data.items()):
        base = r.get("baseline")
        ratio = f"{r['value'] / base:.2f}x" if base else "-"
        rows.append(f"| `{name}` | {r['value']:,} {r['unit']} | {'' if base is None else f'{base:,}'} | {ratio} | "
                    f"`{r['command']}` | {r['date']} | {r['machine']} |")
    MARKDOWN.write_text(lines + "<!-- results -->\n" + "\n".join(rows) + "\n")


class Proc:
    def __init__(self, args: list[str], env: dict[str, str], url: str, log: Path) -> None:
        self.log = log
        self.url = url
        self.proc = subprocess.Popen(args, env=env, stdout=open(log, "ab"), stderr=subprocess.STDOUT,  # noqa: SIM115
                                     start_new_session=True)

    def wait_ready(self, path: str = "/readyz", timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(self.log.read_text()[-3000:])
            try:
                if httpx.get(self.url + path, timeout=1).status_code < 500:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError("not ready: " + self.log.read_text()[-3000:])

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)


def workdir() -> Path:
    base = ROOT / "benchmarks" / ".work"
    base.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(dir=base))


def siyu_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIYU_")}
    env.update({"SIYU_DATA_DIR": str(data_dir), "SIYU_LOG_LEVEL": "WARNING"})
    env.update(extra)
    return env


def create_source(env: dict[str, str], channel: str = "web") -> str:
    out = subprocess.run([str(BIN / "siyu"), "sources", "create", "--channel", channel, "--name", "bench", "--json"],
                         env=env, capture_output=True, text=True, check=True)
    return str(json.loads(out.stdout)["write_key"])


def create_token(env: dict[str, str]) -> str:
    out = subprocess.run([str(BIN / "siyu"), "tokens", "create", "--json"], env=env, capture_output=True,
                         text=True, check=True)
    return str(json.loads(out.stdout)["token"])


def event(i: int, ts: str) -> dict[str, Any]:
    """A realistic ~400-byte track message from a shop."""
    return {
        "type": "track",
        "event": "Product Viewed",
        "messageId": f"bench-{i:012d}",
        "anonymousId": f"anon-{i % 50_000:08d}",
        "userId": f"user-{i % 20_000:07d}" if i % 3 else None,
        "timestamp": ts,
        "properties": {"product_id": f"P{i % 997}", "sku": f"SKU-{i % 4999}", "category": "sneakers",
                       "name": "Air Runner 2", "price": 699.0, "currency": "CNY"},
        "context": {"library": {"name": "analytics-python", "version": "2.3.0"}, "locale": "zh-CN",
                    "page": {"url": f"https://shop.example/p/{i % 997}?utm_source=baidu&utm_medium=cpc",
                             "referrer": "https://www.baidu.com/"}},
    }
