"""The contacts export as the spreadsheet import's template (issue 16, item 3), shared by the
`contacts_export` asset, the CLI and the control API: every live contact with, per audience, its
sync status, and one `tag:<name>` Y/N column per tag the audience defines — from every member's
tags read now (`effects.member_tags`), so the sheet shows Mailchimp as it is."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd
from sqlalchemy.engine import Engine

from mc_pipelines.effects.audience_tags import audience_tags
from mc_pipelines.effects.member_tags import DEFAULT_MAX_MEMBERS, store_audience_tags
from mc_pipelines.mailchimp.endpoints import MailchimpClient
from mc_pipelines.mailchimp.errors import AudienceNotFound
from mc_pipelines.mailchimp.runner import run_sync
from mc_pipelines.store import member_state, member_tags, runs
from mc_pipelines.store.connections import get_connection, require_org
from mc_pipelines.store.contacts import read_live_contacts
from mc_pipelines.store.segments import active_segments, org_audiences
from mc_pipelines.sync.export import EXPORT_COLUMNS, export_frame
from mc_pipelines.sync.sheet_format import last_read_tags, tags_seen, template_frame

#: Builds a Mailchimp client for an org's stored connection (`MailchimpResource.client_for`,
#: which also takes optional call metrics).
ClientFactory = Callable[..., MailchimpClient]


@dataclass
class Template:
    """The export rows and what they cover."""

    frame: pd.DataFrame
    audiences: list[str]
    contacts: int

    @property
    def tag_columns(self) -> list[str]:
        """The `tag:<name>` columns."""
        return [c for c in self.frame.columns if c not in EXPORT_COLUMNS]


def export_template(engine: Engine, client_for: ClientFactory, org_id: str, *,
                    read_tags: bool = True, max_members: int = DEFAULT_MAX_MEMBERS) -> Template:
    """The org's export rows with the Y/N tag columns. With `read_tags` (and an active
    connection) every member's tags are read from Mailchimp first (stored in
    `mailchimp_member_tags`); otherwise the tags as last read."""
    require_org(engine, org_id)
    contacts = read_live_contacts(engine, org_id)
    state = member_state.load_state(engine, org_id)
    connection = get_connection(engine, org_id)
    audiences = org_audiences(connection, active_segments(engine, org_id))
    audiences += sorted(set(state["audience_id"].dropna()) - set(audiences))
    frame = export_frame(contacts, state, runs.latest_errors(engine, org_id), audiences)
    listed: dict[str, dict[str, int]] = {}
    if connection is not None and connection.active and read_tags:
        listed = run_sync(_read(client_for(connection), engine, org_id, audiences, max_members))
    held = last_read_tags(state, member_tags.load_tags(engine, org_id))
    defined = tags_seen(held)
    for audience, names in listed.items():  # the tags defined in each audience
        defined[audience] = sorted({*defined.get(audience, []), *names}, key=str.casefold)
    return Template(template_frame(frame, held, defined), audiences, len(contacts))


async def _read(client: MailchimpClient, engine: Engine, org_id: str, audiences: list[str],
                max_members: int) -> dict[str, dict[str, int]]:
    async with client:
        listed = await audience_tags(client, audiences)
        for audience in audiences:
            try:
                await store_audience_tags(client, engine, org_id, audience, max_members=max_members)
            except AudienceNotFound:  # a segment's audience that is gone (C3): nothing to read
                continue
        return listed
