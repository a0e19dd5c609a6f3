"""`sync` and `erase-contact` run the real jobs in process (PostgreSQL + the emulator)."""

from __future__ import annotations

import pytest

from mc_pipelines.store import audit, connections, member_state
from mc_pipelines_tests.cli.test_connections_cli import assert_key_hidden, assert_refused
from mc_pipelines_tests.support.app_data import (
    add_contacts,
    add_org,
    connect_to_emulator,
    contact_row,
)

EMAILS = [f"member{i}@acme-mail.io" for i in range(1, 5)]


@pytest.fixture
def acme(pg_cli, emulator) -> dict[str, str]:
    add_org(pg_cli.engine, "acme")
    add_org(pg_cli.engine, "globex")  # never connected
    add_contacts(pg_cli.engine, [contact_row("acme", i, e) for i, e in enumerate(EMAILS, start=1)])
    return connect_to_emulator(pg_cli.engine, emulator, "acme")


def members(emulator, conn) -> set[str]:
    return {m["email_address"] for m in emulator.dump_list(conn["api_key"], conn["audience_id"])}


def test_sync_dry_run_then_sync_then_erase(pg_cli, emulator, acme):
    dry = pg_cli("sync", "--org", "acme", "--dry-run")
    assert dry.code == 0, dry.text
    assert "dry run of the audience sync of org acme: succeeded" in dry.out
    assert "planned_creates=4" in dry.out and members(emulator, acme) == set()

    real = pg_cli("sync", "--org", "acme")
    assert real.code == 0, real.text
    assert "audience_sync:" in real.out and "created=4" in real.out
    assert members(emulator, acme) == set(EMAILS)
    assert_key_hidden(real.text, acme["api_key"])

    erased = pg_cli("erase-contact", "--org", "acme", "--contact", "2")
    assert erased.code == 0, erased.text
    assert "contact 2 of org acme: erased" in erased.out and f"{acme['audience_id']}: deleted" in erased.out
    assert "@" not in erased.out  # ids and outcome only
    assert members(emulator, acme) == set(EMAILS) - {EMAILS[1]}
    assert member_state.rows_for_contact(pg_cli.engine, "acme", 2) == []
    assert len(audit.entries(pg_cli.engine, "acme", action="gdpr_erasure")) == 1


def test_sync_and_erase_refuse_bad_input(pg_cli, acme):
    for argv in (["sync"], ["erase-contact", "--contact", "1"]):
        assert_refused(pg_cli, [*argv, "--org", "nobody"], "org 'nobody' does not exist")
    assert_refused(pg_cli, ["sync", "--org", "globex"], "has no Mailchimp connection")
    assert_refused(pg_cli, ["erase-contact", "--org", "acme", "--contact", "999"],
                   "contact 999 does not exist in org 'acme'")
    connections.update_connection(pg_cli.engine, "acme", enabled=False)
    assert_refused(pg_cli, ["sync", "--org", "acme"], "sync disabled")


def test_sync_that_fails_exits_1_with_the_reason(pg_cli, emulator):
    add_org(pg_cli.engine, "acme")
    add_contacts(pg_cli.engine, [contact_row("acme", 1, EMAILS[0])])
    conn = connect_to_emulator(pg_cli.engine, emulator, "acme")
    # the map stopped fitting after connect (connect itself refuses a map that does not fit)
    connections.update_connection(pg_cli.engine, "acme", merge_fields={"NICK": "first_name"})
    outcome = pg_cli("sync", "--org", "acme")
    assert outcome.code == 1
    assert "error: audience sync of org acme failed" in outcome.err
    assert "merge field mapping does not fit the audience" in outcome.err and "NICK" in outcome.err
    assert_key_hidden(outcome.text, conn["api_key"])
    assert members(emulator, conn) == set()
