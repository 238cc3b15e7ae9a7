"""Helpers for import tests: writing exports, running ``siyu import ...`` in process, reading results."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from siyu.cli import app

ORDER_FLAGS = ("--col-customer", "手机号", "--customer-kind", "phone", "--col-order-id", "订单编号",
               "--col-time", "下单时间", "--col-amount", "实付金额", "--col-quantity", "数量", "--col-sku", "商品编码",
               "--col-title", "商品名称", "--col-channel", "渠道", "--col-currency", "币种")
ORDER_HEADER = ["订单编号", "手机号", "下单时间", "实付金额", "数量", "商品编码", "商品名称", "渠道", "币种"]


def write_csv(path: Path, header: list[str], rows: list[list[Any]], encoding: str = "utf-8") -> Path:
    with open(path, "w", encoding=encoding, newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


@dataclass
class Cli:
    env: dict[str, str]

    def run(self, *args: str, code: int = 0, progress: bool = False) -> Any:
        """``siyu ARGS --json``: the parsed summary (exit code ``code``)."""
        flags = ["--json"] if progress else ["--json", "--no-progress"]
        result = CliRunner().invoke(app, [*args, *flags], env=self.env)
        assert result.exit_code == code, f"{result.exit_code}: {result.stdout}{result.stderr}{result.exception!r}"
        return json.loads(result.stdout) if code == 0 else result.stderr

    def orders(self, path: Path, *extra: str, code: int = 0) -> Any:
        return self.run("import", "orders", str(path), *ORDER_FLAGS, *extra, code=code)


def scalar(url: str, sql: str) -> Any:
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.connect() as conn:
            return conn.execute(text(sql)).scalar()
    finally:
        engine.dispose()


def rows(url: str, sql: str) -> list[tuple[Any, ...]]:
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(sql))]
    finally:
        engine.dispose()
