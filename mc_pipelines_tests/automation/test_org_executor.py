"""Which org a run locks, and the executor choice."""

from __future__ import annotations

import pytest
from dagster import DagsterRun

from mc_pipelines.automation.erasure import erasure_run_config
from mc_pipelines.automation.org_executor import EXECUTOR_ENV, project_executor
from mc_pipelines.automation.run_config import run_org
from mc_pipelines.errors import FixableError


def test_the_org_of_a_run_comes_from_its_tag_partition_or_erasure_config():
    assert run_org(DagsterRun(job_name="j", tags={"org": "acme", "dagster/partition": "acme"})) == "acme"
    assert run_org(DagsterRun(job_name="j", tags={"dagster/partition": "globex"})) == "globex"
    assert run_org(DagsterRun(job_name="gdpr_erasure", run_config=erasure_run_config("initech", 7))) == "initech"
    assert run_org(DagsterRun(job_name="housekeeping", run_config={"ops": {"purge_old_history": {
        "config": {"retention_days": 90}}}})) is None
    assert run_org(None) is None


def test_the_executor_is_chosen_by_mc_executor(monkeypatch):
    monkeypatch.delenv(EXECUTOR_ENV, raising=False)
    assert project_executor().name == "org_locked_in_process_or_multiprocess"
    monkeypatch.setenv(EXECUTOR_ENV, "celery")
    assert project_executor().name == "org_locked_celery"
    monkeypatch.setenv(EXECUTOR_ENV, "threads")
    with pytest.raises(FixableError, match="MC_EXECUTOR='threads' is not an executor"):
        project_executor()
