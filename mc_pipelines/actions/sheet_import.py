"""The spreadsheet import (issue 16, item 3): an edited contacts export back into Mailchimp.

Shared by the `spreadsheet_import` Dagster job, `mc-pipelines import` and the control API.

1. The whole file is read (bounded: bytes, rows, columns) and validated (`sync.sheet_rows`)
   before anything else: a file that cannot be used as a whole is refused naming the fix, and
   nothing is read from Mailchimp nor written anywhere.
2. Mailchimp-side changes are pulled first (the incremental member-status pull: opt-outs withdraw
   consent, archived members are adopted), and members whose last write lost its answer are read
   back — as before every sync, so the plan rests on statuses just read.
3. The cohort and desired state are built as the sync builds them (consent gate, segments, the
   merge-field map), the sheet's members are read from Mailchimp (status and tags, one paged
   scan per audience) and the audience's tags listed; the plan is pure (`sync.sheet_plan`).
4. Unless a dry run, the plan is applied (`effects.sheet_import`), the run and its failed rows
   recorded (`sync_runs` kind `sheet_import`, `sync_errors` with contact ids) and audited.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy.engine import Engine

from mc_pipelines.effects.audience_tags import audience_tags
from mc_pipelines.effects.member_tags import read_tags
from mc_pipelines.effects.pull import pull_member_status
from mc_pipelines.effects.readback import read_member, resolve
from mc_pipelines.effects.sheet_import import ImportReport, apply_import
from mc_pipelines.effects.workbook import MAX_BYTES, MAX_ROWS, read_workbook
from mc_pipelines.errors import OperationError
from mc_pipelines.mailchimp.endpoints import MailchimpClient
from mc_pipelines.mailchimp.runner import run_sync
from mc_pipelines.store import audit, member_state, runs
from mc_pipelines.store.connections import Connection, require_active_connection
from mc_pipelines.store.contacts import read_live_contacts
from mc_pipelines.store.segments import active_segments, org_audiences
from mc_pipelines.sync.app_tags import managed_tags_by_audience
from mc_pipelines.sync.cohort import build_cohort
from mc_pipelines.sync.desired import desired_members
from mc_pipelines.sync.emails import normalise_emails, subscriber_hashes
from mc_pipelines.sync.scope import sync_scope
from mc_pipelines.sync.segments import segment_membership
from mc_pipelines.sync.sheet_plan import (
    OUTCOME_COLUMNS,
    REASONS,
    ImportContext,
    ImportPlan,
    plan_import,
)
from mc_pipelines.sync.sheet_rows import SheetRows, validate_sheet

ClientFactory = Callable[[Connection], MailchimpClient]
#: Up to this many rows per audience, the sheet's members are read one GET each (cheaper than
#: paging through a large audience); above, by one paged scan of the audience.
PER_MEMBER_READS = 1_000


@dataclass
class ImportOutcome:
    """The plan (and, unless a dry run, what was done) of one import; ids only in `audit_detail`."""

    org_id: str
    dry_run: bool
    sheet: SheetRows
    plan: ImportPlan
    report: ImportReport | None = None
    run_id: str | None = None
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def outcomes(self) -> pd.DataFrame:
        """One row per sheet row: the plan's outcome (after the push: `created`, `linked` or
        `create_failed` for creates), malformed rows as `ignored`, ordered by row number."""
        planned = self.plan.outcomes.copy()
        if self.report is not None and len(planned):
            hashes = dict(zip(self.sheet.rows["row"], self.sheet.rows["subscriber_hash"], strict=True))
            planned["outcome"] = [
                self.report.created.get((a, hashes.get(r)), o) if o == "create" else o
                for r, a, o in zip(planned["row"], planned["audience_id"], planned["outcome"],
                                   strict=True)]
        malformed = self.sheet.malformed.assign(audience_id=None, outcome="ignored",
                                                tags_added=[[]] * len(self.sheet.malformed),
                                                tags_removed=[[]] * len(self.sheet.malformed))
        frames = [f.astype(object) for f in (planned, malformed[list(planned.columns)]) if len(f)]
        if not frames:
            return planned
        return pd.concat(frames, ignore_index=True).sort_values("row", ignore_index=True)

    def summary(self) -> dict[str, Any]:
        """Counts, per-row outcomes (`OUTCOME_COLUMNS`, None for a missing value), the tag
        columns ignored per audience and the invalid-cell samples: what the job and the control
        API return (row numbers and contact ids, no address)."""
        rows = self.outcomes
        return {"counts": self.counts, "ignored_columns": self.plan.ignored_columns,
                "invalid_samples": self.sheet.invalid_samples, "run_id": self.run_id,
                "outcomes": rows[list(OUTCOME_COLUMNS)].astype(object).where(rows.notna(), None)
                .to_dict("records")}

    def audit_detail(self) -> dict[str, Any]:
        """Counts and ids only (no address)."""
        return {"run_id": self.run_id, "dry_run": self.dry_run, **self.counts}


def load_sheet(path: str | Path, *, max_rows: int = MAX_ROWS, max_bytes: int = MAX_BYTES) -> SheetRows:
    """Read and validate a sheet (raises a FixableError naming the fix when it cannot be used)."""
    return validate_sheet(read_workbook(path, max_rows=max_rows, max_bytes=max_bytes))


def import_sheet(engine: Engine, client_for: ClientFactory, org_id: str, path: str | Path, *,
                 actor: str, dry_run: bool = False, max_rows: int = MAX_ROWS,
                 max_bytes: int = MAX_BYTES, dagster_run_id: str | None = None) -> ImportOutcome:
    """Import an edited contacts export for the org (see the module doc)."""
    connection = require_active_connection(engine, org_id)
    sheet = load_sheet(path, max_rows=max_rows, max_bytes=max_bytes)

    async def run() -> tuple[ImportPlan, ImportReport | None]:
        async with client_for(connection) as client:
            return await _plan_and_apply(client, engine, connection, sheet, dry_run)

    plan, report = run_sync(run())
    outcome = ImportOutcome(org_id, dry_run, sheet, plan, report)
    outcome.counts = {**plan.counts, "rows": len(sheet.rows) + len(sheet.malformed),
                      "malformed_rows": len(sheet.malformed), "invalid_cells": sheet.invalid_cells,
                      **(report.counts if report else {})}
    if not dry_run:
        _record(engine, org_id, outcome, actor, dagster_run_id)
    return outcome


async def _plan_and_apply(client: MailchimpClient, engine: Engine, connection: Connection,
                          sheet: SheetRows, dry_run: bool) -> tuple[ImportPlan, ImportReport | None]:
    org_id, default = connection.org_id, str(connection.audience_id)
    segments = active_segments(engine, org_id)
    configured = org_audiences(connection, segments)
    await pull_member_status(client, engine, org_id, configured, dry_run=dry_run, required=[default])
    contacts = read_live_contacts(engine, org_id)
    cohort = build_cohort(contacts).cohort
    membership, summary = segment_membership(cohort, segments, default)
    try:
        desired = desired_members(
            cohort, membership, default, connection.merge_fields or None,
            app_tag_prefix=connection.app_tag_prefix if connection.push_app_tags else None)
    except ValueError as exc:
        raise OperationError(f"{exc}: fix the org's merge-field map (nothing was imported)") from None
    state = member_state.load_state(engine, org_id, columns=member_state.DIFF_COLUMNS)
    scope = sync_scope(default, summary, pd.unique(state["audience_id"]).tolist())
    wanted = {a or default for a in sheet.rows["audience_id"]} & set(scope.audiences)
    resolved = [await resolve(client, engine, org_id, a, state[state["audience_id"] == a],
                              dry_run=dry_run) for a in sorted(wanted)]
    state = pd.concat([state[~state["audience_id"].isin(wanted)], *(s for s, _ in resolved)],
                      ignore_index=True)
    members: dict[tuple[str, str], tuple[str, list[str]]] = {}
    for audience in sorted(wanted):
        members.update(await _read_members(client, audience, sheet.rows, default))
    ctx = ImportContext(
        default_audience=default, audiences=scope.audiences,
        contacts=pd.DataFrame({"contact_id": contacts["id"],
                               "subscriber_hash": subscriber_hashes(normalise_emails(contacts["email"])),
                               "marketing_consent": contacts["marketing_consent"]}),
        desired=desired, state=state, members=members,
        defined_tags=await audience_tags(client, sorted(wanted)),
        managed_tags=managed_tags_by_audience(segments, default),
        app_tag_prefix=connection.app_tag_prefix if connection.push_app_tags else None,
        existing_members=connection.existing_members)
    plan = plan_import(sheet.rows, ctx)
    if dry_run:
        return plan, None
    return plan, await apply_import(client, engine, org_id, plan,
                                    existing_members=connection.existing_members)


async def _read_members(client: MailchimpClient, audience: str, rows: pd.DataFrame,
                        default: str) -> dict[tuple[str, str], tuple[str, list[str]]]:
    """(audience, hash) → (status, tag names) of the sheet's members Mailchimp holds there: one
    GET per member for a small sheet (archived members included), else one paged scan of the
    audience (archived members aside: the state, which the pull keeps, knows them)."""
    mine = rows[(rows["audience_id"].replace("", default)) == audience]
    if len(mine) <= PER_MEMBER_READS:
        answers = await asyncio.gather(*[read_member(client, audience, e) for e in mine["email"]])
        return {(audience, h): (str(m.get("status")), [str(t.get("name")) for t in m.get("tags") or []])
                for h, (m, _answered) in zip(mine["subscriber_hash"], answers, strict=True)
                if m is not None}
    hashes = set(mine["subscriber_hash"])
    found: dict[tuple[str, str], tuple[str, list[str]]] = {}

    def keep(page) -> None:
        found.update({(audience, m.subscriber_hash): (m.status, list(m.tags))
                      for m in page if m.subscriber_hash in hashes})

    await read_tags(client, audience, keep)
    return found


def _record(engine: Engine, org_id: str, outcome: ImportOutcome, actor: str,
            dagster_run_id: str | None) -> None:
    run_id = runs.start_run(engine, org_id, kind="sheet_import", dry_run=False,
                            dagster_run_id=dagster_run_id)
    outcome.run_id = run_id
    failures = list(outcome.report.failures if outcome.report else [])
    runs.record_errors(engine, run_id, org_id, failures)
    runs.finish_run(engine, run_id, status="partial" if failures else "success",
                    summary=outcome.counts, org_id=org_id)
    with engine.begin() as conn:
        audit.record(conn, org_id=org_id, actor=actor, action="sheet_import",
                     detail=outcome.audit_detail())


def describe(reason: str) -> str:
    """The sentence explaining a skip/ignore reason of an outcome row."""
    return REASONS.get(reason, reason)
