"""A real distributed executor: the sync job with dagster-celery's executor (`MC_EXECUTOR=celery`)
on RabbitMQ (a virtual host of its own), Dagster's storage on a fresh PostgreSQL database (the
project's dagster.yaml), two Celery worker processes; three orgs sync at once and both workers
execute steps (each step's pid is a worker's pid; each worker's name is in the engine events).

Figures (orgs, steps per worker, wall time) go to test-artifacts/celery/figures.json."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
from dagster import DagsterEventType, DagsterInstance

from mc_pipelines_tests.support.app_data import (
    add_contacts,
    add_org,
    connect_to_emulator,
    contact_row,
)
from mc_pipelines_tests.support.secret_scan import capture_text

ROOT = Path(__file__).resolve().parents[2]
ORGS = ("acme", "globex", "initech")
SYNC_STEPS = {"mailchimp_member_status", "source_contacts", "consented_contacts", "segment_members",
              "audience_sync"}
ARTIFACTS = ROOT / "test-artifacts" / "celery"
BOUND = 150.0  # seconds any phase may take before the test gives up


def _rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=60)


@pytest.fixture
def vhost():
    """A RabbitMQ virtual host for this test (no stale messages, no other tenant), deleted after."""
    try:
        socket.create_connection(("127.0.0.1", 5672), timeout=2).close()
    except OSError:
        pytest.fail("RabbitMQ is not listening on 127.0.0.1:5672: start it (`rabbitmq-server -detached`; "
                    ".ci/run does)")
    name = f"mc_test_{uuid.uuid4().hex[:8]}"
    _rabbitmqctl("add_vhost", name)
    _rabbitmqctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")
    yield name
    _rabbitmqctl("delete_vhost", name)


def _start_worker(name: str, env: dict[str, str], log: Path) -> subprocess.Popen:
    # solo pool: the worker process executes each step itself, so a step's pid is the worker's
    return subprocess.Popen(
        [str(Path(sys.executable).parent / "celery"), "-A", "dagster_celery.app", "worker", "--pool=solo",
         "--prefetch-multiplier=1", "-Q", "dagster", "-n", f"{name}@%h", "--loglevel=INFO"],
        cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)


def _wait_ready(workers: dict[str, subprocess.Popen], logs: dict[str, Path]) -> None:
    deadline = time.monotonic() + BOUND
    while not all("ready." in logs[n].read_text() for n in workers):
        for n, proc in workers.items():
            assert proc.poll() is None, f"worker {n} exited: {logs[n].read_text()[-2000:]}"
        assert time.monotonic() < deadline, "celery workers did not come up"
        time.sleep(0.5)


def _start_run(org: str, broker: str, env: dict[str, str], tmp_path: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-X", "faulthandler", "-m", "mc_pipelines_tests.automation.celery_orchestrator",
         broker, org], cwd=ROOT, env=env, stdout=(tmp_path / f"run-{org}.out").open("w"),
        stderr=(tmp_path / f"run-{org}.err").open("w"))


def _wait_run(runner: subprocess.Popen) -> None:
    try:
        runner.wait(BOUND)
    except subprocess.TimeoutExpired:
        runner.send_signal(signal.SIGABRT)  # faulthandler prints every thread's stack
        runner.wait(30)


@pytest.mark.distributed
def test_three_orgs_sync_with_celery_on_two_workers(pg_app_engine, emulator, production_instance_config,
                                                    vhost, tmp_path, monkeypatch):
    connections = {}
    for n, org in enumerate(ORGS):
        add_org(pg_app_engine, org)
        add_contacts(pg_app_engine, [contact_row(org, n * 100 + i, f"member{i}@{org}-mail.io") for i in range(1, 9)])
        connections[org] = connect_to_emulator(pg_app_engine, emulator, org)
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    broker = f"pyamqp://guest:guest@127.0.0.1:5672/{vhost}"
    celery_config = tmp_path / "celery_config"
    celery_config.mkdir()
    (celery_config / "dagster_celery_config.py").write_text(
        f"broker_url = {broker!r}\nresult_backend = 'rpc://'\n")
    for var, value in {"MC_EXECUTOR": "celery", "DAGSTER_HOME": str(home),
                       "MC_DATABASE_URL": pg_app_engine.url.render_as_string(hide_password=False),
                       "MC_MAILCHIMP_BASE_URL": emulator.base_url_template}.items():
        monkeypatch.setenv(var, value)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(celery_config)])}
    # the instance's tables, created once as a deployment does (`dagster instance migrate`):
    # three run workers creating them at once race in PostgreSQL (`type "secondary_indexes"
    # already exists`)
    with DagsterInstance.get():
        pass
    logs = {name: tmp_path / f"{name}.log" for name in ("w1", "w2")}
    workers: dict[str, subprocess.Popen] = {}
    try:
        for name in logs:
            workers[name] = _start_worker(name, env, logs[name])
        _wait_ready(workers, logs)
        started = time.monotonic()
        runs = {org: _start_run(org, broker, env, tmp_path) for org in ORGS}  # three run workers at once
        for runner in runs.values():
            _wait_run(runner)
        wall = time.monotonic() - started
    finally:
        for proc in workers.values():
            proc.terminate()
        for proc in workers.values():
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for name, log in logs.items():
            capture_text(f"celery worker {name} log", log.read_text())
    outcome = {}
    for org in ORGS:
        out, err = (tmp_path / f"run-{org}.out").read_text(), (tmp_path / f"run-{org}.err").read_text()
        capture_text(f"celery run worker {org} output", out + err)
        assert runs[org].returncode == 0, "\n".join(  # the stacks faulthandler printed, if it hung
            line for line in err.splitlines()
            if "site-packages" in line or "/work/" in line or "Thread" in line or "Error" in line)[-6000:]
        outcome[org] = json.loads(out.strip().splitlines()[-1])
    with DagsterInstance.from_config(str(home)) as instance:
        failures = [str(e.dagster_event.event_specific_data)[:1500] for org in ORGS
                    for e in instance.all_logs(outcome[org]["run_id"])
                    if e.is_dagster_event and e.dagster_event.is_failure]
    assert {org: o["success"] for org, o in outcome.items()} == dict.fromkeys(ORGS, True), failures[:3]

    pid_of = {proc.pid: name for name, proc in workers.items()}
    per_worker: Counter[str] = Counter()
    instance = DagsterInstance.from_config(str(home))
    try:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        for org in ORGS:
            events = [e for e in instance.all_logs(outcome[org]["run_id"]) if e.is_dagster_event]
            starts = {e.step_key: e.dagster_event.pid for e in events if e.dagster_event_type == DagsterEventType.STEP_START}
            assert set(starts) == SYNC_STEPS, org
            assert set(starts.values()) <= set(pid_of), f"{org}: a step ran outside the workers"
            per_worker.update(pid_of[pid] for pid in starts.values())
            hosts = {str(e.dagster_event.engine_event_data.metadata["Celery worker"].value)
                     for e in events if e.dagster_event_type == DagsterEventType.ENGINE_EVENT
                     and "Celery worker" in e.dagster_event.engine_event_data.metadata}
            assert hosts and all(h.split("@")[0] in workers for h in hosts), hosts
    finally:
        instance.dispose()
    assert set(per_worker) == {"w1", "w2"}, per_worker  # both workers executed steps
    for org, conn in connections.items():
        members = {m["email_address"] for m in emulator.dump_list(conn["api_key"], conn["audience_id"])}
        assert members == {f"member{i}@{org}-mail.io" for i in range(1, 9)}, org
    figures = {"orgs": len(ORGS), "steps": sum(per_worker.values()), "steps_per_worker": dict(per_worker),
               "wall_seconds": round(wall, 1), "broker": "RabbitMQ", "dagster_storage": "PostgreSQL",
               "workers": len(workers)}
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "figures.json").write_text(json.dumps(figures, indent=2))
    print(f"celery figures: {figures}")
