"""The embedded bus: a durable queue in a local SQLite file.

Durability: SQLite in WAL mode. A publish returns after its transaction has committed, so the messages
survive ``kill -9`` of any process (they are in the WAL file); with ``SIYU_BUS_FSYNC=true`` every commit
is also fsynced, which survives power loss. Publishes from many concurrent requests are *group
committed*: one writer thread gathers whatever is waiting and commits it in one transaction, so the
cost of a commit (and of an fsync) is shared.

Delivery: each declared group gets its own delivery row for a message (fan-out at publish, like
RabbitMQ queues bound to an exchange); the body is stored once (``bus_bodies``) with a count of the
groups still holding it, so leasing and acknowledging touch only small rows, never the body. A consumer
leases messages (``visible_at`` moves into the future); an ack deletes them; a lease that runs out (the
consumer died) makes them deliverable again. A message delivered ``max_attempts`` times and still not
acknowledged moves to ``bus_dead``. A consumer that is closed gives back what it leased and did not
acknowledge (like a RabbitMQ channel closing). Several processes may publish and consume the same file.
"""

from __future__ import annotations

import asyncio
import json
import math
import queue
import sqlite3
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from pathlib import Path

from siyu.bus.base import Bus, BusUnavailable, Consumer, Delivery, Message, topic_matches

SCHEMA = """
CREATE TABLE IF NOT EXISTS bus_groups (grp TEXT PRIMARY KEY, patterns TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS bus_bodies (
    id INTEGER PRIMARY KEY,
    msg_id TEXT NOT NULL,
    topic TEXT NOT NULL,
    headers TEXT NOT NULL,
    body BLOB NOT NULL,
    published_at REAL NOT NULL,
    refs INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS bus_queue (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    grp TEXT NOT NULL,
    body_id INTEGER NOT NULL,
    visible_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS bus_queue_grp ON bus_queue (grp, visible_at);
CREATE TABLE IF NOT EXISTS bus_dead (
    seq INTEGER PRIMARY KEY,
    grp TEXT NOT NULL,
    msg_id TEXT NOT NULL,
    topic TEXT NOT NULL,
    headers TEXT NOT NULL,
    body BLOB NOT NULL,
    published_at REAL NOT NULL,
    attempts INTEGER NOT NULL,
    dead_at REAL NOT NULL
);
"""
_LAYOUT = 2  # PRAGMA user_version of this file layout


def _create(conn: sqlite3.Connection) -> None:
    # Freed pages (acknowledged bodies) are returned to the file system in the background, so the file
    # does not stay at its largest backlog; must be set before the first table exists.
    conn.execute("PRAGMA auto_vacuum=INCREMENTAL")
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    columns = {r[1] for r in conn.execute("PRAGMA table_info(bus_queue)")}
    if "body" in columns:  # layout 1: one row per group with the body inline
        conn.execute("ALTER TABLE bus_queue RENAME TO bus_queue_v1")
        conn.execute("DROP INDEX IF EXISTS bus_queue_grp")
    conn.executescript(SCHEMA)
    if "body" in columns:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO bus_bodies (id, msg_id, topic, headers, body, published_at, refs) "
                     "SELECT seq, msg_id, topic, headers, body, published_at, 1 FROM bus_queue_v1")
        conn.execute("INSERT INTO bus_queue (seq, grp, body_id, visible_at, attempts) "
                     "SELECT seq, grp, seq, visible_at, attempts FROM bus_queue_v1")
        conn.execute("DROP TABLE bus_queue_v1")
        conn.execute("COMMIT")
    if version != _LAYOUT:
        conn.execute(f"PRAGMA user_version={_LAYOUT}")


BUSY_GIVE_UP_S = 60.0  # a publish waiting this long for the write lock fails (BusUnavailable)


def _connect(path: Path, fsync: bool, busy_timeout_ms: int = int(BUSY_GIVE_UP_S * 1000)) -> sqlite3.Connection:
    """A connection; ``busy_timeout_ms`` applies once it is set up (setting WAL mode may wait for a lock)."""
    conn = sqlite3.connect(path, timeout=BUSY_GIVE_UP_S, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={'FULL' if fsync else 'NORMAL'}")
    conn.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
    return conn


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    return (code is not None and code & 0xFF == sqlite3.SQLITE_BUSY) or "database is locked" in str(exc)


class _GroupCommitWriter(threading.Thread):
    """Commits queued publishes in shared transactions; resolves each publish's future after commit."""

    def __init__(self, bus: SqliteBus) -> None:
        super().__init__(name="siyu-bus-writer", daemon=True)
        self.bus = bus
        self.inbox: queue.Queue[tuple[Sequence[Message], Future[None]] | None] = queue.Queue()

    def run(self) -> None:
        conn = _connect(self.bus.path, self.bus.fsync)
        while True:
            item = self.inbox.get()
            if item is None:
                break
            pending = [item]
            stop = False
            while len(pending) < 512:
                try:
                    nxt = self.inbox.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                pending.append(nxt)
            try:
                self.bus.write_messages(conn, [m for msgs, _ in pending for m in msgs])
            except Exception as exc:  # the whole group failed: every publisher is told
                for _, fut in pending:
                    fut.set_exception(BusUnavailable(details={"reason": str(exc)}))
            else:
                for _, fut in pending:
                    fut.set_result(None)
            if stop:
                break
        conn.close()


class SqliteBus(Bus):
    name = "sqlite"

    def __init__(self, path: Path, *, fsync: bool = False, lease_s: float = 60.0, max_attempts: int = 20):
        self.path = path
        self.fsync = fsync
        self.lease_s = lease_s
        self.max_attempts = max_attempts
        self._writer: _GroupCommitWriter | None = None
        self._groups: dict[str, list[str]] = {}
        self._groups_loaded_at = 0.0
        self._lock = threading.Lock()
        self._loop_pending: list[tuple[Sequence[Message], asyncio.Future[None]]] = []
        self._loop_flush_scheduled = False
        self._loop_conn: sqlite3.Connection | None = None
        self._busy_since, self._busy_retries = math.inf, 0  # the in-loop flush waiting for the write lock
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = _connect(path, fsync)
        try:
            _create(conn)
        finally:
            conn.close()

    # -- lifecycle -------------------------------------------------------------------------------
    async def start(self) -> None:
        self._ensure_writer()

    def _ensure_writer(self) -> _GroupCommitWriter:
        with self._lock:
            if self._writer is None or not self._writer.is_alive():
                self._writer = _GroupCommitWriter(self)
                self._writer.start()
            return self._writer

    async def close(self) -> None:
        self.close_sync()

    def close_sync(self) -> None:
        if self._loop_conn is not None and not self._loop_pending:
            self._loop_conn.close()
            self._loop_conn = None
        with self._lock:
            writer, self._writer = self._writer, None
        if writer is not None:
            writer.inbox.put(None)
            writer.join(timeout=30)

    # -- groups ------------------------------------------------------------------------------------
    async def declare_group(self, group: str, patterns: Sequence[str]) -> None:
        self.declare_group_sync(group, patterns)

    def declare_group_sync(self, group: str, patterns: Sequence[str]) -> None:
        conn = _connect(self.path, self.fsync)
        try:
            conn.execute(
                "INSERT INTO bus_groups (grp, patterns) VALUES (?, ?) "
                "ON CONFLICT (grp) DO UPDATE SET patterns = excluded.patterns",
                (group, json.dumps(sorted(set(patterns)))),
            )
        finally:
            conn.close()
        self._groups_loaded_at = 0.0

    def _load_groups(self, conn: sqlite3.Connection) -> dict[str, list[str]]:
        # Groups may be declared by another process; re-read them every few seconds.
        now = time.monotonic()
        if now - self._groups_loaded_at > 2.0:
            rows = conn.execute("SELECT grp, patterns FROM bus_groups").fetchall()
            self._groups = {g: json.loads(p) for g, p in rows}
            self._groups_loaded_at = now
        return self._groups

    # -- publishing --------------------------------------------------------------------------------
    def write_messages(self, conn: sqlite3.Connection, messages: Sequence[Message]) -> None:
        groups = self._load_groups(conn)
        now = time.time()
        conn.execute("BEGIN IMMEDIATE")
        try:
            for m in messages:
                targets = [g for g, patterns in groups.items() if any(topic_matches(p, m.topic) for p in patterns)]
                if not targets:
                    continue  # like an exchange with no bound queue
                cur = conn.execute(
                    "INSERT INTO bus_bodies (msg_id, topic, headers, body, published_at, refs) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (m.id, m.topic, json.dumps(m.headers), m.body, now, len(targets)),
                )
                body_id = cur.lastrowid
                conn.executemany(
                    "INSERT INTO bus_queue (grp, body_id, visible_at) VALUES (?, ?, ?)",
                    [(g, body_id, now) for g in targets],
                )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    async def publish(self, messages: Sequence[Message]) -> None:
        if not messages:
            return
        if self.fsync:  # an fsync must not block the event loop: commit in the writer thread
            fut: Future[None] = Future()
            self._ensure_writer().inbox.put((messages, fut))
            await asyncio.wrap_future(fut)
            return
        # Group commit inside the event loop: every publish made during one turn of the loop is committed
        # in one transaction at the end of that turn. No thread hop; a commit without fsync takes
        # microseconds. The loop never waits for another process's write lock (a consumer leasing or
        # acknowledging): the flush is tried again a moment later, gathering what arrives meanwhile.
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        self._loop_pending.append((messages, waiter))
        if not self._loop_flush_scheduled:
            self._loop_flush_scheduled = True
            loop.call_soon(self._flush_in_loop)
        await waiter

    def _flush_in_loop(self) -> None:
        pending = self._loop_pending
        if self._loop_conn is None:
            self._loop_conn = _connect(self.path, self.fsync, busy_timeout_ms=0)
        try:
            self.write_messages(self._loop_conn, [m for msgs, _ in pending for m in msgs])
        except sqlite3.OperationalError as exc:
            if _is_busy(exc) and time.monotonic() < self._busy_since + BUSY_GIVE_UP_S:
                self._busy_since = min(self._busy_since, time.monotonic())
                self._busy_retries += 1
                asyncio.get_running_loop().call_later(min(0.005, 0.0002 * self._busy_retries), self._flush_in_loop)
                return
            self._settle(pending, exc)
        except Exception as exc:
            self._settle(pending, exc)
        else:
            self._settle(pending, None)

    def _settle(self, pending: list[tuple[Sequence[Message], asyncio.Future[None]]], exc: Exception | None) -> None:
        self._loop_pending = []
        self._loop_flush_scheduled = False
        self._busy_since, self._busy_retries = math.inf, 0
        for _, waiter in pending:
            if waiter.done():
                continue
            if exc is None:
                waiter.set_result(None)
            else:
                waiter.set_exception(BusUnavailable(details={"reason": str(exc)}))

    def publish_sync(self, messages: Sequence[Message]) -> None:
        if not messages:
            return
        fut: Future[None] = Future()
        self._ensure_writer().inbox.put((messages, fut))
        fut.result()

    def consumer(self, group: str, prefetch: int = 256) -> SqliteConsumer:
        return SqliteConsumer(self, group)

    async def depth(self) -> dict[str, int]:
        return await asyncio.to_thread(self.depth_sync)

    def depth_sync(self) -> dict[str, int]:
        conn = _connect(self.path, self.fsync)
        try:
            counts = dict(conn.execute("SELECT grp, count(*) FROM bus_queue GROUP BY grp").fetchall())
            for (grp,) in conn.execute("SELECT grp FROM bus_groups").fetchall():
                counts.setdefault(grp, 0)
            return counts
        finally:
            conn.close()

    def dead_count(self) -> int:
        conn = _connect(self.path, self.fsync)
        try:
            return int(conn.execute("SELECT count(*) FROM bus_dead").fetchone()[0])
        finally:
            conn.close()

    async def ping(self) -> None:
        def _ping() -> None:
            conn = _connect(self.path, self.fsync)
            try:
                conn.execute("SELECT 1 FROM bus_groups LIMIT 1").fetchall()
            finally:
                conn.close()

        try:
            await asyncio.to_thread(_ping)
        except sqlite3.Error as exc:
            raise BusUnavailable(details={"reason": str(exc)}) from exc


class SqliteConsumer(Consumer):
    def __init__(self, bus: SqliteBus, group: str) -> None:
        self.bus = bus
        self.group = group
        self._conn = _connect(bus.path, bus.fsync)
        self._lock = threading.Lock()
        # seq -> (body id, lease end), of what was neither acknowledged nor retried
        self._leased: dict[int, tuple[int, float]] = {}
        self._acks_since_vacuum = 0

    def fetch_sync(self, max_messages: int) -> list[Delivery]:
        now = time.time()
        with self._lock:
            conn = self._conn
            # A read first (it takes no lock): an idle group, polled often, must not take the write lock
            # that publishers wait for.
            if conn.execute("SELECT 1 FROM bus_queue WHERE grp = ? AND visible_at <= ? LIMIT 1",
                            (self.group, now)).fetchone() is None:
                self._idle(conn)
                return []
            conn.execute("BEGIN IMMEDIATE")
            try:
                dead = conn.execute(
                    "DELETE FROM bus_queue WHERE grp = ? AND visible_at <= ? AND attempts >= ? "
                    "RETURNING seq, body_id, attempts",
                    (self.group, now, self.bus.max_attempts),
                ).fetchall()
                for seq, body_id, attempts in dead:
                    conn.execute(
                        "INSERT INTO bus_dead (seq, grp, msg_id, topic, headers, body, published_at, attempts, "
                        "dead_at) SELECT ?, ?, msg_id, topic, headers, body, published_at, ?, ? FROM bus_bodies "
                        "WHERE id = ?",
                        (seq, self.group, attempts, now, body_id),
                    )
                _release_bodies(conn, [body_id for _, body_id, _ in dead])
                leased = conn.execute(
                    "UPDATE bus_queue SET visible_at = ?, attempts = attempts + 1 WHERE seq IN ("
                    "SELECT seq FROM bus_queue WHERE grp = ? AND visible_at <= ? ORDER BY seq LIMIT ?) "
                    "RETURNING seq, body_id, attempts",
                    (now + self.bus.lease_s, self.group, now, max_messages),
                ).fetchall()
                bodies = {}
                if leased:
                    ids = [r[1] for r in leased]
                    marks = ",".join("?" * len(ids))
                    bodies = {
                        r[0]: r[1:]
                        for r in conn.execute(
                            f"SELECT id, msg_id, topic, headers, body FROM bus_bodies WHERE id IN ({marks})", ids
                        )
                    }
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            self._leased.update((r[0], (r[1], now + self.bus.lease_s)) for r in leased)
            if not leased:
                self._idle(conn)
        leased.sort(key=lambda r: r[0])
        out = []
        for seq, body_id, attempts in leased:
            msg_id, topic, headers, body = bodies[body_id]
            out.append(Delivery(Message(id=msg_id, topic=topic, body=body, headers=json.loads(headers)),
                                attempts=attempts, handle=seq))
        return out

    def _idle(self, conn: sqlite3.Connection) -> None:
        if self._acks_since_vacuum:
            # Idle: give the pages of acknowledged bodies back to the file system (not while busy, where it
            # would hold the write lock publishers are waiting for).
            self._acks_since_vacuum = 0
            conn.execute("PRAGMA incremental_vacuum")

    async def fetch(self, max_messages: int, wait_s: float) -> list[Delivery]:
        deadline = time.monotonic() + wait_s
        delay = 0.005
        while True:
            got = await asyncio.to_thread(self.fetch_sync, max_messages)
            if got or time.monotonic() >= deadline:
                return got
            await asyncio.sleep(min(delay, max(0.0, deadline - time.monotonic())))
            delay = min(delay * 2, 0.1)

    def ack_sync(self, deliveries: Sequence[Delivery]) -> None:
        seqs = [d.handle for d in deliveries]
        with self._lock:
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                body_ids = []
                for i in range(0, len(seqs), 500):
                    chunk = seqs[i:i + 500]
                    body_ids += [r[0] for r in conn.execute(
                        f"DELETE FROM bus_queue WHERE seq IN ({','.join('?' * len(chunk))}) RETURNING body_id", chunk
                    )]
                _release_bodies(conn, body_ids)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            for seq in seqs:
                self._leased.pop(seq, None)
            self._acks_since_vacuum += len(seqs)

    async def ack(self, deliveries: Sequence[Delivery]) -> None:
        if deliveries:
            await asyncio.to_thread(self.ack_sync, deliveries)

    async def retry(self, deliveries: Sequence[Delivery]) -> None:
        def _retry() -> None:
            with self._lock:
                self._conn.executemany(
                    "UPDATE bus_queue SET visible_at = ? WHERE seq = ?",
                    [(time.time() + min(60.0, 0.5 * 2 ** d.attempts), d.handle) for d in deliveries],
                )
                for d in deliveries:
                    self._leased.pop(d.handle, None)

        if deliveries:
            await asyncio.to_thread(_retry)

    async def close(self) -> None:
        await asyncio.to_thread(self.close_sync)

    def close_sync(self) -> None:
        """Give back what this consumer leased and did not acknowledge, so another consumer gets it now
        rather than when the lease runs out; the delivery still counts as an attempt."""
        with self._lock:
            try:
                if self._leased:  # only leases still ours (not run out and taken by another consumer)
                    now = time.time()
                    self._conn.execute("BEGIN IMMEDIATE")
                    self._conn.executemany(
                        "UPDATE bus_queue SET visible_at = ? WHERE seq = ? AND visible_at = ?",
                        [(now, seq, until) for seq, (_, until) in self._leased.items()],
                    )
                    self._conn.execute("COMMIT")
                    self._leased.clear()
            finally:
                self._conn.close()


def release_leases(bus: SqliteBus, group: str) -> int:
    """Make every leased message of ``group`` deliverable now. For the embedded runtime at start-up,
    where this process is the group's only consumer: what a killed predecessor held comes back at once
    instead of after its lease (consumers are idempotent, so an early redelivery is harmless)."""
    conn = _connect(bus.path, bus.fsync)
    try:
        now = time.time()
        cur = conn.execute(
            "UPDATE bus_queue SET visible_at = ? WHERE grp = ? AND visible_at > ?", (now, group, now)
        )
        return cur.rowcount
    finally:
        conn.close()


def _release_bodies(conn: sqlite3.Connection, body_ids: Sequence[int]) -> None:
    """One group is done with each of these bodies; a body no group holds any more is deleted."""
    if not body_ids:
        return
    conn.executemany("UPDATE bus_bodies SET refs = refs - 1 WHERE id = ?", [(b,) for b in body_ids])
    conn.executemany("DELETE FROM bus_bodies WHERE id = ? AND refs <= 0", [(b,) for b in body_ids])
