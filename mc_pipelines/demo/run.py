"""`mc-pipelines demo`: the whole product on embedded parts, ending with a readable summary.

Seeds the demo orgs into SQLite, starts the Mailchimp emulator on loopback, connects every org
(a real key check over HTTP), tracks a few campaigns, materializes every asset for every org,
then proves the incremental promise: an immediate re-run writes nothing to Mailchimp. Finally a
member unsubscribes in Mailchimp and the next run brings that back as withdrawn consent.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from dagster import DagsterInstance

from mc_pipelines.actions.connections import connect_org
from mc_pipelines.config import database_url
from mc_pipelines.demo import lifecycle_cases
from mc_pipelines.demo.environment import fresh_demo_instance, prepare_demo_environment
from mc_pipelines.demo.seed import DEMO_ORGS, seed_demo
from mc_pipelines.mailchimp.addresses import subscriber_hash
from mc_pipelines.partitions import ORG_PARTITIONS_NAME
from mc_pipelines.store.campaigns import track_campaign
from mc_pipelines.store.db import engine_for
from mc_pipelines.store.migrations import migrate
from mc_pipelines.store.tables import contact_segments, metadata

SECOND_AUDIENCE_SEGMENT = "London & Berlin staff"


@dataclass
class OrgDemo:
    """What the demo set up and measured for one org."""

    org_id: str
    api_key: str = field(repr=False)
    audience_id: str
    runs: list[dict[str, Any]] = field(default_factory=list)


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


def _setup_org(server, engine, org, actor: str) -> OrgDemo:
    account = server.create_account(account_name=org.name, dc="us6")
    audience = server.create_list(account["api_key"], name=f"{org.name} — all contacts")
    if org.id == "initech":  # a segment that lives in a second audience
        staff = server.create_list(account["api_key"], name=f"{org.name} — staff")
        with engine.begin() as conn:
            conn.execute(contact_segments.update().where(
                contact_segments.c.org_id == org.id, contact_segments.c.name == SECOND_AUDIENCE_SEGMENT,
            ).values(audience_id=staff))
    connect_org(engine, org.id, account["api_key"], audience, auto_sync=True, actor=actor,
                base_url_template=server.base_url_template)
    _demo_campaigns(server, engine, org.id, account["api_key"], audience)
    return OrgDemo(org.id, account["api_key"], audience)


def _row(org: OrgDemo, label: str, meta: dict[str, dict[str, Any]], writes: int) -> list[str]:
    cohort = meta.get("consented_contacts", {})
    sync = meta.get("audience_sync", {})
    return [org.org_id, label, str(meta.get("source_contacts", {}).get("read", "")),
            str(cohort.get("consented", "")), str(cohort.get("invalid", "")), str(cohort.get("duplicates", "")),
            str(sync.get("created", "")), str(sync.get("updated", "")), str(sync.get("unsubscribed", "")),
            f"{sync.get('tags_added', '')}/{sync.get('tags_removed', '')}", str(sync.get("failed", "")),
            str(sync.get("mailchimp_calls", "")), str(writes)]


def _print_table(rows: list[list[str]]) -> None:
    header = ["org", "run", "read", "consented", "invalid", "dupes", "created", "updated", "unsub",
              "tags +/-", "failed", "calls", "writes"]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))


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
    orgs = [_setup_org(server, engine, org, actor="demo") for org in DEMO_ORGS]
    for org in orgs:
        if not instance.has_dynamic_partition(ORG_PARTITIONS_NAME, org.org_id):
            instance.add_dynamic_partitions(ORG_PARTITIONS_NAME, [org.org_id])
    return orgs


def run_demo() -> int:
    """Run the demo end to end and print the summary."""
    from mailchimp_emulator.harness import EmulatorServer

    started = time.perf_counter()
    instance = fresh_demo_instance()
    rows: list[list[str]] = []
    with EmulatorServer() as server:
        os.environ["MC_MAILCHIMP_BASE_URL"] = server.base_url_template
        print(f"Mailchimp emulator on {server.base_url_template.format(dc='us6')}")
        orgs = setup_demo(server, instance)
        for org in orgs:
            for label in ("first sync", "re-sync (no change)"):
                before = server.stats(org.api_key)["writes"]
                meta = run_job_for_org(instance, "audience_sync_job", org.org_id)
                rows.append(_row(org, label, meta, server.stats(org.api_key)["writes"] - before))
        # a Mailchimp-side unsubscribe flows back as withdrawn consent, and is never re-subscribed
        acme = orgs[0]
        members = [m for m in server.dump_list(acme.api_key, acme.audience_id) if m["status"] == "subscribed"]
        leaver = members[0]["email_address"]
        server.member_event(acme.api_key, acme.audience_id, subscriber_hash(leaver), "unsubscribe")
        before = server.stats(acme.api_key)["writes"]
        meta = run_job_for_org(instance, "audience_sync_job", acme.org_id)
        rows.append(_row(acme, "after unsubscribe in MC", meta, server.stats(acme.api_key)["writes"] - before))
        withdrawn = meta.get("mailchimp_member_status", {}).get("consent_withdrawn", 0)
        engine = engine_for(database_url())

        def sync(org_id: str, allow_failure: bool = False) -> dict[str, dict[str, Any]]:
            return run_job_for_org(instance, "audience_sync_job", org_id, allow_failure=allow_failure)

        cases = [lifecycle_cases.reconsent(engine, server, acme, sync),
                 lifecycle_cases.archived_left_alone(engine, server, acme, sync),
                 lifecycle_cases.guard_holds(engine, server, orgs[1], sync)]
        inbound = {org.org_id: {**run_job_for_org(instance, "campaign_stats_job", org.org_id),
                                **run_job_for_org(instance, "contacts_export_job", org.org_id)}
                   for org in orgs}
        still = {m["email_address"]: m["status"] for m in server.dump_list(acme.api_key, acme.audience_id)}[leaver]
    print()
    _print_table(rows)
    print()
    print(f"{leaver} unsubscribed in Mailchimp → consent withdrawn for {withdrawn} contact(s) in the app; "
          f"status in Mailchimp after the next sync: {still}.")
    for line in cases:
        print(line)
    for org_id, meta in inbound.items():
        stats, export = meta.get("campaign_stats", {}), meta.get("contacts_export", {})
        print(f"{org_id}: campaigns refreshed {stats.get('campaigns_refreshed')}, skipped "
              f"{stats.get('campaigns_skipped')} (canceled / outside the 30-day window), avg open rate "
              f"{stats.get('avg_open_rate')}, avg click rate {stats.get('avg_click_rate')} (fractions); "
              f"export: {export.get('csv_path') or export.get('csv')}")
    print(f"Dagster instance: {instance.root_directory} — `make dev` opens the UI on it.")
    print(f"demo finished in {time.perf_counter() - started:.1f} s")
    return 0
