"""import.orders_rows_per_s: ``siyu import orders`` (the same code, in process) on a generated export of
order rows, into a fresh embedded (SQLite) operational database: CSV reading, parsing and checking every
cell, identity resolution of each customer (phone numbers, normalised), orders and their lines, one
``orders.paid`` outbox event per order, the checkpoint, one transaction per 5,000 rows.

Beside it, in the same run, a bare baseline: the same file read with ``csv`` and its rows inserted as they
are (text) with ``executemany`` into a plain SQLite table, one transaction per 5,000 rows.

The export: ~200,000 customers (CN mobile numbers), about a fifth of the orders with two lines, in order of
time over 600 days (as shop systems export them), times in two formats, amounts with thousands separators
here and there.

    python -m benchmarks.bench_import [--rows 1000000] [--customers 200000] [--profile FILE]
"""

from __future__ import annotations

import argparse
import cProfile
import csv
import os
import random
import shutil
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from benchmarks.common import record, workdir
from siyu.db import Database
from siyu.imports.mapping import order_options
from siyu.imports.orders import OrderImport
from siyu.imports.runner import run_import
from siyu.migrate import upgrade

HEADER = ["订单号", "手机号", "下单时间", "实付金额", "数量", "商品编码", "商品名称", "渠道"]
MAPPING = {"col_order_id": "订单号", "col_customer": "手机号", "customer_kind": "phone", "col_time": "下单时间",
           "col_amount": "实付金额", "col_quantity": "数量", "col_sku": "商品编码", "col_title": "商品名称",
           "col_channel": "渠道", "date_format": ["iso", "%Y/%m/%d %H:%M:%S"]}
PREFIXES = ("130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152", "155", "156",
            "157", "158", "159", "180", "181", "182", "185", "186", "187", "188", "189")
CHANNELS = ("小程序", "web", "app")


def generate(path: Path, rows: int, customers: int, seed: int = 7) -> None:
    rnd = random.Random(seed)
    phones = [f"{rnd.choice(PREFIXES)}{rnd.randrange(10**8):08d}" for _ in range(customers)]
    start = datetime(2023, 1, 1, tzinfo=UTC)
    step = max(1, 600 * 86400 * 6 // (rows * 5))  # about 600 days of orders
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(HEADER)
        i = order = 0
        while i < rows:
            order += 1
            phone = rnd.choice(phones)
            at = start + timedelta(seconds=order * step + rnd.randrange(step))  # exports list orders by time
            when = at.strftime("%Y-%m-%d %H:%M:%S") if order % 3 else at.strftime("%Y/%m/%d %H:%M:%S")
            channel = CHANNELS[order % 3]
            for _ in range(2 if rnd.random() < 0.2 else 1):
                fen = rnd.randrange(990, 250_000)
                amount = f"{fen // 100:,}.{fen % 100:02d}" if order % 7 == 0 else f"{fen // 100}.{fen % 100:02d}"
                sku = rnd.randrange(3000)
                w.writerow([f"T{order:09d}", phone, when, amount, rnd.randint(1, 3), f"SKU-{sku:05d}", f"商品 {sku}",
                            channel])
                i += 1
                if i >= rows:
                    break


def baseline(path: Path, db_path: Path, chunk: int = 5000) -> float:
    conn = sqlite3.connect(db_path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("CREATE TABLE rows (order_id TEXT, phone TEXT, at TEXT, amount TEXT, quantity TEXT, sku TEXT, "
                 "title TEXT, channel TEXT)")
    t0 = time.perf_counter()
    n = 0
    with open(path, encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        next(reader)
        batch: list[list[str]] = []
        for row in reader:
            batch.append(row)
            if len(batch) >= chunk:
                conn.executemany("INSERT INTO rows VALUES (?, ?, ?, ?, ?, ?, ?, ?)", batch)
                conn.commit()
                n += len(batch)
                batch = []
        if batch:
            conn.executemany("INSERT INTO rows VALUES (?, ?, ?, ?, ?, ?, ?, ?)", batch)
            conn.commit()
            n += len(batch)
    elapsed = time.perf_counter() - t0
    conn.close()
    return n / elapsed


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--customers", type=int, default=200_000)
    p.add_argument("--chunk-size", type=int, default=5000)
    p.add_argument("--profile", help="write a cProfile of the import here")
    p.add_argument("--no-record", action="store_true")
    args = p.parse_args()
    work = workdir()
    try:
        csv_path = work / "orders.csv"
        generate(csv_path, args.rows, args.customers)
        base = baseline(csv_path, work / "baseline.sqlite3", args.chunk_size)
        url = f"sqlite:///{work / 'siyu.sqlite3'}"
        upgrade(url)
        db = Database(url)
        importer = OrderImport(order_options(MAPPING, "bench"))
        prof = cProfile.Profile() if args.profile else None
        if prof is not None:
            prof.enable()
        load_before = os.getloadavg()[0]
        cpu = time.process_time()
        summary = run_import(db, importer, csv_path, chunk_size=args.chunk_size, errors_path=work / "errors.csv")
        cpu = time.process_time() - cpu
        if prof is not None:
            prof.disable()
            prof.dump_stats(args.profile)
        db.dispose()
        assert summary.error_count == 0 and summary.imported == args.rows, summary.model_dump(exclude={"errors"})
        rate = summary.rows / summary.seconds
        load = max(load_before, os.getloadavg()[0])
        print(f"import: {summary.rows:,} rows in {summary.seconds:.1f} s = {rate:,.0f} rows/s "
              f"({summary.rows / cpu:,.0f} per CPU second)   "
              f"baseline (csv + executemany into a bare table): {base:,.0f} rows/s   load average up to {load:.2f}")
        if not args.no_record:
            cmd = "python -m benchmarks.bench_import" + (f" --rows {args.rows}" if args.rows != 1_000_000 else "")
            record("import.orders_rows_per_s", rate, "rows/s", base, cmd, max_load_average=round(load, 2),
                   rows_per_cpu_s=round(summary.rows / cpu),
                   note=f"{args.rows:,} order rows of {args.customers:,} customers into a fresh SQLite database "
                        f"(orders, lines, persons, identifiers, outbox), {args.chunk_size:,} rows per transaction; "
                        "baseline: csv.reader + executemany of the raw rows into a bare SQLite table")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
