"""Dagster plumbing shared by sensors, schedules, the CLI, tests and the bench: org partitions,
run tags and the one typed run-config builder of the sync job."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from dagster import DagsterInstance

from mc_pipelines.partitions import ORG_PARTITIONS_NAME

SYNC_OPS_WITH_DRY_RUN = ("audience_sync", "mailchimp_member_status")


def ensure_org_partitions(instance: DagsterInstance, org_ids: Iterable[str]) -> list[str]:
    """Add the org partitions that do not exist yet; returns the ones added."""
    existing = set(instance.get_dynamic_partitions(ORG_PARTITIONS_NAME))
    missing = sorted(set(org_ids) - existing)
    if missing:
        instance.add_dynamic_partitions(ORG_PARTITIONS_NAME, missing)
    return missing


def sync_run_config(dry_run: bool) -> dict[str, Any]:
    """Run config of the audience sync job (dry run: plan and report, write nothing)."""
    return {"ops": {op: {"config": {"dry_run": dry_run}} for op in SYNC_OPS_WITH_DRY_RUN}}


def org_tags(org_id: str, **extra: str) -> dict[str, str]:
    """Run tags every pipeline run of an org carries (`org` is limited to one run per value)."""
    return {"org": org_id, **extra}
