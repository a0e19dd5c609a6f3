"""The Dagster UI as a data engineer sees it, end to end.

`dagster dev` started as `make dev` starts it (`mc_pipelines.cli.dev`): `workspace.yaml`, so the
code location is `mc_pipelines`, on a freshly emptied demo instance whose dagster.yaml carries the
production run queue (one run per org), with the demo orgs seeded into a temporary SQLite
application DB, each connected to its own account on the Mailchimp emulator (a subprocess). The
demo seeds one address Mailchimp refuses per org; the test corrects it for `CLEAN_ORG` only, as
an operator would, so that org's syncs pass every check and the others warn.

Through Dagster's GraphQL API: one `audience_sync_job` run for one org partition, then a backfill
over two orgs (run by the daemon); the materializations, the blocking `cohort_is_valid` check,
`audience_sync`'s own checks and the sync counts are read back through the API. Then headless
Chromium opens the asset graph, an asset's partition page, `audience_sync`'s checks for an org
whose sync passed them all and for one with a WARN, and the Automation page with its default
switches; each must show the expected text, and screenshots go to test-artifacts/e2e/.
"""

from __future__ import annotations

import os
import re
import time
from contextlib import ExitStack

import pytest
import yaml
from cryptography.fernet import Fernet
from dagster import DefaultScheduleStatus, DefaultSensorStatus
from dagster_graphql import DagsterGraphQLClient

from mailchimp_emulator.harness import EmulatorServer
from mc_pipelines.assets.sync_checks import FAILED_ROWS_CHECK, GUARD_CHECK, NEEDS_A_PERSON_CHECK
from mc_pipelines.automation.run_config import IN_PROCESS
from mc_pipelines.cli.dev import prepare_dev, ui_command
from mc_pipelines.config import database_url
from mc_pipelines.definitions import defs
from mc_pipelines.demo.environment import demo_instance_settings
from mc_pipelines.demo.seed import REJECTED_BY_MAILCHIMP
from mc_pipelines.store.db import engine_for
from mc_pipelines.store.tables import contacts
from mc_pipelines_tests.e2e.browser import (
    automation_switches,
    check_partition_status,
    dismiss_community_dialog,
    listed_check_statuses,
    open_check_partition,
    require_chromium,
    save_screenshot,
    shows_name,
    start_chromium,
    wait_for,
)
from mc_pipelines_tests.e2e.dagster_dev import (
    JOB_ASSET_KEYS,
    LAUNCH_BACKFILL,
    RUN_QUEUE,
    DagsterDev,
    automation_states,
    check_executions,
    materializations,
    run_failure_summary,
    wait_for_backfill,
    wait_for_run,
)

pytestmark = pytest.mark.e2e

JOB = "audience_sync_job"
SINGLE_ORG = "acme"
BACKFILL_ORGS = ["acme", "globex"]  # acme again: the re-sync must write nothing
UI_ORG = "globex"
CLEAN_ORG = "acme"  # its refused address corrected before the first sync: every check passes
WARN_ORG = "globex"  # synced as seeded: the address Mailchimp refuses needs a person (WARN)
SYNC_CHECKS = [FAILED_ROWS_CHECK, GUARD_CHECK, NEEDS_A_PERSON_CHECK]
SYNC_GROUP = "mailchimp_sync"
#: On by default (issue 15): the schedules a deployment relies on without anyone switching them on.
DEFAULT_ON_SCHEDULES = {"daily_audience_sync", "hourly_member_status_pull", "campaign_stats_refresh",
                        "daily_housekeeping"}
BUDGET_SECONDS = 360  # a loaded 2-core machine: the backfill waits for the daemon's ticks


def _elapsed(started: float) -> str:
    return f"{time.monotonic() - started:5.1f} s"


def correct_rejected_address(org_id: str) -> None:
    """What an operator does with the address Mailchimp refuses: correct it in the application
    (the demo seeds one per org), before the org's first sync."""
    engine = engine_for(database_url())
    try:
        with engine.begin() as conn:
            corrected = conn.execute(contacts.update().where(
                contacts.c.org_id == org_id, contacts.c.email == REJECTED_BY_MAILCHIMP,
            ).values(email=f"corrected.address@{org_id}-mail.io")).rowcount
    finally:
        engine.dispose()
    assert corrected == 1, f"the demo seed has no {REJECTED_BY_MAILCHIMP} in {org_id}"


def declared_automation() -> dict[str, bool]:
    """Every schedule and sensor of the definitions: name → on by default."""
    repo = defs.get_repository_def()
    return {**{s.name: s.default_status == DefaultScheduleStatus.RUNNING for s in repo.schedule_defs},
            **{s.name: s.default_status == DefaultSensorStatus.RUNNING for s in repo.sensor_defs}}


def sync_check_outcomes(dev: DagsterDev, run_id: str) -> dict[str, dict]:
    """`audience_sync`'s check executions in one run: check name → execution."""
    outcomes = {}
    for check in SYNC_CHECKS:
        found = [e for e in check_executions(dev, ["audience_sync"], check) if e["runId"] == run_id]
        assert len(found) == 1, f"{check}: {len(found)} executions in run {run_id}"
        outcomes[check] = found[0]
    return outcomes


def submit_sync(client: DagsterGraphQLClient, dev: DagsterDev, org: str) -> str:
    """Submit `audience_sync_job` for one org partition through the run queue; the run id."""
    return client.submit_job_execution(
        JOB, repository_location_name=dev.location, repository_name=dev.repository,
        tags={"dagster/partition": org}, run_config=IN_PROCESS,
    )


def latest_check_execution(dev: DagsterDev, check: str, org: str) -> dict:
    """The newest execution of one of `audience_sync`'s checks for one org."""
    executions = [e for e in check_executions(dev, ["audience_sync"], check) if e["partition"] == org]
    assert executions, f"no {check} execution for {org}"
    return executions[0]


@pytest.mark.timeout(BUDGET_SECONDS + 60)
def test_dagster_ui_end_to_end(tmp_path, monkeypatch):
    started = time.monotonic()
    deadline = started + BUDGET_SECONDS
    require_chromium()

    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    monkeypatch.setenv("MC_DATABASE_URL", f"sqlite:///{tmp_path / 'app.db'}")
    monkeypatch.setenv("MC_SECRET_KEY", Fernet.generate_key().decode())

    with ExitStack() as stack:
        server = stack.enter_context(EmulatorServer(mode="process"))
        monkeypatch.setenv("MC_MAILCHIMP_BASE_URL", server.base_url_template)  # restored after the test
        with monkeypatch.context() as m:
            m.chdir(tmp_path)  # the demo's relative .data/ lands in the temp dir, not the repo
            orgs = {org.org_id: org for org in prepare_dev(server)}  # what `make dev` does
        assert {*BACKFILL_ORGS, CLEAN_ORG, WARN_ORG} <= set(orgs)
        correct_rejected_address(CLEAN_ORG)
        print(f"[{_elapsed(started)}] demo orgs seeded and connected: {sorted(orgs)}; "
              f"{CLEAN_ORG}'s refused address corrected")

        dev = stack.enter_context(DagsterDev(ui_command, dict(os.environ), tmp_path))
        print(f"[{_elapsed(started)}] dagster dev answering on {dev.url} (location {dev.location})")
        assert dev.location == "mc_pipelines", f"code location {dev.location!r}: not loaded from workspace.yaml"
        queue = dev.graphql(RUN_QUEUE)["instance"]
        production = demo_instance_settings()["run_coordinator"]["config"]["tag_concurrency_limits"]
        limits = yaml.safe_load((queue["runQueueConfig"] or {}).get("tagConcurrencyLimitsYaml") or "[]")
        assert queue["runQueuingSupported"] and limits == production, (
            f"the UI's instance has not the production run queue (one run per org): {queue}")
        assert {"key": "org", "value": {"applyLimitPerUniqueValue": True}, "limit": 1} in limits, limits

        # ---- one run for one org partition ------------------------------------------------------
        client = DagsterGraphQLClient("127.0.0.1", port_number=dev.port)
        run_id = submit_sync(client, dev, SINGLE_ORG)

        # ---- a backfill over two orgs, every asset of the job, launched at once: the daemon
        # picks it up on its next 30 s tick, and the run queue (one run per org) keeps its
        # SINGLE_ORG run behind the one above, which makes it an unchanged re-sync.
        pipeline = {"pipelineName": JOB, "repositoryName": dev.repository,
                    "repositoryLocationName": dev.location}
        nodes = dev.graphql(JOB_ASSET_KEYS, {"pipeline": pipeline})["assetNodes"]
        job_assets = [n["assetKey"]["path"] for n in nodes]
        assert ["audience_sync"] in job_assets and ["consented_contacts"] in job_assets, job_assets
        launched = dev.graphql(LAUNCH_BACKFILL, {"params": {
            "assetSelection": [{"path": path} for path in job_assets],
            "partitionNames": BACKFILL_ORGS,
            "title": "e2e: audience sync for two orgs",
            "runConfigData": IN_PROCESS,
        }})["launchPartitionBackfill"]
        assert launched["__typename"] == "LaunchBackfillSuccess", launched
        print(f"[{_elapsed(started)}] submitted run {run_id} and backfill {launched['backfillId']}")

        status = wait_for_run(dev, run_id, deadline)
        assert status == "SUCCESS", f"{JOB} for {SINGLE_ORG}: {status}\n{run_failure_summary(dev, run_id)}"
        assert client.get_run_status(run_id).value == "SUCCESS"
        print(f"[{_elapsed(started)}] run {run_id} ({JOB}, {SINGLE_ORG}): {status}")

        backfill = wait_for_backfill(dev, launched["backfillId"], deadline)
        failed = [r for r in backfill["runs"] if r["status"] != "SUCCESS"]
        assert not failed and backfill["status"] in ("COMPLETED", "COMPLETED_SUCCESS"), (
            f"backfill {launched['backfillId']}: {backfill['status']} {backfill.get('error')}\n"
            + "\n".join(f"run {r['id']} {r['status']}:\n{run_failure_summary(dev, r['id'])}" for r in failed)
        )
        partition_of = {r["id"]: t["value"] for r in backfill["runs"] for t in r["tags"]
                        if t["key"] == "dagster/partition"}
        assert sorted(partition_of.values()) == sorted(BACKFILL_ORGS), backfill["runs"]
        partition_of[run_id] = SINGLE_ORG
        print(f"[{_elapsed(started)}] backfill {launched['backfillId']}: {backfill['status']}, "
              f"runs {partition_of}")

        # ---- what the API says was materialized and checked -------------------------------------
        for org in BACKFILL_ORGS:
            for path in job_assets:
                assert materializations(dev, path, org), f"{'/'.join(path)} has no materialization for {org}"
        executions = {e["runId"]: e for e in check_executions(dev, ["consented_contacts"], "cohort_is_valid")}
        for rid, org in partition_of.items():
            execution = executions.get(rid)
            assert execution, f"no cohort_is_valid execution in run {rid} ({org}): {executions}"
            assert execution["status"] == "SUCCEEDED" and execution["evaluation"]["success"], execution
            # unpartitioned check specs record partition None (see the report); never another org
            assert execution["partition"] in (None, org), execution
            if execution["partition"] is None:
                print(f"note: cohort_is_valid in run {rid} ({org}) was recorded without a partition")

        acme_syncs = materializations(dev, ["audience_sync"], SINGLE_ORG)
        first = next(e for e in acme_syncs if e["runId"] == run_id)
        assert first["metadata"]["created"] > 0, first
        assert acme_syncs[0]["runId"] != run_id, "the backfill did not re-materialize the first org"
        assert acme_syncs[0]["metadata"]["created"] == 0, f"re-sync created members again: {acme_syncs[0]}"
        ui_sync = materializations(dev, ["audience_sync"], UI_ORG)[0]
        created = int(ui_sync["metadata"]["created"])
        assert created > 0, ui_sync
        print(f"[{_elapsed(started)}] API: materializations and cohort_is_valid OK; audience_sync "
              f"created: {SINGLE_ORG}={first['metadata']['created']} then 0 on re-sync, {UI_ORG}={created}")

        # audience_sync's checks, on the run that synced: the corrected org passes them all; an org
        # synced as seeded (one address Mailchimp refuses) warns that a row needs a person
        for rid, org in partition_of.items():
            outcomes = sync_check_outcomes(dev, rid)
            assert all(e["partition"] == org for e in outcomes.values()), outcomes
            if org == CLEAN_ORG:
                assert all(e["status"] == "SUCCEEDED" for e in outcomes.values()), outcomes
            else:
                assert outcomes[GUARD_CHECK]["status"] == "SUCCEEDED", outcomes
                warned = outcomes[NEEDS_A_PERSON_CHECK]
                assert warned["status"] == "FAILED" and warned["evaluation"]["severity"] == "WARN", warned
        print(f"[{_elapsed(started)}] API: audience_sync checks pass for {CLEAN_ORG}, "
              f"{NEEDS_A_PERSON_CHECK} warns for {WARN_ORG}")

        # ---- the UI in headless Chromium --------------------------------------------------------
        driver = start_chromium(tmp_path / "chromium-profile")
        stack.callback(driver.quit)
        group_assets = [n["assetKey"]["path"][-1] for n in nodes if n["groupName"] == SYNC_GROUP]
        assert "audience_sync" in group_assets, nodes
        driver.get(f"{dev.url}/locations/{dev.location}/asset-groups/{SYNC_GROUP}")
        wait_for(driver, lambda text: "Join the Dagster community" in text or SYNC_GROUP in text,
                 "the Dagster UI")
        dismiss_community_dialog(driver)
        wait_for(driver, lambda text: all(shows_name(text, name) for name in group_assets),
                 f"asset graph of {SYNC_GROUP} with {group_assets}")
        time.sleep(1.0)  # let the layout settle before the picture
        save_screenshot(driver, "asset_graph")

        driver.get(f"{dev.url}/assets/audience_sync?view=partitions&partition={UI_ORG}")
        row = re.compile(rf"(^|\n)\s*created\s+{created}\s*(\n|$)")
        text = wait_for(driver, lambda text: "audience_sync" in text and row.search(text) is not None,
                        f"audience_sync page for {UI_ORG} with created {created}")
        assert UI_ORG in text
        save_screenshot(driver, f"asset_audience_sync_{UI_ORG}")
        print(f"[{_elapsed(started)}] UI: asset graph and audience_sync page rendered")

        # ---- audience_sync's checks, per org: the check's Partitions tab with the org selected shows
        # its latest execution there (the list of checks on the left sums up every partition)
        for org, expected, shot in ((CLEAN_ORG, "Passed", "audience_sync_checks_passed"),
                                    (WARN_ORG, "Failed", "audience_sync_checks_warn")):
            latest = latest_check_execution(dev, NEEDS_A_PERSON_CHECK, org)
            text = open_check_partition(driver, f"{dev.url}/assets/audience_sync", NEEDS_A_PERSON_CHECK, org)
            assert check_partition_status(text, org) == expected, text[-2000:]
            assert latest["runId"][:8] in text, f"not the run {latest['runId']} of the latest execution"
            assert latest["evaluation"]["description"] in text, text[-2000:]
            listed = listed_check_statuses(text, SYNC_CHECKS)
            assert listed[GUARD_CHECK] == "Succeeded" and listed[NEEDS_A_PERSON_CHECK] == "Failed", listed
            save_screenshot(driver, f"{shot}_{org}")
            print(f"[{_elapsed(started)}] UI: {NEEDS_A_PERSON_CHECK} for {org}: {expected} "
                  f"({latest['evaluation']['description']!r}, run {latest['runId'][:8]})")

        # ---- the Automation page: every schedule and sensor with its default switch -------------
        declared = declared_automation()
        assert {name for name, on in declared.items() if on} >= DEFAULT_ON_SCHEDULES, declared
        states = automation_states(dev)
        assert states == {name: "RUNNING" if on else "STOPPED" for name, on in declared.items()}, states
        driver.get(f"{dev.url}/automation")
        wait_for(driver, lambda text: all(name in text for name in declared)
                 and automation_switches(driver) == declared,
                 f"the Automation page with every switch as declared {declared}")
        save_screenshot(driver, "automation_defaults")
        print(f"[{_elapsed(started)}] UI: Automation page: "
              + ", ".join(f"{name} {'on' if on else 'off'}" for name, on in sorted(declared.items())))
    print(f"[{_elapsed(started)}] dagster dev, Chromium and the emulator stopped")
