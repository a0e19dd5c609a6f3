"""Connection endpoints over HTTP: connect by API key and by OAuth token (dc from the emulator's
OAuth metadata), the merge-field map checked against the audience, test, settings, disconnect,
webhook secret; refused input writes nothing and never echoes the credential."""

from __future__ import annotations

import pytest

from mc_pipelines.store import audit, connections
from mc_pipelines.store.secrets import decrypt_secret
from mc_pipelines_tests.support.app_data import add_org
from mc_pipelines_tests.support.db import table_snapshot


@pytest.fixture
def account(emulator) -> dict[str, str]:
    """A Mailchimp account with two audiences."""
    created = emulator.create_account(account_name="Acme Marketing", dc="us7")
    return {"api_key": created["api_key"], "token": created["api_key"].rpartition("-")[0],
            "audience_id": emulator.create_list(created["api_key"], name="Customers"),
            "other_audience": emulator.create_list(created["api_key"], name="Alumni")}


def test_connect_by_api_key_then_get_test_update_disconnect(api, account):
    add_org(api.engine, "acme")
    answer = api.put("/orgs/acme/connection", json={
        "api_key": account["api_key"], "audience_id": account["audience_id"], "auto_sync": True,
        "merge_fields": {"FNAME": "first_name"}})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["check"]["account_name"] == "Acme Marketing" and body["check"]["dc"] == "us7"
    assert body["connection"]["connected"] and body["connection"]["auth_kind"] == "api_key"
    assert account["api_key"] not in answer.text and account["token"] not in answer.text

    assert api.get("/orgs/acme/connection").json()["merge_fields"] == {"FNAME": "first_name"}
    assert api.post("/orgs/acme/connection/test").json()["audience_name"] == "Customers"
    patched = api.patch("/orgs/acme/connection", json={"enabled": False, "auto_sync": False,
                                                       "reconsent": "report"})
    assert patched.status_code == 200, patched.text
    assert (patched.json()["enabled"], patched.json()["auto_sync"], patched.json()["reconsent"]) == (
        False, False, "report")
    assert {e["action"] for e in audit.entries(api.engine, "acme")} >= {"connect", "set_options", "disable"}

    secret = api.post("/orgs/acme/connection/webhook-secret", json={"base_url": "https://hooks.example"})
    assert secret.status_code == 201 and secret.json()["url"].startswith("https://hooks.example/mailchimp/")
    assert api.get("/orgs/acme/connection").json()["webhook_secret_set"] is True

    assert api.delete("/orgs/acme/connection").status_code == 200
    gone = api.get("/orgs/acme/connection").json()
    assert gone["connected"] is False and connections.get_connection(api.engine, "acme").api_key_encrypted is None
    again = api.delete("/orgs/acme/connection")
    assert again.status_code == 409 and "not connected" in again.json()["error"]


def test_connect_by_oauth_token_reads_the_dc_from_the_metadata_endpoint(api, account):
    add_org(api.engine, "acme")
    answer = api.put("/orgs/acme/connection", json={"oauth_token": account["token"],
                                                    "audience_id": account["audience_id"]})
    assert answer.status_code == 200, answer.text
    assert answer.json()["check"]["dc"] == "us7" and answer.json()["check"]["auth_kind"] == "oauth"
    stored = connections.get_connection(api.engine, "acme")
    assert (stored.auth_kind, stored.server_prefix) == ("oauth", "us7")
    assert decrypt_secret(stored.api_key_encrypted) == account["token"]
    assert api.post("/orgs/acme/connection/test").status_code == 200  # Bearer with the stored token
    listed = api.get("/orgs/acme/audiences").json()
    assert [a["name"] for a in listed["audiences"]] == ["Alumni", "Customers"]
    assert account["token"] not in answer.text + str(listed)


@pytest.mark.parametrize(("body", "status", "fragment"), [
    ({"oauth_token": "not-a-token", "audience_id": "x"}, 400, "OAuth token"),
    ({"api_key": "0123456789abcdef0123456789abcdef-us1", "audience_id": "x"}, 400, "rejected the API key"),
    ({"api_key": "KEY", "oauth_token": "T", "audience_id": "x"}, 422, "exactly one of api_key or oauth_token"),
    ({"audience_id": "x"}, 422, "exactly one of api_key or oauth_token"),
    ({"api_key": "abc", "audience_id": "x", "colour": "red"}, 422, "body.colour"),
    ({"api_key": "abc", "audience_id": 12}, 422, "body.audience_id"),
    ({"api_key": "abc-us1", "audience_id": "x"}, 400, "32 hexadecimal characters"),
])
def test_bad_connect_bodies_are_refused_naming_the_fix(api, account, body, status, fragment):
    add_org(api.engine, "acme")
    before = table_snapshot(api.engine)
    answer = api.put("/orgs/acme/connection", json=body)
    assert answer.status_code == status, answer.text
    assert fragment in answer.json()["error"] + ": " + answer.json()["fix"]
    assert table_snapshot(api.engine) == before


def test_connect_checks_the_merge_field_map_against_the_audience(api, account):
    add_org(api.engine, "acme")
    before = table_snapshot(api.engine)
    answer = api.put("/orgs/acme/connection", json={
        "api_key": account["api_key"], "audience_id": account["audience_id"],
        "merge_fields": {"DEPT": "department"}})
    assert answer.status_code == 400
    assert "merge field DEPT is not defined in the audience" in answer.json()["error"] + answer.json()["fix"]
    assert table_snapshot(api.engine) == before
    assert api.put("/orgs/acme/connection", json={
        "api_key": account["api_key"], "audience_id": account["audience_id"]}).status_code == 200
    bad_patch = api.patch("/orgs/acme/connection", json={"merge_fields": {"FNAME": "nickname"}})
    assert bad_patch.status_code == 422 and bad_patch.json()["fields"][0]["field"] == "body.merge_fields.FNAME"


def test_discover_lists_a_credentials_audiences_without_storing_it(api, account):
    add_org(api.engine, "acme")
    before = table_snapshot(api.engine)
    found = api.post("/orgs/acme/audiences/discover", json={"api_key": account["api_key"]})
    assert found.status_code == 200, found.text
    assert {a["id"] for a in found.json()["audiences"]} == {account["audience_id"], account["other_audience"]}
    assert table_snapshot(api.engine) == before
    assert api.get("/orgs/acme/audiences").status_code == 409  # not connected yet
    api.put("/orgs/acme/connection", json={"api_key": account["api_key"], "audience_id": account["audience_id"]})
    fields = api.get(f"/orgs/acme/audiences/{account['audience_id']}/merge-fields").json()
    assert {"FNAME", "LNAME"} <= {f["tag"] for f in fields["merge_fields"]}


def test_the_service_token_is_required_and_compared_exactly(api):
    add_org(api.engine, "acme")
    import httpx

    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {api.token}"},
                    {"Authorization": f"Bearer {api.token}x"}):
        answer = httpx.get(f"{api.root}/api/orgs/acme/status", headers=headers)
        assert answer.status_code == 401 and answer.json()["fix"].startswith("send the service token")
        assert api.token not in answer.text
    assert httpx.get(f"{api.root}/api/openapi.json").status_code == 200  # the document is public
    assert httpx.get(f"{api.root}/healthz").text == "ok"  # the webhook receiver is served too
    assert api.get("/orgs/acme/status").status_code == 200
