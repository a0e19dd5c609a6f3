"""Applies one audience's sync plan to Mailchimp and records what Mailchimp answered.

Phases run in order — address changes, creates, field updates, status changes, managed tags.
Every write that could be misread if its answer were lost is announced first: the state row gets
an `intent` (and its time) before the call and loses it with the answer, so a run killed at any
point, or an answer dropped on the way back, leaves a row the next run reads back before planning
(`effects.readback`). State is written only for what Mailchimp acknowledged; the state never
claims more than Mailchimp holds.

- Creates: batch subscribe (≤500 a call, update_existing false, status subscribed) carrying the
  project's signup marker (`timestamp_signup` = the intent's time). "Already a list member" is
  read back: the project's own create (marker matches) or a linked member with the status read
  (B5). Refusals for the row's data are parked with the payload (retried when it changes, C5).
- Field updates: PATCH without a status (B1, B7). Refusals for data are parked until the data
  changes (C7).
- Status changes: PATCH with exactly the status the plan chose from the one just read
  (unsubscribe, re-subscribe, double opt-in request).
- Address changes: PATCH `email_address` on the old member (B10); where Mailchimp refuses, the old
  member leaves as on any exit and the new address is created.
- Managed tags: static-segment add/remove batches (≤500 emails a call); only members Mailchimp
  holds get tags; the state records the managed tags that moved.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from sqlalchemy.engine import Engine

from mc_pipelines.effects.consent import OPT_OUT, MailchimpChange, apply_changes
from mc_pipelines.effects.new_member_tags import tag_new_members
from mc_pipelines.effects.readback import read_member
from mc_pipelines.mailchimp.addresses import subscriber_hash
from mc_pipelines.mailchimp.endpoints import MailchimpClient
from mc_pipelines.mailchimp.endpoints.batches import member_patch_op
from mc_pipelines.mailchimp.limits import chunk
from mc_pipelines.mailchimp.results import OperationResult
from mc_pipelines.store import member_state
from mc_pipelines.store.clock import utcnow
from mc_pipelines.sync import lifecycle as lc
from mc_pipelines.sync._perf import records
from mc_pipelines.sync.diff import AudiencePlan
from mc_pipelines.sync.outcomes import RETRYABLE_OUTCOMES, classify_row_error
from mc_pipelines.sync.timestamps import parse_mailchimp_time

COUNTS = ("created", "linked", "updated", "email_changed", "email_change_refused", "unsubscribed",
          "resubscribed", "reconfirmation_requested", "tags_added", "tags_removed", "failed",
          "parked")


@dataclass
class PushReport:
    """Counts and per-row outcomes of one audience's push."""

    audience_id: str
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTS, 0))
    outcomes: list[dict[str, Any]] = field(default_factory=list)

    def add(self, name: str, n: int = 1) -> None:
        """Count `n` more rows under `name` (one of `COUNTS`)."""
        self.counts[name] += n


class _Rows:
    """Plan rows addressable by subscriber hash (a frame, or the records of one chunk)."""

    def __init__(self, rows: pd.DataFrame | list[dict[str, Any]]) -> None:
        listed = records(rows) if isinstance(rows, pd.DataFrame) else rows
        self.by_hash = {r["subscriber_hash"]: r for r in listed}
        # Mailchimp answers with the address as sent: found without hashing it again
        self.by_email = {r["email"]: r for r in listed}

    def get(self, email: str) -> dict[str, Any] | None:
        return self.by_email.get(email) or self.by_hash.get(subscriber_hash(email))


class AudiencePusher:
    """Pushes one audience's plan; holds what the phases learn about each other."""

    def __init__(self, client: MailchimpClient, engine: Engine, org_id: str, audience_id: str,
                 *, batch_size: int = 500) -> None:
        self.client, self.engine, self.org_id, self.audience_id = client, engine, org_id, audience_id
        self.batch_size = batch_size
        self.report = PushReport(audience_id)
        # hashes that take no tag this run: creates Mailchimp did not confirm as the project's
        self.absent: set[str] = set()
        # members a create found already there (linked, B2): plan row and the tags they had
        self.linked: dict[str, tuple[dict[str, Any], set[str], str]] = {}

    async def _save(self, rows: list[dict[str, Any]], columns: Sequence[str]) -> None:
        if rows:
            for row in rows:
                row["audience_id"] = self.audience_id
            await asyncio.to_thread(member_state.save_rows, self.engine, self.org_id, rows, columns)

    def _outcome(self, row: dict[str, Any] | None, email: str, code: str, message: str) -> None:
        cid = None if row is None or pd.isna(row.get("contact_id")) else int(row["contact_id"])
        self.report.outcomes.append({"audience_id": self.audience_id, "contact_id": cid,
                                     "email": email, "error_code": code, "message": message})

    async def _each_chunk(self, rows: pd.DataFrame,
                          handler: Callable[[pd.DataFrame], Awaitable[None]]) -> None:
        """`handler` on each slice of ≤ batch_size rows (a view of `rows`: each handler turns only
        its own slice into records, when it runs — a million-row plan is never one list of
        dicts)."""
        if len(rows):
            await asyncio.gather(*[handler(part) for part in chunk(rows, self.batch_size)])

    async def _announce(self, rows: list[dict[str, Any]], intent: str, at: Any,
                        extra: Sequence[str] = ()) -> None:
        """Record the intent before the write (so a lost answer is read back, not misread)."""
        await self._save([{"subscriber_hash": r["subscriber_hash"], "intent": intent,
                           "intent_at": at, **{c: r[c] for c in extra}} for r in rows],
                         ["intent", "intent_at", *extra])

    # -- address changes (B10) -------------------------------------------------------------------
    async def change_addresses(self, changes: pd.DataFrame, state: pd.DataFrame) -> pd.DataFrame:
        """Move members to their contact's new address; returns the rows Mailchimp refused (the
        old member then leaves and the new address is created)."""
        if not len(changes):
            return changes
        rows = records(changes)
        now = utcnow()
        await self._announce([{"subscriber_hash": r["old_hash"]} for r in rows], lc.INTENT_EMAIL, now)
        answers = await self._patch_all([(r["old_email"], {
            "email_address": r["email"], "merge_fields": r["merge_fields"]}) for r in rows])
        by_hash = state.set_index("subscriber_hash", drop=False)
        refused, moved, retry, moved_from = [], [], [], []
        for row, (member, error) in zip(rows, answers, strict=True):
            if member is None:  # no tags for the new address unless the member moves there
                self.absent.add(row["subscriber_hash"])
            if member is None and error is not None and not error.answered:
                # the answer was lost: the move may have landed — read it back, never assume
                member, landed = await self._address_change_landed(row)
                if member is None:
                    self._outcome(row, row["email"], "request_failed", str(error))
                    self.report.add("failed")
                    if landed is False:  # the old member is still there: planned again next run
                        retry.append(row)
                    continue  # unknown: the intent stays and the next run reads it back
            if member is None:
                self._outcome(row, row["email"], "email_change_refused", str(error))
                self.report.add("email_change_refused")
                refused.append(row)
                continue
            old = by_hash.loc[row["old_hash"]].to_dict()
            moved.append({**old, "subscriber_hash": row["subscriber_hash"], "email": row["email"],
                          "contact_id": int(row["contact_id"]), "payload_hash": row["payload_hash"],
                          "status": member.get("status", old["status"]), "intent": None,
                          "intent_at": None, "status_read_at": now, "moved_from_hash": None})
            moved_from.append(row["old_hash"])
            self.absent.discard(row["subscriber_hash"])
            self.report.add("email_changed")
        if moved:  # only the rows whose member really moved (not refused, not unknown)
            columns = [c for c in member_state.DIFF_COLUMNS if c not in ("audience_id", "subscriber_hash")]
            # the opt-out's time moves with the member (A8 compares the app's consent with it)
            opted_out = await asyncio.to_thread(member_state.lifecycle_rows, self.engine, self.org_id,
                                                self.audience_id, moved_from, ["opted_out_at"])
            await self._save([{**{k: v for k, v in m.items() if k in columns or k == "subscriber_hash"},
                               "opted_out_at": opted_out.get(old, {}).get("opted_out_at")}
                              for m, old in zip(moved, moved_from, strict=True)], [*columns, "opted_out_at"])
            await asyncio.to_thread(member_state.forget_rows, self.engine, self.org_id,
                                    self.audience_id, moved_from)
        await self._save([{"subscriber_hash": r["old_hash"], "intent": None, "intent_at": None}
                          for r in refused + retry], ["intent", "intent_at"])
        return pd.DataFrame(refused, columns=changes.columns)

    async def _address_change_landed(self, row: dict[str, Any]) -> tuple[dict[str, Any] | None, bool | None]:
        """After a lost answer to an address change: (the member under its new address when the
        change landed, else None; False when the old member is still there, None when unknown)."""
        member, answered = await read_member(self.client, self.audience_id, row["email"])
        if answered and member is not None:
            return member, True
        old, old_answered = await read_member(self.client, self.audience_id, row["old_email"])
        return None, (False if answered and old_answered and old is not None else None)

    # -- creates ---------------------------------------------------------------------------------
    async def create(self, creates: pd.DataFrame) -> None:
        """New members by batch subscribe (update_existing false, status subscribed).

        Each chunk's intents are recorded just before that chunk is sent, and at most twice as
        many chunks are announced as the client has connections (the next chunks' intents are
        written while the others are on the wire, so the connections never wait for the
        database): a run killed mid-create leaves a few chunks to read back (B5), not the whole
        plan (which would cost the next run one GET a member)."""
        if creates.empty:
            return
        self.absent.update(creates["subscriber_hash"])
        gate = asyncio.Semaphore(2 * max(1, int(getattr(self.client, "max_connections", 8))))

        async def send(rows: pd.DataFrame) -> None:
            async with gate:
                part = records(rows)
                at = utcnow().replace(microsecond=0)
                await self._save([{"subscriber_hash": r["subscriber_hash"], "contact_id": int(r["contact_id"]),
                                   "email": r["email"], "ownership": lc.NO_MEMBER, "status": lc.UNKNOWN,
                                   "intent": lc.INTENT_CREATE, "intent_at": at, "payload_hash": None,
                                   "parked": None} for r in part],
                                 ["contact_id", "email", "ownership", "status", "intent", "intent_at",
                                  "payload_hash", "parked"])
                await self._create_chunk(part, at, lc.signup_marker(at))

        await self._each_chunk(creates, send)

    async def _create_chunk(self, part: list[dict[str, Any]], at: Any, marker: str) -> None:
        rows = _Rows(part)
        result = await self.client.batch_subscribe(self.audience_id, [
            {"email_address": r["email"], "status": lc.SUBSCRIBED, "merge_fields": r["merge_fields"],
             "timestamp_signup": marker} for r in part], update_existing=False)
        now = utcnow()
        saved: list[dict[str, Any]] = []
        for member in result.created:
            row = rows.get(member["email_address"])
            if row is None:
                continue
            self.absent.discard(row["subscriber_hash"])
            saved.append(self._created(row, member, now))
        self.report.add("created", len(saved))
        exists = []
        for error in result.errors:
            row = rows.get(error.email)
            code = classify_row_error(error.code, error.message)
            if row is None:
                self._outcome(None, error.email, code, error.message)
            elif code == "member_exists":
                exists.append(row)
            else:
                self._outcome(row, error.email, code, error.message)
                # the whole call failed: Mailchimp may have applied it, so the intent stays and
                # the next run reads the member back (B5) instead of assuming it absent
                lost = at if error.code == "request_failed" else None
                saved.append(self._not_created(row, code, now, lost_at=lost))
        await self._save(saved, ["ownership", "status", "status_origin", "status_read_at", "intent",
                                 "intent_at", "payload_hash", "parked", "mailchimp_contact_id"])
        if exists:
            await self._read_back_creates(exists, at)

    def _created(self, row: dict[str, Any], member: dict[str, Any], now: Any) -> dict[str, Any]:
        return {"subscriber_hash": row["subscriber_hash"], "ownership": lc.CREATED,
                "status": member.get("status", lc.SUBSCRIBED), "status_origin": lc.PROJECT,
                "status_read_at": now, "intent": None, "intent_at": None,
                "payload_hash": row["payload_hash"], "parked": None,
                "mailchimp_contact_id": member.get("contact_id")}

    def _not_created(self, row: dict[str, Any], code: str, now: Any,
                     lost_at: Any = None) -> dict[str, Any]:
        retry = code in RETRYABLE_OUTCOMES
        self.report.add("failed" if retry else "parked")
        if lost_at is not None:  # unknown outcome: the create intent stays, to be read back
            return {"subscriber_hash": row["subscriber_hash"], "ownership": lc.NO_MEMBER,
                    "status": lc.UNKNOWN, "status_origin": None, "status_read_at": None,
                    "intent": lc.INTENT_CREATE, "intent_at": lost_at, "payload_hash": None,
                    "parked": None, "mailchimp_contact_id": None}
        return {"subscriber_hash": row["subscriber_hash"], "ownership": lc.NO_MEMBER,
                "status": lc.ABSENT, "status_origin": None, "status_read_at": now, "intent": None,
                "intent_at": None, "payload_hash": None if retry else row["payload_hash"],
                "parked": None if retry else code, "mailchimp_contact_id": None}

    async def _read_back_creates(self, rows: list[dict[str, Any]], at: Any) -> None:
        """"Already a list member": read each back — the project's own earlier create (its answer
        was lost) or a member that existed before (linked, with the status read) (B5)."""
        answers = await asyncio.gather(*[read_member(self.client, self.audience_id, r["email"])
                                         for r in rows])
        now = utcnow()
        saved = []
        changes = []
        for row, (member, answered) in zip(rows, answers, strict=True):
            if not answered:  # the intent stays: the next run reads it back
                self._outcome(row, row["email"], "request_failed", "read-back got no answer")
                self.report.add("failed")
                continue
            state = {"ownership": lc.NO_MEMBER, "intent": lc.INTENT_CREATE, "intent_at": at}
            outcome = lc.after_read(state, member, now)
            if outcome.opted_out and member is not None:
                changes.append(MailchimpChange(
                    row["email"], OPT_OUT, parse_mailchimp_time(member.get("last_changed")),
                    f"{member.get('status')} in Mailchimp before the project linked it "
                    f"(audience {self.audience_id})"))
            values = {"subscriber_hash": row["subscriber_hash"], "prior_tags": [], **outcome.values}
            if values.get("ownership") == lc.CREATED:
                values["payload_hash"] = row["payload_hash"]
                self.absent.discard(row["subscriber_hash"])
                self.report.add("created")
            elif values.get("ownership") == lc.LINKED:
                values["payload_hash"] = None  # brought up to date by `link_updates` (B2)
                self.report.add("linked")
                if member is not None:
                    self.linked[row["subscriber_hash"]] = (
                        row, {str(t).casefold() for t in values.get("prior_tags") or ()},
                        str(member.get("status")))
            else:  # gone between the refusal and the read: created again next run
                self.report.add("failed")
            saved.append(values)
        for values in saved:  # one column set for every row (an opt-out's time, or none)
            values.setdefault("opted_out_at", None)
        await self._save(saved, ["ownership", "status", "status_origin", "status_read_at", "intent",
                                 "intent_at", "payload_hash", "prior_tags", "mailchimp_contact_id",
                                 "opted_out_at"])
        await asyncio.to_thread(apply_changes, self.engine, self.org_id, changes)

    def link_updates(self, existing_members: str) -> pd.DataFrame:
        """Field updates for the members this run's creates linked (B2: kept up to date in the same
        run, unless `existing_members=leave`; only statuses that take field updates); they take
        their managed tags this run too, except the tags they already had (D2)."""
        rows = [row for h, (row, _prior, status) in self.linked.items()
                if existing_members == "update" and status in lc.EDITABLE]
        editable = {r["subscriber_hash"] for r in rows}
        self.absent.difference_update(editable)
        self.absent.update(set(self.linked) - editable)
        return pd.DataFrame(rows)

    def without_prior_tags(self, adds: pd.DataFrame) -> pd.DataFrame:
        """Tag adds minus the tags just-linked members had before the project (D2)."""
        if not len(adds) or not self.linked:
            return adds
        keep = [not (h in self.linked and str(t).casefold() in self.linked[h][1])
                for h, t in zip(adds["subscriber_hash"], adds["tag"], strict=True)]
        return adds[keep]

    # -- field updates and status changes ----------------------------------------------------
    async def update(self, updates: pd.DataFrame) -> None:
        """Merge fields only, never a status (PATCH without `status`)."""
        if not len(updates):
            return
        rows = records(updates)
        answers = await self._patch_all([(r["email"], {"merge_fields": r["merge_fields"]}) for r in rows])
        now = utcnow()
        saved = []
        for row, (member, error) in zip(rows, answers, strict=True):
            if member is not None:
                self.report.add("updated")
                saved.append({"subscriber_hash": row["subscriber_hash"], "payload_hash": row["payload_hash"],
                              "status": member.get("status"), "status_read_at": now, "parked": None})
                continue
            code = _error_code(error)
            self._outcome(row, row["email"], code, str(error))
            if error.not_found:  # gone from Mailchimp (deleted permanently)
                self.report.add("failed")
                saved.append({"subscriber_hash": row["subscriber_hash"], "status": lc.ABSENT,
                              "ownership": lc.NO_MEMBER, "payload_hash": None, "parked": None,
                              "status_read_at": now})
            elif code in RETRYABLE_OUTCOMES:
                self.report.add("failed")
                saved.append({"subscriber_hash": row["subscriber_hash"], "payload_hash": None,
                              "parked": None})
            else:  # refused for its data: parked until the data changes (C7)
                self.report.add("parked")
                saved.append({"subscriber_hash": row["subscriber_hash"], "payload_hash": row["payload_hash"],
                              "parked": code})
        for group in _split(saved):
            await self._save(group, [k for k in group[0] if k != "subscriber_hash"])

    async def change_status(self, rows: pd.DataFrame, status_of: Callable[[dict[str, Any]], str],
                            state: pd.DataFrame | None = None) -> None:
        """Explicit status changes, each to the status the plan chose from the one just read."""
        if not len(rows):
            return
        known: dict[str, dict[str, Any]] = {}
        if state is not None and len(state):
            mine = state[state["subscriber_hash"].isin(rows["subscriber_hash"])]
            known = {h: {"status": st, "status_origin": o} for h, st, o in zip(
                mine["subscriber_hash"], mine["status"], mine["status_origin"], strict=True)}
        rows_of = records(rows)
        now = utcnow()
        intents = {lc.UNSUBSCRIBED: lc.INTENT_UNSUBSCRIBE, lc.SUBSCRIBED: lc.INTENT_SUBSCRIBE,
                   lc.PENDING: lc.INTENT_PENDING}
        for wanted in {status_of(r) for r in rows_of}:
            await self._announce([r for r in rows_of if status_of(r) == wanted], intents[wanted], now)
        answers = await self._patch_all([(r["email"], {"status": status_of(r)}) for r in rows_of])
        saved = []
        for row, (member, error) in zip(rows_of, answers, strict=True):
            wanted = status_of(row)
            if member is not None:
                self.report.add({lc.UNSUBSCRIBED: "unsubscribed", lc.SUBSCRIBED: "resubscribed",
                                 lc.PENDING: "reconfirmation_requested"}[wanted])
                saved.append({"subscriber_hash": row["subscriber_hash"], "status": member.get("status", wanted),
                              "status_origin": lc.origin_of_write(known.get(row["subscriber_hash"], {}), wanted),
                              "status_read_at": now, "intent": None, "intent_at": None})
                continue
            code = _error_code(error)
            self._outcome(row, row["email"], code, str(error))
            self.report.add("failed")
            if error.answered:  # refused: nothing changed in Mailchimp
                values = {"subscriber_hash": row["subscriber_hash"], "intent": None, "intent_at": None}
                if error.not_found:
                    values.update(status=lc.ABSENT, ownership=lc.NO_MEMBER, status_origin=None)
                elif code == "compliance_state":  # the opt-out is the person's: never the project's
                    values.update(status_origin=lc.MAILCHIMP)
                saved.append(values)
            # otherwise the answer was lost: the intent stays and the next run reads it back
        for group in _split(saved):
            await self._save(group, [k for k in group[0] if k != "subscriber_hash"])

    async def _patch_all(self, calls: list[tuple[str, dict[str, Any]]]
                         ) -> list[tuple[dict[str, Any] | None, PatchError | None]]:
        """PATCH each member (email, body) through `/batches`, ≤500 operations a batch: the member
        Mailchimp answered, or why not."""
        if not calls:
            return []
        operations = [member_patch_op(self.audience_id, email, **_patch_fields(body))
                      for email, body in calls]
        results = await self.client.batch_operations(operations, chunk_size=self.batch_size)
        return [(r.body if isinstance(r.body, dict) else {}, None) if r.ok else (None, PatchError.of(r))
                for r in results]

    # -- managed tags ----------------------------------------------------------------------------
    async def tags(self, adds: pd.DataFrame, removes: pd.DataFrame, current: dict[str, set[str]]) -> None:
        """Managed tags as static-segment add/remove batches (≤500 emails a call)."""
        adds = adds[~adds["subscriber_hash"].isin(self.absent)] if len(adds) else adds
        removes = removes[~removes["subscriber_hash"].isin(self.absent)] if len(removes) else removes
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
                kept = touched.setdefault(h, set(current.get(h, set())))
                kept -= {t for t in kept if t.casefold() == tag.casefold()}
        await self._save([{"subscriber_hash": h, "managed_tags": sorted(t)} for h, t in touched.items()],
                         ["managed_tags"])

    async def _segment_ids(self, tags: list[str]) -> dict[str, int]:
        """The static segment (tag) id of each tag from ONE listing of the audience's static
        segments — the exact name, else the same name ignoring case; tags not found go through
        `ensure_static_segment`, which looks again and creates them safely."""
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
            self.report.add("failed")
            failed.add(error.email.lower())
        self.report.add("tags_added", len(result.added))
        self.report.add("tags_removed", len(result.removed))
        # Mailchimp reports only the emails it changed: one already in (or already out of) the
        # segment — e.g. moved by a run killed before it recorded the move — is not reported, yet
        # the move is done. So every email not refused is done.
        return (tag, [e for e in add if e.lower() not in failed],
                [e for e in remove if e.lower() not in failed])


@dataclass(frozen=True)
class PatchError:
    """Why a member PATCH did not succeed: Mailchimp's refusal (`status` 4xx) or no answer
    (`status` 0 or 5xx: the write may or may not have happened)."""

    status: int
    title: str
    detail: str

    @classmethod
    def of(cls, result: OperationResult) -> PatchError:
        """From a `/batches` operation result."""
        problem = result.problem or {}
        return cls(result.status_code, str(problem.get("title") or ""), str(problem.get("detail") or ""))

    @property
    def answered(self) -> bool:
        """True when Mailchimp refused (nothing changed); False when the answer is unknown."""
        return 400 <= self.status < 500 and self.status != 429

    @property
    def not_found(self) -> bool:
        """Mailchimp does not hold the member."""
        return self.status == 404

    def __str__(self) -> str:
        return f"{self.status} {self.title}: {self.detail}".strip(": ")


def _patch_fields(body: dict[str, Any]) -> dict[str, Any]:
    allowed = ("merge_fields", "email_address", "status")
    return {k: v for k, v in body.items() if k in allowed}


def _error_code(error: PatchError | None) -> str:
    if error is None:
        return "other"
    if not error.answered:
        return "request_failed"
    return classify_row_error(error.title, error.detail)


def _split(rows: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Rows grouped by the set of columns they carry (one upsert per column set)."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(sorted(row)), []).append(row)
    return list(groups.values())


async def push_audience(client: MailchimpClient, engine: Engine, org_id: str, audience_id: str,
                        plan: AudiencePlan, state: pd.DataFrame, *, batch_size: int = 500,
                        existing_members: str = "update",
                        new_member_tags: Sequence[str] = (),
                        withdrawn: frozenset[str] = frozenset()) -> PushReport:
    """Apply `plan` to one audience (its resolved `state` gives the members' current tags);
    `new_member_tags` go to the members this push creates (`effects.new_member_tags`);
    `withdrawn`: the context's members whose address's consent was withdrawn (A3, A4)."""
    pusher = AudiencePusher(client, engine, org_id, audience_id, batch_size=batch_size)
    refused = await pusher.change_addresses(plan.email_changes, state)
    creates = plan.creates
    if len(refused):
        creates = pd.concat([creates, refused[list(creates.columns)]], ignore_index=True)
    await pusher.create(creates)
    linked = pusher.link_updates(existing_members)
    updates = plan.updates
    if len(linked):
        updates = pd.concat([updates, linked[list(updates.columns)]], ignore_index=True)
    unsubscribes = plan.unsubscribes
    if len(refused):  # the old member leaves as on any exit: a linked one only when withdrawn (B3)
        gone = state["subscriber_hash"].isin(withdrawn)
        old = state[state["subscriber_hash"].isin(refused["old_hash"])
                    & state["status"].isin(list(lc.MAILABLE))
                    & ((state["ownership"] == lc.CREATED) | (gone & (state["ownership"] == lc.LINKED)))]
        explicit = old["subscriber_hash"].isin(withdrawn)
        unsubscribes = pd.concat([unsubscribes, old[["subscriber_hash", "contact_id", "email"]].assign(
            reason=explicit.map({True: "consent_withdrawn", False: "email_changed"}),
            explicit=explicit)], ignore_index=True)
    await _updates_and_unsubscribes(pusher, updates, unsubscribes, state)
    await pusher.change_status(plan.resubscribes, lambda r: r["status"], state)
    current = tags_by_hash(state, plan)
    if len(plan.email_changes):  # a member that moved keeps its managed tags (B10)
        held = tags_by_hash(state[state["subscriber_hash"].isin(plan.email_changes["old_hash"])])
        for new, old in zip(plan.email_changes["subscriber_hash"], plan.email_changes["old_hash"], strict=True):
            current[new] = held.get(old, set())
    await pusher.tags(pusher.without_prior_tags(plan.tag_adds), plan.tag_removes, current)
    if new_member_tags:  # tags for the members this run creates, never existing ones
        await tag_new_members(pusher, creates, new_member_tags)
    return pusher.report


async def _updates_and_unsubscribes(pusher: AudiencePusher, updates: pd.DataFrame,
                                    unsubscribes: pd.DataFrame, state: pd.DataFrame) -> None:
    """Field updates, then unsubscribes — at the same time when no member is in both (the usual
    case: one stays, the other leaves), so their `/batches` jobs share Mailchimp's queue instead
    of the second waiting for the last answer of the first. A member in both keeps the order:
    each answer's status is then saved in the order Mailchimp gave it."""
    update = pusher.update(updates)  # coroutines: nothing runs until awaited
    unsubscribe = pusher.change_status(unsubscribes, lambda r: lc.UNSUBSCRIBED, state)
    if len(updates) and len(unsubscribes) and not set(updates["subscriber_hash"]).isdisjoint(
            unsubscribes["subscriber_hash"]):
        await update
        await unsubscribe
        return
    await asyncio.gather(update, unsubscribe)


def tags_by_hash(state: pd.DataFrame, plan: AudiencePlan | None = None) -> dict[str, set[str]]:
    """Managed tags per member (only the members whose tags the plan moves, when given: a dict
    for a whole million-member audience would cost seconds)."""
    if state.empty:
        return {}
    if plan is not None:
        moved = set(plan.tag_adds["subscriber_hash"]) | set(plan.tag_removes["subscriber_hash"])
        state = state[state["subscriber_hash"].isin(moved)]
    return {h: set(t or ()) for h, t in zip(state["subscriber_hash"], state["managed_tags"], strict=False)}
