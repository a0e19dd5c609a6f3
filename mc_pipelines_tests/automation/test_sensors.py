"""The two sensors against a real instance and the application DB (PostgreSQL and SQLite)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from dagster import (
    AddDynamicPartitionsRequest,
    DagsterInstance,
    SensorResult,
    build_sensor_context,
    instance_for_test,
)

from mc_pipelines.automation.sensors import (
    active_orgs_cursor,
    org_partitions_sensor,
    sync_requests_sensor,
)
from mc_pipelines.partitions import ORG_PARTITIONS_NAME
from mc_pipelines.store import audit, connections, requests
from mc_pipelines.store.tables import sync_requests
from mc_pipelines_tests.support.app_data import add_org
from mc_pipelines_tests.support.db import app_db, connect_stub


@pytest.fixture
def instance():
    with instance_for_test() as inst:
        yield inst


def apply_partition_requests(instance: DagsterInstance, result: SensorResult) -> None:
    """What the daemon does with a result's partition requests."""
    for request in result.dynamic_partitions_requests or []:
        if isinstance(request, AddDynamicPartitionsRequest):
            instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
        else:
            for key in request.partition_keys:
                instance.delete_dynamic_partition(request.partitions_def_name, key)


def tick_partitions(instance, engine, cursor=None) -> SensorResult:
    context = build_sensor_context(instance=instance, cursor=cursor, resources={"app_db": app_db(engine)})
    result = org_partitions_sensor(context)
    apply_partition_requests(instance, result)
    return result


def partition_changes(result: SensorResult) -> list[tuple[str, list[str]]]:
    return [(type(r).__name__, sorted(r.partition_keys)) for r in result.dynamic_partitions_requests]


def test_partitions_follow_connections_and_are_idempotent(instance, app_engine):
    for org in ("acme", "globex", "initech", "umbrella"):
        add_org(app_engine, org)
    connect_stub(app_engine, "acme")
    connect_stub(app_engine, "globex")
    connect_stub(app_engine, "initech", enabled=False)  # disabled: no partition

    first = tick_partitions(instance, app_engine)
    assert partition_changes(first) == [("AddDynamicPartitionsRequest", ["acme", "globex"])]
    assert first.cursor == active_orgs_cursor(["globex", "acme"])
    assert sorted(instance.get_dynamic_partitions(ORG_PARTITIONS_NAME)) == ["acme", "globex"]

    again = tick_partitions(instance, app_engine, cursor=first.cursor)
    assert again.dynamic_partitions_requests == [] and again.skip_reason is not None
    assert again.cursor == first.cursor

    connections.disconnect(app_engine, "globex", actor="test")
    connections.update_connection(app_engine, "initech", enabled=True)
    connect_stub(app_engine, "umbrella")
    changed = tick_partitions(instance, app_engine, cursor=again.cursor)
    assert partition_changes(changed) == [("AddDynamicPartitionsRequest", ["initech", "umbrella"]),
                                          ("DeleteDynamicPartitionsRequest", ["globex"])]
    assert changed.cursor != first.cursor
    assert sorted(instance.get_dynamic_partitions(ORG_PARTITIONS_NAME)) == ["acme", "initech", "umbrella"]

    # a partition added by hand for an org that is not connected is removed too
    instance.add_dynamic_partitions(ORG_PARTITIONS_NAME, ["stray"])
    assert partition_changes(tick_partitions(instance, app_engine, cursor=changed.cursor)) == [
        ("DeleteDynamicPartitionsRequest", ["stray"])]


def tick_requests(instance, engine) -> SensorResult:
    return sync_requests_sensor(build_sensor_context(instance=instance, resources={"app_db": app_db(engine)}))


def test_sync_requests_become_one_run_per_org(instance, app_engine):
    for org in ("acme", "globex", "initech"):
        add_org(app_engine, org)
    connect_stub(app_engine, "acme")
    connect_stub(app_engine, "globex")
    connect_stub(app_engine, "initech", enabled=False)
    instance.add_dynamic_partitions(ORG_PARTITIONS_NAME, ["acme"])
    acme = requests.request_sync(app_engine, "acme", "ann@app")
    globex_first = requests.request_sync(app_engine, "globex", "bob@app")
    globex_second = requests.request_sync(app_engine, "globex", "bob@app")
    initech = requests.request_sync(app_engine, "initech", "cy@app")

    result = tick_requests(instance, app_engine)
    runs = {r.partition_key: r for r in result.run_requests}
    assert sorted(runs) == ["acme", "globex"]
    assert runs["acme"].run_key == acme and runs["globex"].run_key == globex_first
    assert runs["globex"].tags["org"] == "globex" and runs["globex"].tags["mc/sync_requests"] == "2"
    # globex's partition does not exist yet: the sensor adds it with its run request
    assert partition_changes(result) == [("AddDynamicPartitionsRequest", ["globex"])]

    assert requests.pending_requests(app_engine) == []
    consumed = {r["id"]: r for r in _all_requests(app_engine)}
    assert consumed[globex_second]["run_id"] == globex_first
    assert consumed[initech]["consumed_at"] is not None and consumed[initech]["run_id"] is None
    skipped = audit.entries(app_engine, "initech", action="sync_request_skipped")
    assert [e["detail"]["request_id"] for e in skipped] == [initech]

    second = tick_requests(instance, app_engine)
    assert second.run_requests == [] and "no pending" in second.skip_reason.skip_message


def test_requests_stay_pending_when_marking_fails(instance, app_engine, monkeypatch):
    """At least once: the run is still requested, the row stays pending, the next tick asks for the
    same run key (which the daemon launches only once)."""
    add_org(app_engine, "acme")
    connect_stub(app_engine, "acme")
    request_id = requests.request_sync(app_engine, "acme", "ann@app")

    def fail(*_args, **_kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(requests, "mark_consumed", fail)
    first = tick_requests(instance, app_engine)
    assert [r.run_key for r in first.run_requests] == [request_id]
    assert [r["id"] for r in requests.pending_requests(app_engine)] == [request_id]
    monkeypatch.undo()
    second = tick_requests(instance, app_engine)
    assert [r.run_key for r in second.run_requests] == [request_id]
    assert requests.pending_requests(app_engine) == []


def _all_requests(engine):
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.select(sync_requests))]
