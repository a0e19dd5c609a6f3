"""`dagster dev` as a subprocess for end-to-end tests, and its GraphQL API.

The webserver, the daemon and the code server run in their own process group, so stopping the
group also stops the run workers they launched. GraphQL goes over real HTTP: the official
`DagsterGraphQLClient` for what it covers (submitting a job, run status) and plain httpx for the
rest of the schema (backfills, asset events, check executions).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

TERMINAL_RUN_STATUSES = {"SUCCESS", "FAILURE", "CANCELED"}
TERMINAL_BACKFILL_STATUSES = {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}


class DagsterDevError(AssertionError):
    """`dagster dev` did not come up, or the GraphQL API answered with an error."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class DagsterDev:
    """`dagster dev` on 127.0.0.1 and a free port, as a context manager: `command(host, port)`
    is its command line (`mc_pipelines.cli.dev.ui_command`, what `make dev` runs)."""

    def __init__(self, command: Callable[[str, int], list[str]], env: dict[str, str], workdir: Path, *,
                 host: str = "127.0.0.1") -> None:
        self.command = command
        self.env = env
        self.workdir = workdir
        self.host = host
        self.port = free_port(host)
        self.log_path = workdir / "dagster-dev.log"
        self._process: subprocess.Popen[bytes] | None = None
        self.location = ""  # the code location's name and its repository, read once loaded
        self.repository = ""
        self._http = httpx.Client(timeout=httpx.Timeout(30.0, connect=5.0))

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 90.0) -> DagsterDev:
        cmd = self.command(self.host, self.port)
        with open(self.log_path, "wb") as log:
            self._process = subprocess.Popen(
                cmd, cwd=self.workdir, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )
        try:
            self._wait_for_code_location(timeout)
        except BaseException:
            self.stop()  # __exit__ never runs when __enter__ raises
            raise
        return self

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except FileNotFoundError:
            return ""

    def _wait_for_code_location(self, timeout: float) -> None:
        query = """{ workspaceOrError { __typename
            ... on Workspace { locationEntries { name loadStatus
                locationOrLoadError { __typename
                    ... on RepositoryLocation { repositories { name } }
                    ... on PythonError { message } } } }
            ... on PythonError { message } } }"""
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                raise DagsterDevError(f"dagster dev exited with {self._process.returncode}:\n{self.log_tail()}")
            try:
                data = self.graphql(query)
            except (httpx.TransportError, DagsterDevError) as exc:
                last = repr(exc)
                time.sleep(0.5)
                continue
            entries = data["workspaceOrError"].get("locationEntries", [])
            for entry in entries:
                if entry["loadStatus"] != "LOADED":
                    continue
                loaded = entry["locationOrLoadError"] or {}
                if loaded.get("__typename") == "PythonError":
                    raise DagsterDevError(f"code location {entry['name']} failed to load: {loaded['message']}")
                if loaded.get("__typename") == "RepositoryLocation" and loaded["repositories"]:
                    self.location, self.repository = entry["name"], loaded["repositories"][0]["name"]
                    return
            last = repr(entries)
            time.sleep(0.5)
        raise DagsterDevError(f"dagster dev not ready after {timeout:.0f} s ({last}):\n{self.log_tail()}")

    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """POST a query to /graphql; returns `data` or raises with the errors."""
        resp = self._http.post(f"{self.url}/graphql", json={"query": query, "variables": variables or {}})
        if resp.status_code != 200:
            raise DagsterDevError(f"GraphQL HTTP {resp.status_code}: {resp.text[:2000]}")
        body = resp.json()
        if body.get("errors"):
            raise DagsterDevError(f"GraphQL errors: {body['errors']}")
        return body["data"]

    def stop(self) -> None:
        """SIGTERM the process group, SIGKILL what is left after a grace period (idempotent)."""
        self._http.close()
        process, self._process = self._process, None
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=20)
        with contextlib.suppress(ProcessLookupError):  # children (code server, daemon, run
            os.killpg(process.pid, signal.SIGKILL)  # workers) may outlive the leader
        process.wait(timeout=10)

    def __enter__(self) -> DagsterDev:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# ---- queries ------------------------------------------------------------------------------------

JOB_ASSET_KEYS = """
query JobAssets($pipeline: PipelineSelector!) {
  assetNodes(pipeline: $pipeline) { assetKey { path } groupName }
}"""

LAUNCH_BACKFILL = """
mutation Backfill($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on Error { message }
    ... on PythonError { message stack }
  }
}"""

BACKFILL_STATUS = """
query BackfillStatus($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    __typename
    ... on PartitionBackfill {
      status
      partitionNames
      runs { id status tags { key value } }
      error { message stack }
    }
    ... on Error { message }
  }
}"""

RUN_QUEUE = """
{ instance { runQueuingSupported runQueueConfig { maxConcurrentRuns tagConcurrencyLimitsYaml } } }"""

AUTOMATION_STATES = """
query Automation($repo: RepositorySelector!) {
  schedulesOrError(repositorySelector: $repo) {
    __typename
    ... on Schedules { results { name scheduleState { status } } }
    ... on PythonError { message }
  }
  sensorsOrError(repositorySelector: $repo) {
    __typename
    ... on Sensors { results { name sensorState { status } } }
    ... on PythonError { message }
  }
}"""

RUN_STATUS = """
query RunStatus($id: ID!) {
  runOrError(runId: $id) {
    __typename
    ... on Run { id status tags { key value } }
    ... on Error { message }
  }
}"""

RUN_FAILURE_EVENTS = """
query RunLogs($id: ID!) {
  logsForRun(runId: $id, limit: 1000) {
    __typename
    ... on EventConnection { events {
      __typename
      ... on MessageEvent { message level }
      ... on ExecutionStepFailureEvent { stepKey error { message stack } }
      ... on RunFailureEvent { message }
    } }
  }
}"""

ASSET_MATERIALIZATIONS = """
query Materializations($key: AssetKeyInput!, $partitions: [String!]) {
  assetOrError(assetKey: $key) {
    __typename
    ... on Asset {
      assetMaterializations(partitions: $partitions, limit: 10) {
        runId partition timestamp
        metadataEntries {
          __typename label
          ... on IntMetadataEntry { intValue }
          ... on FloatMetadataEntry { floatValue }
          ... on TextMetadataEntry { text }
        }
      }
    }
  }
}"""

CHECK_EXECUTIONS = """
query Checks($key: AssetKeyInput!, $check: String!) {
  assetCheckExecutions(assetKey: $key, checkName: $check, limit: 50) {
    runId status partition timestamp
    evaluation { success partition checkName severity description }
  }
}"""


def run_failure_summary(dev: DagsterDev, run_id: str) -> str:
    """The step failures and error messages of a run, for an assertion message."""
    try:
        logs = dev.graphql(RUN_FAILURE_EVENTS, {"id": run_id})["logsForRun"]
    except DagsterDevError as exc:
        return f"(could not read the run's logs: {exc})"
    lines = []
    for event in logs.get("events", []):
        if event.get("__typename") == "ExecutionStepFailureEvent":
            err = event.get("error") or {}
            lines.append(f"step {event.get('stepKey')} failed: {err.get('message')}\n{''.join(err.get('stack') or [])[-1500:]}")
        elif event.get("level") == "ERROR" or event.get("__typename") == "RunFailureEvent":
            lines.append(f"{event['__typename']}: {event.get('message')}")
    return "\n".join(lines) or "(no error events)"


def wait_for_run(dev: DagsterDev, run_id: str, deadline: float) -> str:
    """Poll a run until it reaches a terminal status (or the deadline); returns the status."""
    status = "UNKNOWN"
    while time.monotonic() < deadline:
        run = dev.graphql(RUN_STATUS, {"id": run_id})["runOrError"]
        if run["__typename"] != "Run":
            raise DagsterDevError(f"run {run_id}: {run}")
        status = run["status"]
        if status in TERMINAL_RUN_STATUSES:
            return status
        time.sleep(1.0)
    raise DagsterDevError(f"run {run_id} still {status} at the deadline:\n{dev.log_tail()}")


def wait_for_backfill(dev: DagsterDev, backfill_id: str, deadline: float) -> dict[str, Any]:
    """Poll a backfill until it and all its runs are finished (or the deadline)."""
    backfill: dict[str, Any] = {}
    while time.monotonic() < deadline:
        backfill = dev.graphql(BACKFILL_STATUS, {"id": backfill_id})["partitionBackfillOrError"]
        if backfill["__typename"] != "PartitionBackfill":
            raise DagsterDevError(f"backfill {backfill_id}: {backfill}")
        runs_done = all(r["status"] in TERMINAL_RUN_STATUSES for r in backfill["runs"])
        if backfill["status"] in TERMINAL_BACKFILL_STATUSES and runs_done:
            return backfill
        time.sleep(1.0)
    raise DagsterDevError(f"backfill {backfill_id} unfinished at the deadline: {backfill}\n{dev.log_tail()}")


def materializations(dev: DagsterDev, asset: list[str], partition: str) -> list[dict[str, Any]]:
    """Materializations of `asset` for `partition`, newest first, metadata as {label: value}."""
    data = dev.graphql(ASSET_MATERIALIZATIONS, {"key": {"path": asset}, "partitions": [partition]})
    node = data["assetOrError"]
    if node["__typename"] != "Asset":
        return []
    events = []
    for event in sorted(node["assetMaterializations"], key=lambda e: float(e["timestamp"]), reverse=True):
        values = {}
        for entry in event["metadataEntries"]:
            for field in ("intValue", "floatValue", "text"):
                if field in entry:
                    values[entry["label"]] = entry[field]
        events.append({"runId": event["runId"], "partition": event["partition"], "metadata": values})
    return events


def check_executions(dev: DagsterDev, asset: list[str], check: str) -> list[dict[str, Any]]:
    """The latest executions of an asset check (every partition), newest first."""
    data = dev.graphql(CHECK_EXECUTIONS, {"key": {"path": asset}, "check": check})
    return sorted(data["assetCheckExecutions"], key=lambda e: e["timestamp"], reverse=True)


def automation_states(dev: DagsterDev) -> dict[str, str]:
    """Every schedule and sensor of the loaded code location: name → RUNNING / STOPPED."""
    data = dev.graphql(AUTOMATION_STATES, {"repo": {"repositoryName": dev.repository,
                                                    "repositoryLocationName": dev.location}})
    schedules, sensors = data["schedulesOrError"], data["sensorsOrError"]
    if schedules["__typename"] != "Schedules" or sensors["__typename"] != "Sensors":
        raise DagsterDevError(f"schedules/sensors: {schedules} {sensors}")
    return {**{s["name"]: s["scheduleState"]["status"] for s in schedules["results"]},
            **{s["name"]: s["sensorState"]["status"] for s in sensors["results"]}}
