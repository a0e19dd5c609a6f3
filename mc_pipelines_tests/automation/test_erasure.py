"""The gdpr_erasure job against the emulator: delete-permanent in every audience the contact was
synced to, local records gone, an audit entry without personal data."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from dagster import DagsterInstance

from mc_pipelines.actions import erasure
from mc_pipelines.automation.erasure import erasure_run_config, gdpr_erasure
from mc_pipelines.errors import OperationError
from mc_pipelines.mailchimp.addresses import subscriber_hash
from mc_pipelines.mailchimp.endpoints import MailchimpClient
from mc_pipelines.mailchimp.errors import ForgottenEmail
from mc_pipelines.mailchimp.runner import run_sync
from mc_pipelines.store import audit, member_state, runs, settled
from mc_pipelines.store.clock import utcnow
from mc_pipelines.store.tables import consent_events, mailchimp_webhook_events
from mc_pipelines_tests.support.app_data import (
    add_contacts,
    add_org,
    connect_to_emulator,
    contact_row,
)
from mc_pipelines_tests.support.dagster_runs import resources_for
from mc_pipelines_tests.support.db import table_snapshot

ERASED = "Ann.Lee@northwind-example.io"
KEPT = "bo.chan@northwind-example.io"


def mailchimp_member(emulator, api_key: str, audience: str, email: str) -> None:
    """A member as a previous sync left it: in the audience and in the member state."""
    emulator.bulk_load(api_key, audience, [{"email_address": email, "status": "subscribed"}])


def track(engine, audience: str, contact_id: int, email: str) -> None:
    member_state.save_rows(engine, "acme", [{
        "audience_id": audience, "subscriber_hash": subscriber_hash(email), "contact_id": contact_id,
        "email": email, "status": "subscribed", "payload_hash": "x" * 32,
    }], ["contact_id", "email", "status", "payload_hash"])


@pytest.fixture
def synced_org(app_engine, emulator):
    """acme with two contacts in its default audience and one of them also in a second audience,
    plus a sync error and a webhook event about the contact to erase."""
    add_org(app_engine, "acme")
    add_contacts(app_engine, [contact_row("acme", 1, ERASED), contact_row("acme", 2, KEPT)])
    conn = connect_to_emulator(app_engine, emulator, "acme")
    second = emulator.create_list(conn["api_key"], name="acme staff")
    for audience, cid, email in [(conn["audience_id"], 1, ERASED), (conn["audience_id"], 2, KEPT),
                                 (second, 1, ERASED)]:
        mailchimp_member(emulator, conn["api_key"], audience, email)
        track(app_engine, audience, cid, email)
    run_id = runs.start_run(app_engine, "acme", kind="audience_sync", dry_run=False, dagster_run_id=None)
    runs.record_errors(app_engine, run_id, "acme", [
        {"audience_id": second, "contact_id": 1, "email": ERASED, "error_code": "x", "message": "m"},
        {"audience_id": second, "contact_id": 2, "email": KEPT, "error_code": "x", "message": "m"}])
    with app_engine.begin() as db:
        db.execute(mailchimp_webhook_events.insert().values(
            id="w1", org_id="acme", audience_id=second, dedupe_key="d" * 64, event_type="profile",
            email=ERASED.lower(), payload={"data": {"email": ERASED}}, received_at=utcnow()))
    return {**conn, "second": second}


def erase(engine, emulator, org_id: str, contact_id: int):
    return gdpr_erasure.execute_in_process(
        run_config=erasure_run_config(org_id, contact_id, "test:dpo"), resources=resources_for(engine, emulator),
        instance=DagsterInstance.ephemeral(), raise_on_error=False)


def emails_in(emulator, api_key: str, audience: str) -> set[str]:
    return {m["email_address"].lower() for m in emulator.dump_list(api_key, audience)}


def test_erasure_deletes_everywhere_and_audits_without_personal_data(app_engine, emulator, synced_org):
    key, default, second = synced_org["api_key"], synced_org["audience_id"], synced_org["second"]
    # what the org's settling sync listed may name the contact: forgotten with it
    settled.record(app_engine, "acme", "f" * 32, "run-1", [{"audience_id": default, "skipped": [
        {"subscriber_hash": "h", "contact_id": 1, "reason": "parked"}]}])
    result = erase(app_engine, emulator, "acme", 1)
    assert result.success
    detail = result.output_for_node("erase_contact")
    assert detail["audiences"] == {default: "deleted", second: "deleted"}
    assert detail["removed"] == {"mailchimp_member_state": 2, "sync_errors": 1, "mailchimp_webhook_events": 1,
                                 "settled_syncs": 1}
    assert settled.settled_run(app_engine, "acme", "f" * 32) is None

    assert emails_in(emulator, key, default) == {KEPT} and emails_in(emulator, key, second) == set()
    client = MailchimpClient(key, base_url_template=emulator.base_url_template, backoff_base=0.01)

    async def re_add():
        async with client:
            await client.add_member(default, {"email_address": ERASED, "status": "subscribed"})

    with pytest.raises(ForgottenEmail):
        run_sync(re_add())

    assert [r["contact_id"] for r in member_state.rows_for_contact(app_engine, "acme", 2)] == [2]
    assert member_state.rows_for_contact(app_engine, "acme", 1) == []
    with app_engine.connect() as db:
        assert db.execute(sa.select(mailchimp_webhook_events)).all() == []
        assert db.execute(sa.select(consent_events.c.contact_id, consent_events.c.source)).all() == [
            (1, "gdpr_erasure")]
    (entry,) = audit.entries(app_engine, "acme", action="gdpr_erasure")
    assert entry["actor"] == "test:dpo" and entry["detail"]["contact_id"] == 1
    assert "@" not in repr(entry) and "ann" not in repr(entry).lower()

    again = erase(app_engine, emulator, "acme", 1)  # idempotent: nothing left to delete
    assert again.success and again.output_for_node("erase_contact")["outcome"] == "nothing_in_mailchimp"


def test_unknown_contact_or_unconnected_org_erase_nothing(app_engine, emulator, synced_org):
    before = table_snapshot(app_engine)
    unknown = erase(app_engine, emulator, "acme", 999)
    assert not unknown.success
    with app_engine.begin() as db:  # a disconnected org cannot reach Mailchimp: refuse, keep everything
        db.execute(sa.text("UPDATE mailchimp_connections SET api_key_encrypted = NULL"))
    snapshot = table_snapshot(app_engine)
    with pytest.raises(OperationError, match="not connected"):
        erasure.plan_erasure(app_engine, "acme", 1)
    assert not erase(app_engine, emulator, "acme", 1).success
    assert table_snapshot(app_engine) == snapshot
    assert before["audit_log"] == snapshot["audit_log"]
    assert emails_in(emulator, synced_org["api_key"], synced_org["audience_id"]) == {ERASED.lower(), KEPT}
