"""Segments, campaigns, consent, erasure, sync requests and status over HTTP: each change goes
through the actions and lands in audit_log."""

from __future__ import annotations

from mc_pipelines.store import audit, runs
from mc_pipelines.store.requests import mark_consumed
from mc_pipelines_tests.support.app_data import (
    add_contacts,
    add_org,
    connect_to_emulator,
    contact_row,
)


def _org(api, emulator, org_id: str = "acme") -> dict[str, str]:
    add_org(api.engine, org_id)
    add_contacts(api.engine, [contact_row(org_id, n, f"c{n}@{org_id}.io", department="Sales")
                              for n in (1, 2, 3)] if org_id == "acme" else
                 [contact_row(org_id, n, f"c{n}@{org_id}.io") for n in (11, 12)])
    return connect_to_emulator(api.engine, emulator, org_id)


def test_segments_create_list_update_sync_delete(api, emulator):
    _org(api, emulator)
    created = api.post("/orgs/acme/segments", json={"name": "Sales", "mailchimp_tag": "sales",
                                                    "filters": {"department": "Sales"}})
    assert created.status_code == 201, created.text
    sid = created.json()["id"]
    assert created.json()["status"] == "pending" and created.json()["member_count"] == 0
    assert [s["id"] for s in api.get("/orgs/acme/segments").json()["segments"]] == [sid]
    clash = api.post("/orgs/acme/segments", json={"name": "Dup", "mailchimp_tag": "SALES"})
    assert clash.status_code == 409 and "already managed by segment" in clash.json()["error"]
    bad = api.post("/orgs/acme/segments", json={"name": "X", "mailchimp_tag": "x", "filters": {"colour": "red"}})
    assert bad.status_code == 422 and bad.json()["fields"][0]["field"] == "body.filters.colour"
    patched = api.patch(f"/orgs/acme/segments/{sid}", json={"name": "Sales team", "filters": {"location": ["Paris"]}})
    assert patched.status_code == 200 and patched.json()["filters"] == {"location": ["Paris"]}
    synced = api.post(f"/orgs/acme/segments/{sid}/sync")
    assert synced.status_code == 202
    outcome = api.get(synced.json()["status_url"].removeprefix("/api"))
    assert outcome.status_code == 200 and outcome.json()["status"] == "pending"
    assert api.delete(f"/orgs/acme/segments/{sid}").status_code == 200
    assert api.get(f"/orgs/acme/segments/{sid}").status_code == 404
    assert [e["action"] for e in audit.entries(api.engine, "acme") if e["action"].startswith("segment")] == [
        "segment_create", "segment_update", "segment_sync", "segment_delete"]


def test_campaigns_track_refresh_untrack(api, emulator):
    account = _org(api, emulator)
    campaign = emulator.create_campaign(account["api_key"], list_id=account["audience_id"], title="Spring",
                                        status="sent", emails_sent=40, unique_opens=10)
    tracked = api.post("/orgs/acme/campaigns", json={"campaign_id": campaign["id"]})
    assert tracked.status_code == 200 and tracked.json()["new"] is True, tracked.text
    assert tracked.json()["campaign"]["open_rate"] == 0.25
    assert api.post("/orgs/acme/campaigns", json={"campaign_id": "0123456789"}).status_code == 404
    assert api.post(f"/orgs/acme/campaigns/{campaign['id']}/refresh").json()["title"] == "Spring"
    assert [c["campaign_id"] for c in api.get("/orgs/acme/campaigns").json()["campaigns"]] == [campaign["id"]]
    assert api.delete(f"/orgs/acme/campaigns/{campaign['id']}").status_code == 200
    assert api.get("/orgs/acme/campaigns").json()["campaigns"] == []
    assert [e["action"] for e in audit.entries(api.engine, "acme") if "campaign" in e["action"]] == [
        "track_campaign", "refresh_campaign", "untrack_campaign"]


def test_consent_is_recorded_with_its_source_and_audited(api, emulator):
    _org(api, emulator)
    out = api.post("/orgs/acme/contacts/2/consent", json={"consent": "withdrawn", "source": "preference_center"})
    assert out.status_code == 200, out.text
    assert out.json()["changed"] is True and out.json()["preferences"]["marketing_consent"] is False
    again = api.post("/orgs/acme/contacts/2/consent", json={"consent": "withdrawn", "source": "preference_center"})
    assert again.json()["changed"] is False
    trail = api.get("/orgs/acme/contacts/2/consent").json()
    assert [(e["kind"], e["source"]) for e in trail["events"]] == [("withdrawn", "preference_center")]
    assert api.post("/orgs/acme/contacts/2/consent", json={"consent": "given", "source": "mailchimp"}).status_code == 400
    assert api.get("/orgs/acme/contacts/999/consent").status_code == 404
    assert [e["detail"]["source"] for e in audit.entries(api.engine, "acme", "consent_withdrawn")] == [
        "preference_center"]


def test_erasure_and_sync_outcome_with_failed_rows(api, emulator):
    _org(api, emulator)
    erased = api.post("/orgs/acme/contacts/3/erasure")
    assert erased.status_code == 200, erased.text
    assert erased.json()["consent_withdrawn"] is True
    assert audit.entries(api.engine, "acme", "gdpr_erasure")
    assert api.post("/orgs/acme/contacts/999/erasure").status_code == 404

    request_id = api.post("/orgs/acme/syncs").json()["request_id"]
    mark_consumed(api.engine, request_id, request_id)
    assert api.get(f"/orgs/acme/syncs/{request_id}").json()["status"] == "queued"
    run_id = runs.start_run(api.engine, "acme", kind="audience_sync", dry_run=False, dagster_run_id="d1")
    runs.record_errors(api.engine, run_id, "acme", [{"audience_id": "a", "contact_id": 2, "email": "c2@acme.io",
                                                     "error_code": "invalid", "message": "Invalid Resource"}])
    runs.finish_run(api.engine, run_id, status="partial", summary={"created": 1, "failed": 1}, org_id="acme")
    outcome = api.get(f"/orgs/acme/syncs/{request_id}").json()
    assert outcome["status"] == "partial" and outcome["run"]["counts"] == {"created": 1, "failed": 1}
    assert [e["contact_id"] for e in outcome["run"]["errors"]] == [2]
    assert api.get("/orgs/acme/runs/latest").json()["run"]["run_id"] == run_id
    status = api.get("/orgs/acme/status").json()
    assert status["account_name"] == "acme account" and status["dc"] == "us1"
