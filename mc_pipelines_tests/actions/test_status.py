"""`org_status_rows` (the `mc-pipelines status` table) on PostgreSQL and SQLite: every org, its
connection flags, the members tracked and the errors of its latest real (not dry) run."""

from __future__ import annotations

from datetime import datetime

from mc_pipelines.actions.status import org_status_rows
from mc_pipelines.store import member_state, runs
from mc_pipelines.store.connections import save_connection
from mc_pipelines.store.tables import sync_runs
from mc_pipelines_tests.support.app_data import add_org


def _run(engine, org_id: str, run_id: str, started: datetime, *, dry_run: bool, errors: int) -> None:
    with engine.begin() as conn:
        conn.execute(sync_runs.insert().values(id=run_id, org_id=org_id, kind="audience_sync", dry_run=dry_run,
                                               started_at=started, status="success", summary={}))
    runs.record_errors(engine, run_id, org_id, [
        {"audience_id": "aud1", "contact_id": n, "email": f"c{n}@x.io", "error_code": "invalid",
         "message": "Invalid Resource"} for n in range(errors)])


def test_status_rows_report_connection_members_and_latest_real_run_errors(app_engine):
    for org in ("acme", "globex", "initech"):
        add_org(app_engine, org)
    save_connection(app_engine, org_id="acme", api_key_encrypted="token", server_prefix="us1",
                    audience_id="aud1", account_name="Acme", auto_sync=True, actor="test")
    member_state.save_rows(app_engine, "acme", [
        {"audience_id": "aud1", "subscriber_hash": f"h{n}", "email": f"c{n}@x.io"} for n in range(3)
    ], ["email"])
    member_state.save_rows(app_engine, "globex", [
        {"audience_id": "aud9", "subscriber_hash": "h", "email": "g@x.io"}], ["email"])
    _run(app_engine, "acme", "r1", datetime(2026, 1, 1), dry_run=False, errors=5)
    _run(app_engine, "acme", "r2", datetime(2026, 1, 2), dry_run=False, errors=2)
    _run(app_engine, "acme", "r3", datetime(2026, 1, 3), dry_run=True, errors=7)  # dry runs don't count
    _run(app_engine, "globex", "r4", datetime(2026, 1, 1), dry_run=False, errors=0)

    rows = {r.org_id: r for r in org_status_rows(app_engine)}

    assert list(rows) == ["acme", "globex", "initech"]
    acme, globex, initech = rows["acme"], rows["globex"], rows["initech"]
    assert (acme.connected, acme.enabled, acme.auto_sync, acme.audience_id) == (True, True, True, "aud1")
    assert (acme.members_in_state, acme.last_run_errors) == (3, 2)
    assert (globex.connected, globex.members_in_state, globex.last_run_errors) == (False, 1, 0)
    assert (initech.connected, initech.enabled, initech.members_in_state, initech.last_run_errors) == (
        False, False, 0, None)
