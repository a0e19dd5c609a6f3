"""The status of every org: connection, members tracked, the latest run's errors."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from mc_pipelines.store.tables import (
    mailchimp_connections,
    mailchimp_member_state,
    orgs,
    sync_errors,
    sync_runs,
)


@dataclass(frozen=True)
class OrgStatus:
    """One row of `mc-pipelines status`."""

    org_id: str
    connected: bool
    enabled: bool
    auto_sync: bool
    audience_id: str | None
    last_sync_at: datetime | None
    last_sync_status: str | None
    members_in_state: int
    last_run_errors: int | None


def org_status_rows(engine: Engine) -> list[OrgStatus]:
    """Every org with its connection, the members the project tracks, and the latest run's errors."""
    with engine.connect() as conn:
        org_rows = conn.execute(
            sa.select(orgs.c.id, mailchimp_connections)
            .select_from(orgs.outerjoin(mailchimp_connections, mailchimp_connections.c.org_id == orgs.c.id))
            .order_by(orgs.c.id)
        ).mappings().all()
        members = dict(conn.execute(
            sa.select(mailchimp_member_state.c.org_id, sa.func.count())
            .group_by(mailchimp_member_state.c.org_id)
        ).tuples().all())
        latest = (
            sa.select(sync_runs.c.org_id, sync_runs.c.id,
                      sa.func.row_number().over(partition_by=sync_runs.c.org_id,
                                                order_by=sync_runs.c.started_at.desc()).label("n"))
            .where(sync_runs.c.dry_run.is_(False))
            .subquery()
        )
        errors = dict(conn.execute(
            sa.select(latest.c.org_id, sa.func.count(sync_errors.c.id))
            .select_from(latest.outerjoin(sync_errors, sync_errors.c.run_id == latest.c.id))
            .where(latest.c.n == 1).group_by(latest.c.org_id)
        ).tuples().all())
    return [
        OrgStatus(
            org_id=row["id"],
            connected=bool(row["api_key_encrypted"]) and row["disconnected_at"] is None,
            enabled=bool(row["enabled"]), auto_sync=bool(row["auto_sync"]),
            audience_id=row["audience_id"], last_sync_at=row["last_sync_at"],
            last_sync_status=row["last_sync_status"],
            members_in_state=int(members.get(row["id"], 0)), last_run_errors=errors.get(row["id"]),
        )
        for row in org_rows
    ]
