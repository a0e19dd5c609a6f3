"""Running things now: `sync-now` (a request for the sensor), `sync` (in process), `erase-contact`."""

from __future__ import annotations

import argparse
import sys
import warnings
from typing import Any

from dagster import BetaWarning, DagsterInstance, ExecuteInProcessResult, PreviewWarning

from mc_pipelines.actions import erasure, sync_requests
from mc_pipelines.automation import run_config
from mc_pipelines.automation.erasure import ERASE_OP, erasure_run_config
from mc_pipelines.cli.base import app_engine
from mc_pipelines.cli.support import add_org_command, cli_actor, current_instance, fixable
from mc_pipelines.store import connections


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
            run_config={**run_config, "loggers": {"console": {"config": {"log_level": log_level}}}},
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


@fixable
def cmd_sync_now(args: argparse.Namespace) -> int:
    """Insert a sync request; `sync_requests_sensor` turns it into a run."""
    request_id = sync_requests.request_sync_now(app_engine(), args.org,
                                             requested_by=args.requested_by or cli_actor())
    print(f"sync requested for org {args.org} (request {request_id}): sync_requests_sensor starts the "
          f"run on its next tick while the Dagster daemon runs; `mc-pipelines sync --org {args.org}` "
          "syncs right now instead")
    return 0


@fixable
def cmd_sync(args: argparse.Namespace) -> int:
    """Materialize the org's audience sync in process, on the current Dagster instance."""
    connections.require_active_connection(app_engine(), args.org)
    instance = current_instance()
    run_config.ensure_org_partitions(instance, [args.org])
    result = _run_job("audience_sync_job", instance, partition_key=args.org, verbose=args.verbose,
                      run_config=run_config.sync_run_config(args.dry_run), tags=run_config.org_tags(args.org))
    label = "dry run of the audience sync" if args.dry_run else "audience sync"
    if not result.success:
        return _report_failure(result, f"{label} of org {args.org}")
    print(f"{label} of org {args.org}: succeeded (run {result.run_id})")
    for event in result.get_asset_materialization_events():
        materialization = event.materialization
        print(f"  {materialization.asset_key.to_user_string()}: {_metadata_line(dict(materialization.metadata))}")
    return 0


@fixable
def cmd_erase_contact(args: argparse.Namespace) -> int:
    """Run the gdpr_erasure job for one contact in process and print what it did."""
    erasure.plan_erasure(app_engine(), args.org, args.contact)  # refuse bad input before a run
    result = _run_job("gdpr_erasure", run_config=erasure_run_config(args.org, args.contact, cli_actor()),
                      tags=run_config.org_tags(args.org), verbose=args.verbose)
    if not result.success:
        return _report_failure(result, f"erasure of contact {args.contact} of org {args.org}")
    detail = result.output_for_node(ERASE_OP)
    audiences = ", ".join(f"{a}: {o}" for a, o in detail["audiences"].items()) or "none (never in Mailchimp)"
    removed = ", ".join(f"{n} from {t}" for t, n in detail["removed"].items())
    print(f"contact {args.contact} of org {args.org}: {detail['outcome']} (run {result.run_id})")
    print(f"  Mailchimp audiences: {audiences}")
    print(f"  local rows removed: {removed}; consent withdrawn: {'yes' if detail['consent_withdrawn'] else 'no'}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add this module's commands."""
    p = add_org_command(subparsers, "sync-now", cmd_sync_now,
                        "request a sync; the sync_requests sensor launches it")
    p.add_argument("--requested-by", help="who asks (recorded on the request); default: cli:<user>")
    p = add_org_command(subparsers, "sync", cmd_sync,
                        "materialize the org's audience sync now, in process, and print the summary")
    p.add_argument("--dry-run", action="store_true", help="compute and report the plan; write nothing")
    p.add_argument("--verbose", action="store_true", help="print the run's step log too")
    p = add_org_command(subparsers, "erase-contact", cmd_erase_contact,
                        "GDPR erasure of one contact (Mailchimp delete-permanent + local records)")
    p.add_argument("--contact", required=True, type=int, help="the application's contact id")
    p.add_argument("--verbose", action="store_true", help="print the run's step log too")
