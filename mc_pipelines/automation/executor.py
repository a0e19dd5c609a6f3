"""The default executor of every job: Dagster's own `multi_or_in_process_executor`, with
`in_process` as the default instead of `multiprocess`.

An org's sync is a chain of small steps; a process per step (Python and the project imported
again for each) costs seconds for milliseconds of work. The steps run in the run worker unless
a run's config asks for subprocesses:

    execution:
      config:
        multiprocess:
          max_concurrent: 2
"""

from __future__ import annotations

from dagster import ExecutorDefinition, Field, multi_or_in_process_executor

IN_PROCESS = {"in_process": {}}


def _in_process_by_default() -> ExecutorDefinition:
    selector = multi_or_in_process_executor.config_schema.as_field().config_type
    return multi_or_in_process_executor.copy_for_configured(
        name="in_process_or_multiprocess",
        description="Steps run in the run worker (in_process) unless the run config selects "
                    "multiprocess.",
        config_schema=Field(selector, default_value=IN_PROCESS),
    )


in_process_or_multiprocess_executor = _in_process_by_default()
