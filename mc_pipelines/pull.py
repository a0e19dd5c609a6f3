"""The inbound member-status pull: what changed in Mailchimp since the last cursor.

For every audience the org syncs to, members changed since the cursor are read (sorted by
last_changed, paged by 1000). Their current status and all their Mailchimp tags refresh
`mailchimp_member_state` (so the push never flips a status), and members who moved to
unsubscribed or cleaned *in Mailchimp* — not by this project's own unsubscribe, which the state
already records — withdraw the matching contacts' consent in the application (source
`mailchimp`). Re-reading the boundary is harmless: every step is idempotent.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Engine

from mc_pipelines.mailchimp.client import MailchimpClient
from mc_pipelines.store import contacts, cursors, member_state

CURSOR_OVERLAP = timedelta(seconds=1)
WITHDRAWING_STATUSES = {"unsubscribed", "cleaned"}
OUR_UNSUBSCRIBE_STATUSES = {"unsubscribed", "unsubscribing"}
MEMBER_FIELDS = ("members.id,members.email_address,members.status,members.last_changed,"
                 "members.tags,members.unsubscribe_reason,total_items")


@dataclass
class AudiencePull:
    """What one audience's pull saw and did."""

    audience_id: str
    members_seen: int = 0
    known_members_refreshed: int = 0
    unsubscribed_in_mailchimp: list[str] = field(default_factory=list)
    cleaned_in_mailchimp: list[str] = field(default_factory=list)
    consent_withdrawn: list[int] = field(default_factory=list)
    cursor: datetime | None = None


def parse_timestamp(value: str | None) -> datetime | None:
    """Mailchimp's ISO-8601 `+00:00` timestamps as naive UTC."""
    if not value:
        return None
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed.astimezone(UTC).replace(tzinfo=None) if parsed.tzinfo else parsed


async def pull_audience(client: MailchimpClient, engine: Engine, org_id: str, audience_id: str,
                        *, dry_run: bool = False) -> AudiencePull:
    """Pull one audience's changes since its cursor and apply them (unless `dry_run`)."""
    result = AudiencePull(audience_id)
    cursor = await asyncio.to_thread(cursors.get_cursor, engine, org_id, audience_id)
    since = cursor - CURSOR_OVERLAP if cursor else None
    seen: dict[str, dict] = {}
    newest = cursor
    async for page in client.iter_members(audience_id, since_last_changed=since, fields=MEMBER_FIELDS):
        for member in page:
            changed = parse_timestamp(member.get("last_changed"))
            seen[member["id"]] = {
                "email": member["email_address"], "status": member["status"],
                "mailchimp_tags": sorted(t["name"] for t in member.get("tags") or []),
                "last_changed": changed,
            }
            if changed and (newest is None or changed > newest):
                newest = changed
    result.members_seen = len(seen)
    result.cursor = newest
    if not seen:
        return result
    previous = await asyncio.to_thread(member_state.statuses, engine, org_id, audience_id, list(seen))
    result.known_members_refreshed = len(previous)
    for sub_hash, member in seen.items():
        if member["status"] in WITHDRAWING_STATUSES and previous.get(sub_hash) not in OUR_UNSUBSCRIBE_STATUSES | {member["status"]}:
            target = result.cleaned_in_mailchimp if member["status"] == "cleaned" else result.unsubscribed_in_mailchimp
            target.append(member["email"])
    if dry_run:
        return result
    updates = {
        h: {"status": m["status"], "mailchimp_tags": m["mailchimp_tags"], "last_changed": m["last_changed"]}
        for h, m in seen.items() if h in previous
    }
    await asyncio.to_thread(member_state.update_existing, engine, org_id, audience_id, updates)
    for status, emails in (("unsubscribed", result.unsubscribed_in_mailchimp),
                           ("cleaned", result.cleaned_in_mailchimp)):
        if not emails:
            continue
        ids = await asyncio.to_thread(contacts.contact_ids_by_email, engine, org_id, emails)
        result.consent_withdrawn += await asyncio.to_thread(
            contacts.withdraw_consent, engine, org_id, [i for v in ids.values() for i in v],
            source="mailchimp", detail=f"{status} in Mailchimp audience {audience_id}",
        )
    await asyncio.to_thread(cursors.set_cursor, engine, org_id, audience_id, newest)
    return result


async def pull_member_status(client: MailchimpClient, engine: Engine, org_id: str,
                             audience_ids: list[str], *, dry_run: bool = False) -> list[AudiencePull]:
    """Pull every audience of the org (concurrently; the client caps connections)."""
    return list(await asyncio.gather(*[
        pull_audience(client, engine, org_id, a, dry_run=dry_run) for a in audience_ids
    ]))
