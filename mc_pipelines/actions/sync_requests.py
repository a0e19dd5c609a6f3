""""Sync now" requests: the application's button, the CLI and the control API insert them; their
outcome (the run that followed, its counts and failed rows with contact ids) is polled here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine

from mc_pipelines.errors import NotFoundError
from mc_pipelines.store import audit, connections, requests, sync_outcomes


def request_sync_now(engine: Engine, org_id: str, *, requested_by: str) -> str:
    """Insert a "Sync now" request for the sensor (the org must be connected and enabled)."""
    connections.require_active_connection(engine, org_id)
    request_id = requests.request_sync(engine, org_id, requested_by)
    with engine.begin() as conn:
        audit.record(conn, org_id=org_id, actor=requested_by, action="sync_requested",
                     detail={"request_id": request_id})
    return request_id


@dataclass(frozen=True)
class RunOutcome:
    """A sync run: its status, summary counts and the failed rows with their contact ids."""

    run_id: str
    dagster_run_id: str | None
    status: str
    started_at: datetime
    finished_at: datetime | None
    counts: dict[str, Any]
    error_count: int
    errors: list[dict[str, Any]]


@dataclass(frozen=True)
class RequestOutcome:
    """Where a "Sync now" request stands: `pending` (the sensor has not taken it), `skipped`
    (taken without a run: org disconnected or disabled), `queued` (a run was requested, none
    started yet), or the status of the first audience sync run that started after it."""

    request_id: str
    requested_at: datetime
    requested_by: str
    status: str
    run: RunOutcome | None


def run_outcome(engine: Engine, org_id: str, run: dict[str, Any], error_limit: int = 1000) -> RunOutcome:
    """A `sync_runs` row of the org with its per-row errors (at most `error_limit` listed)."""
    return RunOutcome(
        run_id=run["id"], dagster_run_id=run["dagster_run_id"], status=run["status"],
        started_at=run["started_at"], finished_at=run["finished_at"], counts=dict(run["summary"] or {}),
        error_count=sync_outcomes.count_run_errors(engine, org_id, run["id"]),
        errors=sync_outcomes.run_errors(engine, org_id, run["id"], error_limit))


def request_outcome(engine: Engine, org_id: str, request_id: str) -> RequestOutcome:
    """The outcome of one of the org's sync requests (NotFoundError for an unknown id or another
    org's)."""
    connections.require_org(engine, org_id)
    request = sync_outcomes.get_request(engine, org_id, request_id)
    if request is None:
        raise NotFoundError(f"sync request {request_id!r} does not exist in org {org_id!r}: use the "
                            "request id the sync-now call returned")
    run = None
    if request["consumed_at"] is None:
        status = "pending"
    elif request["run_id"] is None:
        status = "skipped"
    else:
        found = sync_outcomes.first_run_since(engine, org_id, request["requested_at"])
        run = run_outcome(engine, org_id, found) if found else None
        status = run.status if run else "queued"
    return RequestOutcome(request_id=request["id"], requested_at=request["requested_at"],
                          requested_by=request["requested_by"], status=status, run=run)


def last_run(engine: Engine, org_id: str, error_limit: int = 1000) -> RunOutcome | None:
    """The org's latest audience sync run with its row errors (None when it never ran)."""
    connections.require_org(engine, org_id)
    found = sync_outcomes.latest_run(engine, org_id)
    return run_outcome(engine, org_id, found, error_limit) if found else None
