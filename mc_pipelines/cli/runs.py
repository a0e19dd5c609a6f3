"""Running things now: `sync-now` (a request for the sensor), `sync` (in process), `erase-contact`."""

from __future__ import annotations

import sys
import warnings
from typing import Any

import click
from dagster import BetaWarning, DagsterInstance, ExecuteInProcessResult, PreviewWarning

from mc_pipelines.actions import erasure, sync_requests
from mc_pipelines.automation import run_config
from mc_pipelines.automation.erasure import ERASE_OP, erasure_run_config
from mc_pipelines.automation.run_config import run_config_dict
from mc_pipelines.cli.locking import lock_wait_option, org_locked
from mc_pipelines.cli.support import (
    app_engine,
    cli_actor,
    current_instance,
    org_option,
    verbose_option,
)
from mc_pipelines.store import connections

_VERBOSE_HELP = "print the run's step log too"


def _run_job(job_name: str, instance: DagsterInstance | None = None, *, run_config: dict[str, Any],
             verbose: bool = False, **kwargs: Any) -> ExecuteInProcessResult:
    """Execute a job of the project in process; the step log only with `verbose` (the command
    prints its own summary, and the run's full log is in the instance either way)."""
    instance = instance or current_instance()  # before resolving: definitions read the live instance
    with warnings.catch_warnings():  # beta/preview notices of Dagster APIs are not for operators
        warnings.simplefilter("ignore", BetaWarning)
        warnings.simplefilter("ignore", PreviewWarning)
        from mc_pipelines.definitions import defs  # heavy: only for the commands that run a job

        log_level = "DEBUG" if verbose else "WARNING"
        return defs.resolve_job_def(job_name).execute_in_process(
            instance=instance, raise_on_error=False,
            run_config={**run_config, **run_config_dict(log_level=log_level)},
            **kwargs)


def _report_failure(result: ExecuteInProcessResult, what: str) -> int:
    messages = [
        f"{event.step_key}: {event.step_failure_data.error.message.strip()}"
        for event in result.all_events
        if event.is_step_failure and event.step_failure_data.error is not None
    ]
    print(f"error: {what} failed (run {result.run_id})", file=sys.stderr)
    for message in messages or ["see the run's logs in the Dagster UI"]:
        print(f"  {message}", file=sys.stderr)
    return 1


def _metadata_line(metadata: dict[str, Any]) -> str:
    """The counts and flags of a materialization (what the UI plots), plus its status if any."""
    shown = []
    for key, entry in metadata.items():
        value = getattr(entry, "value", entry)
        if key.startswith("dagster/"):
            continue
        if isinstance(value, bool | int | float) or key == "status":
            shown.append(f"{key}={value}")
    return " ".join(shown)


@click.command("sync-now", help="request a sync; the sync_requests sensor launches it")
@org_option
@click.option("--requested-by", help="who asks (recorded on the request); default: cli:<user>")
def cmd_sync_now(org: str, requested_by: str | None) -> int:
    """Insert a sync request; `sync_requests_sensor` turns it into a run."""
    request_id = sync_requests.request_sync_now(app_engine(), org,
                                                requested_by=requested_by or cli_actor())
    print(f"sync requested for org {org} (request {request_id}): sync_requests_sensor starts the "
          f"run on its next tick while the Dagster daemon runs; `mc-pipelines sync --org {org}` "
          "syncs right now instead")
    return 0


@click.command("sync", help="materialize the org's audience sync now, in process, and print the summary")
@org_option
@click.option("--dry-run", is_flag=True, help="compute and report the plan; write nothing")
@click.option("--allow-mass-unsubscribe", is_flag=True,
              help="send the unsubscribes the mass-unsubscribe guard held back (this run only)")
@lock_wait_option
@verbose_option(_VERBOSE_HELP)
def cmd_sync(org: str, dry_run: bool, allow_mass_unsubscribe: bool, lock_wait: float, verbose: bool) -> int:
    """Materialize the org's audience sync in process, on the current Dagster instance, under the
    org's lock (one run per org: waits for a sync of the org running elsewhere)."""
    engine = app_engine()
    connections.require_active_connection(engine, org)
    instance = current_instance()
    run_config.ensure_org_partitions(instance, [org])
    with org_locked(engine, org, "sync", lock_wait):
        result = _run_job("audience_sync_job", instance, partition_key=org, verbose=verbose,
                          run_config=run_config.sync_run_config(
                              dry_run, allow_mass_unsubscribe=allow_mass_unsubscribe),
                          tags=run_config.org_tags(org, dry_run=dry_run))
    label = "dry run of the audience sync" if dry_run else "audience sync"
    if not result.success:
        return _report_failure(result, f"{label} of org {org}")
    print(f"{label} of org {org}: succeeded (run {result.run_id})")
    for event in result.get_asset_materialization_events():
        materialization = event.materialization
        print(f"  {materialization.asset_key.to_user_string()}: {_metadata_line(dict(materialization.metadata))}")
    for event in result.get_asset_observation_events():  # a dry run's plan (never a materialization)
        observation = event.asset_observation_data.asset_observation
        print(f"  {observation.asset_key.to_user_string()} (plan): {_metadata_line(dict(observation.metadata))}")
    return 0


@click.command("erase-contact",
               help="GDPR erasure of one contact (Mailchimp delete-permanent + local records)")
@org_option
@click.option("--contact", required=True, type=int, help="the application's contact id")
@lock_wait_option
@verbose_option(_VERBOSE_HELP)
def cmd_erase_contact(org: str, contact: int, lock_wait: float, verbose: bool) -> int:
    """Run the gdpr_erasure job for one contact in process, under the org's lock, and print what
    it did."""
    engine = app_engine()
    erasure.plan_erasure(engine, org, contact)  # refuse bad input before a run
    with org_locked(engine, org, "erase-contact", lock_wait):
        result = _run_job("gdpr_erasure", run_config=erasure_run_config(org, contact, cli_actor()),
                          tags=run_config.org_tags(org), verbose=verbose)
    if not result.success:
        return _report_failure(result, f"erasure of contact {contact} of org {org}")
    detail = result.output_for_node(ERASE_OP)
    audiences = ", ".join(f"{a}: {o}" for a, o in detail["audiences"].items()) or "none (never in Mailchimp)"
    removed = ", ".join(f"{n} from {t}" for t, n in detail["removed"].items())
    print(f"contact {contact} of org {org}: {detail['outcome']} (run {result.run_id})")
    print(f"  Mailchimp audiences: {audiences}")
    print(f"  local rows removed: {removed}; consent withdrawn: {'yes' if detail['consent_withdrawn'] else 'no'}")
    return 0


COMMANDS = [cmd_sync_now, cmd_sync, cmd_erase_contact]
