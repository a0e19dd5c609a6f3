"""One run per org for runs Dagster launches: the project's executor holds the org's lock
(`store/org_lock.py`) in the run worker for the whole run, around whatever executes the steps.

`org_locked(executor_def)` wraps an executor (the default `in_process_or_multiprocess_executor` of
`automation/executor.py`; `dagster_celery`'s executor in a Celery deployment) without changing its config,
so the launchpad, the run config builders and `execution: config: in_process` work as before.
The CLI's `sync`/`erase-contact` take the same lock themselves (their in-process runs bypass the
job's executor), so a run launched by the daemon and a CLI run of the same org never overlap:
whichever comes second waits, logging "org … is locked by …" in its event log, and fails after
`DEFAULT_WAIT_SECONDS` with a message naming the holder. Runs of no org take no lock.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

from dagster import (
    DagsterEvent,
    Executor,
    ExecutorDefinition,
    InitExecutorContext,
)
from dagster._core.execution.context.system import PlanOrchestrationContext
from dagster._core.execution.plan.plan import ExecutionPlan
from dagster._core.execution.retries import RetryMode
from dagster._core.executor.in_process import InProcessExecutor

from mc_pipelines.automation.executor import in_process_or_multiprocess_executor
from mc_pipelines.automation.run_config import run_org
from mc_pipelines.config import database_url
from mc_pipelines.errors import FixableError
from mc_pipelines.io_manager import IN_PROCESS_RUNS
from mc_pipelines.store.db import engine_for
from mc_pipelines.store.org_lock import DEFAULT_WAIT_SECONDS, org_lock


class OrgLockedExecutor(Executor):
    """Runs `inner`'s orchestration under the run's org lock."""

    def __init__(self, inner: Executor, wait_seconds: float = DEFAULT_WAIT_SECONDS) -> None:
        self.inner = inner
        self.wait_seconds = wait_seconds

    def __getattr__(self, name: str) -> Any:
        # executor-specific API (e.g. dagster_celery's `app_args()`, read from the plan context)
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)

    @property
    def retries(self) -> RetryMode:
        """The wrapped executor's retry mode."""
        return self.inner.retries

    @property
    def step_dependency_config(self) -> Any:
        """The wrapped executor's step dependency config."""
        return self.inner.step_dependency_config

    def execute(self, plan_context: PlanOrchestrationContext,
                execution_plan: ExecutionPlan) -> Iterator[DagsterEvent]:
        """The wrapped executor's events, produced while the run's org lock is held."""
        if isinstance(self.inner, InProcessExecutor):  # the IO manager hands frames over in memory
            IN_PROCESS_RUNS.add(plan_context.run_id)
        try:
            yield from self._execute(plan_context, execution_plan)
        finally:
            IN_PROCESS_RUNS.discard(plan_context.run_id)

    def _execute(self, plan_context: PlanOrchestrationContext,
                 execution_plan: ExecutionPlan) -> Iterator[DagsterEvent]:
        org_id = run_org(plan_context.dagster_run)
        if org_id is None:
            yield from self.inner.execute(plan_context, execution_plan)
            return

        def report(holder: str | None, waited: float) -> None:
            plan_context.log.warning(f"org {org_id!r} is locked by {holder or 'another run'}: waiting "
                                     f"({waited:.0f} s of at most {self.wait_seconds:.0f} s)")

        with org_lock(engine_for(database_url()), org_id, holder=f"dagster run {plan_context.run_id}",
                      timeout=self.wait_seconds, on_wait=report):
            yield from self.inner.execute(plan_context, execution_plan)


def org_locked(inner: ExecutorDefinition) -> ExecutorDefinition:
    """`inner` with the org lock around every run it orchestrates (same config schema)."""
    creation_fn = inner.executor_creation_fn
    if creation_fn is None:
        raise ValueError(f"executor {inner.name!r} has no creation function to wrap")

    def create(init_context: InitExecutorContext) -> Executor:
        return OrgLockedExecutor(creation_fn(init_context))

    return ExecutorDefinition(
        name=f"org_locked_{inner.name}", config_schema=inner.config_schema,
        requirements=inner.get_requirements, executor_creation_fn=create,
        description=f"{inner.description or inner.name} — under the run's org lock (one run per org).")


EXECUTOR_ENV = "MC_EXECUTOR"


def project_executor() -> ExecutorDefinition:
    """The executor of every job, chosen by `MC_EXECUTOR`: `multiprocess` (default: Dagster's
    multi-or-in-process executor, in process unless the run config selects multiprocess) or `celery` (`dagster_celery`'s, from the `celery` extra: steps
    go to Celery workers through the broker given in the run config) — under the org lock either
    way. The webserver, daemon, run workers and Celery workers must all see the same value."""
    choice = (os.environ.get(EXECUTOR_ENV) or "multiprocess").strip().lower()
    if choice == "multiprocess":
        return org_locked(in_process_or_multiprocess_executor)
    if choice == "celery":
        from dagster_celery import celery_executor  # optional: pip install 'mc_pipelines[celery]'

        return org_locked(celery_executor)
    raise FixableError(f"{EXECUTOR_ENV}={choice!r} is not an executor: use 'multiprocess' (default) or 'celery'")
