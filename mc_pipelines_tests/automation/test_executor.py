"""Every job runs its steps in the run worker by default (one process per run, not per step), and
a run's config can still select the multiprocess executor."""

from __future__ import annotations

import os

from dagster import (
    DagsterEventType,
    Definitions,
    asset,
    define_asset_job,
    execute_job,
    instance_for_test,
    reconstructable,
    validate_run_config,
)

from mc_pipelines.automation.executor import in_process_or_multiprocess_executor
from mc_pipelines.definitions import defs


@asset
def first() -> int:
    """A step."""
    return 1


@asset
def second(first: int) -> int:
    """Another step."""
    return first + 1


def two_step_job():
    """A two-step job with the project's default executor, as `definitions.py` gives every job."""
    return Definitions(assets=[first, second], jobs=[define_asset_job("two_steps")],
                       executor=in_process_or_multiprocess_executor).resolve_job_def("two_steps")


def test_every_job_and_the_uis_materialize_default_to_in_process():
    jobs = [defs.resolve_job_def(job.name) for job in defs.jobs]
    jobs.append(defs.resolve_implicit_global_asset_job_def())  # what the UI's "Materialize" launches
    for job in jobs:  # the org lock wraps it (automation/org_executor.py), same config schema
        assert job.executor_def.name == f"org_locked_{in_process_or_multiprocess_executor.name}", job.name
    sync = defs.resolve_job_def("audience_sync_job")
    (default,) = validate_run_config(sync, {})["execution"].values()
    assert list(default) == ["in_process"]
    (chosen,) = validate_run_config(sync, {"execution": {"config": {"multiprocess": {}}}})["execution"].values()
    assert list(chosen) == ["multiprocess"]


def test_steps_run_in_the_run_worker_without_run_config():
    with instance_for_test() as instance, execute_job(reconstructable(two_step_job), instance=instance) as result:
        assert result.success
        pids = {e.pid for e in result.all_events if e.event_type == DagsterEventType.STEP_START}
        assert pids == {os.getpid()}
