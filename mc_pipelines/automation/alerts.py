"""Alerts: a failed run and a failed asset check are posted to the alert webhook
(Slack-compatible JSON) by two sensors, on by default and silent while `MC_ALERT_WEBHOOK_URL` is
unset. Texts name the job, org, run, step and check with the failure's message — secrets masked
and email addresses replaced, never the webhook URL."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Sequence
from typing import Any

from dagster import (
    AssetCheckEvaluation,
    DagsterRun,
    DefaultSensorStatus,
    RunFailureSensorContext,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    run_failure_sensor,
    sensor,
)
from dagster._core.storage.asset_check_execution_record import (
    AssetCheckExecutionRecord,
    AssetCheckExecutionRecordStatus,
)

from mc_pipelines.automation.run_config import run_org
from mc_pipelines.resources import ALERT_WEBHOOK_URL_ENV, AlertWebhook, scrub

_EXCEPTION_PREFIX = re.compile(r"^\s*[\w.]+(Error|Failure|Exception):\s*")  # "pkg.Failure: why" -> "why"
MAX_LISTED = 20  # checks listed in one message; the rest are counted
MAX_MESSAGE = 500  # characters of one failure message
MAX_PER_CHECK = 200  # newest failed evaluations read per check and tick
GRACE_SECONDS = 120.0  # how far behind the tick the next one looks again (late-stored evaluations)


def _short(text: str | None) -> str:
    text = scrub(" ".join((text or "").split()))
    return text if len(text) <= MAX_MESSAGE else text[:MAX_MESSAGE - 1] + "…"


def slack_message(title: str, lines: Sequence[str], context: str) -> dict[str, Any]:
    """A Slack-compatible message: plain `text` (also what non-Slack receivers read) and blocks."""
    body = "\n".join(lines)
    return {
        "text": f"{title}\n{body}".strip(),
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": title[:150]}},
            {"type": "section", "text": {"type": "mrkdwn", "text": body[:3000] or "-"}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": context}]},
        ],
    }


def run_failure_message(run: DagsterRun, step_errors: Sequence[tuple[str | None, str | None]]) -> dict[str, Any]:
    """The alert of a failed run: job, org, run id and each failed step's message."""
    org = run_org(run) or "-"
    lines = [f"• `{step or 'run'}`: {_short(_EXCEPTION_PREFIX.sub('', message or '')) or 'no message'}"
             for step, message in step_errors]
    return slack_message(f"Run failed: {run.job_name} (org {org})",
                         lines or ["• the run failed before any step; see its logs in the Dagster UI"],
                         f"run `{run.run_id}` · mc_pipelines")


def check_failure_message(evaluations: Sequence[AssetCheckEvaluation]) -> dict[str, Any]:
    """The alert of failed asset checks: asset, check, partition (org), severity, description."""
    lines = [
        f"• {e.severity.value} `{e.asset_key.to_user_string()}` check `{e.check_name}`"
        f"{f' (org {e.partition})' if e.partition else ''}: {_short(e.description) or 'failed'}"
        for e in evaluations[:MAX_LISTED]
    ]
    if len(evaluations) > MAX_LISTED:
        lines.append(f"• and {len(evaluations) - MAX_LISTED} more")
    count = len(evaluations)
    return slack_message(f"{count} asset check{'s' if count != 1 else ''} failed", lines, "mc_pipelines")


@run_failure_sensor(
    name="run_failure_alert",
    default_status=DefaultSensorStatus.RUNNING,
    description=f"Posts every failed run of this code location to the alert webhook "
    f"({ALERT_WEBHOOK_URL_ENV}; unset: alerts off).",
)
def run_failure_alert(context: RunFailureSensorContext, alerts: AlertWebhook) -> SkipReason | None:
    """One message per failed run."""
    if not alerts.enabled:
        return SkipReason(f"alerts off: {ALERT_WEBHOOK_URL_ENV} is not set")
    steps = [(e.step_key, e.step_failure_data.error.message if e.step_failure_data.error else None)
             for e in context.get_step_failure_events()]
    if not steps and context.failure_event.message:
        steps = [(None, context.failure_event.message)]
    alerts.send(run_failure_message(context.dagster_run, steps))
    return None


def _failed_since(context: SensorEvaluationContext, after: float) -> list[AssetCheckExecutionRecord]:
    """Failed evaluations of the code location's checks evaluated after `after` (a timestamp),
    oldest first. Read from the check execution records, which every instance storage indexes
    (the event log of Dagster's default SQLite storage cannot be read across runs by cursor)."""
    if context.repository_def is None:
        return []
    found = [
        record
        for key in sorted(context.repository_def.asset_graph.asset_check_keys, key=str)
        for record in context.instance.event_log_storage.get_asset_check_execution_history(
            key, limit=MAX_PER_CHECK, status={AssetCheckExecutionRecordStatus.FAILED})
        if record.event is not None and record.event.timestamp > after
    ]
    return sorted(found, key=lambda r: (r.event.timestamp if r.event else 0.0, r.id))


def _evaluation(record: AssetCheckExecutionRecord) -> AssetCheckEvaluation | None:
    event = record.event.dagster_event if record.event is not None else None
    return event.asset_check_evaluation_data if event is not None else None


@sensor(
    name="check_failure_alert",
    minimum_interval_seconds=60,
    default_status=DefaultSensorStatus.RUNNING,
    description=f"Posts failed asset checks (ERROR and WARN) evaluated since its last tick to the "
    f"alert webhook ({ALERT_WEBHOOK_URL_ENV}; unset: alerts off).",
)
def check_failure_alert(context: SensorEvaluationContext, alerts: AlertWebhook) -> SensorResult:
    """One message per tick listing the checks that failed since the last tick.

    Cursor: `{"after": t, "seen": [ids]}` — evaluations after time `t` not yet alerted; `t` trails
    the tick by `GRACE_SECONDS`, so an evaluation stored late is still seen, and `seen` keeps it
    from being sent twice. The first tick starts now (no alert for history); a failed post raises
    and keeps the cursor, so the next tick posts again."""
    now = time.time()
    if context.cursor is None:
        return SensorResult(skip_reason="starting now: no alert for earlier evaluations",
                            cursor=json.dumps({"after": now, "seen": []}))
    state = json.loads(context.cursor)
    seen = set(state["seen"])
    recent = _failed_since(context, state["after"])
    new = [r for r in recent if r.id not in seen]
    after = max(state["after"], now - GRACE_SECONDS)
    cursor = json.dumps({"after": after, "seen": sorted(r.id for r in recent
                                                         if r.event is not None and r.event.timestamp > after)})
    failed = [ev for r in new if (ev := _evaluation(r)) is not None]
    if not failed:
        return SensorResult(skip_reason="no check failed since the last tick", cursor=cursor)
    if not alerts.send(check_failure_message(failed)):
        return SensorResult(skip_reason=f"{len(failed)} failed check(s); alerts off: "
                            f"{ALERT_WEBHOOK_URL_ENV} is not set", cursor=cursor)
    context.log.info(f"alerted {len(failed)} failed check(s)")
    return SensorResult(cursor=cursor)


ALERT_SENSORS = [run_failure_alert, check_failure_alert]
