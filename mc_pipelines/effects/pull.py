"""The inbound member-status pull: what changed in Mailchimp since the last cursor.

For every audience the org syncs to, the members Mailchimp changed since the audience's cursor
are read, sorted by `last_changed`. Each page is applied as it arrives:
- the status, every Mailchimp tag (read-only: marketer-made tags become visible in the
  application, nothing is written back) and `last_changed` of members already in
  `mailchimp_member_state` are refreshed — only rows where one of them differs are written, so
  re-reading a member changes nothing;
- members that moved to unsubscribed or cleaned *in Mailchimp* withdraw the consent of the
  org's contacts with that email (a `consent_events` row, source `mailchimp`, with Mailchimp's
  reason), so the next push never fights them. A status this project set itself (the state
  already says unsubscribed) is not a Mailchimp-side transition and withdraws nothing. Members
  the project never pushed are not added to the state, but their opt-outs still withdraw consent.

Paging by key, not by offset. Plain offset paging over `sort_field=last_changed` skips members:
when a member already read changes (or is archived) during the scan it leaves its place in the
order, every later member moves up one, and the member at the next page boundary is never
returned — an old member no cursor will ever reach again. Taking the scan's start time as the next
cursor does not help (the skipped member is older than that). So each page is requested with
`since_last_changed` advanced to the newest `last_changed` seen (inclusive, second precision) and
an `offset` counting only the members already read that share that second; members that change
during the scan move past the bound and are read later in the same scan. The one remaining hazard
is the tie block itself shifting (a member of the boundary second changing mid-scan), so every
page after the first re-reads one member — the last one read — as an anchor: if it is not where
it should be, the boundary second is re-read from its start (duplicates are harmless). No page can
therefore skip a member, and the pull needs no scan-wide lock or snapshot.

Cursor: the newest `last_changed` applied, checkpointed after every page (so a huge first pull
that dies resumes where it stopped). The next pull starts one second before it, so members
changed in the cursor's own second after the scan are read; the re-read boundary is a no-op.

Crash safety: per page, consent is withdrawn before the state is refreshed, and the cursor moves
last. A crash in between re-reads the page; withdrawing again is idempotent, and the state still
holds the old status, so the transition is not lost.

Mailchimp does not bump `last_changed` for tag-only changes, so tags a marketer changes on an
otherwise unchanged member are picked up by the next real change or a `full_refresh` pull.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine

from mc_pipelines.mailchimp.addresses import address_key
from mc_pipelines.mailchimp.endpoints import MailchimpClient
from mc_pipelines.mailchimp.limits import PAGE_LIMIT
from mc_pipelines.store import contacts, cursors, member_state
from mc_pipelines.sync.timestamps import parse_mailchimp_time

CURSOR_OVERLAP = timedelta(seconds=1)
WITHDRAWING_STATUSES = frozenset({"unsubscribed", "cleaned"})
MEMBER_FIELDS = ("members.id,members.email_address,members.status,members.last_changed,"
                 "members.tags,members.unsubscribe_reason")
# A boundary second that keeps changing under the scan; far beyond anything but a runaway loop.
MAX_RESTARTS = 100
PREVIEW_LIMIT = 20
DEFAULT_REASONS = {
    "unsubscribed": "unsubscribed in Mailchimp",
    "cleaned": "address cleaned by Mailchimp (hard bounce or abuse report)",
}


@dataclass(frozen=True)
class PulledMember:
    """The fields of a Mailchimp member the pull uses."""

    subscriber_hash: str
    email: str
    status: str
    tags: list[str]
    last_changed: datetime | None
    reason: str

    @classmethod
    def from_api(cls, member: dict[str, Any]) -> PulledMember:
        """From a member object of `GET /lists/{id}/members` (fields `MEMBER_FIELDS`)."""
        return cls(
            subscriber_hash=member["id"], email=member["email_address"], status=member["status"],
            tags=sorted(t["name"] for t in member.get("tags") or []),
            last_changed=parse_mailchimp_time(member.get("last_changed")),
            reason=member.get("unsubscribe_reason") or "",
        )

    @property
    def state_values(self) -> tuple[str, list[str], datetime | None]:
        """What the pull keeps of this member in `mailchimp_member_state`."""
        return self.status, self.tags, self.last_changed

    @property
    def consent_detail(self) -> str:
        """The `consent_events.detail` of a withdrawal caused by this member."""
        return f"{self.status}: {self.reason or DEFAULT_REASONS.get(self.status, self.status)}"


@dataclass
class PagePlan:
    """What one page changes: state rows to refresh and Mailchimp-side opt-outs."""

    updates: dict[str, dict[str, Any]] = field(default_factory=dict)
    withdrawals: list[PulledMember] = field(default_factory=list)


def plan_page(members: list[PulledMember],
              baseline: dict[str, tuple[str, list[str], datetime | None]]) -> PagePlan:
    """Compare pulled members with the state (`baseline`: hash → status, tags, last_changed).

    Only known members whose values differ are updated. An opt-out counts as made in Mailchimp
    unless the state already holds that status or an unsubscribe this project sent."""
    plan = PagePlan()
    for member in members:
        previous = baseline.get(member.subscriber_hash)
        if previous is not None and previous != member.state_values:
            status, tags, changed = member.state_values
            plan.updates[member.subscriber_hash] = {
                "status": status, "mailchimp_tags": tags, "last_changed": changed}
        previous_status = previous[0] if previous else None
        if member.status in WITHDRAWING_STATUSES and previous_status not in {"unsubscribed", member.status}:
            plan.withdrawals.append(member)
    return plan


class MemberScan:
    """Keyset paging over one audience's members changed since `since` (see the module doc)."""

    def __init__(self, client: MailchimpClient, audience_id: str, since: datetime | None,
                 page_size: int = PAGE_LIMIT) -> None:
        if not 2 <= page_size <= PAGE_LIMIT:  # one member of every page is the anchor
            raise ValueError(f"page_size must be between 2 and {PAGE_LIMIT}, got {page_size}")
        self.client, self.audience_id, self.page_size = client, audience_id, page_size
        self.bound = since        # since_last_changed of the next request
        self.consumed = 0         # members read at the head of the `bound` listing
        self.anchor: str | None = None  # hash of the last member read, expected at consumed - 1
        self.done = False
        self.requests = 0
        self.restarts = 0

    async def next_page(self) -> list[PulledMember] | None:
        """The next members not read yet (in `last_changed` order), or None at the end."""
        while not self.done:
            anchored = self.anchor is not None
            offset = self.consumed - 1 if anchored else 0
            data = await self.client.get_members_page(
                self.audience_id, since_last_changed=self.bound, offset=offset,
                count=self.page_size, fields=MEMBER_FIELDS)
            self.requests += 1
            raw = data.get("members") or []
            if anchored and (not raw or raw[0]["id"] != self.anchor):
                self._restart()
                continue
            page = [PulledMember.from_api(m) for m in raw]
            self._advance(page, offset)
            if fresh := page[1:] if anchored else page:
                return fresh
        return None

    def _restart(self) -> None:
        self.restarts += 1
        if self.restarts > MAX_RESTARTS:
            raise RuntimeError(
                f"audience {self.audience_id}: members changed at {self.bound} kept moving during "
                f"the scan ({MAX_RESTARTS} re-reads); run the pull again later")
        self.consumed, self.anchor = 0, None

    def _advance(self, page: list[PulledMember], offset: int) -> None:
        if len(page) < self.page_size:
            self.done = True
            return
        last = page[-1].last_changed
        if last is None or last == self.bound:
            self.consumed = offset + len(page)
        else:
            self.bound = last
            self.consumed = sum(1 for m in page if m.last_changed == last)
        self.anchor = page[-1].subscriber_hash


@dataclass
class AudiencePull:
    """What one audience's pull saw and did."""

    audience_id: str
    members_seen: int = 0
    known_members_seen: int = 0
    state_rows_changed: int = 0
    unsubscribed_in_mailchimp: int = 0
    cleaned_in_mailchimp: int = 0
    consent_withdrawn: list[int] = field(default_factory=list)
    transitions: list[dict[str, Any]] = field(default_factory=list)  # the first PREVIEW_LIMIT
    requests: int = 0
    restarts: int = 0
    cursor: datetime | None = None


class _PageApplier:
    """Applies pages of one audience's scan to the database (runs in a worker thread)."""

    def __init__(self, engine: Engine, org_id: str, result: AudiencePull, *, dry_run: bool) -> None:
        self.engine, self.org_id, self.result, self.dry_run = engine, org_id, result, dry_run
        self.seen: set[str] = set()
        self.known: set[str] = set()
        self.withdrawn: set[str] = set()
        # dry runs write nothing, so later pages compare against what earlier pages would have written
        self.overlay: dict[str, tuple[str, list[str], datetime | None]] = {}

    def apply(self, page: list[PulledMember]) -> None:
        audience_id = self.result.audience_id
        hashes = [m.subscriber_hash for m in page]
        baseline = member_state.pulled_fields(self.engine, self.org_id, audience_id, hashes)
        baseline.update((h, self.overlay[h]) for h in hashes if h in self.overlay and h in baseline)
        plan = plan_page(page, baseline)
        self.seen.update(hashes)
        self.known.update(baseline)
        self._withdraw([m for m in plan.withdrawals if m.subscriber_hash not in self.withdrawn])
        if self.dry_run:
            self.overlay.update((h, (v["status"], v["mailchimp_tags"], v["last_changed"]))
                                for h, v in plan.updates.items())
        else:
            member_state.update_existing(self.engine, self.org_id, audience_id, plan.updates)
        newest = max((m.last_changed for m in page if m.last_changed), default=None)
        if newest and (self.result.cursor is None or newest > self.result.cursor):
            self.result.cursor = newest
            if not self.dry_run:
                cursors.set_cursor(self.engine, self.org_id, audience_id, newest)
        self.result.members_seen = len(self.seen)
        self.result.known_members_seen = len(self.known)
        self.result.state_rows_changed += len(plan.updates)

    def _withdraw(self, members: list[PulledMember]) -> None:
        if not members:
            return
        ids = contacts.contact_ids_by_email(self.engine, self.org_id, [m.email for m in members])
        by_detail: dict[str, list[PulledMember]] = {}
        for member in members:
            by_detail.setdefault(member.consent_detail, []).append(member)
        for detail, group in by_detail.items():
            group_ids = [i for m in group for i in ids.get(address_key(m.email), [])]
            changed = [] if self.dry_run else contacts.withdraw_consent(
                self.engine, self.org_id, group_ids, source="mailchimp",
                detail=f"{detail} (audience {self.result.audience_id})")
            self.result.consent_withdrawn += changed
        for member in members:
            self.withdrawn.add(member.subscriber_hash)
            if member.status == "cleaned":
                self.result.cleaned_in_mailchimp += 1
            else:
                self.result.unsubscribed_in_mailchimp += 1
            if len(self.result.transitions) < PREVIEW_LIMIT:
                self.result.transitions.append({
                    "audience_id": self.result.audience_id, "email": member.email,
                    "status": member.status, "reason": member.consent_detail,
                    "contact_ids": ids.get(address_key(member.email), []),
                })


async def pull_audience(client: MailchimpClient, engine: Engine, org_id: str, audience_id: str,
                        *, dry_run: bool = False, full_refresh: bool = False,
                        page_size: int = PAGE_LIMIT) -> AudiencePull:
    """Pull one audience's changes since its cursor and apply them (unless `dry_run`).

    `full_refresh` reads the whole audience (ignoring the cursor), e.g. to pick up tag changes
    Mailchimp did not mark as changes. The next page is fetched while the current one is
    written."""
    result = AudiencePull(audience_id)
    result.cursor = await asyncio.to_thread(cursors.get_cursor, engine, org_id, audience_id)
    since = None if full_refresh or result.cursor is None else result.cursor - CURSOR_OVERLAP
    scan = MemberScan(client, audience_id, since, page_size)
    applier = _PageApplier(engine, org_id, result, dry_run=dry_run)
    pending = asyncio.ensure_future(scan.next_page())
    try:
        while (page := await pending) is not None:
            pending = asyncio.ensure_future(scan.next_page())
            await asyncio.to_thread(applier.apply, page)
    finally:
        if not pending.done():
            pending.cancel()
            await asyncio.gather(pending, return_exceptions=True)
    result.requests, result.restarts = scan.requests, scan.restarts
    return result


async def pull_member_status(client: MailchimpClient, engine: Engine, org_id: str,
                             audience_ids: list[str], *, dry_run: bool = False,
                             full_refresh: bool = False,
                             page_size: int = PAGE_LIMIT) -> list[AudiencePull]:
    """Pull every audience of the org (concurrently; the client caps connections)."""
    return list(await asyncio.gather(*[
        pull_audience(client, engine, org_id, a, dry_run=dry_run, full_refresh=full_refresh,
                      page_size=page_size)
        for a in audience_ids
    ]))
