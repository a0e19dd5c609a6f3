"""One run per org from every entry point: a per-org lock.

Every entry point that changes an org's data takes it for as long as it runs: the CLI's `sync`
and `erase-contact` (and anything else wrapping its work in `org_lock`), and Dagster runs through
the `app_db` resource (`mc_pipelines/resources.py`), so a CLI sync and a scheduled run of the same
org never overlap, whatever the run queue knows.

- PostgreSQL: a session-level advisory lock (`pg_try_advisory_lock`) on a key derived from the org
  id, on a connection of its own held until release; the server drops it if the process dies.
  The holder's description is the connection's `application_name`, so it can be named.
- SQLite: an exclusive `flock` on a file under the database's directory
  (`.<db file>.org-locks/<hash of org>.lock`, holding the holder's description); the kernel
  drops it if the process dies. An in-memory database is private to its process: no lock.

When another holder has the lock the caller waits, polling, and `on_wait(holder, waited_seconds)`
reports progress at once and then every `progress_every` seconds; after `timeout` seconds
(`None`: no limit) `OrgBusyError` names the holder. Re-entrant within one thread: a job that
the CLI runs in process under the lock takes it again without waiting.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from mc_pipelines.errors import FixableError

#: How long an entry point waits for a busy org by default (seconds).
DEFAULT_WAIT_SECONDS = 1800.0

WaitCallback = Callable[[str | None, float], None]

_held: Counter[tuple[str, str, int]] = Counter()  # (database, org, thread) -> depth
_held_guard = threading.Lock()


class OrgBusyError(FixableError):
    """The org's lock stayed held by another run for longer than the caller would wait."""


def lock_key(org_id: str) -> int:
    """The advisory-lock key of an org: 64 bits of a hash of its id (signed, as PostgreSQL's bigint)."""
    digest = hashlib.sha256(f"mc_pipelines:org:{org_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _database_id(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=True)


def _sqlite_lock_path(engine: Engine, org_id: str) -> Path | None:
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file::memory:"):
        return None
    path = Path(database).resolve()
    return path.parent / f".{path.name}.org-locks" / f"{lock_key(org_id) & 0xFFFFFFFFFFFFFFFF:016x}.lock"


def _pg_holder(conn: Connection, key: int) -> str | None:
    row = conn.execute(sa.text(
        "SELECT a.application_name, a.pid FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
        "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
        "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
        "AND l.classid = CAST(:hi AS oid) AND l.objid = CAST(:lo AS oid)"),
        {"hi": (key >> 32) & 0xFFFFFFFF, "lo": key & 0xFFFFFFFF}).first()
    return None if row is None else f"{row[0] or 'unnamed'} (server pid {row[1]})"


class _PostgresLock:
    def __init__(self, engine: Engine, org_id: str, holder: str) -> None:
        self.key = lock_key(org_id)
        self.conn = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        self.conn.detach()  # closed for good on release: no lock or name goes back to the pool
        self.conn.execute(sa.text("SELECT set_config('application_name', :name, false)"),
                          {"name": holder[:63]})

    def try_acquire(self) -> bool:
        return bool(self.conn.execute(sa.text("SELECT pg_try_advisory_lock(:key)"), {"key": self.key}).scalar())

    def holder(self) -> str | None:
        return _pg_holder(self.conn, self.key)

    def close(self) -> None:
        self.conn.close()  # the server releases a session lock with its session


class _FileLock:
    def __init__(self, path: Path, holder: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path, self.holder_text = path, holder
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)

    def try_acquire(self) -> bool:
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, self.holder_text.encode(), 0)
        return True

    def holder(self) -> str | None:
        try:
            return self.path.read_text().strip() or None
        except OSError:
            return None

    def close(self) -> None:
        os.close(self.fd)  # closing the descriptor releases the flock


def _open_lock(engine: Engine, org_id: str, holder: str) -> _PostgresLock | _FileLock | None:
    if engine.dialect.name == "postgresql":
        return _PostgresLock(engine, org_id, holder)
    path = _sqlite_lock_path(engine, org_id)
    return _FileLock(path, holder) if path is not None else None


def lock_holder(engine: Engine, org_id: str) -> str | None:
    """Who holds the org's lock right now (the holder's description), or None when it is free."""
    lock = _open_lock(engine, org_id, "mc_pipelines lock probe")
    if lock is None:
        return None
    try:
        if isinstance(lock, _FileLock):
            if lock.try_acquire():
                os.ftruncate(lock.fd, 0)
                return None
            return lock.holder()
        return lock.holder()
    finally:
        lock.close()


def _acquire(lock: _PostgresLock | _FileLock, org_id: str, timeout: float | None,
             on_wait: WaitCallback | None, poll_seconds: float, progress_every: float) -> None:
    started = time.monotonic()
    next_report = 0.0
    while not lock.try_acquire():
        waited = time.monotonic() - started
        if timeout is not None and waited >= timeout:
            raise OrgBusyError(
                f"org {org_id!r} is busy: another run holds its lock ({lock.holder() or 'holder unknown'}) "
                f"and it was not released within {timeout:.0f} s; retry when that run has finished")
        if on_wait is not None and waited >= next_report:
            on_wait(lock.holder(), waited)
            next_report = waited + progress_every
        time.sleep(poll_seconds)


@contextmanager
def org_lock(engine: Engine, org_id: str, *, holder: str, timeout: float | None = DEFAULT_WAIT_SECONDS,
             on_wait: WaitCallback | None = None, poll_seconds: float = 0.2,
             progress_every: float = 10.0) -> Iterator[None]:
    """Hold the org's lock for the block (one run per org, across processes and entry points).

    `holder` describes the caller for whoever waits (e.g. `cli:alice sync`, `dagster run <id>`;
    never a secret or personal data). Waits while another holder has it (see the module doc);
    raises `OrgBusyError` after `timeout` seconds."""
    entry = (_database_id(engine), org_id, threading.get_ident())
    with _held_guard:
        reentered = _held[entry] > 0
        _held[entry] += 1
    try:
        if reentered:
            yield
            return
        lock = _open_lock(engine, org_id, f"{holder} pid {os.getpid()}")
        if lock is None:
            yield
            return
        try:
            _acquire(lock, org_id, timeout, on_wait, poll_seconds, progress_every)
            yield
        finally:
            lock.close()
    finally:
        with _held_guard:
            _held[entry] -= 1
            if not _held[entry]:
                del _held[entry]
