"""One run of the sync job for one org, in a fresh process.

Dagster runs each run in its own worker process; the benchmark does the same, so the measured
wall time and memory are those of a run and nothing the benchmark itself allocated (generated
data, the fast path's frames) is counted. Used as

    python -m mc_pipelines.bench.worker SPEC.json OUT.json

SPEC: `database_url`, `dagster_home`, `org_id`, `base_url_template`, `max_connections`,
`dry_run`, `executor` (`in_process`, default, or `multiprocess`).
OUT: `wall_seconds` (the `execute_job` call: every asset of the graph, its checks and the fs IO
manager's writes and reads), `cpu_seconds` (CPU time of this process meanwhile; the rest of
the wall time is waiting on PostgreSQL, Mailchimp and the machine), `startup_seconds`
(interpreter, imports and loading the code location before it), `steps` (seconds per step,
from the run's event log), `metadata` (numeric and text metadata per asset), `peak_rss_bytes` (the largest RSS of this
process seen by a 100 ms psutil sampler during the run), `ru_maxrss_bytes` (`ru_maxrss`, which
Linux carries over fork + exec from the parent: not this run's own peak), `success`, `failures`.
"""

from __future__ import annotations

import contextlib
import json
import sys
import threading
import time

STARTED = time.perf_counter()
JOB_NAME = "audience_sync_job"


class RssSampler:
    """Samples the RSS of one process every `interval` seconds and keeps the peak (one read of
    /proc/PID/statm per sample: cheap enough not to disturb what it measures)."""

    def __init__(self, pid: int | None = None, interval: float = 0.1) -> None:
        import psutil

        self.process = psutil.Process(pid)
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _sample(self) -> None:
        import psutil

        with contextlib.suppress(psutil.Error):
            self.peak = max(self.peak, self.process.memory_info().rss)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()


def _plain(value: object) -> object:
    value = getattr(value, "value", value)
    if isinstance(value, bool | int | float | str) or value is None:
        return value
    return None


def run(spec: dict) -> dict:
    """Execute the product's `audience_sync_job` for one org partition as the spec says; the
    measurements as a dict."""
    import resource

    from dagster import DagsterEventType, DagsterInstance, EnvVar, execute_job
    from dagster._core.definitions.reconstruct import ReconstructableRepository
    from dagster._core.instance.ref import InstanceRef

    from mc_pipelines.automation.run_config import sync_run_config
    from mc_pipelines.partitions import ORG_PARTITIONS_NAME
    from mc_pipelines.resources import AppDatabase, MailchimpResource
    from mc_pipelines.store.secrets import SECRET_KEY_ENV

    # As Dagster's run worker does: the job is reconstructed from the code location, and no step
    # output is kept in memory (`materialize`/`execute_in_process` keep every output for the
    # result object, which a run never does).
    job = ReconstructableRepository.for_module("mc_pipelines.definitions", "defs") \
        .get_reconstructable_job(JOB_NAME)
    instance = DagsterInstance.from_ref(InstanceRef.from_dir(spec["dagster_home"]))
    org_id = spec["org_id"]
    if not instance.has_dynamic_partition(ORG_PARTITIONS_NAME, org_id):
        instance.add_dynamic_partitions(ORG_PARTITIONS_NAME, [org_id])
    dry_run = bool(spec.get("dry_run", False))
    executor = spec.get("executor", "in_process")
    run_config = sync_run_config(
        dry_run, executor={executor: {}}, log_level="WARNING",
        resources={"app_db": AppDatabase(url=spec["database_url"]),
                   "mailchimp": MailchimpResource(secret_key=EnvVar(SECRET_KEY_ENV),
                                                  base_url_template=spec["base_url_template"],
                                                  max_connections=int(spec.get("max_connections", 10)))})
    job.get_definition()  # load the code location before the clock starts, as a run worker does
    startup = time.perf_counter() - STARTED
    with RssSampler() as sampler:
        ru0 = resource.getrusage(resource.RUSAGE_SELF)
        t0 = time.perf_counter()
        result = execute_job(job, instance, run_config=run_config, raise_on_error=False,
                             tags={"dagster/partition": org_id, "org": org_id})
        wall = time.perf_counter() - t0
        ru1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    starts: dict[str, float] = {}
    steps: dict[str, float] = {}
    failures: list[str] = []
    for entry in instance.all_logs(result.run_id):
        event = entry.dagster_event
        if event is None or not event.step_key:
            continue
        if event.event_type == DagsterEventType.STEP_START:
            starts[event.step_key] = entry.timestamp
        elif event.event_type in (DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE):
            steps[event.step_key] = round(entry.timestamp - starts.get(event.step_key, entry.timestamp), 3)
            if event.event_type == DagsterEventType.STEP_FAILURE:
                failures.append(f"{event.step_key}: {event.event_specific_data.error.message[:2000]}")
    metadata: dict[str, dict[str, object]] = {}
    events = [e.materialization for e in result.get_asset_materialization_events()]
    # a settled org's sync observes audience_sync unchanged instead of materializing it
    events += [e.event_specific_data.asset_observation for e in result.get_asset_observation_events()]
    for event in events:  # a materialization wins over an observation of the same asset
        metadata.setdefault(event.asset_key.to_user_string(), {
            k: v for k, v in ((k, _plain(v)) for k, v in event.metadata.items()) if v is not None})
    return {
        "success": result.success,
        "failures": failures,
        "wall_seconds": round(wall, 3),
        "cpu_seconds": round(cpu, 3),
        "startup_seconds": round(startup, 3),
        "steps": steps,
        "metadata": metadata,
        # the sampled peak: ru_maxrss is inherited across fork + exec from the bench process that
        # started this one (a 10k-contact run showed the parent's 1.8 GB), so it is kept apart
        "peak_rss_bytes": sampler.peak,
        "ru_maxrss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }


def main(argv: list[str]) -> int:
    spec_path, out_path = argv[1], argv[2]
    with open(spec_path, encoding="utf-8") as fh:
        spec = json.load(fh)
    out = run(spec)
    with open(out_path, "w", encoding="utf-8") as fh:
        json.dump(out, fh)
    return 0 if out["success"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
