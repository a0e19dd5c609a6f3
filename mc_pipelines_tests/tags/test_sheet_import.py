"""Kapta's spreadsheet workflow (issue 16, item 3): export → edit Y/N in the workbook (openpyxl)
→ import → Mailchimp's state as a GET returns it; through the lifecycle rules (consent gate, an
opt-out never re-subscribed, foreign members untouched, managed tags left to the app); a file that
cannot be used writes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from mc_pipelines.actions.sheet_import import import_sheet
from mc_pipelines.assets.export import ContactsExportConfig, contacts_export
from mc_pipelines.errors import FixableError
from mc_pipelines.store.tables import mailchimp_member_state, sync_runs
from mc_pipelines_tests.lifecycle.world import World
from mc_pipelines_tests.support.dagster_runs import materialize_one, resources_for

D = "sheet.example.org"


def _export(world: World, tmp_path: Path) -> Path:
    meta = materialize_one(world.instance, contacts_export, world.org_id, world.engine,
                           world.emulator, ContactsExportConfig(directory=str(tmp_path)))
    return Path(meta["xlsx_path"])


def _edit(path: Path, cells: dict[tuple[str, str], str], extra_rows: list[dict[str, str]] = ()) -> None:
    """Set (email, column) cells of the workbook as an operator would in Excel, add rows."""
    book = load_workbook(path)
    sheet = book["contacts"]
    header = [c.value for c in sheet[1]]
    for extra in {c for _, c in cells} | {c for r in extra_rows for c in r}:
        if extra not in header:  # a column the operator adds
            header.append(extra)
            sheet.cell(row=1, column=len(header), value=extra)
    for row in sheet.iter_rows(min_row=2):
        email = row[header.index("email")].value
        for (who, column), value in cells.items():
            if who == email:
                sheet.cell(row=row[0].row, column=header.index(column) + 1, value=value)
    for extra in extra_rows:
        sheet.append([extra.get(c, "") for c in header])
    book.save(path)


def _run(world: World, path: Path, **kw):
    mailchimp = resources_for(world.engine, world.emulator)["mailchimp"]
    return import_sheet(world.engine, mailchimp.client_for, world.org_id, path, actor="test", **kw)


def _seed(world: World) -> dict[str, int]:
    ids = {"ann": world.add(f"ann@{D}", department="Sales"), "bob": world.add(f"bob@{D}"),
           "eve": world.add(f"eve@{D}"), "dan": world.add(f"dan@{D}", consent=False)}
    world.segment(1, "Sales team", {"department": "Sales"})
    world.preexisting(f"stranger@{D}", tags=["Newsletter", "Spring Fair"])  # foreign member
    world.preexisting(f"arc@{D}", status="archived")  # archived in Mailchimp (B6)
    ids["arc"] = world.add(f"arc@{D}")
    world.sync()
    world.emulator.tag_member(world.api_key, world.audience_id, f"ann@{D}", add=("Newsletter",))
    ids["cat"] = world.add(f"cat@{D}")  # consents, not a member yet
    world.person(f"eve@{D}", "unsubscribe")  # opts out in Mailchimp; no sync since
    return ids


def test_import_round_trip_export_edit_import(world: World, tmp_path):
    ids = _seed(world)
    path = _export(world, tmp_path)
    _edit(path, {
        (f"ann@{D}", "tag:Newsletter"): "N", (f"ann@{D}", "tag:Spring Fair"): "Y",
        (f"bob@{D}", "tag:Newsletter"): "y", (f"bob@{D}", "tag:Sales team"): "Y",  # managed
        (f"cat@{D}", "tag:Spring Fair"): "Y",
        (f"eve@{D}", "tag:Spring Fair"): "Y",   # opted out in Mailchimp
        (f"dan@{D}", "tag:Newsletter"): "Y",    # no consent
        (f"ann@{D}", "tag:Ghost"): "Y",         # not a tag of the audience
        (f"dan@{D}", "tag:Spring Fair"): "maybe",
        (f"arc@{D}", "tag:Spring Fair"): "Y",    # archived: never un-archived nor tagged
    }, extra_rows=[{"email": f"stranger@{D}", "tag:Newsletter": "N"},     # foreign
                   {"contact_id": "abc", "email": f"zed@{D}", "tag:Newsletter": "Y"}])
    # after the export a marketer tags bob; his cell still says N as exported: no instruction
    world.emulator.tag_member(world.api_key, world.audience_id, f"bob@{D}", add=("Spring Fair",))
    writes = world.writes()

    dry = _run(world, path, dry_run=True)
    assert world.writes() == writes and world.state(f"cat@{D}") is None  # a dry run writes nothing
    plan = dry.outcomes.set_index("row")
    assert dry.outcomes.set_index("contact_id").loc[ids["eve"], "reason"] == "opted_out_in_mailchimp"
    assert dry.counts["create"] == 1 and dry.counts["tag_adds"] == 3 and dry.counts["tag_removes"] == 1

    done = _run(world, path)
    rows = done.outcomes.set_index("contact_id", drop=False)
    assert rows.loc[ids["cat"], "outcome"] == "created"
    assert rows.loc[ids["ann"], ["outcome", "tags_added", "tags_removed"]].tolist() == [
        "tags", ["Spring Fair"], ["Newsletter"]]
    assert rows.loc[ids["eve"], ["outcome", "reason"]].tolist() == ["skipped", "no_consent"]
    assert rows.loc[ids["dan"], ["outcome", "reason"]].tolist() == ["skipped", "no_consent"]
    assert rows.loc[ids["arc"], ["outcome", "reason"]].tolist() == ["skipped", "archived"]
    reasons = dict(zip(done.outcomes["row"], done.outcomes["reason"], strict=True))
    assert sorted(r for r in reasons.values() if r) == sorted([
        "archived", "no_consent", "no_consent", "unknown_address",
        "contact_id: not a contact id (digits)"])
    assert done.counts["invalid_cells"] == 1 and done.counts["malformed_rows"] == 1
    assert "Ghost" in done.plan.ignored_columns[world.audience_id]
    assert "Sales team" in done.plan.ignored_columns[world.audience_id]
    assert len(plan) == len(done.outcomes)

    # Mailchimp as a GET shows it
    assert world.tags(f"ann@{D}") == {"Sales team", "Spring Fair"}
    assert world.tags(f"bob@{D}") == {"Newsletter", "Spring Fair"}  # the later tag is kept
    assert world.status(f"cat@{D}") == "subscribed" and world.tags(f"cat@{D}") == {"Spring Fair"}
    assert world.status(f"eve@{D}") == "unsubscribed" and world.tags(f"eve@{D}") == set()
    assert world.member(f"dan@{D}") is None and world.member(f"zed@{D}") is None
    assert world.status(f"arc@{D}") == "archived" and world.tags(f"arc@{D}") == set()
    assert world.tags(f"stranger@{D}") == {"Newsletter", "Spring Fair"}
    assert world.consent(ids["eve"]) is False  # the opt-out came back first
    assert [e["detail"]["created"] for e in world.audit("sheet_import")] == [1]

    # the next sync keeps what the sheet set (marketer tags are the members' own)
    world.sync(member_status={"full_refresh": True})
    assert world.tags(f"ann@{D}") == {"Sales team", "Spring Fair"}
    assert world.tags(f"bob@{D}") == {"Newsletter", "Spring Fair"}
    assert world.tags(f"cat@{D}") == {"Spring Fair"}
    assert world.status(f"eve@{D}") == "unsubscribed"


def _snapshot(world: World) -> tuple:
    with world.engine.connect() as conn:
        state = conn.execute(sa.select(mailchimp_member_state).order_by(
            mailchimp_member_state.c.subscriber_hash)).all()
        imports = conn.execute(sa.select(sync_runs).where(sync_runs.c.kind == "sheet_import")).all()
    requests = world.emulator.stats(world.api_key)["requests"]
    return state, imports, world.writes(), sum(sum(v.values()) for v in requests.values())


BROKEN = {
    "contacts.csv": "contact_id,tag:Newsletter\n1,N\n",                        # no email column
    "contacts.xlsx": "PK\x03\x04 this is not a zip",                             # not a workbook
    "twice.csv": f"email,tag:Newsletter,tag:newsletter\nann@{D},N,Y\n",       # one tag twice
    "long.csv": "email,tag:Newsletter\n" + f"ann@{D},N\n" * 6,                 # over max_rows
    "plain.csv": f"email,first_name\nann@{D},Ann\n",                           # no tag column
    "contacts.ods": "not a supported format",
    "blank_header.csv": f"email,,tag:Newsletter\nann@{D},x,N\n",
}


def test_a_file_that_cannot_be_used_writes_nothing(world: World, tmp_path):
    world.add(f"ann@{D}")
    world.sync()
    world.emulator.tag_member(world.api_key, world.audience_id, f"ann@{D}", add=("Newsletter",))
    before = _snapshot(world)
    for name, body in BROKEN.items():
        path = tmp_path / name
        path.write_text(body)
        with pytest.raises(FixableError) as refused:
            _run(world, path, max_rows=5)
        message = str(refused.value)
        assert "\n" not in message and len(message) < 300, name
        assert _snapshot(world) == before, name  # no Mailchimp call at all, nothing stored
    assert world.tags(f"ann@{D}") == {"Newsletter"}
