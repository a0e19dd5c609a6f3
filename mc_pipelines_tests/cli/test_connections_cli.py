"""`connect`, `test-connection`, `disconnect`, `enable`, `disable`, `status`, `webhook-secret`,
`sync-now` end to end (PostgreSQL and SQLite, the emulator over HTTP). Every refused command
exits 2 with one line naming what to fix, writes nothing, and never prints the API key."""

from __future__ import annotations

import io
import sys
from collections.abc import Callable

import httpx
import pytest

from mc_pipelines.store import audit, connections, requests, runs
from mc_pipelines.store.member_state import save_rows
from mc_pipelines.store.secrets import decrypt_secret, verify_webhook_secret
from mc_pipelines_tests.support.app_data import add_org, connect_to_emulator
from mc_pipelines_tests.support.cli import assert_key_hidden, assert_refused


@pytest.fixture
def account(emulator) -> dict[str, str]:
    """A fresh Mailchimp account with one audience."""
    created = emulator.create_account(account_name="Acme Marketing", dc="us1")
    return {"api_key": created["api_key"], "audience_id": emulator.create_list(created["api_key"], name="Acme")}


def test_connect_checks_the_key_and_stores_it_encrypted(cli, account, emulator):
    add_org(cli.engine, "acme")
    key = account["api_key"]
    httpx.post(f"{emulator.api_url('us1')}/lists/{account['audience_id']}/merge-fields", auth=("x", key),
               json={"tag": "DEPT", "name": "Department", "type": "text"}).raise_for_status()
    outcome = cli("connect", "--org", "acme", "--api-key", key, "--audience", account["audience_id"],
                  "--auto-sync", "--merge-field", "FNAME=first_name", "--merge-field", "dept=department")
    assert outcome.code == 0, outcome.text
    assert f"connected org acme to audience 'Acme' ({account['audience_id']}" in outcome.out
    assert "'Acme Marketing' (dc us1)" in outcome.out
    assert_key_hidden(outcome.text, key)
    stored = connections.get_connection(cli.engine, "acme")
    assert stored.api_key_encrypted != key and decrypt_secret(stored.api_key_encrypted) == key
    assert (stored.auto_sync, stored.enabled, stored.account_name) == (True, True, "Acme Marketing")
    assert stored.merge_fields == {"FNAME": "first_name", "DEPT": "department"}
    (entry,) = audit.entries(cli.engine, "acme", action="connect")
    assert entry["actor"].startswith("cli") and key not in repr(entry)


def test_connect_reads_the_key_from_stdin_or_the_environment(cli, account, monkeypatch):
    add_org(cli.engine, "acme")
    add_org(cli.engine, "globex")
    key = account["api_key"]
    monkeypatch.setattr(sys, "stdin", io.StringIO(key + "\n"))
    from_stdin = cli("connect", "--org", "acme", "--api-key", "-", "--audience", account["audience_id"])
    monkeypatch.setenv("MC_API_KEY", key)
    from_env = cli("connect", "--org", "globex", "--audience", account["audience_id"])
    assert (from_stdin.code, from_env.code) == (0, 0)
    assert connections.active_org_ids(cli.engine) == ["acme", "globex"]
    assert_key_hidden(from_stdin.text + from_env.text, key)


# each case: (argv built from key/audience, what the message must say); setups run first
BAD_CONNECT: dict[str, tuple[Callable[[str, str], list[str]], str]] = {
    "unknown org": (lambda k, a: ["--org", "nobody", "--api-key", k, "--audience", a], "org 'nobody' does not exist"),
    "missing dc suffix": (lambda k, a: ["--org", "acme", "--api-key", k.rpartition("-")[0], "--audience", a],
                          "has no data-centre suffix"),
    "wrong length": (lambda k, a: ["--org", "acme", "--api-key", k[:20] + "-us1", "--audience", a],
                     "32 hexadecimal characters but has 20"),
    "quotes": (lambda k, a: ["--org", "acme", "--api-key", f'"{k}"', "--audience", a], "wrapped in quotes"),
    "whitespace": (lambda k, a: ["--org", "acme", "--api-key", f" {k}", "--audience", a], "whitespace"),
    "unknown audience": (lambda k, a: ["--org", "acme", "--api-key", k, "--audience", "nosuchlist"],
                         "audience 'nosuchlist' was not found"),
    "no key at all": (lambda k, a: ["--org", "acme", "--audience", a], "no Mailchimp API key given"),
    "merge field syntax": (lambda k, a: ["--org", "acme", "--api-key", k, "--audience", a, "--merge-field", "FNAME"],
                           "must look like TAG=column"),
    "merge field column": (lambda k, a: ["--org", "acme", "--api-key", k, "--audience", a, "--merge-field",
                                         "FNAME=nickname"], "'nickname' is not a contact column"),
    "merge field not in the audience": (lambda k, a: ["--org", "acme", "--api-key", k, "--audience", a,
                                                      "--merge-field", "DEPT=department"],
                                        "merge field DEPT is not defined in the audience"),
    "revoked key": (lambda k, a: ["--org", "acme", "--api-key", k, "--audience", a], "rejected the API key"),
    "disabled account": (lambda k, a: ["--org", "acme", "--api-key", k, "--audience", a],
                         "disabled or deactivated"),
}


@pytest.mark.parametrize("case", list(BAD_CONNECT))
def test_connect_refuses_bad_input_and_writes_nothing(cli, account, emulator, case):
    add_org(cli.engine, "acme")
    key = account["api_key"]
    if case == "revoked key":
        emulator.revoke_key(key)
    if case == "disabled account":
        emulator.disable_account(key)
    argv, fragment = BAD_CONNECT[case]
    assert_refused(cli, ["connect", *argv(key, account["audience_id"])], fragment, key=key)


def test_connection_lifecycle(cli, emulator):
    add_org(cli.engine, "acme")
    add_org(cli.engine, "globex")  # never connected
    conn = connect_to_emulator(cli.engine, emulator, "acme")
    ok = cli("test-connection", "--org", "acme")
    assert ok.code == 0 and f"reaches audience 'acme audience' ({conn['audience_id']}" in ok.out
    assert_key_hidden(ok.text, conn["api_key"])

    assert cli("disable", "--org", "acme").out == "org acme: sync disabled\n"
    assert "already disabled" in cli("disable", "--org", "acme").out
    assert "sync disabled" in cli("test-connection", "--org", "acme").out  # still testable
    assert_refused(cli, ["sync-now", "--org", "acme"], "sync disabled: run `mc-pipelines enable --org acme`")
    assert cli("enable", "--org", "acme").out == "org acme: sync enabled\n"
    assert [e["action"] for e in audit.entries(cli.engine, "acme")] == ["connect", "disable", "enable"]

    emulator.revoke_key(conn["api_key"])
    assert_refused(cli, ["test-connection", "--org", "acme"], "rejected the API key", key=conn["api_key"])

    gone = cli("disconnect", "--org", "acme")
    assert gone.code == 0 and "disconnected org acme" in gone.out
    stored = connections.get_connection(cli.engine, "acme")
    assert stored.api_key_encrypted is None and stored.disconnected_at is not None and not stored.enabled
    for argv in (["disconnect"], ["test-connection"], ["enable"], ["disable"], ["webhook-secret"], ["sync-now"]):
        assert_refused(cli, [*argv, "--org", "acme"], "connect")
        assert_refused(cli, [*argv, "--org", "globex"], "connect")
        assert_refused(cli, [*argv, "--org", "nobody"], "org 'nobody' does not exist")


def test_status_table(cli, emulator):
    add_org(cli.engine, "acme")
    add_org(cli.engine, "globex")
    conn = connect_to_emulator(cli.engine, emulator, "acme")
    save_rows(cli.engine, "acme", [{"audience_id": conn["audience_id"], "subscriber_hash": f"{i:032x}",
                                    "email": f"m{i}@acme-mail.io", "status": "subscribed"} for i in range(3)],
              ["email", "status"])
    run_id = runs.start_run(cli.engine, "acme", kind="audience_sync", dry_run=False, dagster_run_id=None)
    runs.record_errors(cli.engine, run_id, "acme", [{"error_code": "invalid", "message": "m", "contact_id": 1}])
    connections.record_sync_status(cli.engine, "acme", status="partial", error=None)
    lines = cli("status").out.splitlines()
    assert lines[0].split() == ["org", "connected", "enabled", "auto_sync", "account", "(dc)", "audience", "last",
                                "sync", "(UTC)", "status", "members", "errors", "(last", "run)"]
    acme = lines[2].split()
    assert acme[:8] == ["acme", "yes", "yes", "no", "acme", "account", "(us1)", conn["audience_id"]]
    assert acme[-3:] == ["partial", "3", "1"]
    assert lines[3].split() == ["globex", "no", "-", "-", "-", "-", "never", "-", "0", "-"]


def test_webhook_secret_is_shown_once_and_stored_hashed(cli, emulator):
    add_org(cli.engine, "acme")
    connect_to_emulator(cli.engine, emulator, "acme")
    outcome = cli("webhook-secret", "--org", "acme", "--base-url", "https://hooks.example.org/")
    assert outcome.code == 0
    secret = outcome.out.splitlines()[1].strip()
    assert f"https://hooks.example.org/mailchimp/webhook/acme/{secret}" in outcome.out
    stored = connections.get_connection(cli.engine, "acme").webhook_secret_hash
    assert verify_webhook_secret(secret, stored) and secret not in stored
    (entry,) = audit.entries(cli.engine, "acme", action="webhook_secret")
    assert secret not in repr(entry) and stored not in repr(entry)


def test_sync_now_inserts_a_request_for_the_sensor(cli, emulator):
    add_org(cli.engine, "acme")
    connect_to_emulator(cli.engine, emulator, "acme")
    outcome = cli("sync-now", "--org", "acme", "--requested-by", "ann@acme")
    assert outcome.code == 0 and "sync_requests_sensor" in outcome.out
    (pending,) = requests.pending_requests(cli.engine)
    assert (pending["org_id"], pending["requested_by"]) == ("acme", "ann@acme")
    assert pending["id"] in outcome.out
    assert [e["detail"] for e in audit.entries(cli.engine, "acme", action="sync_requested")] == [
        {"request_id": pending["id"]}]


def test_lifecycle_options_are_set_at_connect_and_changed_later_audited(cli, account):
    add_org(cli.engine, "acme")
    key = account["api_key"]
    outcome = cli("connect", "--org", "acme", "--api-key", key, "--audience", account["audience_id"],
                  "--existing-members", "leave")
    assert outcome.code == 0, outcome.text
    stored = connections.get_connection(cli.engine, "acme")
    assert (stored.existing_members, stored.reconsent) == ("leave", "pending")
    changed = cli("set-options", "--org", "acme", "--existing-members", "update", "--reconsent", "report")
    assert changed.code == 0 and "existing_members = update, reconsent = report" in changed.out
    stored = connections.get_connection(cli.engine, "acme")
    assert (stored.existing_members, stored.reconsent) == ("update", "report")
    (entry,) = audit.entries(cli.engine, "acme", action="set_options")
    assert entry["detail"] == {"existing_members": "update", "reconsent": "report"}
    again = cli("set-options", "--org", "acme", "--reconsent", "report")
    assert again.code == 0 and "nothing changed" in again.out
    assert len(audit.entries(cli.engine, "acme", action="set_options")) == 1
    nothing = cli("set-options", "--org", "acme")
    assert nothing.code == 2 and "give --existing-members, --reconsent" in nothing.err
    bad = cli("set-options", "--org", "acme", "--reconsent", "always")
    assert bad.code == 2 and "always" in bad.err
    assert_key_hidden(outcome.text + changed.text, key)
