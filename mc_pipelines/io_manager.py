"""Run-scoped storage of the values passed between assets: in memory, or Arrow files removed at
run end.

Contact frames (emails, names, phones) are handed from one step of a run to the next; none may
outlive its run outside the application database (issue 15, "contact data at rest"). When every
step runs in one process (the in-process executor: the default here, the CLI, the bench) the
values are handed over in memory and never touch the disk (`frames_in_memory`, on by default):
an output no step of the run reads is not kept, one read by a single step that is never
retried is released when that step loads it, the rest are dropped at the end of the run.
Otherwise `RunScopedArrowIOManager` writes every value under
`<base_dir>/<run_id>/<asset key>/<partition>` and that directory is removed

- at the end of a run whose steps share one process (the in-process executor: the CLI, the
  bench, a run worker configured so) when the IO manager is torn down — success or failure;
- by `sweep_run_frames` for every other run: the `run_frames_sweeper` sensor calls it every
  minute (and so does each new run as it starts, and a GDPR erasure): it removes the directory of
  every run that is no longer in progress (finished, failed, canceled, killed and marked failed
  by run monitoring, or unknown to the instance) and of any run whose files are older than
  `max_age_hours` (a run killed without monitoring stays "started" for ever).

Format: a frame's Arrow-friendly columns (numbers, booleans, datetimes, categoricals, plain
strings) go to an Arrow IPC file (Feather v2, uncompressed: pyarrow's pandas metadata restores
dtypes and the index); columns of nested Python values (the merge-field dicts, tag lists, shared
between equal cells) go to a pickle next to it — converting those to Arrow and back costs several
times pickle's time, and pickle keeps the sharing of equal cells. Anything else (rare: non-frame
outputs) is pickled. Parquet was measured too: its encoding (dictionary pages) costs more than
the file saves on a local disk read once. Figures: `bench/README.md`.

Inputs are read from the *current* run's directory only: a run that did not compute an upstream
asset (a single-asset run, a re-execution) gets a `MissingUpstreamError` naming the asset to
materialize with it, never another run's (possibly stale) output.
"""

from __future__ import annotations

import os
import pickle
import shutil
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.feather as feather
from dagster import (
    ConfigurableIOManager,
    DagsterInstance,
    Failure,
    InitResourceContext,
    InputContext,
    OutputContext,
)
from dagster._core.execution.plan.outputs import StepOutputHandle
from pydantic import Field, PrivateAttr

from mc_pipelines.errors import FixableError

FRAME_FILE = "frame.arrow"
NESTED_FILE = "nested.pickle"
OBJECT_FILE = "value.pickle"
ARROW_INFERRED = frozenset({"string", "empty"})
RUN_FRAMES_DIR = "run_frames"


class MissingUpstreamError(FixableError, Failure):
    """An input whose upstream asset was not computed in this run (its value never outlives the
    run that computed it). A step `Failure` that is never retried: retrying cannot bring it back."""

    def __init__(self, message: str) -> None:
        Failure.__init__(self, description=message, allow_retries=False)


def default_base_dir() -> Path:
    """`$DAGSTER_HOME/storage/run_frames` (or a folder under the temp dir without DAGSTER_HOME)."""
    home = os.environ.get("DAGSTER_HOME")
    root = Path(home) / "storage" if home else Path(os.environ.get("TMPDIR", "/tmp")) / "mc_pipelines"
    return root / RUN_FRAMES_DIR


# ---- the format ----------------------------------------------------------------------------------


def _arrow_column(column: pd.Series) -> bool:
    if column.dtype != object:
        return True
    return pd.api.types.infer_dtype(column, skipna=True) in ARROW_INFERRED


def write_frame(frame: pd.DataFrame, folder: Path) -> None:
    """`frame` as an Arrow IPC file (Arrow-friendly columns) + a pickle of its nested columns."""
    folder.mkdir(parents=True, exist_ok=True)
    names = [str(c) for c in frame.columns]
    if len(set(names)) != len(names) or names != list(frame.columns):
        _write_pickle(frame, folder / OBJECT_FILE)  # odd column labels: keep the frame whole
        return
    flat = [c for c in frame.columns if _arrow_column(frame[c])]
    nested = [c for c in frame.columns if c not in set(flat)]
    table = pa.Table.from_pandas(frame[flat] if nested else frame, preserve_index=True)
    feather.write_feather(table, folder / FRAME_FILE, compression="uncompressed")
    if nested:
        _write_pickle({"order": list(frame.columns),
                       "columns": {c: frame[c].tolist() for c in nested}}, folder / NESTED_FILE)


def read_frame(folder: Path) -> Any:
    """The value `write_frame`/`write_value` stored in `folder`."""
    if (folder / OBJECT_FILE).exists():
        with open(folder / OBJECT_FILE, "rb") as fh:
            return pickle.load(fh)
    frame = feather.read_table(folder / FRAME_FILE).to_pandas()  # writable numpy columns
    if (folder / NESTED_FILE).exists():
        with open(folder / NESTED_FILE, "rb") as fh:
            nested = pickle.load(fh)
        for name, values in nested["columns"].items():
            frame[name] = pd.Series(values, index=frame.index, dtype=object)
        frame = frame[nested["order"]]
    return frame


def write_value(value: Any, folder: Path) -> None:
    """Any output: frames through `write_frame`, other values pickled."""
    if isinstance(value, pd.DataFrame):
        write_frame(value, folder)
    else:
        folder.mkdir(parents=True, exist_ok=True)
        _write_pickle(value, folder / OBJECT_FILE)


def _write_pickle(value: Any, path: Path) -> None:
    with open(path, "wb") as fh:
        pickle.dump(value, fh, protocol=pickle.HIGHEST_PROTOCOL)


# ---- run scoping -------------------------------------------------------------------------------


def remove_run_frames(base_dir: Path, run_id: str) -> bool:
    """Delete one run's directory; True when there was one."""
    folder = base_dir / run_id
    if not folder.exists():
        return False
    shutil.rmtree(folder, ignore_errors=True)
    return not folder.exists()


def sweep_run_frames(instance: DagsterInstance, base_dir: Path | None = None, *,
                     max_age_hours: float = 24.0, keep: str | None = None) -> list[str]:
    """Remove the directories of runs no longer in progress (or older than `max_age_hours`);
    `keep` is a run never removed (the caller's own). Returns the run ids removed."""
    base = base_dir or default_base_dir()
    if not base.is_dir():
        return []
    removed = []
    cutoff = time.time() - max_age_hours * 3600
    for folder in base.iterdir():
        run_id = folder.name
        if run_id == keep or not folder.is_dir():
            continue
        run = instance.get_run_by_id(run_id)
        try:
            stale = _newest_mtime(folder) < cutoff
        except FileNotFoundError:  # another run's sweep removed it meanwhile (Celery workers)
            continue
        if (run is None or run.is_finished or stale) and remove_run_frames(base, run_id):
            removed.append(run_id)
    return removed


def _newest_mtime(folder: Path) -> float:
    newest = folder.stat().st_mtime
    for path in folder.rglob("*"):
        try:
            newest = max(newest, path.stat().st_mtime)
        except FileNotFoundError:
            continue
    return newest


IN_PROCESS_RUNS: set[str] = set()
"""Runs whose steps all execute in this process, registered by the project's executor
(`automation/org_executor.py`) while it orchestrates them with Dagster's in-process executor."""


def _steps_share_process(context: InitResourceContext) -> bool:
    """True when every step of the run runs in this process (in-process executor): the IO
    manager's teardown is then the end of the run. Known from the project's executor, or from a
    run config that selects `in_process` (a run executed outside the project's executor)."""
    run = context.dagster_run
    if run is None:
        return False
    if run.run_id in IN_PROCESS_RUNS:
        return True
    execution = (run.run_config or {}).get("execution") or {}
    config = execution.get("config") if isinstance(execution, dict) else None
    return isinstance(config, dict) and "in_process" in config


def _readers(context: OutputContext) -> list[tuple[str, bool]] | None:
    """The steps of this run that read the output, each with whether it may be retried; None
    when the execution plan cannot tell (then the value is kept until the run ends)."""
    try:
        step_context = context.step_context
        plan, job = step_context.execution_plan, step_context.job_def
        handle = StepOutputHandle(context.step_key, context.name, context.mapping_key)
        return [(step.key, job.get_retry_policy_for_handle(step.node_handle) is not None)
                for step in plan.get_steps_to_execute_in_topo_order()
                if any(handle in i.get_step_output_handle_dependencies() for i in step.step_inputs)]
    except Exception:  # not an executing step (a test context), or a plan this code cannot read
        return None


class RunScopedArrowIOManager(ConfigurableIOManager):
    """Values between assets as Arrow IPC files (+ nested columns pickled), under a per-run
    directory removed when the run ends (see the module docstring)."""

    base_dir: str | None = Field(
        default=None,
        description="Root of the run directories; empty → $DAGSTER_HOME/storage/run_frames. Local "
        "disk shared by every step process of a run (one host).")
    max_age_hours: float = Field(
        default=24.0, gt=0,
        description="Run directories older than this are removed even if the run still shows as "
        "in progress (a killed run without run monitoring).")
    frames_in_memory: bool = Field(
        default=True,
        description="When every step of the run runs in this process (the in-process executor), "
        "hand values from step to step in memory: nothing is written to disk. Files otherwise.")
    _remove_at_teardown: bool = PrivateAttr(default=False)
    _in_memory: bool = PrivateAttr(default=False)
    _values: dict[Path, Any] = PrivateAttr(default_factory=dict)
    _read_once: set[Path] = PrivateAttr(default_factory=set)

    @property
    def root(self) -> Path:
        """Where the run directories live."""
        return Path(self.base_dir) if self.base_dir else default_base_dir()

    def setup_for_execution(self, context: InitResourceContext) -> None:
        """Sweep what finished or killed runs left; note whether teardown ends the run."""
        self._remove_at_teardown = _steps_share_process(context)
        self._in_memory = self._remove_at_teardown and self.frames_in_memory
        if context.instance is not None:
            sweep_run_frames(context.instance, self.root, max_age_hours=self.max_age_hours,
                             keep=context.run_id)

    def teardown_after_execution(self, context: InitResourceContext) -> None:
        """End of an in-process run (success or failure): its directory goes."""
        self._values.clear()
        self._read_once.clear()
        if self._remove_at_teardown and context.run_id:
            remove_run_frames(self.root, context.run_id)

    def _folder(self, run_id: str, context: OutputContext | InputContext) -> Path:
        if context.has_asset_key:
            folder = self.root / run_id / Path(*context.asset_key.path)
        elif isinstance(context, InputContext):
            upstream = context.upstream_output
            assert upstream is not None, "an op input without an upstream output"
            folder = self.root / run_id / upstream.step_key / upstream.name
        else:
            folder = self.root / run_id / context.step_key / context.name
        if context.has_asset_partitions:
            folder = folder / "__".join(context.asset_partition_keys)
        return folder

    def handle_output(self, context: OutputContext, obj: Any) -> None:
        """Write the value under this run's directory (None: nothing to keep)."""
        if obj is None:
            return
        if self._in_memory:
            readers = _readers(context)
            if readers == []:  # no step of this run reads it: nothing to keep
                return
            key = self._folder(context.run_id, context)
            self._values[key] = obj
            if readers is not None and len(readers) == 1 and not readers[0][1]:
                self._read_once.add(key)  # released when its one reader, never retried, loads it
            return
        write_value(obj, self._folder(context.run_id, context))

    def load_input(self, context: InputContext) -> Any:
        """Read the upstream value this run computed; a clear error when it did not."""
        upstream = context.upstream_output
        run_id = context.run_id if upstream is None else upstream.run_id
        folder = self._folder(run_id, context)  # the input context names the upstream asset
        if self._in_memory and folder in self._values:
            if folder in self._read_once:  # a million-row frame is not held for the whole run
                self._read_once.discard(folder)
                return self._values.pop(folder)
            return self._values[folder]
        if not folder.exists():
            name = context.asset_key.to_user_string() if context.has_asset_key else context.name
            raise MissingUpstreamError(
                f"input {name!r} was not computed in this run: values passed between assets hold "
                f"contact data and are removed when the run that computed them ends. Materialize "
                f"{name!r} in the same run (run the audience_sync_job, or select {name!r} and its "
                f"downstream assets together) instead of reusing an earlier run's output.")
        return read_frame(folder)


__all__ = ["MissingUpstreamError", "RunScopedArrowIOManager", "default_base_dir", "read_frame",
           "remove_run_frames", "sweep_run_frames", "write_frame", "write_value"]
