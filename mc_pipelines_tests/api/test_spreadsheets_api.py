"""Kapta's spreadsheet workflow and tags both ways through the control API over real HTTP
(PostgreSQL, the emulator as Mailchimp): export → edit Y/N with openpyxl → import dry run (writes
nothing) → import → Mailchimp as a GET shows it; uploads that cannot be used are refused naming
the fix with nothing written; tag options; tags refresh and download."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

import httpx
from openpyxl import load_workbook

from mc_pipelines.api.routes.spreadsheets import XLSX
from mc_pipelines.effects.workbook import MAX_BYTES
from mc_pipelines.mailchimp.addresses import subscriber_hash
from mc_pipelines.store import audit
from mc_pipelines_tests.support.app_data import (
    add_contacts,
    add_org,
    connect_to_emulator,
    contact_row,
)
from mc_pipelines_tests.support.db import table_snapshot

D = "sheet.example.org"


def _kapta(api, emulator, *, ann_member: bool = False) -> dict[str, str]:
    """Org `kapta`: ann and bob consent; a foreign member holds the audience's tags (Newsletter,
    Spring Fair). With `ann_member`, ann is already a member tagged Newsletter in Mailchimp."""
    add_org(api.engine, "kapta")
    add_contacts(api.engine, [contact_row("kapta", 1, f"ann@{D}"), contact_row("kapta", 2, f"bob@{D}")])
    account = connect_to_emulator(api.engine, emulator, "kapta")
    members = [{"email_address": f"stranger@{D}", "status": "subscribed", "merge_fields": {},
                "tags": ["Newsletter", "Spring Fair"]}]
    if ann_member:
        members.append({"email_address": f"ann@{D}", "status": "subscribed", "merge_fields": {},
                        "tags": ["Newsletter"]})
    emulator.bulk_load(account["api_key"], account["audience_id"], members)
    return account


def _member(emulator, account: dict[str, str], email: str) -> dict | None:
    url = f"{emulator.api_url()}/lists/{account['audience_id']}/members/{subscriber_hash(email)}"
    answer = httpx.get(url, auth=("any", account["api_key"]), timeout=10)
    return None if answer.status_code == 404 else answer.json()


def _tags(member: dict | None) -> set[str]:
    return {t["name"] for t in (member or {}).get("tags") or []}


def _edit(content: bytes, cells: dict[tuple[str, str], str]) -> bytes:
    """Set (email, column) cells of the exported workbook as an operator would in Excel."""
    book = load_workbook(io.BytesIO(content))
    sheet = book["contacts"]
    header = [c.value for c in sheet[1]]
    for row in sheet.iter_rows(min_row=2):
        for (who, column), value in cells.items():
            if row[header.index("email")].value == who:
                sheet.cell(row=row[0].row, column=header.index(column) + 1, value=value)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _leftover_uploads() -> list[str]:
    return sorted(p.name for p in Path(tempfile.gettempdir()).glob("mc-import-*"))


def _export(api, fmt: str = "xlsx") -> httpx.Response:
    exported = api.get("/orgs/kapta/export", params={"format": fmt})
    assert exported.status_code == 200, exported.text
    return exported


def _cell(content: bytes, email: str, column: str) -> str | None:
    rows = list(load_workbook(io.BytesIO(content))["contacts"].iter_rows(values_only=True))
    return next(r[rows[0].index(column)] for r in rows[1:] if r[rows[0].index("email")] == email)


def test_import_round_trip_through_the_api(api, emulator):
    account = _kapta(api, emulator)
    exported = _export(api)
    assert exported.headers["content-type"] == XLSX and exported.headers["x-contacts"] == "2"
    header = [c.value for c in load_workbook(io.BytesIO(exported.content))["contacts"][1]]
    assert {"email", "contact_id", "tag:Newsletter", "tag:Spring Fair"} <= set(header)
    edited = _edit(exported.content, {(f"ann@{D}", "tag:Newsletter"): "Y",
                                      (f"bob@{D}", "tag:Spring Fair"): "maybe"})
    writes, before = emulator.stats(account["api_key"])["writes"], table_snapshot(api.engine)

    dry = api.post("/orgs/kapta/imports", params={"dry_run": "true"}, content=edited,
                   headers={"Content-Type": XLSX})
    assert dry.status_code == 200, dry.text
    assert emulator.stats(account["api_key"])["writes"] == writes  # a dry run writes nothing
    assert table_snapshot(api.engine) == before and dry.json()["run_id"] is None
    plan = {r["contact_id"]: r for r in dry.json()["outcomes"]}
    assert plan[1]["outcome"] == "create" and plan[1]["tags_added"] == ["Newsletter"]
    assert dry.json()["invalid_samples"] == [{"row": plan[2]["row"], "column": "tag:Spring Fair",
                                             "value": "maybe"}]
    assert _member(emulator, account, f"ann@{D}") is None

    first = api.post("/orgs/kapta/imports", params={"filename": "kapta.xlsx"}, content=edited,
                     headers={"Content-Type": "application/octet-stream"}).json()
    assert first["dry_run"] is False and first["run_id"] and first["counts"]["invalid_cells"] == 1
    assert {r["contact_id"]: r["outcome"] for r in first["outcomes"]} == {1: "created", 2: "created"}
    ann = _member(emulator, account, f"ann@{D}")  # Mailchimp as a GET shows it
    assert ann["status"] == "subscribed" and _tags(ann) == {"Newsletter"}

    # the next export shows it; the operator moves ann from Newsletter to Spring Fair
    again = _export(api).content
    assert _cell(again, f"ann@{D}", "tag:Newsletter") == "Y"
    moved = _edit(again, {(f"ann@{D}", "tag:Newsletter"): "N", (f"ann@{D}", "tag:Spring Fair"): "Y"})
    second = api.post("/orgs/kapta/imports", content=moved, headers={"Content-Type": XLSX}).json()
    assert second["counts"]["tag_adds"] == 1 and second["counts"]["tag_removes"] == 1, second
    assert {r["contact_id"]: r["tags_added"] for r in second["outcomes"]}[1] == ["Spring Fair"]
    assert _tags(_member(emulator, account, f"ann@{D}")) == {"Spring Fair"}
    assert sorted(e["detail"]["run_id"] for e in audit.entries(api.engine, "kapta", "sheet_import")) == \
        sorted([first["run_id"], second["run_id"]])
    assert _leftover_uploads() == []  # the uploads did not outlive their requests


def test_the_csv_export_is_the_csv_import_template(api, emulator):
    _kapta(api, emulator)
    exported = api.get("/orgs/kapta/export", params={"format": "csv"})
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    assert f"ann@{D}" in exported.text and "tag:Newsletter" in exported.text.splitlines()[0]
    dry = api.post("/orgs/kapta/imports?dry_run=true", content=exported.content,
                   headers={"Content-Type": "text/csv"})
    assert dry.status_code == 200, dry.text
    assert {r["contact_id"] for r in dry.json()["outcomes"]} == {1, 2}


def test_uploads_that_cannot_be_used_are_refused_naming_the_fix(api, emulator):
    account = _kapta(api, emulator)
    writes, before = emulator.stats(account["api_key"])["writes"], table_snapshot(api.engine)
    cases = [
        ({"Content-Type": XLSX}, b"PK\x03\x04 not really a workbook", {}, 400, "save it again as .xlsx"),
        ({"Content-Type": "text/csv"}, b"\xff\xfe\x00garbage", {}, 400, "CSV UTF-8"),
        ({"Content-Type": "text/csv"}, b"", {}, 400, "send the edited contacts export"),
        ({"Content-Type": "image/png"}, b"x", {}, 400, "send Content-Type text/csv"),
        ({"Content-Type": "application/octet-stream"}, b"x", {"filename": "contacts.pdf"}, 400,
         "as CSV or XLSX"),
        ({"Content-Type": "text/csv"}, b"a,b\n1,2\n", {"colour": "red"}, 422, "OpenAPI document"),
        ({"Content-Type": "text/csv"}, b"a,b\n1,2\n", {"dry_run": "perhaps"}, 422, "OpenAPI document"),
    ]
    for headers, content, params, status, fix in cases:
        answer = api.post("/orgs/kapta/imports", content=content, headers=headers, params=params)
        assert answer.status_code == status, (headers, answer.text)
        assert fix in answer.json()["error"] + answer.json()["fix"], answer.json()
    assert emulator.stats(account["api_key"])["writes"] == writes
    assert table_snapshot(api.engine) == before and _leftover_uploads() == []


def test_an_upload_over_the_cap_is_refused_with_413(api, emulator):
    _kapta(api, emulator)
    before = table_snapshot(api.engine)
    answer = api.post("/orgs/kapta/imports", content=b"x" * (MAX_BYTES + 1),
                      headers={"Content-Type": "text/csv"})
    assert answer.status_code == 413
    assert str(MAX_BYTES) in answer.json()["error"] and "split" in answer.json()["fix"]
    assert table_snapshot(api.engine) == before


def test_tag_options_get_and_patch_are_audited(api, emulator):
    _kapta(api, emulator)
    assert api.get("/orgs/kapta/tag-options").json() == {
        "push_app_tags": False, "app_tag_prefix": "app:", "new_member_tags": []}
    changed = api.patch("/orgs/kapta/tag-options", json={"push_app_tags": True, "app_tag_prefix": "kapta:",
                                                         "new_member_tags": ["Welcome"]})
    assert changed.status_code == 200, changed.text
    assert changed.json() == {"push_app_tags": True, "app_tag_prefix": "kapta:",
                              "new_member_tags": ["Welcome"],
                              "changed": ["app_tag_prefix", "new_member_tags", "push_app_tags"]}
    assert api.patch("/orgs/kapta/tag-options", json={"push_app_tags": True}).json()["changed"] == []
    before = table_snapshot(api.engine)
    refused = api.patch("/orgs/kapta/tag-options", json={"app_tag_prefix": "kapta:" + "x" * 90})
    assert refused.status_code == 400 and "nothing was changed" in refused.json()["error"] + refused.json()["fix"]
    assert table_snapshot(api.engine) == before
    assert [e["action"] for e in audit.entries(api.engine, "kapta", "set_tag_options")] == ["set_tag_options"]


def test_tags_refresh_then_download_into_the_apps_contacts(api, emulator):
    _kapta(api, emulator, ann_member=True)
    early = api.post("/orgs/kapta/tags/download")
    assert early.status_code == 400 and "mailchimp_member_tags" in early.json()["error"] + early.json()["fix"]
    refreshed = api.post("/orgs/kapta/tags/refresh")
    assert refreshed.status_code == 200, refreshed.text
    assert refreshed.json()["audiences"][0]["members"] == 2
    dry = api.post("/orgs/kapta/tags/download", params={"dry_run": "true"}).json()
    assert dry == {"dry_run": True, "contacts_changed": 1, "tags_added": 1, "members_read": 2,
                   "changes": [{"contact_id": 1, "added": ["Newsletter"]}]}
    assert audit.entries(api.engine, "kapta", "download_tags") == []
    done = api.post("/orgs/kapta/tags/download").json()
    assert done["dry_run"] is False and done["contacts_changed"] == 1
    assert [e["detail"] for e in audit.entries(api.engine, "kapta", "download_tags")] == [
        {"contacts_changed": 1, "tags_added": 1}]
    exported = api.get("/orgs/kapta/export", params={"format": "csv"})
    assert exported.status_code == 200
