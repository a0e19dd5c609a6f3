"""The asset graph and its automation as a committed snapshot (`snapshots/asset_graph.json`), so
any change to assets, deps, partitions, checks, kinds, owners, groups, jobs, schedules or sensors
shows in review as a diff of that file.

After an intended change, regenerate it and commit the diff:

    MC_UPDATE_SNAPSHOTS=1 pytest mc_pipelines_tests/test_graph_snapshot.py
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from dagster import instance_for_test

SNAPSHOT = Path(__file__).parent / "snapshots" / "asset_graph.json"
UPDATE_ENV = "MC_UPDATE_SNAPSHOTS"


def _partitions(partitions_def: Any) -> str | None:
    if partitions_def is None:
        return None
    name = getattr(partitions_def, "name", None)
    return f"{type(partitions_def).__name__}({name})" if name else type(partitions_def).__name__


def graph_snapshot() -> dict[str, Any]:
    """Everything a reviewer should see change, as plain sorted JSON data."""
    from mc_pipelines.definitions import defs

    graph = defs.resolve_asset_graph()
    assets = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        assets[key.to_user_string()] = {
            "deps": sorted(k.to_user_string() for k in node.parent_keys),
            "materializable": node.is_materializable,
            "partitions": _partitions(node.partitions_def),
            "group": node.group_name,
            "kinds": sorted(node.kinds),
            "owners": sorted(node.owners),
            "checks": sorted(
                f"{c.name}{' (blocking)' if graph.get_check_spec(c).blocking else ''}" for c in node.check_keys),
            "automation_condition": (node.automation_condition.get_label() or type(node.automation_condition).__name__)
            if node.automation_condition else None,
        }
    return {
        "assets": assets,
        "jobs": sorted(job.name for job in defs.resolve_all_job_defs() if not job.name.startswith("__")),
        "schedules": {s.name: {"cron": s.cron_schedule, "timezone": s.execution_timezone, "job": s.job_name,
                               "default_status": s.default_status.value}
                      for s in sorted(defs.schedules or [], key=lambda s: s.name)},
        "sensors": {s.name: {"default_status": s.default_status.value,
                             "minimum_interval_seconds": s.minimum_interval_seconds,
                             "jobs": sorted(t.job_name for t in s.targets)}
                    for s in sorted(defs.sensors or [], key=lambda s: s.name)},
    }


def test_asset_graph_matches_the_committed_snapshot():
    with instance_for_test():  # definitions are resolved against a live instance
        current = json.dumps(graph_snapshot(), indent=2, sort_keys=True) + "\n"
    if os.environ.get(UPDATE_ENV):
        SNAPSHOT.parent.mkdir(exist_ok=True)
        SNAPSHOT.write_text(current)
    assert SNAPSHOT.exists(), f"no snapshot yet: run `{UPDATE_ENV}=1 pytest {Path(__file__).name}`"
    assert current == SNAPSHOT.read_text(), (
        f"the asset graph changed: if intended, run `{UPDATE_ENV}=1 pytest "
        f"mc_pipelines_tests/test_graph_snapshot.py` and commit snapshots/asset_graph.json")
