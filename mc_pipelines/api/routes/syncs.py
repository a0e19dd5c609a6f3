"""`/orgs/{org_id}/syncs`: "Sync now" (a request id to poll) and its outcome; the latest run
with its failed rows and their contact ids."""

from __future__ import annotations

from typing import Any

from mc_pipelines.actions import sync_requests as actions
from mc_pipelines.api.endpoint import Call, Endpoint
from mc_pipelines.api.models import Out, Timestamp


class SyncRequestOut(Out):
    """A sync request and where to poll its outcome."""

    request_id: str
    status_url: str


class RowErrorOut(Out):
    """One failed or skipped row of a run."""

    contact_id: int | None
    audience_id: str | None
    error_code: str
    message: str
    at: Timestamp


class RunOut(Out):
    """A sync run: status, counts, failed rows (at most 1,000 listed; `error_count` counts all)."""

    run_id: str
    dagster_run_id: str | None
    status: str
    started_at: Timestamp
    finished_at: Timestamp | None
    counts: dict[str, Any]
    error_count: int
    errors: list[RowErrorOut]


class RequestOutcomeOut(Out):
    """pending | skipped | queued | the run's status (running, success, partial, error)."""

    request_id: str
    requested_at: Timestamp
    requested_by: str
    status: str
    run: RunOut | None


class LatestRunOut(Out):
    """The org's latest audience sync run (null when it never ran)."""

    run: RunOut | None


def sync_request_out(org_id: str, request_id: str) -> SyncRequestOut:
    """The answer to a sync request."""
    return SyncRequestOut(request_id=request_id, status_url=f"/api/orgs/{org_id}/syncs/{request_id}")


def run_out(run: actions.RunOutcome | None) -> RunOut | None:
    """A run outcome as the API shows it."""
    if run is None:
        return None
    return RunOut(**{**vars(run), "errors": [RowErrorOut(**e) for e in run.errors]})


def sync_now(call: Call) -> SyncRequestOut:
    """Insert a sync request (the sensor starts the run)."""
    return sync_request_out(call.org_id, actions.request_sync_now(call.engine, call.org_id,
                                                                  requested_by=call.actor))


def outcome(call: Call) -> RequestOutcomeOut:
    """Where a sync request stands."""
    found = actions.request_outcome(call.engine, call.org_id, call.path["request_id"])
    return RequestOutcomeOut(request_id=found.request_id, requested_at=found.requested_at,
                             requested_by=found.requested_by, status=found.status, run=run_out(found.run))


def latest(call: Call) -> LatestRunOut:
    """The latest run and its failed rows."""
    return LatestRunOut(run=run_out(actions.last_run(call.engine, call.org_id)))


ENDPOINTS = [
    Endpoint("POST", "/orgs/{org_id}/syncs", "sync_now", "Sync now: returns a request id to poll",
             sync_now, response=SyncRequestOut, status=202, errors=(404, 409), tag="syncs"),
    Endpoint("GET", "/orgs/{org_id}/syncs/{request_id}", "get_sync", "A sync request's outcome",
             outcome, response=RequestOutcomeOut, tag="syncs"),
    Endpoint("GET", "/orgs/{org_id}/runs/latest", "latest_run",
             "The latest sync run with its failed rows (contact ids)", latest,
             response=LatestRunOut, tag="syncs"),
]
