"""Whether a sync settled its org: with the inputs it saw, a next sync would have nothing to do.

Proved, never assumed: either this sync's own plan was empty and the member state is what that
plan was computed from, or the org is planned again (a dry plan, nothing sent) from the state the
push left, and that plan is empty. The answer is the fingerprint of that state
(`store.settled`), taken before the state it covers is read.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import pandas as pd
from sqlalchemy.engine import Engine

from mc_pipelines.effects.audience_sync import AudienceOutcome, SyncSettings, sync_org
from mc_pipelines.effects.readback import needs_read
from mc_pipelines.mailchimp.endpoints import MailchimpClient
from mc_pipelines.store import member_state, settled
from mc_pipelines.sync.diff import standing_plan
from mc_pipelines.sync.scope import SyncScope

#: Skipped rows that wait for something other than the inputs (an answer from Mailchimp).
WAITING = frozenset({"status_unknown"})


def leaves_nothing_to_do(outcomes: Sequence[AudienceOutcome]) -> bool:
    """Every audience planned, nothing read back, no write planned, no row waiting for a retry
    and no unsubscribe held by the guard (those wait for a person's override, and each sync fails
    its blocking check again); the skipped rows that remain are the same for the same inputs
    (archived, parked…)."""
    return all(
        o.error is None and o.plan is not None and o.plan.is_empty and not o.plan.guard.get("held")
        and not o.plan.skipped["reason"].isin(list(WAITING)).any()
        and (o.readback is None or (o.readback.read == 0 and o.readback.unanswered == 0))
        for o in outcomes)


def listing(outcomes: Sequence[AudienceOutcome]) -> list[dict[str, Any]]:
    """What an empty plan lists, per audience, without addresses: the rows it leaves alone
    (contact id, subscriber hash, reason), why the audience is frozen, the guard's figures."""
    return [{"audience_id": o.audience_id, "frozen": o.frozen, "guard": o.plan.guard if o.plan else {},
             "skipped": [{"subscriber_hash": r["subscriber_hash"], "reason": r["reason"],
                          "contact_id": None if pd.isna(r["contact_id"]) else int(r["contact_id"])}
                         for r in (o.plan.skipped.to_dict("records") if o.plan else [])]}
            for o in outcomes]


def standing_outcomes(listed: Sequence[Mapping[str, Any]]) -> list[AudienceOutcome]:
    """The outcomes of a sync that finds the org settled: the settling plan's `listing` again,
    nothing written."""
    return [AudienceOutcome(a["audience_id"], frozen=a.get("frozen"), plan=standing_plan(
        a["audience_id"], pd.DataFrame(a["skipped"], columns=["subscriber_hash", "contact_id", "reason"]),
        a.get("guard"))) for a in listed]


async def settled_state(client: MailchimpClient, engine: Engine, org_id: str, desired: pd.DataFrame,
                        scope: SyncScope, settings: SyncSettings,
                        merge_field_map: Mapping[str, str | None] | None, source_columns: object,
                        outcomes: Sequence[AudienceOutcome], state_before: str | None
                        ) -> tuple[str, list[dict[str, Any]]] | None:
    """The fingerprint of the member state from which the org's plan is empty after this sync's
    push, and that plan's `listing`; None when it is not empty (or on SQLite). `state_before`:
    the state's fingerprint taken before this sync read it."""
    if state_before is None or any(o.error for o in outcomes):
        return None
    before_replan = settled.state_fingerprint(engine, org_id)
    if leaves_nothing_to_do(outcomes) and before_replan == state_before:
        return before_replan, listing(outcomes)  # planned from the state as it still is
    state = member_state.load_state(engine, org_id, columns=member_state.DIFF_COLUMNS)
    if needs_read(state).any():  # answers still to read: the next sync reads them back
        return None
    again = await sync_org(client, engine, org_id, desired, state, scope, replace(settings, dry_run=True),
                           merge_field_map, source_columns)
    return (before_replan, listing(again)) if before_replan and leaves_nothing_to_do(again) else None
