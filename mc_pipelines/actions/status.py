"""The status of every org: connection, members tracked, the latest run's errors."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.engine import Engine

from mc_pipelines.store import connections, member_state, runs


@dataclass(frozen=True)
class OrgStatus:
    """One row of `mc-pipelines status`."""

    org_id: str
    connected: bool
    enabled: bool
    auto_sync: bool
    audience_id: str | None
    account_name: str | None
    dc: str | None
    auth_kind: str | None
    last_sync_at: datetime | None
    last_sync_status: str | None
    members_in_state: int
    last_run_errors: int | None


def org_status_rows(engine: Engine) -> list[OrgStatus]:
    """Every org with its connection, the members the project tracks, and the latest run's errors."""
    members = member_state.member_counts(engine)
    errors = runs.latest_run_error_counts(engine)
    return [
        OrgStatus(
            org_id=row["id"],
            connected=bool(row["api_key_encrypted"]) and row["disconnected_at"] is None,
            enabled=bool(row["enabled"]), auto_sync=bool(row["auto_sync"]),
            audience_id=row["audience_id"], account_name=row["account_name"], dc=row["server_prefix"],
            auth_kind=row["auth_kind"], last_sync_at=row["last_sync_at"],
            last_sync_status=row["last_sync_status"],
            members_in_state=int(members.get(row["id"], 0)), last_run_errors=errors.get(row["id"]),
        )
        for row in connections.orgs_with_connections(engine)
    ]


def org_status(engine: Engine, org_id: str) -> OrgStatus:
    """The status row of one org (UnknownOrgError when it does not exist)."""
    connections.require_org(engine, org_id)
    return next(r for r in org_status_rows(engine) if r.org_id == org_id)
