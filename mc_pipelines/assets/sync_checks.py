"""The asset checks on every `audience_sync` materialization, evaluated from the run's outcome and
emitted with it (`MaterializeResult.check_results`), so each result belongs to the
materialization of the same run:

- `mass_unsubscribe_guard` (ERROR, **blocking**): the run held back unsubscribes that would remove
  too large a share of an audience's subscribed members for reasons other than consent
  withdrawal (LIFECYCLE C4; the guard itself is `lifecycle.GuardSettings`, applied in `diff.py`).
- `failed_row_rate` (WARN): refused or failed writes above `max_failed_row_rate` of the rows the
  run tried to write.
- `rows_need_a_person` (WARN): any row parked, refused or skipped for a reason a person must act
  on (`lifecycle.NEEDS_A_PERSON`), or an audience that could not be synced; contact ids in the
  metadata. A `partial` sync is never green.
"""

from __future__ import annotations

from dagster import AssetCheckResult, AssetCheckSeverity, AssetCheckSpec, MetadataValue

from mc_pipelines.assets.sync_view import RunView
from mc_pipelines.partitions import org_partitions

ASSET = "audience_sync"
GUARD_CHECK = "mass_unsubscribe_guard"
FAILED_ROWS_CHECK = "failed_row_rate"
NEEDS_A_PERSON_CHECK = "rows_need_a_person"
DEFAULT_MAX_FAILED_ROW_RATE = 0.01

SYNC_CHECK_SPECS = [
    AssetCheckSpec(
        GUARD_CHECK, asset=ASSET, blocking=True, partitions_def=org_partitions,
        description="Fails (ERROR, blocking) when the run held back unsubscribes because they would "
        "remove more than the allowed fraction of an audience's subscribed members for reasons "
        "other than consent withdrawal (a segment emptied, contacts deleted). Re-run with "
        "`allow_mass_unsubscribe` to send them."),
    AssetCheckSpec(
        FAILED_ROWS_CHECK, asset=ASSET, partitions_def=org_partitions,
        description="Warns when more than `max_failed_row_rate` (default "
        f"{DEFAULT_MAX_FAILED_ROW_RATE:.0%}) of the rows the run tried to write were refused by "
        "Mailchimp or failed (per-row outcomes in sync_errors)."),
    AssetCheckSpec(
        NEEDS_A_PERSON_CHECK, asset=ASSET, partitions_def=org_partitions,
        description="Warns when any row was parked, refused, failed or skipped for a reason a person "
        "must act on (opted out in Mailchimp with new app consent, address moved in Mailchimp, "
        "held by the guard, status unreadable), or an audience could not be synced; lists the "
        "contact ids."),
]


def guard_result(view: RunView) -> AssetCheckResult:
    """The mass-unsubscribe guard: fails naming the held counts per audience."""
    held = view.held()
    figures = [{"audience_id": o.audience_id, "audience": view.name(o.audience_id), **o.plan.guard}
               for o in view.outcomes if o.plan]
    description = ("no audience would lose too many members" if not held else
                   "; ".join(f"{_named(view, h['audience_id'])}: {h['non_explicit_unsubscribes']} "
                             f"unsubscribes held back of {h['subscribed']} subscribed members" for h in held)
                   + " — re-run with allow_mass_unsubscribe to send them")
    return AssetCheckResult(
        check_name=GUARD_CHECK, asset_key=ASSET, passed=not held, severity=AssetCheckSeverity.ERROR,
        description=description,
        metadata={"held_unsubscribes": MetadataValue.int(sum(h["non_explicit_unsubscribes"] for h in held)),
                  "audiences": MetadataValue.json(figures)})


def _named(view: RunView, audience_id: str) -> str:
    """`<name> — audience <id>` (the id as the guard always named it)."""
    name = view.names.get(audience_id)
    return f"{name} — audience {audience_id}" if name else f"audience {audience_id}"


def failed_rows_result(view: RunView, max_rate: float) -> AssetCheckResult:
    """Refused or failed writes as a share of the rows the run tried to write."""
    failed, attempted = view.failed_rows(), view.attempted
    rate = failed / attempted if attempted else 0.0
    return AssetCheckResult(
        check_name=FAILED_ROWS_CHECK, asset_key=ASSET, passed=rate <= max_rate,
        severity=AssetCheckSeverity.WARN,
        description=(f"{failed} of {attempted} rows written were refused or failed ({rate:.1%}; "
                     f"warns above {max_rate:.1%}); see error_samples and sync_errors"),
        metadata={"failed_row_rate": MetadataValue.float(round(rate, 4)),
                  "failed_rows": MetadataValue.int(failed),
                  "rows_attempted": MetadataValue.int(attempted),
                  "threshold": MetadataValue.float(max_rate)})


def needs_a_person_result(view: RunView) -> AssetCheckResult:
    """Rows and audiences a person must act on, with contact ids and reasons."""
    problems = view.needs_a_person()
    ids = sorted({int(i) for i in problems["contact_id"].dropna().tolist()})
    by_reason = problems.groupby("reason").size().to_dict() if len(problems) else {}
    description = ("nothing needs a person" if problems.empty else
                   f"{len(problems)} rows or audiences need a person: "
                   + ", ".join(f"{n} {r}" for r, n in sorted(by_reason.items())))
    return AssetCheckResult(
        check_name=NEEDS_A_PERSON_CHECK, asset_key=ASSET, passed=problems.empty,
        severity=AssetCheckSeverity.WARN, description=description,
        metadata={"rows": MetadataValue.int(len(problems)),
                  "contact_ids": MetadataValue.json(ids[:500]),
                  "by_reason": MetadataValue.json({r: int(n) for r, n in by_reason.items()}),
                  "failed_audiences": MetadataValue.json([a["audience_id"] for a in view.failed_audiences])})


def sync_check_results(view: RunView, max_failed_row_rate: float) -> list[AssetCheckResult]:
    """Every check of a real run, guard first."""
    return [guard_result(view), failed_rows_result(view, max_failed_row_rate), needs_a_person_result(view)]
