"""Running the real Dagster definitions in tests: materialize the sync graph for an org partition
on real resources (the application DB under test and the emulator over HTTP)."""

from __future__ import annotations

from typing import Any

from dagster import (
    AssetsDefinition,
    Config,
    DagsterInstance,
    EnvVar,
    load_assets_from_modules,
    materialize,
)
from sqlalchemy.engine import Engine

from mc_pipelines.assets.settled import SETTLED_BY
from mc_pipelines.automation.jobs import AUDIENCE_SYNC_SELECTION
from mc_pipelines.automation.run_config import org_tags, run_config_dict, sync_run_config
from mc_pipelines.definitions import ASSET_MODULES, defs
from mc_pipelines.partitions import ORG_PARTITIONS_NAME
from mc_pipelines.resources import AppDatabase, MailchimpResource


def resources_for(engine: Engine, emulator, **mailchimp: Any) -> dict[str, Any]:
    """Real resources pointing at the test database and the emulator; the Fernet key comes through
    `EnvVar("MC_SECRET_KEY")` as in `definitions.py`."""
    return {
        "app_db": AppDatabase(url=engine.url.render_as_string(hide_password=False)),
        "mailchimp": MailchimpResource(secret_key=EnvVar("MC_SECRET_KEY"),
                                       base_url_template=emulator.base_url_template,
                                       backoff_base_seconds=0.01, **mailchimp),
    }


def _selected_assets() -> list[AssetsDefinition]:
    keys = AUDIENCE_SYNC_SELECTION.resolve(defs.resolve_asset_graph())
    return [a for a in load_assets_from_modules(ASSET_MODULES)
            if isinstance(a, AssetsDefinition) and a.keys & keys]


# the audience sync job's assets, taken from its selection (not a list kept in step by hand)
SYNC_ASSETS = _selected_assets()


def materialize_sync(instance: DagsterInstance, org_id: str, engine: Engine, emulator, *,
                     dry_run: bool = False, raise_on_error: bool = True,
                     sync_config: dict[str, Any] | None = None,
                     status_config: dict[str, Any] | None = None, **mailchimp: Any):
    """Materialize the audience sync graph for one org partition; returns the result.
    `sync_config`: more `audience_sync` config (e.g. `allow_mass_unsubscribe`); `status_config`:
    more `mailchimp_member_status` config (e.g. `full_refresh`, `page_size`)."""
    if not instance.has_dynamic_partition(ORG_PARTITIONS_NAME, org_id):
        instance.add_dynamic_partitions(ORG_PARTITIONS_NAME, [org_id])
    run_config = sync_run_config(dry_run, sync=sync_config, status=status_config)
    return materialize(SYNC_ASSETS, partition_key=org_id, instance=instance, run_config=run_config,
                       resources=resources_for(engine, emulator, **mailchimp),
                       raise_on_error=raise_on_error, tags=org_tags(org_id, dry_run=dry_run))


def metadata_of(result, asset: str) -> dict[str, Any]:
    """Metadata values of one asset's materialization in a run result."""
    for event in result.get_asset_materialization_events():
        mat = event.materialization
        if mat.asset_key.to_user_string() == asset:
            return {k: getattr(v, "value", v) for k, v in mat.metadata.items()}
    raise KeyError(f"{asset} was not materialized")


def sync_outcome_of(result) -> dict[str, Any]:
    """`audience_sync`'s metadata in a run: its materialization's, or, when the run found the org
    settled and planned nothing (`assets.settled`), its observation's (the same counts and listed
    rows, 0 Mailchimp calls)."""
    try:
        return metadata_of(result, "audience_sync")
    except KeyError:
        observed = observation_of(result, "audience_sync")
        assert SETTLED_BY in observed, "audience_sync neither materialized nor observed settled"
        return observed


def observation_of(result, asset: str) -> dict[str, Any]:
    """Metadata values of one asset's observation in a run result (a dry run's plan)."""
    for event in result.all_events:
        if event.is_asset_observation and event.asset_key.to_user_string() == asset:
            return {k: getattr(v, "value", v) for k, v in event.event_specific_data.asset_observation.metadata.items()}
    raise KeyError(f"{asset} was not observed")


def materialize_subset(instance: DagsterInstance, org_id: str, engine: Engine, emulator, names: list[str],
                       *, raise_on_error: bool = False, **mailchimp: Any):
    """Materialize only the named assets of the sync graph for one org (as the UI does for an
    asset materialized alone): their inputs are loaded from what earlier runs stored."""
    if not instance.has_dynamic_partition(ORG_PARTITIONS_NAME, org_id):
        instance.add_dynamic_partitions(ORG_PARTITIONS_NAME, [org_id])
    return materialize(SYNC_ASSETS, selection=names, partition_key=org_id, instance=instance,
                       resources=resources_for(engine, emulator, **mailchimp),
                       raise_on_error=raise_on_error, tags={"org": org_id})


def materialize_one(instance: DagsterInstance, asset: AssetsDefinition, org_id: str, engine: Engine,
                    emulator, config: Config | None = None) -> dict[str, Any]:
    """Materialize one org-partitioned asset (with its typed `config`, if any) on real resources;
    returns its metadata values."""
    if not instance.has_dynamic_partition(ORG_PARTITIONS_NAME, org_id):
        instance.add_dynamic_partitions(ORG_PARTITIONS_NAME, [org_id])
    name = asset.key.to_user_string()
    result = materialize([asset], partition_key=org_id, instance=instance,
                         run_config=run_config_dict({asset.op.name: config} if config is not None else None),
                         resources=resources_for(engine, emulator), tags={"org": org_id})
    return metadata_of(result, name)
