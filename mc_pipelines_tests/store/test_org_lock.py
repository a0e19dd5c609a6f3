"""The per-org lock on PostgreSQL and SQLite: exclusive across connections and threads (so across
processes), named while held, re-entrant in one thread, bounded waits with progress."""

from __future__ import annotations

import threading

import pytest

from mc_pipelines.store.org_lock import OrgBusyError, lock_holder, org_lock


def test_a_held_org_is_busy_for_others_and_free_after(app_engine):
    assert lock_holder(app_engine, "acme") is None
    with org_lock(app_engine, "acme", holder="cli:alice sync"):
        assert "cli:alice sync" in (lock_holder(app_engine, "acme") or "")
        waits: list[tuple[str | None, float]] = []
        outcome: list[BaseException] = []

        def other() -> None:  # another thread: another connection / file descriptor, like a process
            try:
                with org_lock(app_engine, "acme", holder="dagster run r2", timeout=0.6,
                              on_wait=lambda h, w: waits.append((h, w)), progress_every=0.2):
                    pass
            except OrgBusyError as exc:
                outcome.append(exc)

        thread = threading.Thread(target=other)
        thread.start()
        thread.join()
        assert len(outcome) == 1 and "org 'acme' is busy" in str(outcome[0])
        assert "cli:alice sync" in str(outcome[0])
        assert waits and all("cli:alice sync" in (h or "") for h, _ in waits)
        with org_lock(app_engine, "globex", holder="other org", timeout=0):  # orgs are independent
            pass
    assert lock_holder(app_engine, "acme") is None
    with org_lock(app_engine, "acme", holder="next", timeout=0):
        pass


def test_the_same_thread_re_enters_and_keeps_the_lock_until_the_outer_block_ends(app_engine):
    with org_lock(app_engine, "acme", holder="cli sync"):
        with org_lock(app_engine, "acme", holder="dagster run in process", timeout=0):
            pass
        with pytest.raises(OrgBusyError):  # still held by the outer block
            _take_in_another_thread(app_engine)
    _take_in_another_thread(app_engine)


def test_a_waiter_gets_the_lock_when_the_holder_releases(app_engine):
    release = threading.Event()
    acquired = threading.Event()

    def holder() -> None:
        with org_lock(app_engine, "acme", holder="first"):
            acquired.set()
            release.wait(30)

    thread = threading.Thread(target=holder)
    thread.start()
    assert acquired.wait(30)
    waited: list[float] = []

    def on_wait(_holder: str | None, seconds: float) -> None:
        waited.append(seconds)
        release.set()

    with org_lock(app_engine, "acme", holder="second", timeout=30, on_wait=on_wait):
        assert "second" in (lock_holder(app_engine, "acme") or "")
    thread.join()
    assert waited  # it did wait, and reported it


def _take_in_another_thread(engine) -> None:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            with org_lock(engine, "acme", holder="another thread", timeout=0):
                pass
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
