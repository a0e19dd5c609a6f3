"""Applies one audience's sync plan to Mailchimp in bulk and records what Mailchimp accepted.

Phases run in order — creates, updates, unsubscribes, managed tags — each as ≤500-member calls
sent concurrently (the client caps connections per account). State is written per call, and only
for rows Mailchimp accepted, so a run killed at any point leaves a state that never claims more
than Mailchimp holds; the next run converges:
- creates are announced first as `creating` rows (no payload hash), so members created just
  before a crash are recognised by the next status pull instead of looking marketer-made;
- transient per-row failures keep no payload hash and are retried next run even if unchanged;
- terminal outcomes (compliance state, forgotten email, fake/invalid address, existing
  non-project member) are recorded in `sync_errors` and parked, not retried until the data changes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from sqlalchemy.engine import Engine

from mc_pipelines.mailchimp.addresses import address_key, subscriber_hash
from mc_pipelines.mailchimp.endpoints import MailchimpClient
from mc_pipelines.mailchimp.limits import chunk
from mc_pipelines.store import member_state
from mc_pipelines.store.clock import utcnow
from mc_pipelines.sync.diff import AudiencePlan
from mc_pipelines.sync.outcomes import RETRYABLE_OUTCOMES, classify_row_error

PARKED_STATUS = "rejected"


@dataclass
class PushReport:
    """Counts and per-row outcomes of one audience's push."""

    audience_id: str
    created: int = 0
    updated: int = 0
    unsubscribed: int = 0
    tags_added: int = 0
    tags_removed: int = 0
    failed: int = 0
    parked: int = 0
    outcomes: list[dict[str, Any]] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """The numeric fields, for metadata and run summaries."""
        return {k: getattr(self, k) for k in
                ("created", "updated", "unsubscribed", "tags_added", "tags_removed", "failed", "parked")}


class _Rows:
    """Plan rows addressable by subscriber hash (a frame, or the records of one chunk)."""

    def __init__(self, rows: pd.DataFrame | list[dict[str, Any]]) -> None:
        records = rows.to_dict("records") if isinstance(rows, pd.DataFrame) else rows
        self.by_hash = {r["subscriber_hash"]: r for r in records}

    def get(self, email: str) -> dict[str, Any] | None:
        return self.by_hash.get(subscriber_hash(email))


class AudiencePusher:
    """Pushes one audience's plan; holds what the phases learn about each other."""

    def __init__(self, client: MailchimpClient, engine: Engine, org_id: str, audience_id: str,
                 *, batch_size: int = 500, interrupted: frozenset[str] = frozenset()) -> None:
        self.client, self.engine, self.org_id, self.audience_id = client, engine, org_id, audience_id
        self.interrupted = interrupted  # hashes a previous run left `creating`
        self.batch_size = batch_size
        self.report = PushReport(audience_id)
        # hashes that take no tag this run: creates Mailchimp did not confirm, and members it
        # reported as already there (someone else's: never touched)
        self.absent: set[str] = set()

    async def _save(self, rows: list[dict[str, Any]], columns: Sequence[str]) -> None:
        if rows:
            for row in rows:
                row["audience_id"] = self.audience_id
            await asyncio.to_thread(member_state.save_rows, self.engine, self.org_id, rows, columns)

    def _outcome(self, row: dict[str, Any] | None, email: str, code: str, message: str) -> None:
        self.report.outcomes.append({
            "audience_id": self.audience_id, "contact_id": None if row is None else int(row["contact_id"]),
            "email": email, "error_code": code, "message": message,
        })

    async def _batches(self, rows: pd.DataFrame, handler) -> None:
        records = rows.to_dict("records")
        await asyncio.gather(*[handler(part) for part in chunk(records, self.batch_size)])

    # -- creates ---------------------------------------------------------------------------------
    async def create(self, creates: pd.DataFrame) -> None:
        """New members by batch subscribe (update_existing false, status subscribed)."""
        if creates.empty:
            return
        await self._save([{"subscriber_hash": r["subscriber_hash"], "contact_id": int(r["contact_id"]),
                           "email": r["email"], "status": "creating", "payload_hash": None, "managed": True}
                          for r in creates.to_dict("records")],
                         ["contact_id", "email", "status", "payload_hash", "managed"])
        self.absent.update(creates["subscriber_hash"])
        await self._batches(creates, self._create_chunk)

    async def _create_chunk(self, part: list[dict[str, Any]]) -> None:
        rows = _Rows(part)
        result = await self.client.batch_subscribe(
            self.audience_id,
            [{"email_address": r["email"], "status": "subscribed", "merge_fields": r["merge_fields"]} for r in part],
            update_existing=False,
        )
        now = utcnow()
        accepted = []
        for member in result.created:
            row = rows.get(member["email_address"])
            if row is None:
                continue
            self.absent.discard(row["subscriber_hash"])
            accepted.append({"subscriber_hash": row["subscriber_hash"], "status": member.get("status", "subscribed"),
                             "payload_hash": row["payload_hash"], "last_synced_at": now, "managed": True})
        self.report.created += len(accepted)
        parked = []
        for error in result.errors:
            row = rows.get(error.email)
            code = classify_row_error(error.code, error.message)
            if row is not None and code == "member_exists":
                adopted = await self._adopt_own_create(row, error.email, result.ambiguous, now)
                if adopted is not None:
                    self.absent.discard(row["subscriber_hash"])
                    accepted.append(adopted)
                    self.report.created += 1
                    continue
            self._outcome(row, error.email, code, error.message)
            if row is None:
                continue
            if code in RETRYABLE_OUTCOMES:
                self.report.failed += 1
                continue
            self.report.parked += 1
            if code == "member_exists":  # someone else's member: recorded, never touched (stays absent)
                parked.append({"subscriber_hash": row["subscriber_hash"], "managed": False,
                               "status": "unknown", "payload_hash": row["payload_hash"], "last_synced_at": now})
            else:
                parked.append({"subscriber_hash": row["subscriber_hash"], "managed": True,
                               "status": PARKED_STATUS, "payload_hash": row["payload_hash"], "last_synced_at": now})
        await self._save(accepted + parked, ["status", "payload_hash", "last_synced_at", "managed"])

    async def _adopt_own_create(self, row: dict[str, Any], email: str, ambiguous: set[str],
                                now: Any) -> dict[str, Any] | None:
        """A create answered "already a list member" that is this project's own earlier write:
        either the accepted attempt followed one whose answer was lost (the member was created
        from this very payload), or the row was left `creating` by an interrupted run (the
        member's current status is read back). Returns the state row, or None if not ours."""
        if address_key(email) in ambiguous:
            return {"subscriber_hash": row["subscriber_hash"], "status": "subscribed", "managed": True,
                    "payload_hash": row["payload_hash"], "last_synced_at": now}
        if row["subscriber_hash"] in self.interrupted:
            member = await self.client.get_member(self.audience_id, email)
            return {"subscriber_hash": row["subscriber_hash"], "status": member.get("status", "unknown"),
                    "managed": True, "payload_hash": None, "last_synced_at": now}
        return None

    # -- updates and unsubscribes ----------------------------------------------------------------
    async def update(self, updates: pd.DataFrame) -> None:
        """Changed members, sent with the status Mailchimp holds for them now (no status flip)."""
        await self._batches(updates, self._update_chunk)

    async def _update_chunk(self, part: list[dict[str, Any]]) -> None:
        await self._send_existing(part, [
            {"email_address": r["email"], "status": r["status"], "merge_fields": r["merge_fields"]} for r in part
        ], unsubscribing=False)

    async def unsubscribe(self, unsubscribes: pd.DataFrame) -> None:
        """Members no longer desired (consent withdrawn, deleted, left the audience's segments)."""
        await self._batches(unsubscribes, self._unsubscribe_chunk)

    async def _unsubscribe_chunk(self, part: list[dict[str, Any]]) -> None:
        await self._send_existing(part, [{"email_address": r["email"], "status": "unsubscribed"} for r in part],
                                  unsubscribing=True)

    async def _send_existing(self, part: list[dict[str, Any]], members: list[dict[str, Any]],
                             *, unsubscribing: bool) -> None:
        rows = _Rows(part)
        result = await self.client.batch_subscribe(self.audience_id, members, update_existing=True)
        now = utcnow()
        accepted = []
        for member in result.updated + result.created:
            row = rows.get(member["email_address"])
            if row is None:
                continue
            saved = {"subscriber_hash": row["subscriber_hash"], "status": member.get("status"), "last_synced_at": now}
            if not unsubscribing:
                saved["payload_hash"] = row["payload_hash"]
            accepted.append(saved)
        failed = []
        for error in result.errors:
            row = rows.get(error.email)
            self._outcome(row, error.email, classify_row_error(error.code, error.message), error.message)
            self.report.failed += 1
            if row is not None and not unsubscribing:  # retried next run even if unchanged
                failed.append({"subscriber_hash": row["subscriber_hash"], "payload_hash": None})
        if unsubscribing:
            self.report.unsubscribed += len(accepted)
            await self._save(accepted, ["status", "last_synced_at"])
        else:
            self.report.updated += len(accepted)
            await self._save(accepted, ["status", "payload_hash", "last_synced_at"])
            await self._save(failed, ["payload_hash"])

    # -- managed tags ----------------------------------------------------------------------------
    async def tags(self, adds: pd.DataFrame, removes: pd.DataFrame, current: dict[str, set[str]]) -> None:
        """Managed tags as static-segment add/remove batches (≤500 emails a call)."""
        adds = adds[~adds["subscriber_hash"].isin(self.absent)] if len(adds) else adds
        tag_names = sorted(set(adds["tag"] if len(adds) else []) | set(removes["tag"] if len(removes) else []))
        if not tag_names:
            return
        segment_ids = await self._segment_ids(tag_names)
        results = await asyncio.gather(*[self._tag(t, segment_ids[t], adds, removes) for t in tag_names])
        emails = {}
        for frame in (adds, removes):
            if len(frame):
                emails.update(zip(frame["email"].str.lower(), frame["subscriber_hash"], strict=False))
        touched: dict[str, set[str]] = {}
        for tag, added, removed in results:
            for email in added:
                h = emails.get(email.lower()) or subscriber_hash(email)
                touched.setdefault(h, set(current.get(h, set()))).add(tag)
            for email in removed:
                h = emails.get(email.lower()) or subscriber_hash(email)
                touched.setdefault(h, set(current.get(h, set()))).discard(tag)
        await self._save([{"subscriber_hash": h, "managed_tags": sorted(t)} for h, t in touched.items()],
                         ["managed_tags"])

    async def _segment_ids(self, tags: list[str]) -> dict[str, int]:
        """The static segment (tag) id of each tag from ONE listing of the audience's static
        segments — not one listing per tag — matched as `ensure_static_segment` does (the exact
        name, else the same name ignoring case; the first one listed); tags not found go
        through `ensure_static_segment`, which looks again and creates them safely."""
        exact: dict[str, int] = {}
        folded: dict[str, int] = {}
        for segment in await self.client.list_segments(self.audience_id, type="static"):
            name = str(segment.get("name", ""))
            exact.setdefault(name, int(segment["id"]))
            folded.setdefault(name.casefold(), int(segment["id"]))
        found = {t: exact[t] if t in exact else folded.get(t.casefold()) for t in tags}
        missing = [t for t, segment_id in found.items() if segment_id is None]
        created = await asyncio.gather(*[self.client.ensure_static_segment(self.audience_id, t)
                                         for t in missing])
        found.update(zip(missing, created, strict=True))
        return found

    async def _tag(self, tag: str, segment_id: int, adds: pd.DataFrame,
                   removes: pd.DataFrame) -> tuple[str, list[str], list[str]]:
        add = adds.loc[adds["tag"] == tag, "email"].tolist() if len(adds) else []
        remove = removes.loc[removes["tag"] == tag, "email"].tolist() if len(removes) else []
        result = await self.client.update_segment_members(self.audience_id, segment_id, add=add, remove=remove,
                                                          chunk_size=self.batch_size)
        rows = _Rows(pd.concat([adds[adds["tag"] == tag], removes[removes["tag"] == tag]])
                     if len(adds) or len(removes) else pd.DataFrame())
        failed = set()
        for error in result.errors:
            self._outcome(rows.get(error.email), error.email, "tag_failed", f"tag {tag!r}: {error.message}")
            self.report.failed += 1
            failed.add(error.email.lower())
        self.report.tags_added += len(result.added)
        self.report.tags_removed += len(result.removed)
        # Mailchimp reports only the emails it changed: one already in (or already out of) the
        # segment — e.g. moved by a run killed before it recorded the move — is not reported, yet
        # the move is done. So every email not refused is done (see update_segment_members).
        return (tag, [e for e in add if e.lower() not in failed],
                [e for e in remove if e.lower() not in failed])


async def push_audience(client: MailchimpClient, engine: Engine, org_id: str, audience_id: str,
                        plan: AudiencePlan, current_tags: dict[str, set[str]], *,
                        batch_size: int = 500, interrupted: frozenset[str] = frozenset()) -> PushReport:
    """Apply `plan` to one audience: creates, updates, unsubscribes, then managed tags.

    `interrupted` holds the members a previous run left `creating` (see `creating_hashes`)."""
    pusher = AudiencePusher(client, engine, org_id, audience_id, batch_size=batch_size,
                            interrupted=interrupted)
    await pusher.create(plan.creates)
    await pusher.update(plan.updates)
    await pusher.unsubscribe(plan.unsubscribes)
    await pusher.tags(plan.tag_adds, plan.tag_removes, current_tags)
    return pusher.report


def creating_hashes(state: pd.DataFrame) -> frozenset[str]:
    """Members whose create a previous run sent but never saw confirmed."""
    if state.empty:
        return frozenset()
    return frozenset(state.loc[state["status"] == "creating", "subscriber_hash"])


def tags_by_hash(state: pd.DataFrame) -> dict[str, set[str]]:
    """Managed tags per member from an audience's state frame."""
    if state.empty:
        return {}
    return {h: set(t or ()) for h, t in zip(state["subscriber_hash"], state["managed_tags"], strict=False)}
