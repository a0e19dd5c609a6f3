"""Dagster plumbing shared by sensors, schedules, the CLI, tests and the bench: org partitions,
run tags and the one typed run-config builder of the sync job."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from dagster import Config, DagsterInstance, DagsterRun, RunConfig

from mc_pipelines.assets.audience_sync import AudienceSyncConfig, audience_sync
from mc_pipelines.assets.dry_run import DRY_RUN_TAG
from mc_pipelines.assets.member_status import MemberStatusConfig, mailchimp_member_status
from mc_pipelines.partitions import ORG_PARTITIONS_NAME


def ensure_org_partitions(instance: DagsterInstance, org_ids: Iterable[str]) -> list[str]:
    """Add the org partitions that do not exist yet; returns the ones added."""
    existing = set(instance.get_dynamic_partitions(ORG_PARTITIONS_NAME))
    missing = sorted(set(org_ids) - existing)
    if missing:
        instance.add_dynamic_partitions(ORG_PARTITIONS_NAME, missing)
    return missing


def run_config_dict(ops: Mapping[str, Config] | None = None, *, executor: Mapping[str, Any] | None = None,
                    resources: Mapping[str, Config] | None = None, log_level: str | None = None) -> dict[str, Any]:
    """A run config built from typed `Config` objects (`dagster.RunConfig`), as the plain dict
    every Dagster entry point takes; `executor` is e.g. `{"in_process": {}}`, `log_level` the
    console logger's; sections left empty are left out."""
    config = RunConfig(
        ops=dict(ops or {}), execution={"config": dict(executor)} if executor else {},
        resources=dict(resources or {}),
        loggers={"console": {"config": {"log_level": log_level}}} if log_level else {},
    ).to_config_dict()
    return {section: value for section, value in config.items() if value}


# steps in the run worker, not subprocesses: the same asset code without a Python start-up per step
# (the default multiprocess executor doubles the run time on a 2-core machine)
IN_PROCESS = run_config_dict(executor={"in_process": {}})


def sync_run_config(dry_run: bool = False, *, batch_size: int | None = None, page_size: int | None = None,
                    full_refresh: bool = False, allow_mass_unsubscribe: bool = False,
                    sync: Mapping[str, Any] | None = None, status: Mapping[str, Any] | None = None,
                    **sections: Any) -> dict[str, Any]:
    """Run config of the audience sync job (dry run: plan and report, write nothing, in every step:
    see `assets/dry_run.py`), from the assets' own `Config` classes; unset sizes keep their defaults. `allow_mass_unsubscribe` sends
    what the mass-unsubscribe guard would hold back (this run only). `sync` / `status`: more
    fields of `AudienceSyncConfig` / `MemberStatusConfig`. `sections` (executor, resources,
    log_level) go to `run_config_dict`."""
    push = AudienceSyncConfig(**{"dry_run": dry_run, "allow_mass_unsubscribe": allow_mass_unsubscribe,
                                 **({"batch_size": batch_size} if batch_size else {}), **(sync or {})})
    pull = MemberStatusConfig(**{"dry_run": dry_run, "full_refresh": full_refresh,
                                 **({"page_size": page_size} if page_size else {}), **(status or {})})
    return run_config_dict({audience_sync.op.name: push, mailchimp_member_status.op.name: pull}, **sections)


def org_tags(org_id: str, *, dry_run: bool = False, **extra: str) -> dict[str, str]:
    """Run tags every pipeline run of an org carries (`org` is limited to one run per value);
    a dry run also carries `mc/dry_run=true` (its steps add it themselves when only the config
    asks for a dry run, e.g. from the launchpad)."""
    return {"org": org_id, **({DRY_RUN_TAG: "true"} if dry_run else {}), **extra}


def run_org(run: DagsterRun | None) -> str | None:
    """The org a run works on: its `org` tag (sensors, schedules, the CLI), its partition (UI,
    backfills) or an op's `org_id` config (`gdpr_erasure` from the launchpad); None otherwise."""
    if run is None:
        return None
    if run.tags.get("org") or run.tags.get("dagster/partition"):
        return run.tags.get("org") or run.tags["dagster/partition"]
    for op_config in ((run.run_config or {}).get("ops") or {}).values():
        org_id = ((op_config or {}).get("config") or {}).get("org_id") if isinstance(op_config, dict) else None
        if isinstance(org_id, str) and org_id:
            return org_id
    return None
