"""Download: the members' Mailchimp tags into the application's `contacts.tags` (issue 16, item 4).

Opt-in (the `contact_tags_download_job`, the CLI's `download-tags`, the control API): it reads the
last full read of member tags (`mailchimp_member_tags`, asset `mailchimp_member_tags`) and adds to
each live contact the tags its address has in Mailchimp that the project does not manage — a
segment's tag, or a pushed app tag (`app_tag_prefix`), is the app's own already. It never removes
an app tag, never writes to Mailchimp, and is audited (counts only, no personal data).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
from sqlalchemy.engine import Engine

from mc_pipelines.actions.connections import require_connected
from mc_pipelines.actions.sheet_export import ClientFactory
from mc_pipelines.effects.member_tags import DEFAULT_MAX_MEMBERS, TagRead, store_audience_tags
from mc_pipelines.errors import OperationError
from mc_pipelines.mailchimp.limits import PAGE_LIMIT
from mc_pipelines.mailchimp.metrics import CallMetrics
from mc_pipelines.mailchimp.runner import run_sync
from mc_pipelines.store import audit, member_tags
from mc_pipelines.store.connections import require_active_connection
from mc_pipelines.store.contact_tags import set_contact_tags
from mc_pipelines.store.contacts import read_live_contacts
from mc_pipelines.store.segments import active_segments, org_audiences
from mc_pipelines.sync.app_tags import download_plan, managed_tags_by_audience
from mc_pipelines.sync.emails import normalise_emails, subscriber_hashes


@dataclass
class DownloadOutcome:
    """What a download changed (or would change, in a dry run)."""

    contacts_changed: int = 0
    tags_added: int = 0
    members_read: int = 0
    dry_run: bool = False
    changes: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)


def read_member_tags(engine: Engine, client_for: ClientFactory, org_id: str, *,
                     page_size: int = PAGE_LIMIT, max_members: int = DEFAULT_MAX_MEMBERS,
                     metrics: CallMetrics | None = None) -> list[TagRead]:
    """The full read of every member's tags of the org's audiences into `mailchimp_member_tags`
    (the `mailchimp_member_tags` asset; the control API's "refresh tags")."""
    connection = require_active_connection(engine, org_id)
    audiences = org_audiences(connection, active_segments(engine, org_id))

    async def run() -> list[TagRead]:
        async with client_for(connection, metrics) as client:
            return [await store_audience_tags(client, engine, org_id, a, page_size=page_size,
                                              max_members=max_members) for a in audiences]

    return run_sync(run())


def download_tags(engine: Engine, org_id: str, *, actor: str, dry_run: bool = False) -> DownloadOutcome:
    """Add the members' unmanaged Mailchimp tags to the org's contacts (see the module doc)."""
    connection = require_connected(engine, org_id)
    stored = member_tags.load_tags(engine, org_id)
    if stored.empty:
        raise OperationError(
            f"no Mailchimp tags read for org {org_id!r} yet: materialize `mailchimp_member_tags` "
            "(job contact_tags_download_job runs it first) and download again")
    live = read_live_contacts(engine, org_id)
    contacts = pd.DataFrame({"contact_id": live["id"], "tags": live["tags"],
                             "subscriber_hash": subscriber_hashes(normalise_emails(live["email"]))})
    managed = managed_tags_by_audience(active_segments(engine, org_id), connection.audience_id)
    prefix = connection.app_tag_prefix if connection.push_app_tags else None
    plan = download_plan(contacts, stored, managed, prefix)
    outcome = DownloadOutcome(len(plan), int(plan["added"].map(len).sum()) if len(plan) else 0,
                              len(stored), dry_run, plan)
    if dry_run or plan.empty:
        return outcome
    set_contact_tags(engine, org_id, dict(zip(plan["contact_id"], plan["tags"], strict=True)))
    with engine.begin() as conn:
        audit.record(conn, org_id=org_id, actor=actor, action="download_tags",
                     detail={"contacts_changed": outcome.contacts_changed,
                             "tags_added": outcome.tags_added})
    return outcome
