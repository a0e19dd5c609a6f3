"""Scaling out: the same definitions on a distributed-style instance — run and event storage in
a fresh PostgreSQL database (dagster-postgres), each step in its own process (multiprocess
executor), the application DB on PostgreSQL and Mailchimp over HTTP, reached from every process
through the environment."""

from __future__ import annotations

import os

from dagster import DagsterEventType, JobDefinition, execute_job, instance_for_test, reconstructable

from mc_pipelines.automation.run_config import ensure_org_partitions, org_tags, run_config_dict
from mc_pipelines_tests.support.app_data import (
    add_contacts,
    add_org,
    connect_to_emulator,
    contact_row,
)

SYNC_STEPS = {"mailchimp_member_status", "source_contacts", "consented_contacts", "segment_members",
              "audience_sync"}


def audience_sync_job() -> JobDefinition:
    """The project's audience sync job, as every step process reconstructs it."""
    from mc_pipelines.definitions import defs

    return defs.resolve_job_def("audience_sync_job")


def test_two_orgs_sync_on_postgres_storage_with_the_multiprocess_executor(
        pg_app_engine, emulator, production_instance_config, monkeypatch):
    audiences = {}
    for n, org in enumerate(("acme", "globex")):
        add_org(pg_app_engine, org)
        add_contacts(pg_app_engine, [contact_row(org, n * 100 + i, f"member{i}@{org}-mail.io") for i in range(1, 6)])
        conn = connect_to_emulator(pg_app_engine, emulator, org)
        audiences[org] = conn
    # step processes configure their resources from the environment, like a deployed code location
    monkeypatch.setenv("MC_DATABASE_URL", pg_app_engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("MC_MAILCHIMP_BASE_URL", emulator.base_url_template)
    assert os.environ["MC_SECRET_KEY"]
    run_config = run_config_dict(executor={"multiprocess": {
        "max_concurrent": 2,
        # forked from a server that already imported the project: no per-step import cost
        "start_method": {"forkserver": {"preload_modules": ["mc_pipelines.definitions"]}},
    }})
    with instance_for_test(overrides=production_instance_config) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
        ensure_org_partitions(instance, ["acme", "globex"])

        def run(org: str) -> tuple[bool, set[str], set[int]]:
            with execute_job(reconstructable(audience_sync_job), instance=instance, run_config=run_config,
                             tags={**org_tags(org), "dagster/partition": org}) as result:
                events = result.all_events
                return (result.success,
                        {e.step_key for e in events if e.event_type == DagsterEventType.STEP_WORKER_STARTED},
                        {e.pid for e in events if e.event_type == DagsterEventType.STEP_START})

        for org in ("acme", "globex"):
            success, workers, pids = run(org)
            assert success, org
            assert workers == SYNC_STEPS  # every step ran in a worker process of its own
            assert os.getpid() not in pids and len(pids) == len(SYNC_STEPS)
        runs = instance.get_runs()
        assert sorted(r.tags["org"] for r in runs) == ["acme", "globex"]
    for org, conn in audiences.items():
        members = {m["email_address"] for m in emulator.dump_list(conn["api_key"], conn["audience_id"])}
        assert members == {f"member{i}@{org}-mail.io" for i in range(1, 6)}
