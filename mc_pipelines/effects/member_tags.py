"""The full read of every member's Mailchimp tags (issue 16, item 4; LIFECYCLE E2).

Mailchimp does not bump `last_changed` for tag-only changes, so the incremental pull misses them;
this reads every member of an audience (archived ones aside, which Mailchimp lists only on
request), paged by key like the pull (`effects.pull.MemberScan`: no member skipped while the
audience changes), one page in memory at a time, and bounded: an audience larger than
`max_members` is refused before the first page, naming the setting to raise.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.engine import Engine

from mc_pipelines.effects.pull import MemberScan
from mc_pipelines.errors import FixableError
from mc_pipelines.mailchimp.endpoints import MailchimpClient
from mc_pipelines.mailchimp.limits import PAGE_LIMIT
from mc_pipelines.store import member_tags
from mc_pipelines.store.clock import utcnow
from mc_pipelines.sync.pull_plan import PulledMember

DEFAULT_MAX_MEMBERS = 2_000_000


class TooManyMembersError(FixableError):
    """The audience holds more members than the read may page through."""


@dataclass
class TagRead:
    """What one audience's read saw."""

    audience_id: str
    members: int = 0
    tagged: int = 0
    requests: int = 0
    forgotten: int = 0


async def audience_size(client: MailchimpClient, audience_id: str) -> int:
    """The number of (non-archived) members of the audience, from one small request."""
    data = await client.get_members_page(audience_id, count=1, fields="total_items")
    return int(data.get("total_items") or 0)


async def read_tags(client: MailchimpClient, audience_id: str,
                    on_page: Callable[[list[PulledMember]], object], *,
                    page_size: int = PAGE_LIMIT, max_members: int = DEFAULT_MAX_MEMBERS) -> TagRead:
    """Page through every member of the audience, handing each page to `on_page`."""
    total = await audience_size(client, audience_id)
    if total > max_members:
        raise TooManyMembersError(
            f"audience {audience_id} has {total} members, more than max_members={max_members}: "
            "raise max_members in the run config to read them all")
    read = TagRead(audience_id)
    scan = MemberScan(client, audience_id, None, page_size)
    while (page := await scan.next_page()) is not None:
        read.members += len(page)
        read.tagged += sum(1 for m in page if m.tags)
        result = on_page(page)
        if asyncio.iscoroutine(result):
            await result
    read.requests = scan.requests + 1
    return read


async def store_audience_tags(client: MailchimpClient, engine: Engine, org_id: str,
                              audience_id: str, *, page_size: int = PAGE_LIMIT,
                              max_members: int = DEFAULT_MAX_MEMBERS,
                              now: datetime | None = None) -> TagRead:
    """Read the audience's member tags into `mailchimp_member_tags`, replacing the last read
    (members no longer listed are forgotten once the read is complete)."""
    read_at = now or utcnow()

    async def save(page: list[PulledMember]) -> None:
        await asyncio.to_thread(member_tags.save_page, engine, org_id, audience_id, [
            {"subscriber_hash": m.subscriber_hash, "email": m.email, "status": m.status,
             "tags": list(m.tags)} for m in page], read_at)

    read = await read_tags(client, audience_id, save, page_size=page_size, max_members=max_members)
    read.forgotten = await asyncio.to_thread(member_tags.forget_unseen, engine, org_id,
                                             audience_id, read_at)
    return read
