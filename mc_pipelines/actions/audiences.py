"""Discovery: the audiences of a Mailchimp account and their merge fields.

Before connecting, with the credential the operator is about to store (nothing is written); once
connected, with the org's stored credential. Used by the CLI (`list-audiences`,
`list-merge-fields`, `connect` without an audience) and the control API.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Engine

from mc_pipelines.actions.connections import (
    require_connected,
    resolve_credential,
    run_with,
    with_connection,
)
from mc_pipelines.mailchimp.endpoints import MailchimpClient


@dataclass(frozen=True)
class Audience:
    """One audience (list) of the account."""

    id: str
    name: str
    member_count: int


@dataclass(frozen=True)
class AccountAudiences:
    """The account a credential reaches and its audiences (by name)."""

    account_name: str
    dc: str
    audiences: list[Audience]


@dataclass(frozen=True)
class MergeField:
    """One merge field of an audience."""

    tag: str
    name: str
    type: str
    required: bool


async def _audiences(client: MailchimpClient) -> tuple[dict, list[dict]]:
    return await client.get_account(), await client.list_audiences()


def _account_audiences(account: dict, lists: list[dict], dc: str) -> AccountAudiences:
    audiences = [Audience(id=str(a["id"]), name=str(a.get("name") or ""),
                          member_count=int((a.get("stats") or {}).get("member_count") or 0)) for a in lists]
    return AccountAudiences(account_name=str(account.get("account_name") or ""), dc=dc,
                            audiences=sorted(audiences, key=lambda a: (a.name.casefold(), a.id)))


def discover_audiences(secret: str, *, oauth: bool = False,
                       base_url_template: str | None = None) -> AccountAudiences:
    """The audiences a credential (API key, or OAuth token with `oauth`) reaches; stores nothing."""
    key = resolve_credential(secret, oauth=oauth)
    account, lists = run_with(key, _audiences, oauth=oauth, base_url_template=base_url_template)
    return _account_audiences(account, lists, key.dc)


def org_audiences(engine: Engine, org_id: str, *, base_url_template: str | None = None) -> AccountAudiences:
    """The audiences of the org's connected Mailchimp account."""
    connection = require_connected(engine, org_id)
    account, lists = with_connection(engine, org_id, _audiences, base_url_template=base_url_template)
    return _account_audiences(account, lists, connection.server_prefix or "")


def merge_fields(engine: Engine, org_id: str, audience_id: str | None = None, *,
                 base_url_template: str | None = None) -> list[MergeField]:
    """The merge fields of an audience of the org's account (default: the connected audience)."""
    audience = (audience_id or require_connected(engine, org_id).audience_id or "").strip()

    async def fields(client: MailchimpClient) -> list[dict]:
        return await client.list_merge_fields(audience)

    found = with_connection(engine, org_id, fields, base_url_template=base_url_template,
                            audience_id=audience)
    return [MergeField(tag=str(f.get("tag") or ""), name=str(f.get("name") or ""),
                       type=str(f.get("type") or "text"), required=bool(f.get("required")))
            for f in sorted(found, key=lambda f: (f.get("display_order") or 0, f.get("tag") or ""))]
