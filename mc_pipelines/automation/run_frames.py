"""The `run_frames_sweeper` sensor: no contact frame outlives its run (issue 15, at rest).

The IO manager removes a run's directory itself when every step ran in one process; runs whose
steps ran in several processes (multiprocess, celery) or that were killed are swept here: every
minute, the directory of every run no longer in progress goes (`io_manager.sweep_run_frames`).
"""

from dagster import DefaultSensorStatus, SensorEvaluationContext, SkipReason, sensor

from mc_pipelines.io_manager import sweep_run_frames


@sensor(
    name="run_frames_sweeper",
    minimum_interval_seconds=60,
    default_status=DefaultSensorStatus.RUNNING,
    description="Removes the run-scoped files (contact frames between steps) of every run that is "
    "no longer in progress: finished, failed, canceled, or killed and marked failed by run "
    "monitoring. Never requests a run.",
)
def run_frames_sweeper(context: SensorEvaluationContext) -> SkipReason:
    """Sweep; the skip reason says how many run directories were removed."""
    removed = sweep_run_frames(context.instance)
    return SkipReason(f"removed the run files of {len(removed)} finished run(s)")


RUN_FRAMES_SENSORS = [run_frames_sweeper]
