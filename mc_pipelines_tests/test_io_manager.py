"""Contact data at rest: the run-scoped Arrow IO manager.

A real run of the product's `audience_sync_job` (the code location's Definitions, its IO
manager, the application DB on PostgreSQL, the emulator over HTTP) on an instance rooted at a
temporary DAGSTER_HOME; afterwards every byte of every file under it is searched for a seeded
contact's email. Also a run killed mid-way (SIGKILL of its process): its files are there until
the run is marked failed (what run monitoring does) and the sweeper sensor runs, then gone.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest
from dagster import (
    DagsterInstance,
    DagsterRunStatus,
    build_sensor_context,
    execute_job,
    instance_for_test,
    materialize,
    reconstructable,
)

from mc_pipelines.automation.run_config import ensure_org_partitions, org_tags, sync_run_config
from mc_pipelines.automation.run_frames import run_frames_sweeper
from mc_pipelines.io_manager import (
    RunScopedArrowIOManager,
    read_frame,
    write_frame,
)
from mc_pipelines_tests.support.app_data import (
    add_contacts,
    add_org,
    connect_to_emulator,
    contact_row,
)
from mc_pipelines_tests.support.dagster_runs import SYNC_ASSETS, resources_for

SEEDED = "zelda.quartermain-4471@acme-mail.io"
# values as files, as a run whose steps run in several processes (multiprocess, Celery) writes them
ON_DISK = {"io_manager": {"config": {"frames_in_memory": False}}}


def audience_sync_job():
    """The product's audience sync job, as a run worker reconstructs it."""
    from mc_pipelines.definitions import defs

    return defs.resolve_job_def("audience_sync_job")


def files_holding(root: Path, needle: str) -> list[str]:
    """Every file under `root` whose bytes contain `needle` (UTF-8, any case)."""
    forms = {needle.encode(), needle.upper().encode(), needle.encode("utf-16-le")}
    hits = []
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            if any(f in data for f in forms) or needle.encode() in data.lower():
                hits.append(str(path.relative_to(root)))
    return hits


@pytest.fixture
def home(tmp_path, monkeypatch, pg_app_engine, emulator) -> Path:
    """A DAGSTER_HOME of its own, an org with the seeded contact connected to the emulator, and
    the environment a run worker reads its resources from."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("MC_DATABASE_URL", pg_app_engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("MC_MAILCHIMP_BASE_URL", emulator.base_url_template)
    add_org(pg_app_engine, "acme")
    add_contacts(pg_app_engine, [contact_row("acme", 1, SEEDED)] +
                 [contact_row("acme", i, f"member{i}@acme-mail.io") for i in range(2, 40)])
    return home


def test_frames_round_trip_with_nested_columns(tmp_path):
    frame = pd.DataFrame({
        "contact_id": pd.array([1, 2, None], dtype="Int64"),
        "email": ["a@x.io", "b@x.io", None],
        "merge_fields": [{"FNAME": "A"}, {"FNAME": "B", "LNAME": "C"}, {}],
        "tags": [["vip"], [], ["a", "b"]],
        "at": pd.to_datetime(["2026-01-01", None, "2026-01-03"], utc=True),
    }, index=[5, 7, 9])
    write_frame(frame, tmp_path / "f")
    assert (tmp_path / "f" / "frame.arrow").exists()
    back = read_frame(tmp_path / "f")
    pd.testing.assert_frame_equal(back, frame)
    assert back["merge_fields"].iloc[1] == {"FNAME": "B", "LNAME": "C"}  # not an Arrow struct
    assert isinstance(back["tags"].iloc[0], list)


def test_no_contact_email_under_the_instance_after_a_run(home, pg_app_engine, emulator):
    connect_to_emulator(pg_app_engine, emulator, "acme")
    with instance_for_test(temp_dir=str(home)) as instance:
        ensure_org_partitions(instance, ["acme"])
        seen: list[str] = []
        # the scan itself can fail: the frames of the run are on disk while it runs
        original = RunScopedArrowIOManager.handle_output

        def spy(self, context, obj):
            original(self, context, obj)
            seen.extend(files_holding(home, SEEDED))

        RunScopedArrowIOManager.handle_output = spy
        try:
            result = execute_job(reconstructable(audience_sync_job), instance=instance,
                                 run_config=sync_run_config(executor={"in_process": {}}, resources=ON_DISK),
                                 tags={**org_tags("acme"), "dagster/partition": "acme"})
        finally:
            RunScopedArrowIOManager.handle_output = original
        assert result.success
        assert any("run_frames" in s for s in seen), "the run's frames were never on disk"
        audience = [m["email_address"] for m in emulator.dump_list(
            *_account(pg_app_engine, emulator))]
        assert SEEDED in audience
        assert files_holding(home, SEEDED) == []
        assert not any((home / "storage" / "run_frames").glob("*/*"))


def test_an_in_process_run_hands_its_frames_over_in_memory(home, pg_app_engine, emulator):
    connect_to_emulator(pg_app_engine, emulator, "acme")
    frames = home / "storage" / "run_frames"
    with instance_for_test(temp_dir=str(home)) as instance:
        ensure_org_partitions(instance, ["acme"])
        outputs: list[str] = []
        held: list[set[str]] = []  # the frames in memory after each output
        original = RunScopedArrowIOManager.handle_output

        def spy(self, context, obj):
            original(self, context, obj)
            outputs.append(context.asset_key.to_user_string())
            assert files_holding(home, SEEDED) == [], f"{outputs[-1]} reached the disk"
            held.append({k.parts[-2] for k in self._values})

        RunScopedArrowIOManager.handle_output = spy
        try:  # run config as the daemon launches it: the job's executor runs every step here
            result = execute_job(reconstructable(audience_sync_job), instance=instance,
                                 run_config=sync_run_config(),
                                 tags={**org_tags("acme"), "dagster/partition": "acme"})
        finally:
            RunScopedArrowIOManager.handle_output = original
        assert result.success
        assert {"source_contacts", "consented_contacts", "desired_members"} <= set(outputs)
        # a frame is held only until its one reader loaded it (source_contacts, the cohort), or
        # to the end of the run when its reader may retry (audience_sync); unread ones never
        after = dict(zip(outputs, held, strict=True))
        assert after["source_contacts"] == {"source_contacts"}
        assert after["consented_contacts"] == {"consented_contacts"}
        assert after["desired_members"] == {"segment_summary", "desired_members"}
        assert not frames.exists() or [p for p in frames.rglob("*") if p.is_file()] == []
        assert SEEDED in [m["email_address"] for m in emulator.dump_list(*_account(pg_app_engine, emulator))]


def _account(engine, emulator) -> tuple[str, str]:
    from mc_pipelines.store.connections import get_connection
    from mc_pipelines.store.secrets import decrypt_secret, load_fernet

    conn = get_connection(engine, "acme")
    return decrypt_secret(conn.api_key_encrypted, load_fernet(None)), conn.audience_id


KILLED_RUN = textwrap.dedent("""
    import sys
    from dagster import DagsterInstance, execute_job, reconstructable
    from mc_pipelines.automation.run_config import org_tags, sync_run_config
    from mc_pipelines_tests.test_io_manager import audience_sync_job
    instance = DagsterInstance.get()
    execute_job(reconstructable(audience_sync_job), instance=instance,
                run_config=sync_run_config(executor={"in_process": {}},
                                           resources={"io_manager": {"config": {"frames_in_memory": False}}}),
                tags={**org_tags("acme"), "dagster/partition": "acme"})
""")


def test_a_killed_runs_files_are_swept_once_it_is_no_longer_in_progress(home, pg_app_engine, emulator):
    account = connect_to_emulator(pg_app_engine, emulator, "acme")
    # creates take minutes: the run is killed while audience_sync waits for Mailchimp
    emulator.set_faults(account["api_key"], per_member_ms=10_000)
    (home / "dagster.yaml").write_text("")
    with DagsterInstance.get() as instance:
        ensure_org_partitions(instance, ["acme"])
    frames = home / "storage" / "run_frames"
    proc = subprocess.Popen([sys.executable, "-c", KILLED_RUN], env={**os.environ},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not list(frames.glob("*/desired_members/*")):
            assert proc.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline, "the run never wrote its frames"
            time.sleep(0.2)
        time.sleep(0.5)  # audience_sync has started: the files stay while it waits
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        emulator.set_faults(account["api_key"], per_member_ms=0)
    with DagsterInstance.get() as instance:
        assert files_holding(home, SEEDED), "the killed run left its frames (the scan can fail)"
        (run,) = instance.get_runs()
        assert run.status == DagsterRunStatus.STARTED
        run_frames_sweeper(build_sensor_context(instance=instance))
        assert files_holding(home, SEEDED), "a run still in progress keeps its files"
        instance.report_run_failed(run)  # what run monitoring does for a dead worker
        run_frames_sweeper(build_sensor_context(instance=instance))
        assert files_holding(home, SEEDED) == []


def test_a_single_asset_run_names_the_upstream_it_did_not_compute(home, pg_app_engine, emulator):
    connect_to_emulator(pg_app_engine, emulator, "acme")
    resources = {**resources_for(pg_app_engine, emulator), "io_manager": RunScopedArrowIOManager()}
    with instance_for_test(temp_dir=str(home)) as instance:
        ensure_org_partitions(instance, ["acme"])
        # the whole graph once (its frames do not outlive it), then audience_sync alone
        assert materialize(SYNC_ASSETS, partition_key="acme", instance=instance, resources=resources,
                           run_config=sync_run_config(), tags=org_tags("acme")).success
        result = materialize(SYNC_ASSETS, selection=["audience_sync"], partition_key="acme",
                             instance=instance, resources=resources, tags=org_tags("acme"),
                             raise_on_error=False)
        assert not result.success
        (failure,) = [e for e in result.all_events if e.is_step_failure]
        assert failure.step_failure_data.user_failure_data is not None  # a Failure, not retried
        message = failure.step_failure_data.error.to_string()
        assert "'desired_members' was not computed in this run" in message
        assert not [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
        # the first run is finished: the second one swept its files when it started
        assert files_holding(home, SEEDED) == []
