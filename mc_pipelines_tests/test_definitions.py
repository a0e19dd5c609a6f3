"""The Definitions load as the UI and the daemon load them: every job resolves, every asset is
documented, and `dagster definitions validate` passes."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from mc_pipelines.cli.dev import dagster_command, ui_command, workspace_args
from mc_pipelines.definitions import defs
from mc_pipelines.resources import project_resources

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


def _config_defaults(resources: dict) -> dict[str, dict]:
    return {name: r.get_resource_definition().config_schema.default_value for name, r in resources.items()}


def test_database_url_and_secret_key_are_env_vars_never_values(monkeypatch):
    monkeypatch.setenv("MC_DATABASE_URL", "sqlite:///do-not-show-me.db")
    secret = os.environ["MC_SECRET_KEY"]
    shown = _config_defaults(project_resources())  # what the launchpad and the run config show
    assert shown["app_db"]["url"] == {"env": "MC_DATABASE_URL"}
    assert shown["mailchimp"]["secret_key"] == {"env": "MC_SECRET_KEY"}
    assert "do-not-show-me" not in repr(shown) and secret not in repr(shown)
    assert _config_defaults(defs.resources) == shown
    monkeypatch.delenv("MC_DATABASE_URL")  # unset: the embedded SQLite default, as the CLI's
    assert _config_defaults(project_resources()) == shown
    assert os.environ["MC_DATABASE_URL"] == "sqlite:///.data/app.db"


def test_dagster_definitions_validate_passes_on_the_workspace_make_dev_loads(tmp_path):
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path)}  # a fresh instance, not the production yaml
    result = subprocess.run(
        dagster_command("definitions", "validate", *workspace_args()),  # as `make dev` runs dagster
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=240,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Validation successful for code location mc_pipelines." in result.stdout + result.stderr
    assert workspace_args() == ["-w", str(ROOT / "workspace.yaml")]
    assert ui_command("127.0.0.1", 3000)[-6:] == [*workspace_args(), "-h", "127.0.0.1", "-p", "3000"]
    # the code location's own processes print no Dagster maturity notices
    assert not re.search(r"BetaWarning|PreviewWarning|SupersessionWarning", result.stdout + result.stderr)


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


def test_project_resources_used_outside_a_run_read_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("MC_DATABASE_URL", f"sqlite:///{tmp_path / 'direct.db'}")
    resources = project_resources()
    assert resources["app_db"].engine.url.database == str(tmp_path / "direct.db")
    from mc_pipelines.resources import _resolved

    assert _resolved(resources["mailchimp"].secret_key) == os.environ["MC_SECRET_KEY"]
