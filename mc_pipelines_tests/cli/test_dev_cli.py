"""The developer commands: `mc-pipelines emulator` serves the emulator as the README says, and the
CLI's output carries no Dagster beta/preview/supersession notices."""

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

from mc_pipelines.cli import main

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
