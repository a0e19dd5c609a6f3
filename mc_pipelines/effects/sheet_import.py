"""Applies a spreadsheet import's plan (`sync.sheet_plan`) to Mailchimp and records the outcome.

Per audience: the creates go through the sync's own create (`effects.push.AudiencePusher.create`:
intents announced first, batch subscribe without `update_existing`, "already a member" read back
and linked, refusals parked — B5, C5); then the tag moves as static-segment adds/removes, only
for members Mailchimp holds (a create that did not land takes no tag, a member linked under
`existing_members=leave` neither). A moved tag is recorded in the member's state as one of its
own tags (`prior_tags`, `mailchimp_tags`), never as managed: the sync will not undo it (D1).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from sqlalchemy.engine import Engine

from mc_pipelines.effects.push import AudiencePusher
from mc_pipelines.mailchimp.endpoints import MailchimpClient
from mc_pipelines.store import member_state
from mc_pipelines.sync.sheet_plan import ImportPlan


@dataclass
class ImportReport:
    """What the import did: counts, per-row outcomes of failures (with contact ids), and for
    each planned create whether it was `created`, `linked` or `failed`."""

    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(
        ("created", "linked", "create_failed", "tags_added", "tags_removed", "tag_failed"), 0))
    failures: list[dict[str, Any]] = field(default_factory=list)
    created: dict[tuple[str, str], str] = field(default_factory=dict)  # (audience, hash) → outcome


async def apply_import(client: MailchimpClient, engine: Engine, org_id: str, plan: ImportPlan, *,
                       existing_members: str = "update", batch_size: int = 500) -> ImportReport:
    """Create and tag, audience by audience (see the module doc)."""
    report = ImportReport()
    audiences = sorted(set(plan.creates) | set(plan.moves["audience_id"] if len(plan.moves) else []))
    for audience in audiences:
        pusher = AudiencePusher(client, engine, org_id, audience, batch_size=batch_size)
        creates = plan.creates.get(audience, pd.DataFrame())
        await pusher.create(creates)
        for h in creates["subscriber_hash"] if len(creates) else []:
            outcome = ("linked" if h in pusher.linked else
                       "create_failed" if h in pusher.absent else "created")
            report.created[(audience, h)] = outcome
            report.counts[outcome] += 1
        moves = plan.moves[plan.moves["audience_id"] == audience] if len(plan.moves) else plan.moves
        skip = set(pusher.absent)
        if existing_members == "leave":
            skip |= set(pusher.linked)
        await _move_tags(pusher, moves[~moves["subscriber_hash"].isin(skip)] if len(moves) else moves,
                         report)
        report.failures += pusher.report.outcomes
    return report


async def _move_tags(pusher: AudiencePusher, moves: pd.DataFrame, report: ImportReport) -> None:
    if not len(moves):
        return
    tags = sorted(set(moves["tag"]))
    segment_ids = await pusher._segment_ids(tags)
    results = await asyncio.gather(*[pusher.client.update_segment_members(
        pusher.audience_id, segment_ids[t],
        add=moves.loc[(moves["tag"] == t) & moves["add"], "email"].tolist(),
        remove=moves.loc[(moves["tag"] == t) & ~moves["add"], "email"].tolist(),
        chunk_size=pusher.batch_size) for t in tags])
    rows = {(r["tag"], r["email"].lower()): r for r in moves.to_dict("records")}
    done: list[dict[str, Any]] = []
    for tag, result in zip(tags, results, strict=True):
        failed = {e.email.lower() for e in result.errors}
        for error in result.errors:
            row = rows.get((tag, error.email.lower()))
            pusher._outcome(row, error.email, "tag_failed", f"tag {tag!r}: {error.message}")
            report.counts["tag_failed"] += 1
        done += [r for (t, email), r in rows.items() if t == tag and email not in failed]
    report.counts["tags_added"] += sum(1 for r in done if r["add"])
    report.counts["tags_removed"] += sum(1 for r in done if not r["add"])
    await asyncio.to_thread(_record_tags, pusher, done)


def _record_tags(pusher: AudiencePusher, done: list[dict[str, Any]]) -> None:
    """The moved tags become (or stop being) the members' own tags in their state rows."""
    if not done:
        return
    hashes = sorted({r["subscriber_hash"] for r in done})
    current = member_state.lifecycle_rows(pusher.engine, pusher.org_id, pusher.audience_id, hashes,
                                          ["prior_tags", "mailchimp_tags"])
    by_hash: dict[str, list[dict[str, Any]]] = {}
    for r in done:
        by_hash.setdefault(r["subscriber_hash"], []).append(r)
    saved = []
    for h in hashes:
        if h not in current:
            continue
        prior = {t.casefold(): t for t in current[h]["prior_tags"] or []}
        seen = {t.casefold(): t for t in current[h]["mailchimp_tags"] or []}
        for r in by_hash[h]:
            key = r["tag"].casefold()
            for tags in (prior, seen):
                if r["add"]:
                    tags[key] = r["tag"]
                else:
                    tags.pop(key, None)
        saved.append({"audience_id": pusher.audience_id, "subscriber_hash": h,
                      "prior_tags": sorted(prior.values()), "mailchimp_tags": sorted(seen.values())})
    member_state.save_rows(pusher.engine, pusher.org_id, saved, ["prior_tags", "mailchimp_tags"])
