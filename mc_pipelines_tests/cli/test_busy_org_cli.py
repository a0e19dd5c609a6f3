"""`sync` and `erase-contact` on an org whose lock another run holds: with `--wait 0` one `error:`
line naming the holder, exit 2, nothing written."""

from __future__ import annotations

import threading

from mc_pipelines.store.org_lock import org_lock
from mc_pipelines_tests.cli.test_connections_cli import assert_refused
from mc_pipelines_tests.support.app_data import (
    add_contacts,
    add_org,
    connect_to_emulator,
    contact_row,
)


def test_a_busy_org_is_refused_naming_the_holder(cli, emulator):
    add_org(cli.engine, "acme")
    add_contacts(cli.engine, [contact_row("acme", 1, "ann@acme-mail.io")])
    connect_to_emulator(cli.engine, emulator, "acme")
    held, release = threading.Event(), threading.Event()

    def other_run() -> None:  # another thread: the lock is re-entrant only within one thread
        with org_lock(cli.engine, "acme", holder="dagster run 1234abcd"):
            held.set()
            release.wait(60)

    holder = threading.Thread(target=other_run)
    holder.start()
    try:
        assert held.wait(60)
        for argv in (["sync", "--org", "acme", "--wait", "0"],
                     ["erase-contact", "--org", "acme", "--contact", "1", "--wait", "0"]):
            assert_refused(cli, argv, "org 'acme' is busy: another run holds its lock (dagster run 1234abcd")
    finally:
        release.set()
        holder.join()
