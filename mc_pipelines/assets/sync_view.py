"""`audience_sync`'s outcome as a data engineer reads it in the Dagster UI: the status and the
problems first, then every count with its meaning, audiences by name, then the Mailchimp calls
and the samples (contact ids, masked addresses unless the team allows full ones)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pandas as pd
from dagster import MetadataValue

from mc_pipelines.assets.common import counts_legend, numbers, samples_markdown, table_metadata
from mc_pipelines.effects.audience_sync import AudienceOutcome
from mc_pipelines.effects.push import COUNTS
from mc_pipelines.sync import lifecycle as lc
from mc_pipelines.sync.batching import plan_calls
from mc_pipelines.sync.diff import PLAN_FRAMES
from mc_pipelines.sync.outcomes import OUTCOME_HINTS

#: What each count of a sync means (shown as `counts_explained`).
COUNT_MEANINGS: dict[str, str] = {
    "created": "new members the project subscribed (or proved its own on read-back)",
    "linked": "members already in the audience before the project, now matched to a contact",
    "updated": "members whose merge fields or address were brought up to date (no status sent)",
    "email_changed": "members whose address was changed in place after the app changed it",
    "email_change_refused": "address changes Mailchimp refused (old member unsubscribed, new created)",
    "unsubscribed": "members unsubscribed: consent withdrawn, contact deleted or left the audience",
    "resubscribed": "project-made unsubscribes re-subscribed after the app's new consent",
    "reconfirmation_requested": "Mailchimp-side opt-outs with new app consent: double opt-in asked",
    "tags_added": "managed tags added to members",
    "tags_removed": "managed tags removed from members",
    "failed": "rows whose write failed for a reason that may pass next run (retried next run)",
    "parked": "rows Mailchimp refused for their data (fake or invalid address, merge field, "
              "compliance state): not retried until the contact's data changes",
    "skipped": "rows the lifecycle contract leaves alone this run (see skipped[<reason>]); those "
               "whose reason needs a person are listed under problems",
}
SKIPPED_MEANING = "skipped rows with reason `{reason}`: {meaning}"
PLAN_MEANINGS: dict[str, str] = {
    **{f"planned_{name}": f"rows the plan would send as {name.replace('_', ' ')}" for name in PLAN_FRAMES},
    "planned_skipped": "rows the plan leaves alone (reasons in skipped_rows)",
    "planned_calls": "Mailchimp write calls the plan would take",
}
SKIPPED_COLUMNS = ["audience_id", "subscriber_hash", "contact_id", "email", "reason"]


class RunView:
    """One run's outcomes: totals, problems, skipped rows, the guard's figures and metadata."""

    def __init__(self, outcomes: list[AudienceOutcome], batch_size: int,
                 names: dict[str, str | None] | None = None, *, full_emails: bool = False) -> None:
        self.outcomes = outcomes
        self.batch_size = batch_size
        self.names = names or {}
        self.full_emails = full_emails
        reports = [o.report for o in outcomes if o.report is not None]
        self.totals = {k: sum(r.counts[k] for r in reports) for k in COUNTS}
        self.row_outcomes = [row for r in reports for row in r.outcomes]
        self.failed_audiences = [{"audience_id": o.audience_id, "contact_id": None, "email": None,
                                  "error_code": "audience_failed", "message": o.error}
                                 for o in outcomes if o.error]
        frames = [o.plan.skipped.assign(audience_id=o.audience_id) for o in outcomes
                  if o.plan is not None and len(o.plan.skipped)]
        self.skipped = (pd.concat(frames, ignore_index=True) if frames
                        else pd.DataFrame(columns=SKIPPED_COLUMNS))
        self.attempted = sum(o.plan.write_rows for o in outcomes if o.plan is not None)

    # -- problems -------------------------------------------------------------------------------
    def needs_a_person(self) -> pd.DataFrame:
        """Every row or audience a person must look at: refused and failed writes, rows skipped
        for a reason in `lifecycle.NEEDS_A_PERSON`, audiences that could not be synced."""
        skipped = self.skipped[self.skipped["reason"].isin(list(lc.NEEDS_A_PERSON))]
        rows = [{"audience_id": r["audience_id"], "contact_id": r["contact_id"], "reason": r["reason"],
                 "why": lc.REASONS.get(r["reason"], "")} for r in skipped.to_dict("records")]
        rows += [{"audience_id": r["audience_id"], "contact_id": r.get("contact_id"),
                  "reason": r["error_code"], "why": OUTCOME_HINTS.get(r["error_code"], r.get("message") or "")}
                 for r in self.row_outcomes + self.failed_audiences]
        return pd.DataFrame(rows, columns=["audience_id", "contact_id", "reason", "why"])

    def problem_count(self) -> int:
        """Rows and audiences that need attention (the sync is `partial` when any)."""
        return len(self.needs_a_person())

    def status(self) -> str:
        """`success`, or `partial` when something needs a person."""
        return "success" if not self.problem_count() else "partial"

    def failed_rows(self) -> int:
        """Rows whose write was refused or failed (recorded in `sync_errors`)."""
        return sum(1 for r in self.row_outcomes if r.get("contact_id") is not None)

    def held(self) -> list[dict[str, Any]]:
        """The guard's figures of each audience whose unsubscribes were held back."""
        return [{"audience_id": o.audience_id, "audience": self.name(o.audience_id), **o.plan.guard}
                for o in self.outcomes if o.plan is not None and o.plan.guard.get("held")]

    def name(self, audience_id: str) -> str:
        """The audience's name as Mailchimp shows it, with its id."""
        name = self.names.get(audience_id)
        return f"{name} ({audience_id})" if name else audience_id

    # -- metadata -------------------------------------------------------------------------------
    def _problems_markdown(self) -> MetadataValue:
        problems = self.needs_a_person()
        if problems.empty:
            return MetadataValue.md("_none_")
        lines = [f"{len(problems)} rows or audiences need a person (the sync is `partial`):"]
        for reason, group in problems.groupby("reason", sort=True):
            ids = [str(int(i)) for i in group["contact_id"].dropna().tolist()[:20]]
            more = f" … and {len(group) - len(ids)} more" if len(group) > len(ids) and ids else ""
            who = f": contacts {', '.join(ids)}{more}" if ids else ""
            audiences = ", ".join(sorted({self.name(a) for a in group["audience_id"]}))
            lines.append(f"- **{len(group)} x {reason}** — {group['why'].iloc[0]} (in {audiences}){who}")
        return MetadataValue.md("\n".join(lines))

    def _audiences(self, planned: bool) -> MetadataValue:
        rows = []
        for o in self.outcomes:
            row: dict[str, Any] = {"audience": self.names.get(o.audience_id) or "", "audience_id": o.audience_id,
                                   "error": o.error, "frozen": o.frozen,
                                   "read_back": o.readback.read if o.readback else 0}
            if planned and o.plan is not None:
                row.update({name: len(getattr(o.plan, name)) for name in PLAN_FRAMES})
            elif o.report is not None:
                row.update({k: v for k, v in o.report.counts.items() if v})
            rows.append(row)
        return MetadataValue.json(rows)

    def _skipped_counts(self) -> dict[str, int]:
        reasons = Counter(self.skipped["reason"].tolist()) if len(self.skipped) else Counter()
        return {f"skipped[{r}]": n for r, n in sorted(reasons.items())}

    def metadata(self) -> dict[str, MetadataValue]:
        """A real run's metadata: status and problems first, then what was done."""
        skipped = self._skipped_counts()
        return {
            "status": MetadataValue.text(self.status()),
            "problems": self._problems_markdown(),
            **numbers({**self.totals, "skipped": len(self.skipped), **skipped}),
            "counts_explained": counts_legend({
                **COUNT_MEANINGS,
                **{k: SKIPPED_MEANING.format(reason=k[8:-1], meaning=lc.REASONS.get(k[8:-1], ""))
                   for k in skipped}}),
            "audiences": self._audiences(planned=False),
            "error_samples": samples_markdown(self.row_outcomes + self.failed_audiences,
                                              full_emails=self.full_emails),
            "skipped_rows": self.skipped_rows(),
        }

    def plan_metadata(self) -> dict[str, MetadataValue]:
        """A dry run's metadata: the plan (what a real run would send), never a synced state."""
        calls = sum(plan_calls(o.plan, self.batch_size).total for o in self.outcomes if o.plan)
        planned = {f"planned_{k}": sum(len(getattr(o.plan, k)) for o in self.outcomes if o.plan)
                   for k in PLAN_FRAMES}
        held = self.held()
        return {
            "dry_run": MetadataValue.bool(True),
            "note": MetadataValue.text("dry run: the plan only; nothing was written in Mailchimp or "
                                       "the application, and the org's synced state is unchanged"),
            "problems": self._problems_markdown(),
            "guard": MetadataValue.text(
                "no audience would lose too many members" if not held else
                "; ".join(f"{h['audience']}: {h['non_explicit_unsubscribes']} unsubscribes would be held "
                          f"back of {h['subscribed']} subscribed" for h in held)),
            **numbers({**planned, "planned_calls": calls}),
            "counts_explained": counts_legend(PLAN_MEANINGS),
            "audiences": self._audiences(planned=True),
            "skipped_rows": self.skipped_rows(),
        }

    def skipped_rows(self) -> MetadataValue:
        """The first skipped rows with contact ids and reasons."""
        return table_metadata(self.skipped, ["audience_id", "contact_id", "email", "reason"],
                              limit=25, full_emails=self.full_emails)
