"""The Definitions load as the UI and the daemon load them: every job resolves, every asset is
documented, and `dagster definitions validate` passes."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

from mc_pipelines.assets.common import DB_KIND
from mc_pipelines.cli.dev import dagster_command, ui_command, workspace_args
from mc_pipelines.config import database_kind
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


def _asset_graph_names() -> tuple[object, dict[str, object]]:
    graph = defs.resolve_asset_graph()
    return graph, {k.to_user_string(): k for k in graph.get_all_asset_keys()}


def _ancestors(graph, key) -> set[str]:
    seen, todo = set(), [key]
    while todo:
        for parent in graph.get(todo.pop()).parent_keys:
            if parent.to_user_string() not in seen:
                seen.add(parent.to_user_string())
                todo.append(parent)
    return seen


def test_the_pull_runs_before_the_push_without_a_redundant_edge():
    graph, by_name = _asset_graph_names()
    sync = by_name["audience_sync"]
    # audience_sync reads the member state the pull refreshes; the pull is upstream of it through
    # source_contacts (which must see the consent the pull withdrew), so no direct edge is drawn
    assert "mailchimp_member_status" not in {k.to_user_string() for k in graph.get(sync).parent_keys}
    upstream = _ancestors(graph, sync)
    assert {"mailchimp_member_status", "source_contacts", "consented_contacts", "desired_members"} <= upstream
    assert "rejected_contacts" not in upstream  # a side output of the cohort, never an input of the sync
    assert "mailchimp_member_status" in _ancestors(graph, by_name["source_contacts"])
    job = defs.resolve_job_def("audience_sync_job")
    assert by_name["mailchimp_member_status"] in job.asset_layer.selected_asset_keys


#: assets that read or write the application database: their kind is the database's
DATABASE_ASSETS = {"app/contacts", "app/contact_segments", "app/mailchimp_connections", "app/consent_events",
                   "app/campaign_tracking", "mailchimp_member_status", "source_contacts", "campaign_stats",
                   "contacts_export", "mailchimp_member_tags", "contact_tags_download"}
DATABASE_KINDS = {"postgres", "sqlite"}
KINDS_OF_DATABASE_ASSETS = (
    "from mc_pipelines.definitions import defs; g = defs.resolve_asset_graph(); "
    "print({k.to_user_string(): sorted(g.get(k).kinds & {'postgres', 'sqlite'}) for k in g.get_all_asset_keys()})"
)


def test_database_kind_follows_the_url():
    assert database_kind("sqlite:///.data/app.db") == "sqlite"
    assert database_kind("postgresql+psycopg://u@h/db") == "postgres"
    assert database_kind("postgresql://u@h/db") == "postgres"


def test_assets_carry_the_kind_of_the_configured_database():
    graph, by_name = _asset_graph_names()
    loaded = {name: sorted(graph.get(key).kinds & DATABASE_KINDS) for name, key in by_name.items()}
    assert {name for name, kinds in loaded.items() if kinds} == DATABASE_ASSETS
    assert {kind for kinds in loaded.values() for kind in kinds} == {DB_KIND} == {database_kind()}
    # the other database, computed when the definitions load in a process configured for it
    other = {"sqlite": "postgresql+psycopg://postgres@127.0.0.1:5432/any", "postgres": "sqlite:///any.db"}[DB_KIND]
    result = subprocess.run([sys.executable, "-c", KINDS_OF_DATABASE_ASSETS], cwd=ROOT,
                            env={**os.environ, "MC_DATABASE_URL": other}, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr
    kinds = ast.literal_eval(result.stdout.strip().splitlines()[-1])
    assert {name: k for name, k in kinds.items() if k} == {name: [database_kind(other)] for name in DATABASE_ASSETS}


def _readme_groups() -> dict[str, set[str]]:
    """The README's table of asset groups: group → the assets it lists."""
    lines = (ROOT / "README.md").read_text().splitlines()
    start = lines.index("| group | assets |")
    groups = {}
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        group, assets = line.strip("|").split("|", 1)
        listed = assets.split(" (", 1)[0]  # a parenthesis comments on the list
        groups[group.strip().strip("`")] = set(re.findall(r"`([\w/]+)`", listed))
    return groups


def test_groups_are_the_ones_the_readme_lists():
    graph, by_name = _asset_graph_names()
    actual: dict[str, set[str]] = {}
    for name, key in by_name.items():
        actual.setdefault(graph.get(key).group_name, set()).add(name)
    assert actual == _readme_groups()
    assert {"mailchimp_member_status", "audience_sync", "rejected_contacts"} <= actual["mailchimp_sync"]
