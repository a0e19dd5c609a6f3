"""Running materializations of the sync graph for the benchmarks (see `worker`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from mc_pipelines.bench.data import BenchOrg
from mc_pipelines.bench.environment import MAX_CONNECTIONS, BenchEnvironment
from mc_pipelines.bench.worker import RssSampler


class BenchRunError(RuntimeError):
    """A benchmark materialization failed (the message carries the step errors)."""


def materialize_in_worker(env: BenchEnvironment, org: BenchOrg, *, dry_run: bool = False,
                          profile_to: Path | None = None, timeout: float = 600) -> dict[str, Any]:
    """Materialize the sync graph for `org` in a fresh worker process; its measurements plus
    `process_seconds` (the whole child process) and `emulator_peak_rss_bytes`.

    `profile_to`: run the worker under py-spy and write a speedscope profile there."""
    assert env.emulator is not None and env.emulator._process is not None
    spec = {
        "database_url": env.database_url, "dagster_home": str(env.dagster_home),
        "org_id": org.org_id, "base_url_template": env.emulator.base_url_template,
        "max_connections": MAX_CONNECTIONS, "dry_run": dry_run,
    }
    with tempfile.TemporaryDirectory(prefix="mc-bench-run-") as tmp:
        spec_path, out_path = Path(tmp) / "spec.json", Path(tmp) / "out.json"
        spec_path.write_text(json.dumps(spec), encoding="utf-8")
        cmd = [sys.executable, "-m", "mc_pipelines.bench.worker", str(spec_path), str(out_path)]
        if profile_to is not None:
            py_spy = Path(sys.executable).with_name("py-spy")
            cmd = [str(py_spy), "record", "--format", "speedscope", "--rate", "100",
                   "--output", str(profile_to), "--", *cmd]
        t0 = time.perf_counter()
        with RssSampler(env.emulator._process.pid, interval=0.1) as emulator_rss:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                                  env={**os.environ, "DAGSTER_HOME": str(env.dagster_home)})
        elapsed = time.perf_counter() - t0
        if not out_path.exists():
            raise BenchRunError(f"the worker did not report (exit {proc.returncode}): "
                                f"{proc.stderr[-3000:]}")
        out = json.loads(out_path.read_text(encoding="utf-8"))
    if not out["success"]:
        raise BenchRunError("materialization failed: " + " | ".join(out["failures"]))
    out["process_seconds"] = round(elapsed, 3)
    out["emulator_peak_rss_bytes"] = emulator_rss.peak
    return out


def write_calls(run: dict[str, Any]) -> int:
    """Mailchimp write calls of a run (the pull only reads), from audience_sync's metadata."""
    sync = run["metadata"].get("audience_sync", {})
    return int(sync.get("mailchimp_write_calls", 0))
