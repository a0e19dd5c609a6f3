"""`contacts_export` writes every contact with its sync status and tags, per audience, as CSV and
XLSX, on PostgreSQL and SQLite."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pandas as pd
from openpyxl import load_workbook

from mc_pipelines.assets.export import EXPORT_COLUMNS, ContactsExportConfig, contacts_export
from mc_pipelines.effects.workbook import read_workbook
from mc_pipelines.mailchimp.addresses import subscriber_hash
from mc_pipelines.store import member_state, runs
from mc_pipelines_tests.support.app_data import (
    T0,
    add_contacts,
    add_org,
    add_segment,
    connect_to_emulator,
    contact_row,
)
from mc_pipelines_tests.support.dagster_runs import materialize_one

HOSTILE = '=HYPERLINK("http://evil.io","x")'


def _seed(engine, emulator) -> str:
    add_org(engine, "exporter")
    add_contacts(engine, [
        contact_row("exporter", 1, "ann@shop-mail.io", tags=["vip"], updated_at=T0 + timedelta(days=1)),
        contact_row("exporter", 2, "bob@shop-mail.io", marketing_consent=False),
        contact_row("exporter", 3, "not an address"),
        contact_row("exporter", 4, "ANN@shop-mail.io"),  # same address as 1, updated earlier
        contact_row("exporter", 5, "someone@fake-mail.io"),
        contact_row("exporter", 6, "new@shop-mail.io", first_name=HOSTILE),
        contact_row("exporter", 7, "gone@shop-mail.io", deleted_at=T0),
    ])
    add_segment(engine, "exporter", 1, "app:vip", {"tags": ["vip"]}, audience_id="other-aud")
    audience = connect_to_emulator(engine, emulator, "exporter")["audience_id"]
    member_state.save_rows(engine, "exporter", [
        {"audience_id": audience, "subscriber_hash": subscriber_hash(email), "email": email,
         "contact_id": cid, "status": status, "managed_tags": managed, "mailchimp_tags": mailchimp}
        for cid, email, status, managed, mailchimp in [
            (1, "ann@shop-mail.io", "subscribed", ["app:vip"], ["Marketer", "app:vip"]),
            (2, "bob@shop-mail.io", "unsubscribed", [], []),
            (5, "someone@fake-mail.io", "rejected", [], []),
        ]], ["status", "managed_tags", "mailchimp_tags"])
    run_id = runs.start_run(engine, "exporter", kind="audience_sync", dry_run=False, dagster_run_id=None)
    runs.record_errors(engine, run_id, "exporter", [
        {"audience_id": audience, "contact_id": 5, "email": "someone@fake-mail.io",
         "error_code": "fake_email", "message": "looks fake or invalid"}])
    return audience


def test_export_writes_every_contact_with_status_and_tags(app_engine, emulator, dagster_instance,
                                                         tmp_path):
    audience = _seed(app_engine, emulator)
    meta = materialize_one(dagster_instance, contacts_export, "exporter", app_engine, emulator,
                           ContactsExportConfig(directory=str(tmp_path)))
    csv_path, xlsx_path = Path(meta["csv_path"]), Path(meta["xlsx_path"])
    assert csv_path == tmp_path / "exporter" / "contacts.csv" and xlsx_path.exists()
    assert (meta["rows"], meta["contacts"], meta["audiences"]) == (12, 6, 2)

    frame = pd.read_csv(csv_path, keep_default_na=False)
    # the contact and sync columns, then one Y/N column per tag of the audiences
    assert list(frame.columns) == [*EXPORT_COLUMNS, "tag:app:vip", "tag:Marketer"]
    main = frame[frame["audience_id"] == audience].set_index("contact_id")
    assert main["sync_status"].to_dict() == {
        1: "subscribed", 2: "not_consented", 3: "invalid_email", 4: "duplicate_email",
        5: "rejected", 6: "not_synced"}
    assert main.loc[1, "managed_tags"] == "app:vip" and main.loc[1, "mailchimp_tags"] == "Marketer; app:vip"
    assert main.loc[1, "app_tags"] == "vip"
    assert main.loc[2, "mailchimp_status"] == "unsubscribed"
    assert main.loc[4, "detail"].startswith("same address (ann@shop-mail.io) as contact 1")
    assert main.loc[5, "detail"] == "fake_email: looks fake or invalid"
    assert main.loc[6, "first_name"] == "'" + HOSTILE  # the CSV never runs it as a formula
    assert read_workbook(csv_path).set_index("contact_id").loc["6", "first_name"].tolist()[0] == HOSTILE
    assert main.loc[1, "tag:Marketer"] == "Y" and main.loc[2, "tag:Marketer"] == "N"
    other = frame[frame["audience_id"] == "other-aud"].set_index("contact_id")["sync_status"]
    assert other[1] == "not_in_audience" and other[2] == "not_consented"
    assert meta["status_subscribed"] == 1 and meta["status_not_in_audience"] == 3

    sheet = load_workbook(xlsx_path, read_only=False)["contacts"]
    cells = list(sheet.iter_rows(values_only=False))
    assert [c.value for c in cells[0]][:len(EXPORT_COLUMNS)] == EXPORT_COLUMNS and len(cells) == 13
    hostile = [row[2] for row in cells[1:] if row[0].value == 6]
    assert all(c.value == HOSTILE and c.data_type == "s" for c in hostile)  # text, not a formula
