"""`export`, `import` (dry run and real), `set-tag-options` and `download-tags` run the real jobs
in process (PostgreSQL + the emulator); a file that cannot be used is one `error:` line."""

from __future__ import annotations

from pathlib import Path

from openpyxl import load_workbook

from mc_pipelines_tests.support.app_data import (
    add_contacts,
    add_org,
    connect_to_emulator,
    contact_row,
)

D = "cli-sheet.example.org"


def _set(path: Path, email: str, column: str, value: str) -> None:
    book = load_workbook(path)
    sheet = book["contacts"]
    header = [c.value for c in sheet[1]]
    for row in sheet.iter_rows(min_row=2):
        if row[header.index("email")].value == email:
            row[header.index(column)].value = value
    book.save(path)


def test_export_edit_import_from_the_command_line(pg_cli, emulator, tmp_path):
    add_org(pg_cli.engine, "kapta")
    add_contacts(pg_cli.engine, [contact_row("kapta", 1, f"ann@{D}"),
                                 contact_row("kapta", 2, f"bob@{D}")])
    conn = connect_to_emulator(pg_cli.engine, emulator, "kapta")
    assert pg_cli("sync", "--org", "kapta").code == 0
    emulator.tag_member(conn["api_key"], conn["audience_id"], f"ann@{D}", add=("Newsletter",))
    add_contacts(pg_cli.engine, [contact_row("kapta", 3, f"cat@{D}")])

    exported = pg_cli("export", "--org", "kapta", "--directory", str(tmp_path))
    assert exported.code == 0, exported.text
    xlsx = tmp_path / "kapta" / "contacts.xlsx"
    assert f"xlsx: {xlsx}" in exported.out
    _set(xlsx, f"ann@{D}", "tag:Newsletter", "N")
    _set(xlsx, f"bob@{D}", "tag:Newsletter", "Y")
    _set(xlsx, f"cat@{D}", "tag:Newsletter", "Y")

    dry = pg_cli("import", "--org", "kapta", str(xlsx), "--dry-run")
    assert dry.code == 0, dry.text
    assert "dry run of the import" in dry.out and "create=1" in dry.out
    assert len(emulator.dump_list(conn["api_key"], conn["audience_id"])) == 2

    real = pg_cli("import", "--org", "kapta", str(xlsx))
    assert real.code == 0, real.text
    assert "created=1" in real.out and "tags_added=2" in real.out and "tags_removed=1" in real.out
    assert "@" not in real.out  # contact ids and row numbers, never an address
    tags = {m["email_address"]: set(m["tags"])
            for m in emulator.dump_list(conn["api_key"], conn["audience_id"])}
    assert tags == {f"ann@{D}": set(), f"bob@{D}": {"Newsletter"}, f"cat@{D}": {"Newsletter"}}

    (tmp_path / "broken.csv").write_text("contact_id,tag:Newsletter\n1,N\n")
    refused = pg_cli("import", "--org", "kapta", str(tmp_path / "broken.csv"))
    assert refused.code == 2 and refused.err.startswith("error: the sheet has no `email` column")
    assert refused.out == ""

    options = pg_cli("set-tag-options", "--org", "kapta", "--new-member-tag", "From sheet")
    assert options.code == 0 and "new_member_tags: ['From sheet']" in options.out
    download = pg_cli("download-tags", "--org", "kapta", "--dry-run")
    assert download.code == 0, download.text
    assert "contacts_changed=2" in download.out
