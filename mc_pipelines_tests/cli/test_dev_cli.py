"""The developer commands: `dev` seeds the demo around a new emulator on an emptied instance with
the run queue, `emulator` serves the emulator as the README says, and the CLI's output carries no
Dagster beta/preview/supersession notices."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from dagster import DagsterInstance, QueuedRunCoordinator

from mc_pipelines.cli import main
from mc_pipelines.cli.dev import ui_command
from mc_pipelines.partitions import ORG_PARTITIONS_NAME

ROOT = Path(__file__).resolve().parents[2]
KEY = "0123456789abcdef0123456789abcdef-us6"  # pre-registered on the command line, test-only
NOTICES = re.compile(r"BetaWarning|PreviewWarning|SupersessionWarning")


def _command_line(*argv: str) -> list[str]:
    """The `mc-pipelines` console script of this environment, on this checkout's code."""
    return [str(Path(sys.executable).parent / "mc-pipelines"), *argv]


@pytest.fixture
def emulator_process() -> Iterator[tuple[list[str], str]]:
    """`mc-pipelines emulator` in its own process; yields the stderr lines read until the server
    listened, and its base URL. Stopped with Ctrl-C (SIGINT) at the end."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    process = subprocess.Popen(
        _command_line("emulator", "--port", "0", "--api-key", KEY, "--no-access-log"),
        cwd=ROOT, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    lines: list[str] = []
    base = ""
    try:
        assert process.stderr is not None
        for line in process.stderr:  # ends when the process does, so a crash cannot hang here
            lines.append(line)
            listening = re.search(r"Uvicorn running on (http://127\.0\.0\.1:\d+)", line)
            if listening:
                base = listening.group(1)
                break
        assert base, "".join(lines)
        yield lines, base
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def test_emulator_command_serves_the_mailchimp_api_without_dagster_notices(emulator_process):
    startup, base = emulator_process
    answer = httpx.get(f"{base}/us6/3.0/ping", auth=("anystring", KEY), timeout=10)
    assert answer.status_code == 200, answer.text
    assert answer.json()["health_status"] == "Everything's Chimpy!"
    assert "Mailchimp emulator on" in "".join(startup)
    # everything the CLI printed on start-up (importing every command and the asset definitions)
    assert not [line for line in startup if NOTICES.search(line)], "".join(startup)


def test_emulator_command_takes_the_emulators_own_flags(capsys):
    assert main(["emulator", "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: mc-pipelines emulator") and "--latency-ms" in out
    assert main(["emulator", "--error-rate", "3"]) == 2
    assert capsys.readouterr().err.strip() == "error: --error-rate must be between 0 and 1"
    assert main(["emulator", "--no-such-flag"]) == 2
    assert "unrecognized arguments: --no-such-flag" in capsys.readouterr().err


def test_dev_seeds_the_demo_on_an_emptied_instance_with_the_run_queue(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    for var in ("MC_DATABASE_URL", "MC_MAILCHIMP_BASE_URL"):  # recorded, so the test restores them
        monkeypatch.setenv(var, "")
        monkeypatch.delenv(var)
    home = tmp_path / "dagster_home"
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    stale = home / "storage" / "desired_members" / "acme"  # a step output of a previous dataset
    stale.parent.mkdir(parents=True)
    stale.write_text("audiences of an emulator that is gone")

    assert main(["dev", "--no-ui", "--port", "3001"]) == 0
    out = capsys.readouterr().out
    assert "seeded 6660 contacts in 3 orgs" in out and "demo orgs connected to the emulator" in out
    assert "would run: " + " ".join(ui_command("127.0.0.1", 3001)) in out
    assert f"-w {ROOT / 'workspace.yaml'}" in out
    assert not stale.exists()
    with DagsterInstance.from_config(str(home)) as instance:
        assert isinstance(instance.run_coordinator, QueuedRunCoordinator)
        assert instance.get_runs() == []
        assert set(instance.get_dynamic_partitions(ORG_PARTITIONS_NAME)) == {"acme", "globex", "initech"}
