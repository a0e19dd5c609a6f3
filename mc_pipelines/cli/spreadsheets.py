"""Kapta's spreadsheet workflow and the tag options: `export`, `import`, `download-tags`,
`set-tag-options`."""

from __future__ import annotations

from pathlib import Path

import click

from mc_pipelines.actions.sheet_import import describe, load_sheet
from mc_pipelines.actions.tag_options import set_tag_options, tag_options
from mc_pipelines.assets.export import ContactsExportConfig
from mc_pipelines.assets.member_tags import TagsDownloadConfig
from mc_pipelines.automation import run_config
from mc_pipelines.automation.run_config import run_config_dict
from mc_pipelines.automation.sheet_import import IMPORT_OP, import_run_config
from mc_pipelines.cli.locking import lock_wait_option, org_locked
from mc_pipelines.cli.runs import _metadata_line, _report_failure, _run_job
from mc_pipelines.cli.support import (
    app_engine,
    cli_actor,
    current_instance,
    format_table,
    org_option,
    verbose_option,
)
from mc_pipelines.errors import OperationError
from mc_pipelines.store import connections

_VERBOSE_HELP = "print the run's step log too"


def _run_partitioned(job: str, org: str, config: dict, verbose: bool):
    instance = current_instance()
    run_config.ensure_org_partitions(instance, [org])
    return _run_job(job, instance, partition_key=org, verbose=verbose, run_config=config,
                    tags=run_config.org_tags(org))


@click.command("export", help="write the org's contacts export (CSV + XLSX, one Y/N column per "
               "tag): the template of `import`")
@org_option
@click.option("--directory", default=".data/exports", show_default=True,
              help="files go to DIRECTORY/<org>/")
@verbose_option(_VERBOSE_HELP)
def cmd_export(org: str, directory: str, verbose: bool) -> int:
    """Materialize `contacts_export` for the org in process and print the file paths."""
    connections.require_org(app_engine(), org)
    result = _run_partitioned("contacts_export_job", org, run_config_dict(
        {"contacts_export": ContactsExportConfig(directory=directory)}), verbose)
    if not result.success:
        return _report_failure(result, f"export of org {org}")
    for event in result.get_asset_materialization_events():
        meta = dict(event.materialization.metadata)
        print(f"contacts of org {org} exported: {_metadata_line(meta)}")
        for key in ("csv_path", "xlsx_path"):
            if key in meta:
                print(f"  {key.split('_')[0]}: {meta[key].value}")
    return 0


@click.command("import", help="import an edited contacts export: add consenting contacts that "
               "are not members, set the tags the sheet marks Y/N")
@org_option
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="show the plan per row; write nothing")
@lock_wait_option
@verbose_option(_VERBOSE_HELP)
def cmd_import(org: str, file: Path, dry_run: bool, lock_wait: float, verbose: bool) -> int:
    """Run the `spreadsheet_import` job for the org in process, under the org's lock (one run
    per org); print the outcome per row."""
    engine = app_engine()
    connections.require_active_connection(engine, org)
    load_sheet(file)  # refuse a file that cannot be used before any run (one `error:` line)
    with org_locked(engine, org, "import", lock_wait):
        result = _run_job("spreadsheet_import", run_config=import_run_config(
            org, str(file.resolve()), dry_run=dry_run, requested_by=cli_actor()),
            tags=run_config.org_tags(org, dry_run=dry_run), verbose=verbose)
    label = "dry run of the import" if dry_run else "import"
    if not result.success:
        return _report_failure(result, f"{label} of {file.name} for org {org}")
    detail = result.output_for_node(IMPORT_OP)
    counts = detail["counts"]
    print(f"{label} of {file.name} for org {org} (run {result.run_id}): " +
          " ".join(f"{k}={v}" for k, v in sorted(counts.items())))
    rows = [(r["row"], r["contact_id"], r["audience_id"], r["outcome"],
             "+" + ",".join(r["tags_added"]) if r["tags_added"] else "",
             "-" + ",".join(r["tags_removed"]) if r["tags_removed"] else "", r["reason"])
            for r in detail["outcomes"]]
    print(format_table(["row", "contact", "audience", "outcome", "added", "removed", "reason"], rows))
    for audience, columns in detail["ignored_columns"].items():
        for tag, why in columns.items():
            print(f"column tag:{tag} ignored for audience {audience}: {why}")
    for row, column, value in detail["invalid_samples"]:
        print(f"row {row}, column {column}: {value!r} is not Y or N (ignored)")
    reasons = sorted({r["reason"] for r in detail["outcomes"] if r["reason"]})
    for reason in reasons:
        print(f"  {reason}: {describe(reason)}")
    return 0


@click.command("download-tags", help="read every member's Mailchimp tags and add the ones the "
               "project does not manage to the app's contacts (opt-in)")
@org_option
@click.option("--dry-run", is_flag=True, help="report the contacts whose tags would change")
@verbose_option(_VERBOSE_HELP)
def cmd_download_tags(org: str, dry_run: bool, verbose: bool) -> int:
    """Run `contact_tags_download_job` for the org in process."""
    connections.require_active_connection(app_engine(), org)
    result = _run_partitioned("contact_tags_download_job", org, run_config_dict(
        {"contact_tags_download": TagsDownloadConfig(dry_run=dry_run)}), verbose)
    if not result.success:
        return _report_failure(result, f"tags download of org {org}")
    for event in result.get_asset_materialization_events():
        mat = event.materialization
        print(f"  {mat.asset_key.to_user_string()}: {_metadata_line(dict(mat.metadata))}")
    return 0


@click.command("set-tag-options", help="push the app's contact tags as managed tags (with a "
               "prefix), and/or set the tags of the members a sync creates")
@org_option
@click.option("--push-app-tags/--no-push-app-tags", default=None,
              help="push each contact's app tags to the default audience as managed tags")
@click.option("--app-tag-prefix", help="prefix of the pushed tags (default app:)")
@click.option("--new-member-tag", "new_member_tags", multiple=True,
              help="a tag every member a sync creates receives (repeat; never existing members)")
@click.option("--clear-new-member-tags", is_flag=True, help="no more new-member tags")
def cmd_set_tag_options(org: str, push_app_tags: bool | None, app_tag_prefix: str | None,
                        new_member_tags: tuple[str, ...], clear_new_member_tags: bool) -> int:
    """Change the connection's tag options (audited) and print them."""
    if clear_new_member_tags and new_member_tags:
        raise OperationError("give --new-member-tag or --clear-new-member-tags, not both")
    tags = [] if clear_new_member_tags else (list(new_member_tags) or None)
    engine = app_engine()
    changed = set_tag_options(engine, org, actor=cli_actor(), push_app_tags=push_app_tags,
                              app_tag_prefix=app_tag_prefix, new_member_tags=tags)
    options = tag_options(engine, org)
    print(f"org {org}: " + ("changed " + ", ".join(sorted(changed)) if changed else "nothing changed"))
    for key, value in options.items():
        print(f"  {key}: {value}")
    return 0


COMMANDS = [cmd_export, cmd_import, cmd_download_tags, cmd_set_tag_options]
