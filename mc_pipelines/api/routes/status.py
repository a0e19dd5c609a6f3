"""`/orgs/{org_id}/status`: connection, account name and dc, last sync, members, last run's errors."""

from __future__ import annotations

from mc_pipelines.actions.status import org_status
from mc_pipelines.api.endpoint import Call, Endpoint
from mc_pipelines.api.models import Out, Timestamp


class StatusOut(Out):
    """One org's status."""

    org_id: str
    connected: bool
    enabled: bool
    auto_sync: bool
    audience_id: str | None
    account_name: str | None
    dc: str | None
    auth_kind: str | None
    last_sync_at: Timestamp | None
    last_sync_status: str | None
    members_in_state: int
    last_run_errors: int | None


def status(call: Call) -> StatusOut:
    """The org's status."""
    return StatusOut(**vars(org_status(call.engine, call.org_id)))


ENDPOINTS = [
    Endpoint("GET", "/orgs/{org_id}/status", "get_status", "The org's sync status", status,
             response=StatusOut, tag="status"),
]
