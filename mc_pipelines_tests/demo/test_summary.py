"""The demo summary adds up and defines its columns."""

from __future__ import annotations

from dataclasses import fields

from mc_pipelines.demo.run import OrgDemo, dataset_row, deleted_count
from mc_pipelines.demo.seed import DEMO_ORGS, seed_demo
from mc_pipelines.demo.summary import DATASET_COLUMNS, RUN_COLUMNS, DatasetRow, RunRow, render
from mc_pipelines.store.contacts import read_live_contacts
from mc_pipelines.store.db import create_db_engine
from mc_pipelines.store.migrations import migrate
from mc_pipelines.sync.cohort import build_cohort

RUN = RunRow(org="initech", run="first sync", cohort=5113, created=5258, updated=0, unsubscribed=0,
             unsubscribed_in_mailchimp=0, tags_added=2088, tags_removed=0, rejected=1, calls=31, writes=23)


def test_the_seeded_contacts_add_up_to_what_the_sync_reads(tmp_path):
    engine = create_db_engine(f"sqlite:///{tmp_path / 'app.db'}")
    migrate(engine)
    acme = DEMO_ORGS[0]
    seeded = seed_demo(engine, orgs_to_seed=(acme,))["acme"]
    # what consented_contacts reports (its metadata carries build_cohort's counts)
    meta = {"consented_contacts": build_cohort(read_live_contacts(engine, "acme")).counts}
    row = dataset_row(OrgDemo("acme", "key", "audience", seeded=seeded, deleted=deleted_count(engine, "acme")), meta)
    engine.dispose()
    assert row.adds_up(), row
    assert (row.contacts, row.deleted, row.read) == (acme.size, 1, acme.size - 1)
    assert row.no_consent and row.invalid and row.dupes and row.cohort


def test_a_row_that_does_not_add_up_is_caught():
    assert not DatasetRow("acme", 60, 1, 59, 7, 8, 1, 44).adds_up()  # 7 + 8 + 1 + 44 = 60 ≠ 59
    assert not DatasetRow("acme", 60, 0, 59, 7, 8, 1, 43).adds_up()  # the deleted one unexplained
    assert DatasetRow("acme", 60, 1, 59, 7, 8, 1, 43).adds_up()


def test_every_column_of_both_tables_is_defined():
    lines = render([DatasetRow("acme", 60, 1, 59, 7, 8, 1, 43)], [RUN])
    dataset_header, run_header = lines[1], lines[lines.index("Sync runs:") + 1]
    for columns, header in ((DATASET_COLUMNS, dataset_header), (RUN_COLUMNS, run_header)):
        for name, definition in columns:
            assert name in header
            if name != "org":
                assert f"{name}: {definition}" in [line.strip() for line in lines]
    assert len(DATASET_COLUMNS) == len(fields(DatasetRow))
    assert len(RUN.cells()) == len(RUN_COLUMNS)
    assert RUN.cells()[7] == "2088/0" and RUN.cells()[-3:] == ["1", "31", "23"]
    for word in ("no consent", "soft-deleted", "every audience", "unsubscribed in Mailchimp", "POST/PUT/PATCH/DELETE"):
        assert word in "\n".join(lines), word
