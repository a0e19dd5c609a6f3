"""The Definitions load as the UI and the daemon load them: every job resolves, every asset is
documented, and `dagster definitions validate` passes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from mc_pipelines.definitions import defs

ROOT = Path(__file__).resolve().parents[1]


def test_every_job_resolves():
    names = {job.name for job in defs.jobs}
    assert {"audience_sync_job", "member_status_pull_job", "campaign_stats_job"} <= names
    for name in names:
        assert defs.resolve_job_def(name).name == name


def test_every_asset_has_description_owner_kind_and_group():
    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.description, key
        assert node.owners, key
        assert node.kinds, key
        assert node.group_name and node.group_name != "default", key


def test_sync_graph_lineage_starts_at_the_application_tables():
    graph = defs.resolve_asset_graph()
    upstream = {k.to_user_string() for k in graph.get(
        next(k for k in graph.get_all_asset_keys() if k.to_user_string() == "source_contacts")).parent_keys}
    assert {"app/contacts", "mailchimp_member_status"} <= upstream


def test_dagster_definitions_validate_passes(tmp_path):
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path)}  # a fresh instance, not the production yaml
    result = subprocess.run(
        [str(Path(sys.executable).parent / "dagster"), "definitions", "validate", "-w", str(ROOT / "workspace.yaml")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=240,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_segments_are_three_assets_feeding_the_audience_sync():
    graph = defs.resolve_asset_graph()
    by_name = {k.to_user_string(): k for k in graph.get_all_asset_keys()}
    outputs = {"segment_members", "segment_summary", "desired_members"}
    assert outputs <= set(by_name)
    for name in outputs:
        assert {k.to_user_string() for k in graph.get(by_name[name]).parent_keys} >= {"consented_contacts"}
    sync_inputs = {k.to_user_string() for k in graph.get(by_name["audience_sync"]).parent_keys}
    assert {"desired_members", "segment_summary"} <= sync_inputs
    assert "segment_members" not in sync_inputs
    assert set(defs.resolve_job_def("audience_sync_job").asset_layer.selected_asset_keys) >= {
        by_name[n] for n in outputs}
