"""Kapta's spreadsheet workflow and tags both ways (issue 16, items 3-5) through the actions the CLI
runs: `/orgs/{org_id}/export` (the import template, CSV or XLSX), `/orgs/{org_id}/imports` (an
edited export uploaded as the raw body), `/orgs/{org_id}/tag-options`, `/orgs/{org_id}/tags/refresh`
and `/orgs/{org_id}/tags/download`.

Contact data never outlives the request outside the application DB: an upload is written to a
private temporary directory that is removed before the answer is sent, and an export is built in
one and read back into the answer. The import and the tag writes run under the org's lock (never
while a run of the org writes; 409 after `endpoint.LOCK_WAIT_SECONDS`).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import Field
from starlette.responses import Response

from mc_pipelines.actions import sheet_export, sheet_import, tag_options, tags_download
from mc_pipelines.actions.connections import client_for_connection
from mc_pipelines.api.endpoint import Call, Download, Endpoint, Upload
from mc_pipelines.api.models import Body, Out, Query, omitted, text
from mc_pipelines.effects.workbook import MAX_BYTES, WorkbookError, write_csv, write_xlsx
from mc_pipelines.mailchimp.endpoints import MailchimpClient
from mc_pipelines.store.connections import Connection

CSV = "text/csv"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
BINARY = "application/octet-stream"
#: media type → file suffix the workbook reader takes
SUFFIXES = {CSV: ".csv", XLSX: ".xlsx"}
WRITERS: dict[str, Callable[..., None]] = {"csv": write_csv, "xlsx": write_xlsx}


def _client_for(connection: Connection, _metrics: Any = None) -> MailchimpClient:
    """`client_for_connection` as the tag read's factory (which also passes call metrics)."""
    return client_for_connection(connection)


# -- export ------------------------------------------------------------------------------------
class ExportQuery(Query):
    """The export's file format."""

    format: Literal["csv", "xlsx"] = Field(default="xlsx", description="csv or xlsx")


def export(call: Call) -> Response:
    """The org's contacts export (the import template), tags read from Mailchimp now."""
    fmt = call.query.format
    template = sheet_export.export_template(call.engine, _client_for, call.org_id)
    with tempfile.TemporaryDirectory(prefix="mc-export-") as tmp:
        path = Path(tmp) / f"contacts.{fmt}"
        WRITERS[fmt](template.frame, path)
        content = path.read_bytes()
    return Response(content, media_type=CSV if fmt == "csv" else XLSX, headers={
        "Content-Disposition": f'attachment; filename="contacts.{fmt}"',
        "X-Contacts": str(template.contacts)})


# -- import ------------------------------------------------------------------------------------
class ImportQuery(Query):
    """How to import the uploaded file."""

    dry_run: bool = Field(default=False, description="plan and report per row; write nothing")
    filename: text(255, 1) = omitted(  # type: ignore[valid-type]
        description="the file's name: its suffix (.csv, .xlsx) says the format when the "
                    "Content-Type does not")


class ImportRowOut(Out):
    """One sheet row's outcome (`reason` says why a row was skipped or ignored)."""

    row: int
    contact_id: int | None
    audience_id: str | None
    outcome: str
    reason: str | None
    tags_added: list[str]
    tags_removed: list[str]


class InvalidCellOut(Out):
    """A tag cell that was not Y, N or empty (ignored)."""

    row: int
    column: str
    value: str


class ImportOut(Out):
    """What the import did (or, in a dry run, would do)."""

    dry_run: bool
    run_id: str | None = Field(description="the sync run recording it (None in a dry run)")
    counts: dict[str, int]
    outcomes: list[ImportRowOut]
    ignored_columns: dict[str, dict[str, str]] = Field(
        description="audience id → tag column ignored → why")
    invalid_samples: list[InvalidCellOut]
    reasons: dict[str, str] = Field(description="each reason of the outcomes, explained")


def _suffix(call: Call) -> str:
    if call.query.filename is not None:
        suffix = Path(call.query.filename).suffix.lower()
        if suffix in (".csv", ".xlsx", ".xlsm"):
            return suffix
        raise WorkbookError(f"filename {call.query.filename!r} is neither .csv nor .xlsx: upload "
                            "the contacts export as CSV or XLSX")
    if call.content_type in SUFFIXES:
        return SUFFIXES[call.content_type]
    raise WorkbookError(f"cannot tell the format of the file from Content-Type "
                        f"{call.content_type[:100]!r}: "
                        f"send Content-Type {CSV} or {XLSX}, or give ?filename=NAME.csv|.xlsx")


def import_contacts(call: Call) -> ImportOut:
    """Import the uploaded sheet under the org's lock; the file is gone when this returns."""
    suffix = _suffix(call)
    if not call.upload:
        raise WorkbookError("the request body is empty: send the edited contacts export's bytes "
                            "as the body")
    with tempfile.TemporaryDirectory(prefix="mc-import-") as tmp:
        path = Path(tmp) / f"upload{suffix}"
        path.write_bytes(call.upload)
        with call.org_locked("import"):
            done = sheet_import.import_sheet(call.engine, client_for_connection, call.org_id, path,
                                             actor=call.actor, dry_run=call.query.dry_run)
    report = done.summary()
    reasons = sorted({r["reason"] for r in report["outcomes"] if r["reason"]})
    return ImportOut(
        dry_run=done.dry_run, run_id=report["run_id"], counts=report["counts"],
        outcomes=[ImportRowOut(**{k: (int(v) if k == "contact_id" and v is not None else v)
                                  for k, v in r.items()}) for r in report["outcomes"]],
        ignored_columns=report["ignored_columns"],
        invalid_samples=[InvalidCellOut(row=int(r), column=c, value=v)
                         for r, c, v in report["invalid_samples"]],
        reasons={r: sheet_import.describe(r) for r in reasons})


# -- tag options -------------------------------------------------------------------------------
class TagOptionsOut(Out):
    """The connection's tag options."""

    push_app_tags: bool = Field(description="push the app's contact tags as managed tags")
    app_tag_prefix: str = Field(description="prefix of the pushed tags")
    new_member_tags: list[str] = Field(description="tags every member a sync creates receives")


class TagOptionsChangedOut(TagOptionsOut):
    """The options after a change, and which of them changed."""

    changed: list[str]


class TagOptionsBody(Body):
    """Options to change (left out = unchanged; `new_member_tags: []` clears them)."""

    push_app_tags: bool = omitted()
    app_tag_prefix: text(100) = omitted()  # type: ignore[valid-type]
    new_member_tags: list[text(100)] = omitted(max_length=100)  # type: ignore[valid-type]


def get_tag_options(call: Call) -> TagOptionsOut:
    """The org's tag options."""
    return TagOptionsOut(**tag_options.tag_options(call.engine, call.org_id))


def set_tag_options(call: Call) -> TagOptionsChangedOut:
    """Change the tag options (audited when something changed)."""
    changed = tag_options.set_tag_options(call.engine, call.org_id, actor=call.actor,
                                          **call.body.model_dump(exclude_unset=True))
    return TagOptionsChangedOut(**tag_options.tag_options(call.engine, call.org_id),
                                changed=sorted(changed))


# -- tags both ways ----------------------------------------------------------------------------
class TagReadOut(Out):
    """One audience's read of member tags."""

    audience_id: str
    members: int
    tagged: int
    requests: int
    forgotten: int


class TagsRefreshOut(Out):
    """The full read of every member's tags, per audience."""

    audiences: list[TagReadOut]


def refresh_tags(call: Call) -> TagsRefreshOut:
    """Read every member's Mailchimp tags now (stored for the export and the download)."""
    with call.org_locked("tags refresh"):
        reads = tags_download.read_member_tags(call.engine, _client_for, call.org_id)
    return TagsRefreshOut(audiences=[TagReadOut(**vars(r)) for r in reads])


class DryRunQuery(Query):
    """Whether to write."""

    dry_run: bool = Field(default=False, description="report what would change; write nothing")


class TagChangeOut(Out):
    """A contact whose app tags the download changes."""

    contact_id: int
    added: list[str]


class TagsDownloadOut(Out):
    """What the download changed (or would change)."""

    dry_run: bool
    contacts_changed: int
    tags_added: int
    members_read: int
    changes: list[TagChangeOut]


def download_tags(call: Call) -> TagsDownloadOut:
    """Add the members' unmanaged Mailchimp tags (as last read) to the app's contacts."""
    with call.org_locked("tags download"):
        done = tags_download.download_tags(call.engine, call.org_id, actor=call.actor,
                                           dry_run=call.query.dry_run)
    changes = [TagChangeOut(contact_id=int(c), added=list(a))
               for c, a in zip(done.changes.get("contact_id", []), done.changes.get("added", []),
                               strict=True)]
    return TagsDownloadOut(dry_run=done.dry_run, contacts_changed=done.contacts_changed,
                           tags_added=done.tags_added, members_read=done.members_read,
                           changes=changes)


_UPLOAD = Upload(
    (CSV, XLSX, BINARY), MAX_BYTES,
    "the edited contacts export: its bytes as the body; Content-Type text/csv or the XLSX type, "
    "or application/octet-stream with ?filename=NAME.csv|.xlsx")
_IMPORT_DOC = (
    "Validates the whole file first (a file that cannot be used: 400 naming the fix, nothing "
    "written), then adds consenting contacts that are not members and sets the tags the sheet "
    "marks Y/N, through the sync's lifecycle rules. The upload is deleted before the answer.")

ENDPOINTS = [
    Endpoint("GET", "/orgs/{org_id}/export", "export_contacts", "The contacts export (import "
             "template)", export, query=ExportQuery, errors=(404, 409, 502), tag="spreadsheets",
             download=Download((XLSX, CSV), "the export, one Y/N column per tag"),
             description="Every live contact with its sync status and one `tag:<name>` Y/N "
                         "column per tag of its audiences (tags read from Mailchimp now)."),
    Endpoint("POST", "/orgs/{org_id}/imports", "import_contacts", "Import an edited export",
             import_contacts, query=ImportQuery, upload=_UPLOAD, response=ImportOut,
             errors=(400, 404, 409, 413, 502), tag="spreadsheets", description=_IMPORT_DOC),
    Endpoint("GET", "/orgs/{org_id}/tag-options", "get_tag_options", "The tag options",
             get_tag_options, response=TagOptionsOut, errors=(404, 409), tag="tags"),
    Endpoint("PATCH", "/orgs/{org_id}/tag-options", "set_tag_options", "Change the tag options",
             set_tag_options, body=TagOptionsBody, response=TagOptionsChangedOut,
             errors=(400, 404, 409), tag="tags"),
    Endpoint("POST", "/orgs/{org_id}/tags/refresh", "refresh_tags", "Read every member's tags now",
             refresh_tags, response=TagsRefreshOut, errors=(404, 409, 502), tag="tags"),
    Endpoint("POST", "/orgs/{org_id}/tags/download", "download_tags", "Download Mailchimp tags "
             "into the app's contacts", download_tags, query=DryRunQuery, response=TagsDownloadOut,
             errors=(400, 404, 409), tag="tags"),
]
