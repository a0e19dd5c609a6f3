"""One run per org from every entry point: `mc-pipelines sync` in a subprocess and a run of the
project's `audience_sync_job` through its executor (as the daemon launches it) in a thread,
started together on the same org, never overlap.

Both are held at the gate first (the test holds the org's lock) until each says it is waiting —
the CLI on stderr, the Dagster run in its event log — then the gate opens and they race. Each
side's interval is read from its own Dagster event log (first step start to last step end) and
from `sync_runs`; the intervals must be disjoint. Without the lock both would start at once.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from dagster import (
    DagsterEventType,
    DagsterInstance,
    execute_job,
    instance_for_test,
    reconstructable,
)

from mc_pipelines.automation.run_config import IN_PROCESS, ensure_org_partitions, org_tags
from mc_pipelines.store.org_lock import org_lock
from mc_pipelines.store.tables import sync_runs
from mc_pipelines_tests.support.app_data import (
    add_contacts,
    add_org,
    connect_to_emulator,
    contact_row,
)
from mc_pipelines_tests.support.secret_scan import capture_text

ROOT = Path(__file__).resolve().parents[2]
CLI = "import sys; from mc_pipelines.cli import main; sys.exit(main())"
DEADLINE = 180.0
ARTIFACTS = ROOT / "test-artifacts" / "one_run_per_org"


def audience_sync_job():
    """The project's job with the project's executor (module level: reconstructable)."""
    from mc_pipelines.definitions import defs

    return defs.resolve_job_def("audience_sync_job")


def _until(condition, what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.1)


def _step_interval(instance: DagsterInstance) -> tuple[float, float]:
    """From the first step start to the last step end of the instance's only run."""
    [run] = instance.get_runs()
    events = [e for e in instance.all_logs(run.run_id) if e.is_dagster_event]
    starts = [e.timestamp for e in events if e.dagster_event_type == DagsterEventType.STEP_START]
    ends = [e.timestamp for e in events if e.dagster_event_type in (
        DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE)]
    assert starts and ends, run.run_id
    return min(starts), max(ends)


def _waiting_logged(instance: DagsterInstance) -> bool:
    return any("is locked by" in (e.user_message or "")
               for run in instance.get_runs() for e in instance.all_logs(run.run_id))


@pytest.mark.distributed  # processes racing: ~1 min on 2 shared cores, so `make distributed`, not `make test`
def test_cli_sync_and_dagster_run_of_one_org_never_overlap(app_engine, emulator, tmp_path, monkeypatch):
    add_org(app_engine, "acme")
    add_contacts(app_engine, [contact_row("acme", i, f"member{i}@acme-mail.io") for i in range(1, 31)])
    connect_to_emulator(app_engine, emulator, "acme")
    cli_home = tmp_path / "cli_dagster_home"
    cli_home.mkdir()
    # both sides configure their resources from the environment, like a deployed code location
    monkeypatch.setenv("MC_DATABASE_URL", app_engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("MC_MAILCHIMP_BASE_URL", emulator.base_url_template)
    env = {**os.environ, "DAGSTER_HOME": str(cli_home), "PYTHONPATH": str(ROOT)}
    stderr_lines: queue.Queue[str] = queue.Queue()
    seen: list[str] = []
    outcome: dict[str, object] = {}

    with instance_for_test() as instance:
        with org_lock(app_engine, "acme", holder="test gate"):
            cli = subprocess.Popen([sys.executable, "-c", CLI, "sync", "--org", "acme"], cwd=ROOT, env=env,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            threading.Thread(target=lambda: [stderr_lines.put(line) for line in cli.stderr], daemon=True).start()

            def dagster_side() -> None:
                with execute_job(reconstructable(audience_sync_job), instance=instance, run_config=IN_PROCESS,
                                 tags={**org_tags("acme"), "dagster/partition": "acme"}) as result:
                    outcome["success"] = result.success

            ensure_org_partitions(instance, ["acme"])
            dagster = threading.Thread(target=dagster_side)
            dagster.start()

            def cli_waiting() -> bool:
                while not stderr_lines.empty():
                    seen.append(stderr_lines.get())
                assert cli.poll() is None, "".join(seen)
                return any(line.startswith("waiting: org acme is busy (test gate") for line in seen)

            _until(cli_waiting, "the CLI to wait for the lock")
            _until(lambda: _waiting_logged(instance), "the Dagster run to wait for the lock")
        # the gate is open: both race for the org
        dagster.join(DEADLINE)
        out, _ = cli.communicate(timeout=DEADLINE)
        while not stderr_lines.empty():
            seen.append(stderr_lines.get())
        capture_text("cli sync output", out + "".join(seen))
        assert cli.returncode == 0, out + "".join(seen)
        assert "audience sync of org acme: succeeded" in out
        assert outcome["success"]
        dagster_interval = _step_interval(instance)
    cli_instance = DagsterInstance.from_config(str(cli_home))
    try:
        cli_interval = _step_interval(cli_instance)
    finally:
        cli_instance.dispose()

    first, second = sorted([cli_interval, dagster_interval])
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / f"{app_engine.dialect.name}.json").write_text(json.dumps(
        {"cli_steps": cli_interval, "dagster_steps": dagster_interval, "gap_seconds": second[0] - first[1]},
        indent=2))
    assert first[1] <= second[0], f"the runs overlap: {first} and {second}"
    with app_engine.connect() as conn:
        rows = conn.execute(sa.select(sync_runs.c.dagster_run_id, sync_runs.c.started_at,
                                      sync_runs.c.finished_at).where(sync_runs.c.org_id == "acme")
                            .order_by(sync_runs.c.started_at)).all()
    assert len({r.dagster_run_id for r in rows}) == 2 and all(r.finished_at for r in rows)
    assert rows[0].finished_at <= rows[1].started_at
