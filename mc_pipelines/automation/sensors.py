"""Sensors: org partitions follow the connections table, and "Sync now" requests become runs.

Both read the application database through the `app_db` resource and are idempotent: evaluating
them twice in a row changes nothing the second time.
"""

import hashlib
from collections import defaultdict
from typing import Any

from dagster import (
    DefaultSensorStatus,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    sensor,
)
from sqlalchemy.engine import Engine

from mc_pipelines.automation.alerts import ALERT_SENSORS
from mc_pipelines.automation.jobs import audience_sync_job
from mc_pipelines.automation.run_config import org_tags
from mc_pipelines.partitions import ORG_PARTITIONS_NAME, org_partitions
from mc_pipelines.resources import AppDatabase
from mc_pipelines.store import audit, connections, requests

SENSOR_ACTOR = "sensor:sync_requests_sensor"


def active_orgs_cursor(org_ids: list[str]) -> str:
    """A short, stable cursor for a set of active orgs (order does not matter)."""
    return hashlib.sha256("\n".join(sorted(org_ids)).encode()).hexdigest()[:16]


@sensor(
    name="org_partitions_sensor",
    minimum_interval_seconds=60,
    default_status=DefaultSensorStatus.RUNNING,
    description=(
        "Keeps the `orgs` dynamic partitions equal to the orgs whose Mailchimp connection is "
        "active (connected and enabled): adds a partition on connect/enable, removes it on "
        "disconnect/disable. Cursor: a hash of the active org set."
    ),
)
def org_partitions_sensor(context: SensorEvaluationContext, app_db: AppDatabase) -> SensorResult:
    """Add partitions for newly active orgs and delete those of orgs no longer active."""
    desired = set(connections.active_org_ids(app_db.engine))
    existing = set(context.instance.get_dynamic_partitions(ORG_PARTITIONS_NAME))
    to_add, to_delete = sorted(desired - existing), sorted(existing - desired)
    cursor = active_orgs_cursor(sorted(desired))
    if not to_add and not to_delete:
        return SensorResult(skip_reason=f"{len(desired)} org partition(s) already match the active "
                            "connections", cursor=cursor)
    context.log.info(f"org partitions: adding {to_add}, removing {to_delete}")
    partition_requests: list[Any] = []
    if to_add:
        partition_requests.append(org_partitions.build_add_request(to_add))
    if to_delete:
        partition_requests.append(org_partitions.build_delete_request(to_delete))
    return SensorResult(dynamic_partitions_requests=partition_requests, cursor=cursor)


def _skip_request(engine: Engine, request: dict[str, Any], reason: str) -> None:
    requests.mark_consumed(engine, request["id"], None)
    with engine.begin() as conn:
        audit.record(conn, org_id=request["org_id"], actor=SENSOR_ACTOR, action="sync_request_skipped",
                     detail={"request_id": request["id"], "reason": reason})


@sensor(
    name="sync_requests_sensor",
    job=audience_sync_job,
    minimum_interval_seconds=30,
    default_status=DefaultSensorStatus.RUNNING,
    description=(
        "Turns the application's \"Sync now\" requests (`sync_requests` rows) into one audience "
        "sync run per org, run_key = the org's oldest pending request id. Requests of orgs that "
        "are not connected or are disabled are consumed without a run, with an audit entry."
    ),
)
def sync_requests_sensor(context: SensorEvaluationContext, app_db: AppDatabase) -> SensorResult:
    """One run of the audience sync per org with pending requests.

    At least once: rows are marked consumed only after their RunRequest is built, and a row whose
    marking fails stays pending and is requested again on the next tick under the same run_key
    (its org's oldest pending request), which the daemon launches at most once per sensor; an
    extra sync would be harmless anyway, syncs being idempotent. The one gap is a crash between
    marking and the daemon storing the tick, the same window Dagster's own sensor cursors have.
    Several pending requests of one org coalesce into one run; each row records the run key in
    `sync_requests.run_id` (the run carries it as its `dagster/run_key` tag).
    """
    engine = app_db.engine
    pending = requests.pending_requests(engine)
    if not pending:
        return SensorResult(skip_reason="no pending sync requests")
    active = set(connections.active_org_ids(engine))
    by_org: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for request in pending:
        if request["org_id"] in active:
            by_org[request["org_id"]].append(request)
        else:
            context.log.warning(
                f"sync request {request['id']} of org {request['org_id']!r} skipped: the org is not "
                "connected to Mailchimp or its sync is disabled"
            )
            _skip_request(engine, request, "org not connected or disabled")
    run_requests = [
        RunRequest(run_key=rows[0]["id"], partition_key=org_id,
                   tags=org_tags(org_id, **{"mc/sync_requests": str(len(rows))}))
        for org_id, rows in sorted(by_org.items())
    ]
    existing = set(context.instance.get_dynamic_partitions(ORG_PARTITIONS_NAME))
    missing = sorted(set(by_org) - existing)
    for run_request in run_requests:
        for row in by_org[run_request.partition_key or ""]:
            try:
                requests.mark_consumed(engine, row["id"], run_request.run_key)
            except Exception as exc:  # the row stays pending; the next tick re-requests the same key
                context.log.warning(f"could not mark sync request {row['id']} consumed: {exc}")
    if not run_requests:
        return SensorResult(skip_reason="only requests of inactive orgs (consumed without a run)")
    context.log.info(f"requesting audience sync for {sorted(by_org)}")
    return SensorResult(
        run_requests=run_requests,
        # a request can beat org_partitions_sensor to a newly connected org
        dynamic_partitions_requests=[org_partitions.build_add_request(missing)] if missing else [],
    )


SENSORS = [org_partitions_sensor, sync_requests_sensor, *ALERT_SENSORS]
