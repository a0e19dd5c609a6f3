""""Sync now" requests: the application's button, the CLI and the control API insert them."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from mc_pipelines.store import audit, connections, requests


def request_sync_now(engine: Engine, org_id: str, *, requested_by: str) -> str:
    """Insert a "Sync now" request for the sensor (the org must be connected and enabled)."""
    connections.require_active_connection(engine, org_id)
    request_id = requests.request_sync(engine, org_id, requested_by)
    with engine.begin() as conn:
        audit.record(conn, org_id=org_id, actor=requested_by, action="sync_requested",
                     detail={"request_id": request_id})
    return request_id
