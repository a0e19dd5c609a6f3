"""One org never reaches another's data through any route: every operation of the published
OpenAPI document is called as org `globex` with org `acme`'s ids (segment, contact, campaign,
sync request, audience). Ids in the path are never found; nothing of acme's changes; no answer
carries acme's data."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from mc_pipelines.store.tables import metadata
from mc_pipelines_tests.support.app_data import (
    add_contacts,
    add_org,
    add_segment,
    connect_to_emulator,
    contact_row,
)

# a valid body per operation that takes one (ids of acme's where a body names one)
BODIES: dict[str, Any] = {
    "connect": lambda ids, globex: {"api_key": globex["api_key"], "audience_id": ids["audience_id"]},
    "update_connection": lambda ids, globex: {"auto_sync": True},
    "new_webhook_secret": lambda ids, globex: {},
    "discover_audiences": lambda ids, globex: {"api_key": globex["api_key"]},
    "create_segment": lambda ids, globex: {"name": "Mine", "mailchimp_tag": "acme-tag"},
    "update_segment": lambda ids, globex: {"name": "Stolen"},
    "track_campaign": lambda ids, globex: {"campaign_id": ids["campaign_id"]},
    "record_consent": lambda ids, globex: {"consent": "withdrawn", "source": "preference_center"},
    "set_tag_options": lambda ids, globex: {"push_app_tags": True, "new_member_tags": ["Welcome"]},
}
# a raw upload per operation that takes one: acme's contact (id and address) in globex's import
UPLOADS: dict[str, tuple[bytes, str]] = {
    "import_contacts": (b"contact_id,email,tag:Newsletter\n501,secret.person@acme.io,N\n", "text/csv"),
}


def _acme_rows(engine) -> dict[str, list]:
    with engine.connect() as conn:
        return {t.name: sorted(map(repr, conn.execute(sa.select(t).where(t.c.org_id == "acme"))))
                for t in metadata.sorted_tables if "org_id" in t.c}


def _world(api, emulator) -> tuple[dict[str, Any], dict[str, str]]:
    for org in ("acme", "globex"):
        add_org(api.engine, org)
    add_contacts(api.engine, [contact_row("acme", 501, "secret.person@acme.io")])
    add_contacts(api.engine, [contact_row("globex", 601, "someone@globex.io")])
    acme = connect_to_emulator(api.engine, emulator, "acme")
    globex = connect_to_emulator(api.engine, emulator, "globex")
    add_segment(api.engine, "acme", 77, "acme-vip", {})
    campaign = emulator.create_campaign(acme["api_key"], list_id=acme["audience_id"], title="Acme only",
                                        status="sent", emails_sent=5)
    assert api.post("/orgs/acme/campaigns", json={"campaign_id": campaign["id"]}).status_code == 200
    request_id = api.post("/orgs/acme/syncs").json()["request_id"]
    ids = {"segment_id": 77, "contact_id": 501, "campaign_id": campaign["id"], "request_id": request_id,
           "audience_id": acme["audience_id"]}
    return ids, globex


def test_no_route_reaches_another_orgs_data(api, emulator):
    ids, globex = _world(api, emulator)
    document = api.get("/openapi.json").json()
    before = _acme_rows(api.engine)
    called = []
    every = [(path, method, op) for path, ops in document["paths"].items() for method, op in ops.items()]
    for path, method, operation in sorted(every, key=lambda e: e[2]["operationId"] == "disconnect"):
        url = path.removeprefix("/api").format(org_id="globex", **{k: v for k, v in ids.items()})
        body, upload = BODIES.get(operation["operationId"]), UPLOADS.get(operation["operationId"])
        if upload:
            answer = api.request(method.upper(), url, content=upload[0],
                                 headers={"Content-Type": upload[1]})
            assert answer.status_code == 200, answer.text  # imported into globex: acme not reached
            assert [r["reason"] for r in answer.json()["outcomes"]] == ["unknown_address"], answer.text
        else:
            answer = api.request(method.upper(), url, json=body(ids, globex) if body else None)
        called.append(operation["operationId"])
        assert answer.status_code < 500, (operation["operationId"], answer.text)
        if any("{" + name + "}" in path for name in ids):
            assert answer.status_code in (400, 404), (operation["operationId"], answer.status_code, answer.text)
        for secret in ("secret.person@acme.io", "acme-vip", "Acme only", "acme account"):
            assert secret not in answer.text, (operation["operationId"], answer.text)
    assert _acme_rows(api.engine) == before
    assert len(called) == sum(len(ops) for ops in document["paths"].values()) >= 25
    assert set(BODIES) | set(UPLOADS) <= set(called)


@pytest.mark.parametrize("org_id", ["nobody", "acme%00", "a" * 65, "%E2%80%8B"])
def test_unknown_or_hostile_org_ids_are_refused(api, org_id):
    answer = api.get(f"/orgs/{org_id}/segments")
    assert answer.status_code in (404, 422) and answer.json()["fix"]
