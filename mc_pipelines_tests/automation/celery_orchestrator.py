"""The run worker of the Celery test: executes the project's `audience_sync_job` for one org on
the instance of `DAGSTER_HOME`, with the executor `MC_EXECUTOR` selects (celery), as a run worker
process of a deployment would; prints one JSON line `{"run_id": ..., "success": ...}`.

Run as `python -m mc_pipelines_tests.automation.celery_orchestrator BROKER ORG` (one process per
run: Dagster's instance is not shared between threads)."""

from __future__ import annotations

import json
import sys

from dagster import DagsterInstance, JobDefinition, execute_job, reconstructable

from mc_pipelines.automation.run_config import ensure_org_partitions, org_tags


def audience_sync_job() -> JobDefinition:
    """The project's job as every process (this one and the Celery workers) reconstructs it."""
    from mc_pipelines.definitions import defs

    return defs.resolve_job_def("audience_sync_job")


def main(broker: str, org: str) -> dict:
    """Run the org's sync with steps on the Celery workers; its run id and outcome."""
    instance = DagsterInstance.get()
    ensure_org_partitions(instance, [org])
    run_config = {"execution": {"config": {"broker": broker, "backend": "rpc://"}}}
    with execute_job(reconstructable(audience_sync_job), instance=instance, run_config=run_config,
                     tags={**org_tags(org), "dagster/partition": org}) as result:
        return {"run_id": result.run_id, "success": result.success}


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2])))
