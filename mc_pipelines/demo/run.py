"""`mc-pipelines demo`: the whole product on embedded parts, ending with a readable summary.

Seeds the demo orgs into SQLite, starts the Mailchimp emulator on loopback, connects every org
(a real key check over HTTP), tracks a few campaigns, materializes every asset for every org,
then proves the incremental promise: an immediate re-run writes nothing to Mailchimp. Finally a
member unsubscribes in Mailchimp and the next run brings that back as withdrawn consent. The
summary's tables add up and define their columns (`mc_pipelines.demo.summary`); the address
Mailchimp rejects is shown with its contact id.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from dagster import DagsterInstance

from mc_pipelines.actions.connections import connect_org
from mc_pipelines.config import database_url
from mc_pipelines.demo import lifecycle_cases
from mc_pipelines.demo.environment import fresh_demo_instance, prepare_demo_environment
from mc_pipelines.demo.seed import DEMO_ORGS, seed_demo
from mc_pipelines.demo.summary import DatasetRow, RunRow, render
from mc_pipelines.mailchimp.addresses import subscriber_hash
from mc_pipelines.partitions import ORG_PARTITIONS_NAME
from mc_pipelines.store import runs
from mc_pipelines.store.campaigns import track_campaign
from mc_pipelines.store.db import engine_for
from mc_pipelines.store.migrations import migrate
from mc_pipelines.store.tables import contact_segments, contacts, metadata

SECOND_AUDIENCE_SEGMENT = "London & Berlin staff"
SYNC_JOB = "audience_sync_job"


@dataclass
class OrgDemo:
    """What the demo set up for one org: its account, default audience and every audience (id →
    name), and its contacts as seeded (`deleted`: soft-deleted ones)."""

    org_id: str
    api_key: str = field(repr=False)
    audience_id: str
    audiences: dict[str, str] = field(default_factory=dict)
    seeded: int = 0
    deleted: int = 0


def reset_pipeline_tables(engine, org_ids: list[str]) -> None:
    """Forget the pipeline's own rows for the demo orgs (the emulator starts empty every demo)."""
    with engine.begin() as conn:
        for table in metadata.sorted_tables:
            if table.name in ("orgs", "contacts", "contact_segments", "consent_events"):
                continue
            conn.execute(table.delete().where(table.c.org_id.in_(org_ids)))


def run_job_for_org(instance: DagsterInstance, job_name: str, org_id: str, *,
                    allow_failure: bool = False) -> dict[str, dict[str, Any]]:
    """Execute one job for one org partition in process; returns metadata values per asset
    (`allow_failure`: a failed blocking check is part of the story, not an error)."""
    from mc_pipelines.automation.run_config import run_config_dict
    from mc_pipelines.definitions import defs

    result = defs.resolve_job_def(job_name).execute_in_process(
        partition_key=org_id, instance=instance, tags={"org": org_id}, raise_on_error=not allow_failure,
        run_config=run_config_dict(log_level="CRITICAL" if allow_failure else "WARNING"),
    )
    out: dict[str, dict[str, Any]] = {}
    for event in result.get_asset_materialization_events():
        mat = event.materialization
        out[mat.asset_key.to_user_string()] = {k: getattr(v, "value", v) for k, v in mat.metadata.items()}
    return out


def _demo_campaigns(server, engine, org_id: str, api_key: str, audience_id: str) -> None:
    """Campaigns in every state the stats refresh distinguishes, tracked by the application."""
    now = datetime.now(UTC).replace(microsecond=0)
    specs = [
        ("Spring launch", "sent", now - timedelta(days=3), 0.42, 0.07),
        ("Weekly digest", "sending", now - timedelta(hours=1), 0.18, 0.02),
        ("Last year's newsletter", "sent", now - timedelta(days=90), 0.35, 0.05),  # outside the window
        ("Cancelled promo", "canceled", None, 0.0, 0.0),
    ]
    for title, status, sent_at, open_rate, click_rate in specs:
        sent = 500 if sent_at else 0
        campaign = server.create_campaign(
            api_key, list_id=audience_id, title=title, status=status, emails_sent=sent,
            unique_opens=int(sent * open_rate), unique_subscriber_clicks=int(sent * click_rate),
            unsubscribed=int(sent * 0.004), hard_bounces=int(sent * 0.002), soft_bounces=int(sent * 0.004),
            send_time=sent_at.isoformat() if sent_at else "",
        )
        track_campaign(engine, org_id, campaign["id"],
                       {"title": title, "status": status, "audience_id": audience_id,
                        "send_time": sent_at.replace(tzinfo=None) if sent_at else None}, actor="demo")


def _setup_org(server, engine, org, seeded: int, actor: str) -> OrgDemo:
    account = server.create_account(account_name=org.name, dc="us6")
    names = {server.create_list(account["api_key"], name=f"{org.name} — all contacts"): "all contacts"}
    audience = next(iter(names))
    if org.id == "initech":  # a segment that lives in a second audience
        staff = server.create_list(account["api_key"], name=f"{org.name} — staff")
        names[staff] = "staff"
        with engine.begin() as conn:
            conn.execute(contact_segments.update().where(
                contact_segments.c.org_id == org.id, contact_segments.c.name == SECOND_AUDIENCE_SEGMENT,
            ).values(audience_id=staff))
    connect_org(engine, org.id, account["api_key"], audience, auto_sync=True, actor=actor,
                base_url_template=server.base_url_template)
    _demo_campaigns(server, engine, org.id, account["api_key"], audience)
    return OrgDemo(org.id, account["api_key"], audience, names, seeded, deleted_count(engine, org.id))


def deleted_count(engine, org_id: str) -> int:
    """The org's soft-deleted contacts (`deleted_at` set): never read by the sync."""
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(contacts).where(
            contacts.c.org_id == org_id, contacts.c.deleted_at.is_not(None))).scalar_one()


@dataclass
class Measured:
    """One sync run of one org: its row in the runs table, its assets' metadata and its
    `sync_runs` row (the sync counts the application records)."""

    row: RunRow
    meta: dict[str, dict[str, Any]]
    sync_run: dict[str, Any]


def _calls(stats: dict[str, Any]) -> int:
    return sum(sum(by_status.values()) for by_status in stats["requests"].values())


def measure(server, engine, instance: DagsterInstance, org: OrgDemo, label: str,
            **run_options: Any) -> Measured:
    """Run the sync job for `org` and measure it: counts from the run, calls and writes from
    the emulator's accounting of the org's account over the whole run."""
    before = server.stats(org.api_key)
    meta = run_job_for_org(instance, SYNC_JOB, org.org_id, **run_options)
    after = server.stats(org.api_key)
    sync_run = runs.latest_runs(engine, org.org_id, limit=1)[0]
    done = sync_run["summary"] or {}
    pulled = meta.get("mailchimp_member_status", {})
    row = RunRow(
        org=org.org_id, run=label, cohort=int(meta.get("consented_contacts", {}).get("consented", 0)),
        created=done.get("created", 0), updated=done.get("updated", 0),
        unsubscribed=done.get("unsubscribed", 0),
        unsubscribed_in_mailchimp=int(pulled.get("unsubscribed_in_mailchimp", 0)),
        tags_added=done.get("tags_added", 0), tags_removed=done.get("tags_removed", 0),
        rejected=done.get("parked", 0) + done.get("failed", 0),
        calls=_calls(after) - _calls(before), writes=after["writes"] - before["writes"])
    return Measured(row, meta, sync_run)


def dataset_row(org: OrgDemo, meta: dict[str, dict[str, Any]]) -> DatasetRow:
    """The org's contacts as a run read them (the cohort's counts from its metadata)."""
    cohort = meta.get("consented_contacts", {})
    return DatasetRow(org=org.org_id, contacts=org.seeded, deleted=org.deleted,
                      read=int(cohort.get("read", 0)), no_consent=int(cohort.get("no_consent", 0)),
                      invalid=int(cohort.get("invalid", 0)), dupes=int(cohort.get("duplicates", 0)),
                      cohort=int(cohort.get("consented", 0)))


def rejected_lines(engine, org: OrgDemo, first: Measured) -> list[str]:
    """The rows Mailchimp refused in the org's first sync, by contact id."""
    refused = runs.errors_for_run(engine, org.org_id, first.sync_run["id"])
    return [f"{org.org_id}: Mailchimp rejected contact {row['contact_id']} ({row['error_code']}): "
            f"{row['message']}" for row in refused.to_dict("records")]


def audience_lines(server, org: OrgDemo, first: Measured) -> list[str]:
    """For an org syncing to more than one audience: how its first sync's creates split."""
    if len(org.audiences) < 2:
        return []
    members = {aid: len(server.dump_list(org.api_key, aid)) for aid in org.audiences}
    default, *others = members
    parts = [f"{members[default]} in '{org.audiences[default]}' (the cohort of {first.row.cohort} less "
             f"{first.row.rejected} rejected)"]
    parts += [f"{members[aid]} in '{org.audiences[aid]}' (the '{SECOND_AUDIENCE_SEGMENT}' segment's own "
              "audience)" for aid in others]
    return [f"{org.org_id}: created {first.row.created} = {' + '.join(parts)}: created counts the "
            "members of every audience, so it can exceed the cohort."]


def setup_demo(server, instance: DagsterInstance | None = None) -> list[OrgDemo]:
    """Seed the demo orgs, connect each to a fresh account on `server`, register partitions (on
    `instance`, by default the demo's own, emptied first: a new dataset never meets the step
    outputs of the previous one)."""
    prepare_demo_environment()
    instance = instance or fresh_demo_instance()
    engine = engine_for(database_url())
    migrate(engine)
    counts = seed_demo(engine)
    reset_pipeline_tables(engine, list(counts))
    print(f"seeded {sum(counts.values())} contacts in {len(counts)} orgs into {database_url()}")
    orgs = [_setup_org(server, engine, org, counts[org.id], actor="demo") for org in DEMO_ORGS]
    for org in orgs:
        if not instance.has_dynamic_partition(ORG_PARTITIONS_NAME, org.org_id):
            instance.add_dynamic_partitions(ORG_PARTITIONS_NAME, [org.org_id])
    return orgs


def run_demo() -> int:
    """Run the demo end to end and print the summary."""
    from mailchimp_emulator.harness import EmulatorServer

    started = time.perf_counter()
    instance = fresh_demo_instance()
    measured: list[Measured] = []
    notes: list[str] = []
    with EmulatorServer() as server:
        os.environ["MC_MAILCHIMP_BASE_URL"] = server.base_url_template
        print(f"Mailchimp emulator on {server.base_url_template.format(dc='us6')}")
        orgs = setup_demo(server, instance)
        engine = engine_for(database_url())
        firsts = {}
        for org in orgs:
            firsts[org.org_id] = first = measure(server, engine, instance, org, "first sync")
            measured += [first, measure(server, engine, instance, org, "re-sync (no change)")]
            notes += audience_lines(server, org, first) + rejected_lines(engine, org, first)
        # a Mailchimp-side unsubscribe flows back as withdrawn consent, and is never re-subscribed
        acme = orgs[0]
        members = [m for m in server.dump_list(acme.api_key, acme.audience_id) if m["status"] == "subscribed"]
        leaver = members[0]["email_address"]
        server.member_event(acme.api_key, acme.audience_id, subscriber_hash(leaver), "unsubscribe")
        after = measure(server, engine, instance, acme, "after unsubscribe in MC")
        measured.append(after)
        withdrawn = after.meta.get("mailchimp_member_status", {}).get("consent_withdrawn", 0)

        def sync(org_id: str, allow_failure: bool = False) -> dict[str, dict[str, Any]]:
            return run_job_for_org(instance, SYNC_JOB, org_id, allow_failure=allow_failure)

        cases = [lifecycle_cases.reconsent(engine, server, acme, sync),
                 lifecycle_cases.archived_left_alone(engine, server, acme, sync),
                 lifecycle_cases.guard_holds(engine, server, orgs[1], sync)]
        inbound = {org.org_id: {**run_job_for_org(instance, "campaign_stats_job", org.org_id),
                                **run_job_for_org(instance, "contacts_export_job", org.org_id)}
                   for org in orgs}
        still = {m["email_address"]: m["status"] for m in server.dump_list(acme.api_key, acme.audience_id)}[leaver]
    print()
    for line in render([dataset_row(org, firsts[org.org_id].meta) for org in orgs], [m.row for m in measured]):
        print(line)
    print()
    for line in notes:
        print(line)
    print(f"{leaver} unsubscribed in Mailchimp → consent withdrawn for {withdrawn} contact(s) in the app "
          f"(unsub ← 1 in the 'after unsubscribe' row); status in Mailchimp after the next sync: {still}.")
    for line in cases:
        print(line)
    for org_id, meta in inbound.items():
        stats, export = meta.get("campaign_stats", {}), meta.get("contacts_export", {})
        print(f"{org_id}: campaigns refreshed {stats.get('campaigns_refreshed')}, skipped "
              f"{stats.get('campaigns_skipped')} (canceled / outside the 30-day window), avg open rate "
              f"{stats.get('avg_open_rate')}, avg click rate {stats.get('avg_click_rate')} (fractions); "
              f"export: {export.get('csv_path') or export.get('csv')}")
    print(f"Dagster instance: {instance.root_directory} — its runs stay until the next `make demo` or "
          "`make dev`, which seed the dataset again on an emptied instance.")
    print(f"demo finished in {time.perf_counter() - started:.1f} s")
    return 0
