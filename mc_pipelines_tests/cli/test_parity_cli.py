"""CLI parity with the control API: every API operation has a command, and the new commands run
end to end (PostgreSQL, the emulator over HTTP): the newcomer's audience picker, OAuth, discovery,
segments, campaigns, consent, errors and sync status."""

from __future__ import annotations

import io
import sys

import click
import pytest

from mc_pipelines.api.app import endpoints
from mc_pipelines.cli import cli as root
from mc_pipelines.mailchimp.oauth import OAUTH_METADATA_ENV
from mc_pipelines.store import audit, connections, runs
from mc_pipelines_tests.support.app_data import (
    add_contacts,
    add_org,
    connect_to_emulator,
    contact_row,
)
from mc_pipelines_tests.support.cli import assert_key_hidden
from mc_pipelines_tests.support.db import table_snapshot

#: API operation → the CLI command doing the same action
PARITY = {
    "get_status": "status", "get_connection": "status", "connect": "connect",
    "update_connection": "set-options", "disconnect": "disconnect", "test_connection": "test-connection",
    "new_webhook_secret": "webhook-secret", "list_audiences": "list-audiences",
    "discover_audiences": "list-audiences", "list_merge_fields": "list-merge-fields",
    "list_segments": "segments list", "create_segment": "segments create", "get_segment": "segments list",
    "update_segment": "segments update", "delete_segment": "segments delete", "sync_segment": "segments sync",
    "list_campaigns": "campaigns list", "track_campaign": "campaigns track", "get_campaign": "campaigns list",
    "untrack_campaign": "campaigns untrack", "refresh_campaign": "campaigns refresh",
    "get_consent": "consent show", "record_consent": "consent record", "erase_contact": "erase-contact",
    "sync_now": "sync-now", "get_sync": "sync-status", "latest_run": "errors",
    "export_contacts": "export", "import_contacts": "import",
    "get_tag_options": "set-tag-options",  # prints the options (changes none without flags)
    "set_tag_options": "set-tag-options",
    "refresh_tags": "download-tags",  # its job reads every member's tags first
    "download_tags": "download-tags",
}


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_every_api_operation_has_a_cli_command():
    assert {e.operation_id for e in endpoints()} == set(PARITY)
    for command in set(PARITY.values()):
        group = root
        for word in command.split():
            group = group.commands[word] if isinstance(group, click.Group) else None
            assert group is not None, command
    assert "enable" in root.commands and "disable" in root.commands  # update_connection's enabled flag


@pytest.fixture
def account(emulator):
    created = emulator.create_account(account_name="Newcomer Co", dc="us3")
    return {"api_key": created["api_key"],
            "first": emulator.create_list(created["api_key"], name="Alpha list"),
            "second": emulator.create_list(created["api_key"], name="Beta list")}


def test_newcomer_without_an_audience_gets_the_list_and_the_command(pg_cli, account, monkeypatch):
    add_org(pg_cli.engine, "acme")
    before = table_snapshot(pg_cli.engine)
    monkeypatch.setattr(sys, "stdin", io.StringIO(account["api_key"] + "\n"))
    outcome = pg_cli("connect", "--org", "acme", "--api-key", "-")
    assert outcome.code == 2
    assert "Alpha list" in outcome.out and account["second"] in outcome.out
    assert outcome.err == ("error: no audience given: pick one above and run `mc-pipelines connect --org acme "
                           "--api-key - --audience AUDIENCE_ID`\n")
    assert table_snapshot(pg_cli.engine) == before
    assert_key_hidden(outcome.text, account["api_key"])


def test_newcomer_picks_an_audience_on_a_terminal(pg_cli, account, monkeypatch):
    add_org(pg_cli.engine, "acme")
    monkeypatch.setattr(sys, "stdin", _Terminal(account["api_key"] + "\n2\n"))
    outcome = pg_cli("connect", "--org", "acme", "--api-key", "-")
    assert outcome.code == 0, outcome.text
    assert "connected org acme to audience 'Beta list'" in outcome.out
    assert connections.get_connection(pg_cli.engine, "acme").audience_id == account["second"]
    assert_key_hidden(outcome.text, account["api_key"])


def test_oauth_token_discovery_and_merge_fields(pg_cli, account, emulator, monkeypatch):
    monkeypatch.setenv(OAUTH_METADATA_ENV, emulator.oauth_metadata_url)
    add_org(pg_cli.engine, "acme")
    token = account["api_key"].rpartition("-")[0]
    listed = pg_cli("list-audiences", "--oauth-token", token)
    assert listed.code == 0 and "Mailchimp account 'Newcomer Co' (dc us3): 2 audience(s)" in listed.out
    connected = pg_cli("connect", "--org", "acme", "--oauth-token", token, "--audience", account["first"])
    assert connected.code == 0 and "OAuth token stored encrypted" in connected.out
    assert connections.get_connection(pg_cli.engine, "acme").auth_kind == "oauth"
    assert "Alpha list" in pg_cli("list-audiences", "--org", "acme").out
    fields = pg_cli("list-merge-fields", "--org", "acme")
    assert fields.code == 0 and "FNAME" in fields.out
    status = pg_cli("status").out
    assert "Newcomer Co (us3)" in status
    assert token not in listed.text + connected.text + fields.text + status


def test_segments_campaigns_consent_errors_and_sync_status(pg_cli, emulator):
    add_org(pg_cli.engine, "acme")
    add_contacts(pg_cli.engine, [contact_row("acme", 1, "a@acme.io", department="Sales")])
    account = connect_to_emulator(pg_cli.engine, emulator, "acme")
    created = pg_cli("segments", "create", "--org", "acme", "--name", "Sales", "--tag", "sales",
                     "--filter", "department=Sales")
    assert created.code == 0 and "created segment" in created.out, created.text
    segment_id = created.out.split("created segment ")[1].split()[0]
    assert "sales" in pg_cli("segments", "list", "--org", "acme").out
    assert pg_cli("segments", "update", "--org", "acme", "--id", segment_id, "--name", "Sales EU").code == 0
    synced = pg_cli("segments", "sync", "--org", "acme", "--id", segment_id)
    request_id = synced.out.split("(request ")[1].split(")")[0]
    assert "pending" in pg_cli("sync-status", "--org", "acme", "--request", request_id).out
    assert pg_cli("segments", "delete", "--org", "acme", "--id", segment_id).code == 0
    missing = pg_cli("segments", "delete", "--org", "acme", "--id", segment_id)
    assert missing.code == 2 and missing.err.startswith(f"error: segment {segment_id} does not exist")

    campaign = emulator.create_campaign(account["api_key"], list_id=account["audience_id"], title="Launch",
                                        status="sent", emails_sent=8, unique_opens=2)
    assert "now tracking" in pg_cli("campaigns", "track", "--org", "acme", "--campaign", campaign["id"]).out
    assert "Launch" in pg_cli("campaigns", "list", "--org", "acme").out
    assert "refreshed" in pg_cli("campaigns", "refresh", "--org", "acme", "--campaign", campaign["id"]).out
    assert pg_cli("campaigns", "untrack", "--org", "acme", "--campaign", campaign["id"]).code == 0

    recorded = pg_cli("consent", "record", "--org", "acme", "--contact", "1", "--withdrawn", "--source", "kiosk")
    assert recorded.code == 0 and "consent withdrawn" in recorded.out and "kiosk" in recorded.out
    assert audit.entries(pg_cli.engine, "acme", "consent_withdrawn")[0]["actor"].startswith("cli")

    run_id = runs.start_run(pg_cli.engine, "acme", kind="audience_sync", dry_run=False, dagster_run_id=None)
    runs.record_errors(pg_cli.engine, run_id, "acme", [
        {"audience_id": account["audience_id"], "contact_id": 1, "email": "a@acme.io",
         "error_code": "invalid_resource", "message": "Invalid Resource: fake email"}])
    runs.finish_run(pg_cli.engine, run_id, status="partial", summary={"created": 0, "failed": 1}, org_id="acme")
    errors = pg_cli("errors", "--org", "acme")
    assert errors.code == 0 and "partial" in errors.out and "invalid_resource" in errors.out
    assert errors.out.splitlines()[-1].split()[0] == "1"  # the contact id
