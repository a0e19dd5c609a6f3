"""Helpers of the inbound tests: one-asset materializations and reads of what the pull wrote."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from dagster import AssetsDefinition, Config, DagsterInstance, materialize
from sqlalchemy.engine import Engine

from mc_pipelines.automation.run_config import run_config_dict
from mc_pipelines.partitions import ORG_PARTITIONS_NAME
from mc_pipelines.store.tables import consent_events, contacts
from mc_pipelines_tests.app_data import add_contacts, add_org, connect_to_emulator, contact_row
from mc_pipelines_tests.dagster_runs import metadata_of, resources_for


def materialize_one(instance: DagsterInstance, asset: AssetsDefinition, org_id: str, engine: Engine,
                    emulator, config: Config | None = None) -> dict[str, Any]:
    """Materialize one org-partitioned asset (with its typed `config`, if any) on real resources;
    returns its metadata values."""
    if not instance.has_dynamic_partition(ORG_PARTITIONS_NAME, org_id):
        instance.add_dynamic_partitions(ORG_PARTITIONS_NAME, [org_id])
    name = asset.key.to_user_string()
    result = materialize([asset], partition_key=org_id, instance=instance,
                         run_config=run_config_dict({asset.op.name: config} if config else None),
                         resources=resources_for(engine, emulator), tags={"org": org_id})
    return metadata_of(result, name)


def seed_org(engine: Engine, emulator, org_id: str, emails: list[str], first_id: int = 1) -> dict[str, str]:
    """An org with one consenting contact per email (ids from `first_id`), connected to a new
    emulator account; returns the account's api_key and audience_id."""
    add_org(engine, org_id)
    add_contacts(engine, [contact_row(org_id, first_id + i, e) for i, e in enumerate(emails)])
    return connect_to_emulator(engine, emulator, org_id)


def consent_rows(engine: Engine, org_id: str) -> list[dict[str, Any]]:
    """The org's consent events, oldest first."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(consent_events).where(consent_events.c.org_id == org_id)
                            .order_by(consent_events.c.at, consent_events.c.contact_id))
        return [dict(r._mapping) for r in rows]


def consent_of(engine: Engine, org_id: str) -> dict[int, bool]:
    """marketing_consent per contact id of the org."""
    with engine.connect() as conn:
        return dict(conn.execute(sa.select(contacts.c.id, contacts.c.marketing_consent)
                                 .where(contacts.c.org_id == org_id)).tuples().all())
