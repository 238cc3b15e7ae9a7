"""``publish`` returns only once a message is durable: a publisher killed with SIGKILL loses none of the
messages it was told were published."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from siyu.bus.base import Consumer
from tests.bus.conftest import BusKit, run
from tests.support import ROOT

SCRIPT = Path(__file__).with_name("publish_forever.py")
KILL_AFTER = 300  # messages reported as published before the kill


def _publish_then_kill(kit: BusKit) -> tuple[set[str], int]:
    """Start the publisher, SIGKILL it mid-stream; returns the ids it reported and its exit code."""
    args = [sys.executable, str(SCRIPT), kit.kind]
    args += [str(kit.path)] if kit.kind == "sqlite" else [kit.url, kit.namespace]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    assert proc.stdout is not None and proc.stderr is not None
    reported: list[str] = []
    killed = threading.Event()

    def watchdog() -> None:  # never hang the suite on a publisher that stalls
        if not killed.wait(60):
            proc.kill()

    threading.Thread(target=watchdog, daemon=True).start()
    try:
        assert proc.stdout.readline().strip() == b"ready", proc.stderr.read().decode()[-2000:]
        for raw in proc.stdout:
            if not raw.endswith(b"\n"):
                break  # a line cut by the kill: its publish may not have returned
            reported.append(raw.decode().strip())
            if len(reported) == KILL_AFTER:
                proc.send_signal(signal.SIGKILL)
                killed.set()
        code = proc.wait(30)
    finally:
        killed.set()
        proc.kill()
        proc.wait(30)
        proc.stdout.close()
        proc.stderr.close()
    return set(reported), code


async def _drain(consumer: Consumer, idle_s: float) -> list[str]:
    ids: list[str] = []
    while got := await consumer.fetch(1000, idle_s):
        ids += [d.message.id for d in got]
        await consumer.ack(got)
    return ids


def test_messages_reported_published_survive_kill_9_of_the_publisher(kit: BusKit) -> None:
    async def declare() -> None:
        bus = await kit.started()
        await kit.declare(bus, "warehouse", ["events.*"])
        await bus.close()

    run(declare())
    started = time.monotonic()
    reported, code = _publish_then_kill(kit)
    assert code == -signal.SIGKILL
    assert len(reported) >= KILL_AFTER
    assert time.monotonic() - started < 60, "the publisher was not killed mid-stream"

    async def consume() -> list[str]:
        bus = await kit.started()
        consumer = bus.consumer("warehouse")
        ids = await _drain(consumer, 2.0)
        await consumer.close()
        await bus.close()
        return ids

    stored = run(consume())
    missing = reported - set(stored)
    assert not missing, f"{len(missing)} acknowledged publishes lost, e.g. {sorted(missing)[:5]}"
    # Each publish is one message: none is duplicated by the bus itself.
    assert len(stored) == len(set(stored))
