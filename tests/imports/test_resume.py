"""Interrupted imports: Ctrl-C between chunks, ``kill -9`` of the command mid-file, and a second run of the
same import racing the first. Each leaves whole chunks only, and the same command continues after the last
committed one and ends with exactly the file's orders."""

from __future__ import annotations

import random
import signal
import subprocess
import time
from pathlib import Path

import pytest

from siyu.db import Database
from siyu.imports.errors import ImportBusy
from siyu.imports.mapping import order_options
from siyu.imports.orders import OrderImport
from siyu.imports.runner import Interrupted, run_import
from siyu.migrate import upgrade
from tests.conftest import Api
from tests.imports.helpers import ORDER_FLAGS, ORDER_HEADER, Cli, rows, scalar, write_csv
from tests.support import SIYU, base_env

MAPPING = {"col_order_id": "订单编号", "col_customer": "手机号", "customer_kind": "phone", "col_time": "下单时间",
           "col_amount": "实付金额", "col_quantity": "数量", "col_sku": "商品编码", "col_title": "商品名称",
           "col_channel": "渠道", "col_currency": "币种"}


def export(path: Path, orders: int, seed: int = 1) -> tuple[Path, dict[str, int]]:
    """Orders of one to three lines; returns the file and each order's line count."""
    rnd = random.Random(seed)
    out, lines = [], {}
    for i in range(orders):
        oid = f"R{i:06d}"
        phone = f"138{rnd.randrange(2000):08d}"
        lines[oid] = rnd.choice((1, 1, 2, 3))
        for j in range(lines[oid]):
            out.append([oid, phone, f"2024-0{1 + i % 9}-1{i % 10} 10:{i % 60:02d}:00", f"{10 + j}.50", "1", f"S{j}",
                        "商品", "web", ""])
    return write_csv(path, ORDER_HEADER, out), lines


def whole_orders(url: str) -> dict[str, int]:
    return {str(r[0]): int(r[1]) for r in rows(url, "SELECT o.external_id, count(l.id) FROM orders o JOIN "
                                                    "order_lines l ON l.order_id = o.id GROUP BY o.external_id")}


def test_ctrl_c_keeps_whole_chunks_and_the_same_command_continues(tmp_path: Path, database_url: str) -> None:
    path, lines = export(tmp_path / "orders.csv", 300)
    upgrade(database_url)
    db = Database(database_url)
    seen: list[int] = []

    def stop_after_two(line: int) -> None:
        seen.append(line)
        if len(seen) == 2:
            raise KeyboardInterrupt

    try:
        with pytest.raises(Interrupted) as stopped:
            run_import(db, OrderImport(order_options(MAPPING, "shop")), path, chunk_size=40, after_chunk=stop_after_two)
        assert stopped.value.last_line == seen[1]
        done = whole_orders(database_url)
        assert done and all(lines[oid] == n for oid, n in done.items())  # no order cut between chunks
        assert sum(done.values()) == seen[1] - 1  # every row up to the checkpoint, nothing after it
        assert scalar(database_url, "SELECT count(*) FROM outbox") == len(done)

        summary = run_import(db, OrderImport(order_options(MAPPING, "shop")), path, chunk_size=40)
    finally:
        db.dispose()
    assert summary.resumed_from_line == seen[1]
    assert (summary.rows, summary.imported, summary.skipped, summary.error_count) == (sum(lines.values()),) * 2 + (0, 0)
    assert whole_orders(database_url) == lines
    assert scalar(database_url, "SELECT count(*) FROM outbox") == len(lines)


def test_a_second_run_racing_the_first_cannot_import_twice(tmp_path: Path, database_url: str) -> None:
    path, lines = export(tmp_path / "orders.csv", 200, seed=2)
    upgrade(database_url)
    db, other = Database(database_url), Database(database_url)
    summaries = []

    def race(line: int) -> None:
        if not summaries:  # while the first run is between chunks, a second one takes over and finishes
            summaries.append(run_import(other, OrderImport(order_options(MAPPING, "shop")), path, chunk_size=30))

    try:
        with pytest.raises(ImportBusy):
            run_import(db, OrderImport(order_options(MAPPING, "shop")), path, chunk_size=30, after_chunk=race)
    finally:
        db.dispose()
        other.dispose()
    assert summaries[0].resumed_from_line > 0 and summaries[0].imported == sum(lines.values())
    assert whole_orders(database_url) == lines


def start_and_stop(path: Path, database_url: str, data: Path, sig: int) -> subprocess.CompletedProcess[str]:
    """Run ``siyu import orders`` and send it ``sig`` once a few chunks are committed."""
    args = [str(SIYU), "import", "orders", str(path), *ORDER_FLAGS, "--chunk-size", "50", "--no-progress"]
    env = base_env(data, SIYU_DATABASE_URL=database_url)
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    state = None
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                state = rows(database_url, "SELECT status, last_line FROM import_runs")
            except Exception:  # the command may still be creating the tables
                state = None
            if state and int(state[0][1]) > 200:
                break
            time.sleep(0.02)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
    assert state and state[0][0] == "running", f"the import was not caught mid-file: {state}"
    return subprocess.CompletedProcess(args, proc.returncode, out, err)


def test_kill_9_mid_file_then_the_same_command_finishes(tmp_path: Path, database_url: str, api: Api,
                                                       cli: Cli) -> None:
    path, lines = export(tmp_path / "big.csv", 6000, seed=3)
    start_and_stop(path, database_url, tmp_path / "kill-data", signal.SIGKILL)
    killed_at = int(rows(database_url, "SELECT last_line FROM import_runs")[0][0])
    partial = whole_orders(database_url)
    assert 0 < sum(partial.values()) < sum(lines.values()) and all(lines[o] == n for o, n in partial.items())

    out = cli.orders(path, "--chunk-size", "500")
    assert out["resumed_from_line"] == killed_at
    assert (out["rows"], out["imported"], out["error_count"]) == (sum(lines.values()), sum(lines.values()), 0)
    assert whole_orders(database_url) == lines
    assert scalar(database_url, "SELECT count(*) FROM outbox") == len(lines)


def test_ctrl_c_of_the_command_says_where_it_stopped(tmp_path: Path, database_url: str, api: Api, cli: Cli) -> None:
    path, lines = export(tmp_path / "big.csv", 6000, seed=4)
    stopped = start_and_stop(path, database_url, tmp_path / "int-data", signal.SIGINT)
    assert stopped.returncode == 130 and stopped.stdout == "", stopped.stderr
    at = int(rows(database_url, "SELECT last_line FROM import_runs")[0][0])
    assert f"rows up to line {at} are imported; run the same command again" in stopped.stderr
    out = cli.orders(path)
    assert out["resumed_from_line"] == at and out["imported"] == sum(lines.values())
    assert whole_orders(database_url) == lines
