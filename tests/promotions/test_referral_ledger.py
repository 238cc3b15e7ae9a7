"""The referral reward ledger: tampering with any single entry in the database (changed, inserted, removed,
a cut-off tail) is detected by verify, which points at it; concurrent appends never fork the chain."""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner

from siyu.cli import app as cli_app
from siyu.db import Database
from siyu.kit.clock import utcnow
from siyu.migrate import upgrade
from siyu.promotions.referral import ledger

N = 6


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    upgrade(database_url)
    database = Database(database_url)
    try:
        yield database
    finally:
        database.dispose()


def fill(db: Database, n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        with db.session() as s:
            ledger.append(s, {"reward_id": f"r{i}", "points": 10 * i, "beneficiary": "referrer", "note": "奖励"},
                          utcnow())


def rows(db: Database) -> list[tuple[Any, ...]]:
    with db.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text("SELECT seq, payload, prev_hash, hash FROM referral_ledger "
                                                    "ORDER BY seq"))]


def tamper(db: Database, *statements: str, **params: Any) -> None:
    """Raw SQL as an attacker with database access would run it (past the append-only trigger)."""
    pg = db.engine.dialect.name == "postgresql"
    with db.engine.begin() as conn:
        if pg:
            conn.execute(text("ALTER TABLE referral_ledger DISABLE TRIGGER referral_ledger_append_only"))
        else:
            conn.execute(text("DROP TRIGGER IF EXISTS referral_ledger_no_update"))
            conn.execute(text("DROP TRIGGER IF EXISTS referral_ledger_no_delete"))
        for statement in statements:
            conn.execute(text(statement), params)
        if pg:
            conn.execute(text("ALTER TABLE referral_ledger ENABLE TRIGGER referral_ledger_append_only"))


def insert(db: Database, seq: int, payload: str, prev: str, digest: str) -> None:
    tamper(db, "INSERT INTO referral_ledger (seq, payload, prev_hash, hash) VALUES (:s, :p, :v, :h)",
           s=seq, p=payload, v=prev, h=digest)


def check(db: Database, anchor: tuple[int, str] | None = None) -> ledger.Verdict:
    with db.session() as s:
        return ledger.verify(s, anchor)


def test_an_intact_chain_verifies_and_is_append_only(db: Database) -> None:
    assert check(db) == ledger.Verdict(True, 0, None, None, (0, ledger.GENESIS))
    fill(db, N)
    v = check(db)
    assert (v.ok, v.entries, v.first_bad) == (True, N, None)
    chain = rows(db)
    assert [r[0] for r in chain] == list(range(1, N + 1)) and chain[0][2] == ledger.GENESIS
    for prev, entry in itertools.pairwise(chain):
        assert entry[2] == prev[3] == ledger.entry_hash(prev[2], prev[1], prev[0])
    assert json.loads(chain[0][1]) == {"beneficiary": "referrer", "note": "奖励", "points": 0, "reward_id": "r0"}
    assert v.checkpoint == (N, chain[-1][3])
    assert check(db, (3, chain[2][3])).ok
    for statement in ("UPDATE referral_ledger SET payload = 'x' WHERE seq = 1", "DELETE FROM referral_ledger"):
        with pytest.raises(DBAPIError), db.engine.begin() as conn:
            conn.execute(text(statement))
    assert check(db).ok


@pytest.mark.parametrize("column", ["payload", "hash", "prev_hash"])
def test_changing_any_single_entry_is_detected(db: Database, column: str) -> None:
    fill(db, N)
    original = rows(db)
    for seq, payload, prev, digest in original:
        was = {"payload": payload, "hash": digest, "prev_hash": prev}[column]
        forged = payload.replace('"points":', '"points":9') if column == "payload" else "f" * 64
        tamper(db, f"UPDATE referral_ledger SET {column} = :v WHERE seq = :s", v=forged, s=seq)
        v = check(db)
        assert (v.ok, v.first_bad, v.entries) == (False, seq, N), (column, seq, v)
        tamper(db, f"UPDATE referral_ledger SET {column} = :v WHERE seq = :s", v=was, s=seq)
        assert check(db).ok


def test_a_removed_entry_is_detected(db: Database) -> None:
    fill(db, N)
    for seq, payload, prev, digest in rows(db):
        tamper(db, "DELETE FROM referral_ledger WHERE seq = :s", s=seq)
        v = check(db)
        assert (v.ok, v.first_bad) == (False, seq), (seq, v)
        insert(db, seq, payload, prev, digest)
        assert check(db).ok
    # Removed and the rest renumbered to close the gap: the next entry's link and hash no longer match.
    tamper(db, "DELETE FROM referral_ledger WHERE seq = 3", "UPDATE referral_ledger SET seq = -seq WHERE seq > 3",
           "UPDATE referral_ledger SET seq = -seq - 1 WHERE seq < 0")
    v = check(db)
    assert (v.ok, v.first_bad, v.entries) == (False, 3, N - 1)


def test_an_inserted_entry_is_detected(db: Database) -> None:
    fill(db, N)
    chain = rows(db)
    tail_hash = chain[-1][3]
    # At the end, even with a correct link and hash: past the checkpoint.
    payload = '{"points":100000,"reward_id":"forged"}'
    insert(db, N + 1, payload, tail_hash, ledger.entry_hash(tail_hash, payload, N + 1))
    v = check(db)
    assert (v.ok, v.first_bad, v.entries) == (False, N + 1, N + 1)
    tamper(db, "DELETE FROM referral_ledger WHERE seq = :s", s=N + 1)
    # Before the first entry.
    insert(db, 0, payload, ledger.GENESIS, ledger.entry_hash(ledger.GENESIS, payload, 0))
    assert (check(db).ok, check(db).first_bad) == (False, 0)
    tamper(db, "DELETE FROM referral_ledger WHERE seq = 0")
    assert check(db).ok
    # In the middle (the later entries renumbered to make room), with a broken link: found at the entry.
    tamper(db, "UPDATE referral_ledger SET seq = -seq WHERE seq >= 4", "UPDATE referral_ledger SET seq = -seq + 1 "
           "WHERE seq < 0")
    insert(db, 4, payload, "a" * 64, "b" * 64)
    v = check(db)
    assert (v.ok, v.first_bad, v.entries) == (False, 4, N + 1)
    # ... and with a link and hash computed correctly: the entry after it no longer follows.
    tamper(db, "UPDATE referral_ledger SET prev_hash = :p, hash = :h WHERE seq = 4", p=chain[2][3],
           h=ledger.entry_hash(chain[2][3], payload, 4))
    v = check(db)
    assert (v.ok, v.first_bad) == (False, 5)


def test_a_cut_off_tail_is_detected_and_a_rewritten_checkpoint_by_an_anchor(db: Database) -> None:
    fill(db, N)
    chain = rows(db)
    anchor = (N, chain[-1][3])  # published outside the database
    tamper(db, "DELETE FROM referral_ledger WHERE seq >= :s", s=N - 1)
    v = check(db)
    assert (v.ok, v.first_bad, v.entries) == (False, N - 1, N - 2)
    # An attacker who also rewinds the checkpoint leaves a consistent (shorter) chain: only the anchor tells.
    tamper(db, "UPDATE referral_ledger_head SET seq = :s, hash = :h", s=N - 2, h=chain[N - 3][3])
    assert check(db).ok
    v = check(db, anchor)
    assert (v.ok, v.first_bad) == (False, N - 1)
    # A checkpoint whose hash is not the last entry's.
    tamper(db, "UPDATE referral_ledger_head SET hash = :h", h="c" * 64)
    assert (check(db).ok, check(db).first_bad) == (False, N - 2)


def test_concurrent_appends_never_fork_the_chain(db: Database) -> None:
    threads, each = 8, 10
    gate = threading.Barrier(threads)
    errors: list[BaseException] = []

    def run(t: int) -> None:
        try:
            gate.wait()
            fill(db, each, start=t * 1000)
        except BaseException as exc:  # reported below
            errors.append(exc)

    workers = [threading.Thread(target=run, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert errors == []
    v = check(db)
    assert (v.ok, v.entries, v.checkpoint[0]) == (True, threads * each, threads * each)
    assert sorted(json.loads(r[1])["reward_id"] for r in rows(db)) == sorted(
        f"r{t * 1000 + i}" for t in range(threads) for i in range(each))


def test_the_verify_command(db: Database, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIYU_DATABASE_URL", database_url)
    monkeypatch.setenv("SIYU_DATA_DIR", str(tmp_path / "data"))
    fill(db, N)
    runner = CliRunner()
    ok = runner.invoke(cli_app, ["referral", "verify", "--json"])
    assert ok.exit_code == 0, ok.output
    answer = json.loads(ok.stdout)
    assert {k: answer[k] for k in ("ok", "entries", "first_bad")} == {"ok": True, "entries": N, "first_bad": None}
    head = runner.invoke(cli_app, ["referral", "checkpoint"]).stdout.strip()
    assert head == f"{N}:{rows(db)[-1][3]}"
    tamper(db, "UPDATE referral_ledger SET payload = '{}' WHERE seq = 2")
    bad = runner.invoke(cli_app, ["referral", "verify", "--json", "--anchor", head])
    assert bad.exit_code == 1
    answer = json.loads(bad.stdout)
    assert {k: answer[k] for k in ("ok", "entries", "first_bad")} == {"ok": False, "entries": N, "first_bad": 2}
    text_answer = runner.invoke(cli_app, ["referral", "verify"])
    assert text_answer.exit_code == 1 and "BAD at entry 2" in text_answer.stdout


def test_migration_matches_the_models(db: Database) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from siyu.models import Base

    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    mine = [d for d in diff if "referral" in repr(d) or "channel_links" in repr(d)]
    assert mine == []
