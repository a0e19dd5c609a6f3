"""The Dagster UI as a data engineer sees it, end to end.

`dagster dev` on a temporary instance (SQLite storage, the run queue with one run per org) and a
temporary SQLite application DB seeded with the demo orgs, each connected to its own account on the
Mailchimp emulator (a subprocess). Through Dagster's GraphQL API: one `audience_sync_job` run for
one org partition, then a backfill over two orgs (run by the daemon); the materializations, the
blocking `cohort_is_valid` check and the sync counts are read back through the API. Then headless
Chromium opens the asset graph and an asset's page and must show the assets and a metadata value;
screenshots go to test-artifacts/e2e/.
"""

from __future__ import annotations

import os
import re
import time
from contextlib import ExitStack

import pytest
from cryptography.fernet import Fernet
from dagster import DagsterInstance
from dagster_graphql import DagsterGraphQLClient

from mailchimp_emulator.harness import EmulatorServer
from mc_pipelines.automation.run_config import IN_PROCESS
from mc_pipelines.demo.run import setup_demo
from mc_pipelines_tests.e2e.browser import (
    dismiss_community_dialog,
    require_chromium,
    save_screenshot,
    start_chromium,
    wait_for,
)
from mc_pipelines_tests.e2e.dagster_dev import (
    INSTANCE_YAML,
    JOB_ASSET_KEYS,
    LAUNCH_BACKFILL,
    DagsterDev,
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
SYNC_GROUP = "mailchimp_sync"
BUDGET_SECONDS = 170


def _elapsed(started: float) -> str:
    return f"{time.monotonic() - started:5.1f} s"


@pytest.mark.timeout(BUDGET_SECONDS + 10)
def test_dagster_ui_end_to_end(tmp_path, monkeypatch):
    started = time.monotonic()
    deadline = started + BUDGET_SECONDS
    require_chromium()

    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(INSTANCE_YAML)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("MC_DATABASE_URL", f"sqlite:///{tmp_path / 'app.db'}")
    monkeypatch.setenv("MC_SECRET_KEY", Fernet.generate_key().decode())

    with ExitStack() as stack:
        server = stack.enter_context(EmulatorServer(mode="process"))
        monkeypatch.setenv("MC_MAILCHIMP_BASE_URL", server.base_url_template)
        with DagsterInstance.from_config(str(home)) as instance, monkeypatch.context() as m:
            m.chdir(tmp_path)  # the demo's relative .data/ lands in the temp dir, not the repo
            orgs = {org.org_id: org for org in setup_demo(server, instance)}
        assert set(BACKFILL_ORGS) <= set(orgs)
        print(f"[{_elapsed(started)}] demo orgs seeded and connected: {sorted(orgs)}")

        dev = stack.enter_context(DagsterDev("mc_pipelines.definitions", dict(os.environ), tmp_path))
        print(f"[{_elapsed(started)}] dagster dev answering on {dev.url} (location {dev.location})")

        # ---- one run for one org partition ------------------------------------------------------
        client = DagsterGraphQLClient("127.0.0.1", port_number=dev.port)
        run_id = client.submit_job_execution(
            JOB, repository_location_name=dev.location, repository_name=dev.repository,
            tags={"dagster/partition": SINGLE_ORG}, run_config=IN_PROCESS,
        )

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

        # ---- the UI in headless Chromium --------------------------------------------------------
        driver = start_chromium(tmp_path / "chromium-profile")
        stack.callback(driver.quit)
        group_assets = [n["assetKey"]["path"][-1] for n in nodes if n["groupName"] == SYNC_GROUP]
        assert "audience_sync" in group_assets, nodes
        driver.get(f"{dev.url}/locations/{dev.location}/asset-groups/{SYNC_GROUP}")
        wait_for(driver, lambda text: "Join the Dagster community" in text or SYNC_GROUP in text,
                 "the Dagster UI")
        dismiss_community_dialog(driver)
        wait_for(driver, lambda text: all(name in text for name in group_assets),
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
    print(f"[{_elapsed(started)}] dagster dev, Chromium and the emulator stopped")
