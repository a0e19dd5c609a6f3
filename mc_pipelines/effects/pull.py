"""The inbound member-status pull: what changed in Mailchimp since the last cursor.

For every audience the org syncs to, the members Mailchimp changed since the audience's cursor
are read, sorted by `last_changed`. Each page is applied as it arrives:
- the status, every Mailchimp tag (read-only: marketer-made tags become visible in the
  application, nothing is written back) and `last_changed` of members already in
  `mailchimp_member_state` are refreshed — only rows where one of them differs are written, so
  re-reading a member changes nothing;
- what changed is judged by the member lifecycle (`sync.pull_plan`, `sync.lifecycle`): an opt-out
  the project did not make withdraws the consent of every contact of the org with that address, a
  re-subscribe after an opt-out gives it back (both through `effects.consent`, which keeps a newer
  app consent), a status the project itself sent confirms its pending write, an address changed
  in Mailchimp moves the member's state, a managed tag removed by hand is re-applied next push.
  Members the project does not track are never added to the state, but their opt-outs still
  withdraw consent. Archived members, which Mailchimp lists only on request, are read by a second
  scan with its own cursor; an untracked archived member whose address is a contact's is added as
  a linked, archived member, so the push never un-archives it by a create (B6).

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
it should be (the boundary second's members moved, or Mailchimp listed that second's ties in
another order, which it may do on every request), that second is read whole instead, bounded by
`before_last_changed`, re-reading its pages until as many distinct members as it holds are seen,
and the scan goes on after it (members read twice are harmless). No page can therefore skip a
member, and the pull needs no scan-wide lock or snapshot.

Cursor: the newest `last_changed` applied, checkpointed after every page (so a huge first pull
that dies resumes where it stopped). The next pull starts one second before it, so members
changed in the cursor's own second after the scan are read; the re-read boundary is a no-op.

Crash safety: per page, consent is withdrawn before the state is refreshed, and the cursor moves
last. A crash in between re-reads the page; withdrawing again is idempotent, and the state still
holds the old status, so the transition is not lost.

Mailchimp does not bump `last_changed` for tag-only changes, so tags a marketer changes on an
otherwise unchanged member are picked up by the next real change or a `full_refresh` pull. Tags
the project did not apply become the member's own (`prior_tags`: never added nor removed by the
project, D1, D2) — only when the last audience sync finished, since a push that died between a
tag call and its state write leaves the project's own tag unrecorded.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine

from mc_pipelines.effects.consent import OPT_OUT, RESUBSCRIBE, MailchimpChange, apply_changes
from mc_pipelines.mailchimp.endpoints import MailchimpClient
from mc_pipelines.mailchimp.errors import AudienceNotFound
from mc_pipelines.mailchimp.limits import PAGE_LIMIT
from mc_pipelines.store import cursors, member_state, runs
from mc_pipelines.store.clock import utcnow
from mc_pipelines.store.contacts import address_key, contact_ids_by_address
from mc_pipelines.sync import lifecycle as lc
from mc_pipelines.sync.pull_plan import PULLED_COLUMNS, PulledMember, plan_page

CURSOR_OVERLAP = timedelta(seconds=1)
MEMBER_FIELDS = ("members.id,members.email_address,members.status,members.last_changed,"
                 "members.tags,members.unsubscribe_reason,members.contact_id,total_items")
# A boundary second that keeps changing under the scan; far beyond anything but a runaway loop.
MAX_RESTARTS = 100
# Anchor misses in a row after which the boundary second is read whole (its ties come back in a
# different order on every request; a member changing mid-scan misses once, then re-reads fine).
BLOCK_AFTER_MISSES = 8
PREVIEW_LIMIT = 20
# Archived members are not listed without a status filter: a second scan reads them (B6).
ARCHIVED_SCOPE = "archived"
ADOPTED_COLUMNS = ("contact_id", "email", "status", "ownership", "status_origin", "status_read_at",
                   "prior_tags", "mailchimp_tags", "last_changed", "mailchimp_contact_id")


class MemberScan:
    """Keyset paging over one audience's members changed since `since` (see the module doc)."""

    def __init__(self, client: MailchimpClient, audience_id: str, since: datetime | None,
                 page_size: int = PAGE_LIMIT, status: str | None = None) -> None:
        if not 2 <= page_size <= PAGE_LIMIT:  # one member of every page is the anchor
            raise ValueError(f"page_size must be between 2 and {PAGE_LIMIT}, got {page_size}")
        self.client, self.audience_id, self.page_size = client, audience_id, page_size
        self.status = status      # None: every status but archived; "archived": only those
        self.bound = since        # since_last_changed of the next request
        self.consumed = 0         # members read at the head of the `bound` listing
        self.anchor: str | None = None  # hash of the last member read, expected at consumed - 1
        self.done = False
        self.requests = 0
        self.restarts = 0
        self.misses = 0           # anchor misses in a row at the current bound

    async def next_page(self) -> list[PulledMember] | None:
        """The next members not read yet (in `last_changed` order), or None at the end."""
        while not self.done:
            anchored = self.anchor is not None
            offset = self.consumed - 1 if anchored else self.consumed
            data = await self.client.get_members_page(
                self.audience_id, since_last_changed=self.bound, offset=offset,
                count=self.page_size, fields=MEMBER_FIELDS, status=self.status)
            self.requests += 1
            raw = data.get("members") or []
            if anchored and (not raw or raw[0]["id"] != self.anchor):
                # the boundary second's members moved, or Mailchimp lists same-second members in
                # another order on every request: read that second whole, then go past it
                self.restarts += 1
                self.misses += 1
                self.consumed, self.anchor = 0, None  # re-read the boundary second from its start
                if self.misses >= BLOCK_AFTER_MISSES:  # ties listed in another order every time
                    self.misses = 0
                    block = await self._read_second(self.bound)
                    if block:
                        return block
                continue
            if anchored:  # the anchor was where it should be: the order holds
                self.misses = 0
            page = [PulledMember.from_api(m) for m in raw]
            self._advance(page, offset)
            if fresh := page[1:] if anchored else page:
                return fresh
        return None

    async def _read_second(self, second: datetime | None) -> list[PulledMember]:
        """Every member whose `last_changed` is `second` (a block of ties), read whole whatever
        order Mailchimp lists them in: pages are re-read until as many distinct members as the
        listing's `total_items` are seen; then the scan goes on after that second. Returns the
        block (members already returned are applied again: harmless, the pull is idempotent)."""
        if second is None:
            return []
        end = second + timedelta(seconds=1)  # before_last_changed: members of `second` only
        seen: dict[str, PulledMember] = {}
        for _attempt in range(MAX_RESTARTS):
            offset, total = 0, None
            while total is None or offset < total:
                data = await self.client.get_members_page(
                    self.audience_id, since_last_changed=second, before_last_changed=end,
                    offset=offset, count=self.page_size, fields=MEMBER_FIELDS, status=self.status)
                self.requests += 1
                raw = data.get("members") or []
                total = int(data.get("total_items") or 0)
                seen.update((m["id"], PulledMember.from_api(m)) for m in raw)
                offset += self.page_size
                if not raw:
                    break
            if len(seen) >= (total or 0):
                break
        else:
            raise RuntimeError(
                f"audience {self.audience_id}: the members changed at {second} kept moving during "
                f"the scan ({MAX_RESTARTS} re-reads); run the pull again later")
        # go on within that second after the members read (those that changed in it meanwhile
        # come after them), then past it
        self.bound, self.consumed, self.anchor = second, len(seen), None
        return list(seen.values())

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
    resubscribed_in_mailchimp: int = 0
    archived_in_mailchimp: int = 0
    moved_in_mailchimp: int = 0
    consent_withdrawn: list[int] = field(default_factory=list)
    consent_given: list[int] = field(default_factory=list)
    consent_kept: list[int] = field(default_factory=list)  # opt-outs older than the app's consent
    transitions: list[dict[str, Any]] = field(default_factory=list)  # the first PREVIEW_LIMIT
    requests: int = 0
    restarts: int = 0
    cursor: datetime | None = None
    error: str | None = None  # the audience does not exist (a segment points to it, C3)


class _PageApplier:
    """Applies pages of one audience's scans to the database (runs in a worker thread)."""

    def __init__(self, engine: Engine, org_id: str, result: AudiencePull, *, dry_run: bool,
                 own_tags: bool = True) -> None:
        self.engine, self.org_id, self.result, self.dry_run = engine, org_id, result, dry_run
        self.own_tags = own_tags
        self.seen: set[str] = set()
        self.known: set[str] = set()
        self.applied: set[tuple[str, str]] = set()  # (hash, status) consent changes done
        # dry runs write nothing, so later pages compare against what earlier pages would have written
        self.overlay: dict[str, dict[str, Any]] = {}

    def apply(self, page: list[PulledMember], *, cursor_scope: str | None = None) -> None:
        audience_id = self.result.audience_id
        hashes = [m.subscriber_hash for m in page]
        baseline = member_state.lifecycle_rows(self.engine, self.org_id, audience_id, hashes,
                                               PULLED_COLUMNS)
        for h in hashes:
            if h in self.overlay and h in baseline:
                baseline[h] = {**baseline[h], **self.overlay[h]}
        untracked = [m.contact_id for m in page if m.subscriber_hash not in baseline and m.contact_id]
        by_contact = member_state.hashes_by_mailchimp_contact(
            self.engine, self.org_id, audience_id, untracked) if untracked else {}
        now = utcnow()
        plan = plan_page(page, baseline, now, by_contact, own_tags=self.own_tags)
        self.seen.update(hashes)
        self.known.update(baseline)
        self._consent(plan.opt_outs, OPT_OUT)
        self._consent(plan.resubscribes, RESUBSCRIBE)
        self.result.archived_in_mailchimp += sum(
            1 for h, v in plan.updates.items() if v.get("status") == "archived"
            and baseline[h].get("status") != "archived")
        adopted = self._archived_contacts(page, baseline, plan, now) \
            if cursor_scope == ARCHIVED_SCOPE else []
        self.result.archived_in_mailchimp += len(adopted)
        if self.dry_run:
            self.overlay.update(plan.updates)
        else:
            member_state.update_existing(self.engine, self.org_id, audience_id, plan.updates)
            if adopted:
                member_state.save_rows(self.engine, self.org_id, adopted, ADOPTED_COLUMNS)
            for old, member in plan.moves:
                member_state.follow_move(self.engine, self.org_id, audience_id, old,
                                         member.subscriber_hash, member.email, now)
        self.result.moved_in_mailchimp += len(plan.moves)
        for old, member in plan.moves[:PREVIEW_LIMIT - len(self.result.transitions)]:
            self.result.transitions.append({"audience_id": audience_id, "email": member.email,
                                            "status": "moved", "reason": f"address changed in "
                                            f"Mailchimp (was {old})", "contact_ids": []})
        newest = max((m.last_changed for m in page if m.last_changed), default=None)
        scope = audience_id if cursor_scope is None else f"{audience_id}#{cursor_scope}"
        if newest and (self.result.cursor is None or newest > self.result.cursor or cursor_scope):
            if cursor_scope is None:
                self.result.cursor = newest
            if not self.dry_run:
                cursors.set_cursor(self.engine, self.org_id, scope, newest)
        self.result.members_seen = len(self.seen)
        self.result.known_members_seen = len(self.known)
        self.result.state_rows_changed += len(plan.updates)

    def _archived_contacts(self, page: list[PulledMember], baseline: dict[str, dict[str, Any]],
                           plan: Any, now: datetime) -> list[dict[str, Any]]:
        """State rows for archived members the project does not track yet whose address is a
        contact's (B6): archived before the project met the address, they are linked members
        the push must leave archived — a create would un-archive them."""
        moved = {m.subscriber_hash for _old, m in plan.moves}
        found = [m for m in page if m.status == lc.ARCHIVED and m.subscriber_hash not in baseline
                 and m.subscriber_hash not in moved]
        if not found:
            return []
        by_address = contact_ids_by_address(self.engine, self.org_id, [m.email for m in found])
        rows = []
        for m in found:
            ids = by_address.get(address_key(m.email) or "")
            if ids:
                rows.append({"audience_id": self.result.audience_id,
                             "subscriber_hash": m.subscriber_hash, "contact_id": min(ids),
                             "email": m.email, "status": lc.ARCHIVED, "ownership": lc.LINKED,
                             "status_origin": lc.MAILCHIMP, "status_read_at": now,
                             "prior_tags": m.tags, "mailchimp_tags": m.tags,
                             "last_changed": m.last_changed, "mailchimp_contact_id": m.contact_id})
        return rows

    def _consent(self, members: list[PulledMember], kind: str) -> None:
        members = [m for m in members if (m.subscriber_hash, m.status) not in self.applied]
        if not members:
            return
        changes = [MailchimpChange(m.email, kind, m.last_changed,
                                   f"{m.consent_detail} (audience {self.result.audience_id})")
                   for m in members]
        outcome = apply_changes(self.engine, self.org_id, changes, dry_run=self.dry_run)
        self.result.consent_withdrawn += outcome.withdrawn
        self.result.consent_given += outcome.given
        self.result.consent_kept += outcome.kept
        for member in members:
            self.applied.add((member.subscriber_hash, member.status))
            if kind == RESUBSCRIBE:
                self.result.resubscribed_in_mailchimp += 1
            elif member.status == "cleaned":
                self.result.cleaned_in_mailchimp += 1
            else:
                self.result.unsubscribed_in_mailchimp += 1
            if len(self.result.transitions) < PREVIEW_LIMIT:
                key = member.email.strip().lower()
                self.result.transitions.append({
                    "audience_id": self.result.audience_id, "email": member.email,
                    "status": member.status, "reason": member.consent_detail,
                    "contact_ids": outcome.contact_ids.get(key, []),
                })


async def _scan(scan: MemberScan, applier: _PageApplier, cursor_scope: str | None) -> None:
    """Apply every page of `scan`; the next page is fetched while the current one is written."""
    pending = asyncio.ensure_future(scan.next_page())
    try:
        while (page := await pending) is not None:
            pending = asyncio.ensure_future(scan.next_page())
            await asyncio.to_thread(applier.apply, page, cursor_scope=cursor_scope)
    finally:
        if not pending.done():
            pending.cancel()
            await asyncio.gather(pending, return_exceptions=True)


async def pull_audience(client: MailchimpClient, engine: Engine, org_id: str, audience_id: str,
                        *, dry_run: bool = False, full_refresh: bool = False,
                        page_size: int = PAGE_LIMIT) -> AudiencePull:
    """Pull one audience's changes since its cursors and apply them (unless `dry_run`): members
    of every status but archived, then archived members (Mailchimp lists those only on request).

    `full_refresh` reads the whole audience (ignoring the cursors), e.g. to pick up tag changes
    Mailchimp did not mark as changes (E2, D4)."""
    result = AudiencePull(audience_id)
    result.cursor = await asyncio.to_thread(cursors.get_cursor, engine, org_id, audience_id)
    archived_cursor = await asyncio.to_thread(cursors.get_cursor, engine, org_id,
                                              f"{audience_id}#{ARCHIVED_SCOPE}")
    # tags the project did not apply are the member's own, once the last push is known complete
    own_tags = await asyncio.to_thread(runs.last_sync_finished, engine, org_id)
    applier = _PageApplier(engine, org_id, result, dry_run=dry_run, own_tags=own_tags)
    scans = []
    for cursor, status in ((result.cursor, None), (archived_cursor, ARCHIVED_SCOPE)):
        since = None if full_refresh or cursor is None else cursor - CURSOR_OVERLAP
        scan = MemberScan(client, audience_id, since, page_size, status=status)
        await _scan(scan, applier, status)
        scans.append(scan)
    result.requests = sum(s.requests for s in scans)
    result.restarts = sum(s.restarts for s in scans)
    return result


async def pull_member_status(client: MailchimpClient, engine: Engine, org_id: str,
                             audience_ids: list[str], *, dry_run: bool = False,
                             full_refresh: bool = False, page_size: int = PAGE_LIMIT,
                             required: Collection[str] | None = None) -> list[AudiencePull]:
    """Pull every audience of the org (concurrently; the client caps connections).

    An audience that does not exist is that audience's `error` and the others are pulled (a
    segment pointing to a deleted audience, LIFECYCLE C3) — unless it is `required` (None: all
    are), e.g. the connection's default audience: then the pull fails naming it."""

    async def one(audience_id: str) -> AudiencePull:
        try:
            return await pull_audience(client, engine, org_id, audience_id, dry_run=dry_run,
                                       full_refresh=full_refresh, page_size=page_size)
        except AudienceNotFound as exc:
            if required is None or audience_id in required:
                raise
            return AudiencePull(audience_id, error=str(exc))

    return list(await asyncio.gather(*[one(a) for a in audience_ids]))
