"""Concurrency: two runs for the same org launched together are serialised by the run
queue, and the audience ends correct.

A real Dagster instance with the project's own `run_coordinator` section of `dagster.yaml`
(QueuedRunCoordinator, one run per `org` tag value and per `dagster/partition` value) receives
queued runs of the real `audience_sync_job`: two for org `busy` (as the sensor tags them), one
for `busy` launched from the UI (only `dagster/partition`), and one for org `calm`. The queue
daemon's iterations are driven by hand (`QueuedRunCoordinatorDaemon.run_iteration`, as Dagster's
own tests do), with a launcher that only records what it was asked to launch; each dequeued run is
then executed for real (`execute_run`) against the application DB and the emulator.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from dagster import reconstructable
from dagster._core.events import DagsterEvent, DagsterEventType
from dagster._core.execution.api import execute_run
from dagster._core.remote_origin import (
    InProcessCodeLocationOrigin,
    RemoteJobOrigin,
    RemoteRepositoryOrigin,
)
from dagster._core.storage.dagster_run import DagsterRunStatus
from dagster._core.test_utils import create_test_daemon_workspace_context
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
from dagster._core.workspace.load_target import EmptyWorkspaceTarget
from dagster._daemon.run_coordinator.queued_run_coordinator_daemon import QueuedRunCoordinatorDaemon

from mc_pipelines.automation.run_config import IN_PROCESS
from mc_pipelines.partitions import ORG_PARTITIONS_NAME
from mc_pipelines_tests.support.app_data import (
    add_contacts,
    add_org,
    add_segment,
    connect_to_emulator,
    contact_row,
)
from mc_pipelines_tests.support.reliability import (
    Expectation,
    audience,
    desired_audience,
    differences,
)
from mc_pipelines_tests.support.secret_scan import scanned_instance

DAGSTER_YAML = Path(__file__).resolve().parents[2] / "dagster.yaml"


def audience_sync_job():
    """The project's audience sync job (module level, so runs can be reconstructed from it)."""
    from mc_pipelines.definitions import defs

    return defs.resolve_job_def("audience_sync_job")


def _remote_origin() -> RemoteJobOrigin:
    """Where the UI, a sensor or a schedule would say the job comes from (the project's code
    location); the queue daemon only reads its location name."""
    location = InProcessCodeLocationOrigin(
        LoadableTargetOrigin(module_name="mc_pipelines.definitions", attribute="defs"),
        location_name="mc_pipelines")
    return RemoteJobOrigin(repository_origin=RemoteRepositoryOrigin(code_location_origin=location,
                                                                    repository_name="__repository__"),
                           job_name="audience_sync_job")


def _queue(instance, job_def, origin, tags: dict[str, str]) -> str:
    """A run submitted to the queue the way `instance.submit_run` leaves it: QUEUED."""
    run = instance.create_run_for_job(job_def=job_def, tags=tags, status=DagsterRunStatus.NOT_STARTED,
                                      run_config=IN_PROCESS, job_code_origin=origin,
                                      remote_job_origin=_remote_origin())
    instance.report_dagster_event(
        DagsterEvent(event_type_value=DagsterEventType.PIPELINE_ENQUEUED.value, job_name=run.job_name),
        run_id=run.run_id)
    assert instance.get_run_by_id(run.run_id).status == DagsterRunStatus.QUEUED
    return run.run_id


def test_two_runs_for_one_org_are_serialised_by_the_run_queue(pg_app_engine, emulator, monkeypatch):
    monkeypatch.setenv("MC_DATABASE_URL", pg_app_engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("MC_MAILCHIMP_BASE_URL", emulator.base_url_template)
    conns = {}
    for org_id, base in (("busy", 1), ("calm", 100)):
        add_org(pg_app_engine, org_id)
        add_contacts(pg_app_engine, [contact_row(org_id, base + i, f"{org_id}{i}@posteo.de", tags=["vip"] if i % 2 else [])
                                     for i in range(20)])
        add_segment(pg_app_engine, org_id, base, f"{org_id}:vip", {"tags": ["vip"]})
        conns[org_id] = connect_to_emulator(pg_app_engine, emulator, org_id)
    coordinator = yaml.safe_load(DAGSTER_YAML.read_text())["run_coordinator"]
    limits = {(lim["key"], lim["limit"]) for lim in coordinator["config"]["tag_concurrency_limits"]}
    assert limits == {("org", 1), ("dagster/partition", 1)}
    overrides = {"run_coordinator": coordinator,
                 "run_launcher": {"module": "dagster._core.test_utils", "class": "MockedRunLauncher"}}

    with scanned_instance(overrides=overrides) as instance, create_test_daemon_workspace_context(
            workspace_load_target=EmptyWorkspaceTarget(), instance=instance) as workspace:
        instance.add_dynamic_partitions(ORG_PARTITIONS_NAME, ["busy", "calm"])
        recon = reconstructable(audience_sync_job)
        job_def, origin = audience_sync_job(), recon.get_python_origin()
        busy = {"org": "busy", "dagster/partition": "busy"}
        first = _queue(instance, job_def, origin, busy)
        second = _queue(instance, job_def, origin, busy)
        from_ui = _queue(instance, job_def, origin, {"dagster/partition": "busy"})
        calm = _queue(instance, job_def, origin, {"org": "calm", "dagster/partition": "calm"})
        daemon = QueuedRunCoordinatorDaemon(interval_seconds=1)

        def dequeue() -> list[str]:
            list(daemon.run_iteration(workspace))
            return [run.run_id for run in instance.run_launcher.queue()]

        def status(run_id: str) -> DagsterRunStatus:
            return instance.get_run_by_id(run_id).status

        def execute(run_id: str) -> None:
            result = execute_run(recon, instance.get_run_by_id(run_id), instance)
            assert result.success

        # both orgs start; the second and the UI run of `busy` wait for the first
        assert sorted(dequeue()) == sorted([first, calm])
        assert dequeue() == [first, calm]  # still in progress: nothing more is dequeued
        assert status(second) == status(from_ui) == DagsterRunStatus.QUEUED
        execute(calm)
        execute(first)
        assert status(first) == DagsterRunStatus.SUCCESS
        assert dequeue() == [first, calm, second]  # one at a time, oldest first
        assert status(from_ui) == DagsterRunStatus.QUEUED
        writes = emulator.stats(conns["busy"]["api_key"])["writes"]
        execute(second)
        assert emulator.stats(conns["busy"]["api_key"])["writes"] == writes  # nothing left to do
        assert dequeue() == [first, calm, second, from_ui]
        execute(from_ui)
        assert daemon and all(status(r) == DagsterRunStatus.SUCCESS for r in (first, second, from_ui, calm))
        daemon.__exit__(None, None, None)

    for org_id, conn in conns.items():
        expected = Expectation(desired=desired_audience(pg_app_engine, org_id))
        assert differences(expected, audience(emulator, conn["api_key"], conn["audience_id"])) == []
