"""``siyu import orders``: a realistic export (mixed date formats, amounts written several ways, orders of
several lines), re-imported without adding anything, bad rows reported by line, mapping files, and the
history reaching the profiles and the event store once the workers drain."""

from __future__ import annotations

import csv
from pathlib import Path

from tests.conftest import Api
from tests.imports.helpers import ORDER_HEADER, Cli, rows, scalar, write_csv

EXPORT = [
    ["E1001", "13800138000", "2024-03-01 10:00:00", "199.00", "1", "SCARF-RED", "羊毛围巾 红", "小程序", ""],
    ["E1002", "139-0013-9000", "2024/03/02 11:30", "1,299.50", "1", "COAT-01", "羊绒大衣", "官网", "CNY"],
    ["E1002", "139-0013-9000", "2024/03/02 11:30", "¥99", "1", "HAT-01", "帽子, 灰", "官网", "CNY"],
    ["E1003", "+86 138 0013 8000", "2024-03-05T20:15:00+08:00", "59.90", "2", "SOCK-01", "袜子", "app", ""],
    ["E1004", "13700137000", "2024/3/8", "0.50", "1", "GIFT", "小样", "web", "rmb"],
    ["E1005", "13600136000", "2024-04-01T01:00:00Z", "100", "1", "IMPORT-1", "进口商品", "APP", "USD"],
]


def admin_get(api: Api, path: str) -> dict:  # type: ignore[type-arg]
    r = api.client.get(path, headers=api.admin_headers())
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def test_a_realistic_export_imports_once_and_reaches_the_profiles(tmp_path: Path, cli: Cli, api: Api,
                                                                   database_url: str) -> None:
    export = write_csv(tmp_path / "youzan-2024.csv", ORDER_HEADER, EXPORT)
    first = cli.orders(export)
    assert (first["rows"], first["imported"], first["skipped"], first["errors"]) == (6, 6, 0, [])
    assert first["source"] == "youzan-2024" and first["resumed_from_line"] == 0 and first["errors_file"] is None
    assert scalar(database_url, "SELECT count(*) FROM orders") == 5
    assert scalar(database_url, "SELECT count(*) FROM order_lines") == 6

    lin = admin_get(api, "/api/v1/persons/by-identifier/phone/+8613800138000")
    listed = admin_get(api, f"/api/v1/orders?person_id={lin['id']}")["items"]
    assert [(o["channel"], o["status"], o["total_fen"], o["paid_fen"], o["paid_at"]) for o in listed] == [
        ("app", "completed", 5990, 5990, "2024-03-05T12:15:00Z"),  # newest first: ids follow the order times
        ("miniprogram", "completed", 19900, 19900, "2024-03-01T02:00:00Z"),
    ]
    assert listed[0]["lines"][0]["quantity"] == 2 and listed[0]["lines"][0]["unit_price_fen"] == 2995
    wang = admin_get(api, "/api/v1/persons/by-identifier/phone/+8613900139000")
    coat = admin_get(api, f"/api/v1/orders?person_id={wang['id']}")["items"]
    assert len(coat) == 1 and coat[0]["total_fen"] == 129950 + 9900 and coat[0]["channel"] == "web"
    assert sorted((ln["sku_code"], ln["title"], ln["total_fen"]) for ln in coat[0]["lines"]) == [
        ("COAT-01", "羊绒大衣", 129950), ("HAT-01", "帽子, 灰", 9900)]
    assert rows(database_url, "SELECT external_id, currency, total_fen FROM orders WHERE external_id IN "
                              "('E1004', 'E1005') ORDER BY external_id") == [("E1004", "CNY", 50),
                                                                            ("E1005", "USD", 10000)]

    again = cli.orders(export)
    assert (again["rows"], again["imported"], again["skipped"], again["errors"]) == (6, 0, 6, [])
    assert scalar(database_url, "SELECT count(*) FROM orders") == 5
    assert scalar(database_url, "SELECT count(*) FROM outbox") == 5

    api.drain()
    profile = admin_get(api, f"/api/v1/persons/{lin['id']}")
    assert profile["counters"]["orders"] == 2 and profile["counters"]["revenue_fen"] == 19900 + 5990
    assert profile["counters"]["last_order_at"] == "2024-03-05T12:15:00Z"
    assert {c["channel"] for c in profile["channels"]} == {"miniprogram", "app"}  # seen from its orders' events
    assert admin_get(api, f"/api/v1/persons/{wang['id']}")["counters"]["revenue_fen"] == 139850
    events = api.sql("SELECT event, channel, person_id, CAST(json_extract(properties, '$.total_fen') AS BIGINT) "
                     "FROM events WHERE source_id = 'siyu' ORDER BY timestamp")
    assert len(events) == 5 and {e[0] for e in events} == {"Order Completed"}
    assert [(e[1], e[2], e[3]) for e in events[:2]] == [("miniprogram", lin["id"], 19900), ("web", wang["id"], 139850)]


BAD = [
    ["B1", "13800138000", "2024-02-30 10:00", "10", "1", "S", "s", "web", ""],  # line 2: no such day
    ["B2", "13800138000", "2024-03-01 10:00", "-10.00", "1", "S", "s", "web", ""],  # 3
    ["B3", "null", "2024-03-01 10:00", "10", "1", "S", "s", "web", ""],  # 4: junk phone
    ["B4", "13800138000", "2024-03-01 10:00", "10", "1", "S", "s", "web", "XYZ"],  # 5
    ["B5", "13800138000", "2024-03-01 10:00"],  # 6: missing columns
    ["G1", "13800138000", "2024-03-01 10:00", "10", "1", "S", "多行\n标题", "web", ""],  # 7-8: good
    ["B6", "13800138000", "2024-03-01 10:00", "ten", "1", "S", "s", "web", ""],  # 9
    ["M1", "13900139000", "2024-03-02 10:00", "10", "1", "S", "s", "web", ""],  # 10: its order has a bad row
    ["M1", "13900139000", "2024-03-02 10:00", "10", "0", "S", "s", "web", ""],  # 11: quantity 0
    ["G2", "13900139000", "2024-03-03 10:00", "20", "1", "S", "s", "web", ""],  # 12: good
    ["B7", "", "2024-03-03 10:00", "20", "1", "S", "s", "web", ""],  # 13: no customer
    ["O1", "13900139000", "2024-03-04 10:00", "20", "1", "S", "s", "web", ""],  # 14: rows disagree
    ["O1", "13700137000", "2024-03-04 10:00", "20", "1", "S", "s", "web", ""],  # 15
    ["B8", "1234", "2024-03-03 10:00", "1.001", "1", "S", "s", "tv", ""],  # 16: several faults, first reported
]


def test_every_bad_row_is_reported_with_its_line_and_the_good_rows_are_imported(tmp_path: Path, cli: Cli,
                                                                                 database_url: str) -> None:
    export = write_csv(tmp_path / "mixed.csv", ORDER_HEADER, BAD)
    out = cli.orders(export)
    assert (out["rows"], out["imported"], out["skipped"]) == (14, 2, 0)
    by_line = {e["line"]: (e["code"], e["reason"]) for e in out["errors"]}
    assert {line: code for line, (code, _) in by_line.items()} == {
        2: "bad_date", 3: "negative_amount", 4: "bad_identifier", 5: "unknown_currency", 6: "wrong_field_count",
        9: "bad_amount", 10: "order_rejected", 11: "bad_quantity", 13: "missing_value", 14: "order_rejected",
        15: "order_rejected", 16: "bad_identifier"}
    assert out["error_count"] == len(out["errors"]) == 12
    assert "'2024-02-30 10:00'" in by_line[2][1] and "'-10.00' is negative" in by_line[3][1]
    assert "'null' is not a valid phone" in by_line[4][1] and "'XYZ'" in by_line[5][1]
    assert "2 fields" not in by_line[6][1] and "3 fields; the header has 9" in by_line[6][1]
    assert "line 11" in by_line[10][1] and "disagree on customer" in by_line[14][1]
    assert rows(database_url, "SELECT external_id FROM orders ORDER BY external_id") == [("G1",), ("G2",)]
    assert scalar(database_url, "SELECT title FROM order_lines WHERE total_fen = 1000") == "多行\n标题"

    with open(out["errors_file"], encoding="utf-8-sig", newline="") as fh:
        written = list(csv.reader(fh))
    assert written[0] == ["line", "code", "reason"]
    assert [(int(r[0]), r[1], r[2]) for r in written[1:]] == [(e["line"], e["code"], e["reason"])
                                                              for e in out["errors"]]
    assert Path(out["errors_file"]) == tmp_path / "mixed.csv.errors.csv"

    again = cli.orders(export, "--errors", str(tmp_path / "bad.csv"))
    assert (again["imported"], again["skipped"], again["error_count"]) == (0, 2, 12)
    assert again["errors_file"] == str(tmp_path / "bad.csv")


def test_a_mapping_file_ids_from_content_kinds_per_row_and_fen(tmp_path: Path, cli: Cli, api: Api,
                                                              database_url: str) -> None:
    export = write_csv(tmp_path / "crm.csv", ["客户类型", "客户", "时间", "金额(分)"], [
        ["email", "Alice@Example.com", "01.05.2024 08:00", "1990"],
        ["user_id", "member-42", "02.05.2024 08:00", "500"],
        ["wechat_openid", "wxapp1:oABC123", "03.05.2024 08:00", "800"],
        ["email", "Alice@Example.com", "01.05.2024 08:00", "1990"],  # the same row again: the same order
        ["email", "alice@example.com", "04.05.2024 08:00", "12.5"],  # half a fen
        ["fax", "123", "04.05.2024 08:00", "100"],
    ], encoding="gb18030")
    mapping = tmp_path / "crm.toml"
    mapping.write_text('col_customer = "客户"\ncol_customer_kind = "客户类型"\ncol_time = "时间"\n'
                       'col_amount = "金额(分)"\namount_unit = "fen"\nchannel = "web"\nsource = "old-crm"\n'
                       'date_format = ["%d.%m.%Y %H:%M"]\ntimezone = "UTC"\n', encoding="utf-8")
    out = cli.run("import", "orders", str(export), "--mapping", str(mapping))
    assert (out["rows"], out["imported"], out["skipped"]) == (6, 3, 1)
    assert [(e["line"], e["code"]) for e in out["errors"]] == [(6, "bad_amount"), (7, "bad_identifier")]
    found = rows(database_url, "SELECT import_source, external_id, total_fen, channel, created_at FROM orders "
                               "ORDER BY total_fen")
    assert [(r[0], r[2], r[3]) for r in found] == [("old-crm", 500, "web"), ("old-crm", 800, "web"),
                                                   ("old-crm", 1990, "web")]
    assert all(str(r[1]).startswith("h:") for r in found) and "2024-05-02 08:00" in str(found[0][4])
    # the progress bar goes to stderr: stdout is the summary alone
    assert cli.run("import", "orders", str(export), "--mapping", str(mapping), progress=True)["skipped"] == 4
    assert scalar(database_url, "SELECT count(*) FROM orders") == 3

    api.drain()
    events = api.sql("SELECT user_id, anonymous_id, person_id FROM events WHERE source_id = 'siyu' "
                     "ORDER BY timestamp")
    assert len(events) == 3
    assert events[1][0] == "member-42" and events[1][1] is None  # a user id is the event's own identifier
    assert events[0][0] is None and str(events[0][1]).startswith("siyu:")
    alice = admin_get(api, "/api/v1/persons/by-identifier/email/alice@example.com")
    assert alice["id"] == events[0][2] and alice["counters"]["revenue_fen"] == 1990


def test_a_mapping_that_does_not_fit_stops_before_anything_is_written(tmp_path: Path, cli: Cli,
                                                                     database_url: str) -> None:
    export = write_csv(tmp_path / "o.csv", ORDER_HEADER, EXPORT)
    for extra, says in ((("--col-time", "付款时间"), "no column '付款时间'"),
                        (("--currency", "DOGE"), "unknown currency 'DOGE'"),
                        (("--customer-kind", "fax"), "unknown identifier kind 'fax'"),
                        (("--timezone", "Mars/Olympus"), "Unknown time zone")):
        err = cli.orders(export, *extra, code=1)
        assert says in err and err.strip().endswith("(import_bad_mapping)") and err.count("\n") == 1, err
    assert "no-such.csv" in cli.orders(tmp_path / "no-such.csv", code=1)
    assert "(import_unreadable_file)" in cli.orders(export, "--errors", str(tmp_path / "nowhere" / "e.csv"), code=1)
    assert scalar(database_url, "SELECT count(*) FROM orders") == 0
