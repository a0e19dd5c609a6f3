"""The org's Mailchimp connection: connect (validate the key, prove it works, store it
encrypted), enable/disable, disconnect.

Used by `mc-pipelines connect` and the demo. Every failure says exactly what to fix and writes
nothing; the key is never echoed (at most its last four characters).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Engine

from mc_pipelines.errors import FixableError, OperationError
from mc_pipelines.mailchimp.endpoints import MailchimpClient
from mc_pipelines.mailchimp.errors import (
    AccountDisabled,
    AudienceNotFound,
    InvalidApiKey,
    MailchimpError,
)
from mc_pipelines.mailchimp.keys import parse_api_key
from mc_pipelines.mailchimp.runner import run_sync
from mc_pipelines.mailchimp.settings import mailchimp_base_url
from mc_pipelines.store import connections
from mc_pipelines.store.connections import Connection, NotConnectedError
from mc_pipelines.store.secrets import encrypt_secret, load_fernet
from mc_pipelines.sync import lifecycle as lc


class ConnectError(FixableError):
    """Connecting failed; the message says what to fix. Nothing was stored."""


@dataclass(frozen=True)
class ConnectionCheck:
    """What a successful key + audience check learned."""

    dc: str
    account_name: str
    audience_id: str
    audience_name: str
    member_count: int


async def _check(client: MailchimpClient, audience_id: str) -> tuple[dict, dict]:
    await client.ping()
    return await client.get_account(), await client.get_audience(audience_id)


def check_connection(raw_key: str, audience_id: str, *, base_url_template: str | None = None) -> ConnectionCheck:
    """Validate the key's format, then ping Mailchimp and read the audience with it."""
    try:
        key = parse_api_key(raw_key)
    except ValueError as exc:
        raise ConnectError(str(exc)) from None
    if not audience_id or not audience_id.strip():
        raise ConnectError("audience id is empty: pass the audience (list) id shown in Mailchimp's audience settings")

    async def run():
        async with MailchimpClient(key, base_url_template=base_url_template or mailchimp_base_url()) as client:
            return await _check(client, audience_id.strip())

    try:
        account, audience = run_sync(run())
    except AudienceNotFound:
        raise ConnectError(
            f"audience {audience_id!r} was not found in the Mailchimp account of key {key.label}: "
            "check the audience id (Audience → Settings → Audience name and defaults)"
        ) from None
    except InvalidApiKey as exc:
        raise ConnectError(f"Mailchimp rejected the API key {key.label}: {exc}") from None
    except AccountDisabled as exc:  # reached, but refused: not a network problem
        raise ConnectError(f"the Mailchimp account of key {key.label} is disabled: {exc}") from None
    except MailchimpError as exc:
        raise ConnectError(f"could not reach Mailchimp with key {key.label}: {exc}") from None
    return ConnectionCheck(
        dc=key.dc, account_name=str(account.get("account_name") or ""), audience_id=audience["id"],
        audience_name=str(audience.get("name") or ""),
        member_count=int((audience.get("stats") or {}).get("member_count") or 0),
    )


def connect_org(engine: Engine, org_id: str, raw_key: str, audience_id: str, *, auto_sync: bool = False,
                actor: str, base_url_template: str | None = None,
                merge_fields: dict[str, str] | None = None,
                existing_members: str | None = None, reconsent: str | None = None) -> ConnectionCheck:
    """Check the key and audience, then store the connection with the key encrypted (audited).
    `existing_members` / `reconsent`: the lifecycle options (see `set_options`)."""
    options = lifecycle_options(existing_members=existing_members, reconsent=reconsent)
    connections.require_org(engine, org_id)
    fernet = load_fernet()  # fail on a bad MC_SECRET_KEY before calling Mailchimp
    check = check_connection(raw_key, audience_id, base_url_template=base_url_template)
    connections.save_connection(
        engine, org_id=org_id, api_key_encrypted=encrypt_secret(parse_api_key(raw_key).secret, fernet),
        server_prefix=check.dc, audience_id=check.audience_id, account_name=check.account_name,
        auto_sync=auto_sync, actor=actor, merge_fields=merge_fields, options=options,
    )
    return check


def lifecycle_options(**given: str | None) -> dict[str, str]:
    """The lifecycle options given (None = not given), validated: `existing_members` is `update`
    (keep linked members' fields and managed tags up to date; default) or `leave`; `reconsent` is
    `pending` (ask the person to confirm by email after a Mailchimp-side opt-out; default) or
    `report`. Raises OperationError naming the allowed values."""
    allowed = {"existing_members": lc.EXISTING_MEMBERS_OPTIONS, "reconsent": lc.RECONSENT_OPTIONS}
    options = {}
    for name, value in given.items():
        if value is None:
            continue
        if name not in allowed:
            raise OperationError(f"unknown connection option {name!r}: use {', '.join(allowed)}")
        if value not in allowed[name]:
            raise OperationError(f"{name} must be one of {', '.join(allowed[name])}, not {value!r}")
        options[name] = value
    return options


def set_options(engine: Engine, org_id: str, *, actor: str, existing_members: str | None = None,
                reconsent: str | None = None) -> dict[str, str]:
    """Change the connection's lifecycle options (audited); returns the options changed."""
    options = lifecycle_options(existing_members=existing_members, reconsent=reconsent)
    connection = require_connected(engine, org_id)
    changed = {k: v for k, v in options.items() if getattr(connection, k) != v}
    if changed:
        connections.update_connection(engine, org_id, actor=actor, action="set_options", **changed)
    return changed


def require_connected(engine: Engine, org_id: str) -> Connection:
    """The org's connection with a stored key (enabled or not), or a clear error."""
    connections.require_org(engine, org_id)
    connection = connections.get_connection(engine, org_id)
    if connection is None or not connection.api_key_encrypted or connection.disconnected_at:
        raise NotConnectedError(
            f"org {org_id!r} is not connected to Mailchimp: run `mc-pipelines connect --org {org_id} "
            "--api-key KEY --audience AUDIENCE_ID` first"
        )
    return connection


def set_enabled(engine: Engine, org_id: str, enabled: bool, *, actor: str) -> bool:
    """Enable or disable the org's sync (audited). Returns False when it already was so."""
    connection = require_connected(engine, org_id)
    if connection.enabled == enabled:
        return False
    connections.update_connection(engine, org_id, actor=actor, action="enable" if enabled else "disable",
                                  enabled=enabled)
    return True


def disconnect(engine: Engine, org_id: str, *, actor: str) -> None:
    """Soft-delete the org's connection: clear the key and webhook secret, keep the row."""
    require_connected(engine, org_id)
    connections.disconnect(engine, org_id, actor=actor)

