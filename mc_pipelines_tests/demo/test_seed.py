"""The demo dataset: names keep their accents and their addresses are transliterated; every org
has a soft-deleted contact and one address the project accepts but Mailchimp rejects."""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from mailchimp_emulator.emails import email_problem
from mc_pipelines.demo.seed import (
    DEMO_ORGS,
    REJECTED_BY_MAILCHIMP,
    demo_address,
    seed_demo,
    transliterate,
)
from mc_pipelines.store.db import create_db_engine
from mc_pipelines.store.migrations import migrate
from mc_pipelines.store.tables import contacts
from mc_pipelines.sync.emails import email_is_valid

ACME = DEMO_ORGS[0]


@pytest.fixture
def acme(tmp_path) -> Iterator[pd.DataFrame]:
    """The acme org seeded into a SQLite application DB (as the demo does); its contacts."""
    engine: Engine = create_db_engine(f"sqlite:///{tmp_path / 'app.db'}")
    migrate(engine)
    assert seed_demo(engine, orgs_to_seed=(ACME,)) == {"acme": ACME.size}
    with engine.connect() as conn:
        yield pd.DataFrame(conn.execute(sa.select(contacts)).mappings().all())
    engine.dispose()


@pytest.mark.parametrize(("name", "ascii_name"), [
    ("Zoë", "Zoe"), ("Émilie", "Emilie"), ("Chloé", "Chloe"), ("Søren", "Soren"), ("Tomás", "Tomas"),
    ("Václav", "Vaclav"), ("Çelik", "Celik"), ("Ünal", "Unal"), ("Wójcik", "Wojcik"),
    ("Łukasiewicz", "Lukasiewicz"), ("Ōtsuka", "Otsuka"), ("Straße", "Strasse"), ("李", ""),
])
def test_transliteration_keeps_every_latin_letter(name, ascii_name):
    assert transliterate(name) == ascii_name


def test_addresses_are_made_from_the_names_without_dropping_letters():
    assert demo_address("Zoë", "Petrov", 3, "acme") == "zoe.petrov.3@acme-mail.io"
    assert demo_address("Émilie", "Rossi", 4, "acme") == "emilie.rossi.4@acme-mail.io"
    assert demo_address("Rosa", "O'Brien", 5, "acme") == "rosa.obrien.5@acme-mail.io"
    assert demo_address("李", "Petrov", 6, "acme") == "petrov.6@acme-mail.io"  # no ASCII form: skipped


def test_seeded_names_keep_their_accents_and_addresses_their_letters(acme):
    index = acme["id"] - ACME.id_base - 1000
    renamed = index.isin([8, 9])  # hard cases whose names were replaced after the address was made
    generated = acme[acme["email"].str.fullmatch(r"[a-z0-9.-]+\.\d+@acme-mail\.io") & ~renamed]
    assert len(generated) > ACME.size // 2
    for row in generated.itertuples():
        assert row.email == demo_address(row.first_name, row.last_name, row.id - ACME.id_base - 1000, "acme")
    accented = generated[generated["first_name"].isin(["Zoë", "Émilie", "Chloé", "Léa", "Søren", "Tomás"])]
    assert len(accented), "the acme sample has accented first names"
    for row in accented.itertuples():  # the name keeps its accent, the address its letters
        assert row.email.startswith(transliterate(row.first_name).lower() + "."), row


def test_every_org_has_one_address_mailchimp_rejects_and_one_soft_deleted_contact(acme):
    rejected = acme[acme["email"] == REJECTED_BY_MAILCHIMP]
    assert len(rejected) == 1 and rejected["marketing_consent"].all() and rejected["deleted_at"].isna().all()
    assert email_is_valid(pd.Series([REJECTED_BY_MAILCHIMP])).all()  # the project sends it…
    assert email_problem(REJECTED_BY_MAILCHIMP)  # …and Mailchimp's rules refuse it as fake
    deleted = acme[acme["deleted_at"].notna()]
    assert len(deleted) == 1 and deleted["marketing_consent"].all()
