"""The org's Mailchimp connection: connect by API key or OAuth access token (validate it, prove
it works, check the merge-field map against the audience, store it encrypted), test, settings
(enable/disable, auto-sync, merge-field map, lifecycle options), disconnect.

Used by the CLI, the control API and the demo. Every failure says exactly what to fix and writes
nothing; the key is never echoed (at most its last four characters).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy.engine import Engine

from mc_pipelines.errors import FixableError, OperationError
from mc_pipelines.mailchimp.endpoints import MailchimpClient
from mc_pipelines.mailchimp.errors import (
    AccountDisabled,
    AudienceNotFound,
    InvalidApiKey,
    MailchimpError,
)
from mc_pipelines.mailchimp.keys import ApiKey, parse_api_key
from mc_pipelines.mailchimp.oauth import fetch_oauth_metadata
from mc_pipelines.mailchimp.runner import run_sync
from mc_pipelines.mailchimp.settings import mailchimp_base_url
from mc_pipelines.store import connections
from mc_pipelines.store.connections import Connection, NotConnectedError, stored_credential
from mc_pipelines.store.contacts import CONTACT_COLUMNS
from mc_pipelines.store.secrets import encrypt_secret, load_fernet
from mc_pipelines.sync import lifecycle as lc
from mc_pipelines.sync.desired import check_merge_field_map

T = TypeVar("T")
_MERGE_TAG = re.compile(r"^[A-Z][A-Z0-9_]{0,9}$")


class ConnectError(FixableError):
    """Connecting failed; the message says what to fix. Nothing was stored."""


class AudienceNotFoundError(ConnectError, LookupError):
    """The audience id is not one of the Mailchimp account's audiences."""


@dataclass(frozen=True)
class ConnectionCheck:
    """What a successful key + audience check learned."""

    dc: str
    account_name: str
    audience_id: str
    audience_name: str
    member_count: int
    auth_kind: str = "api_key"


def resolve_credential(secret: str, *, oauth: bool = False) -> ApiKey:
    """The credential with its data centre: an API key's `-<dc>` suffix, or for an OAuth access
    token what Mailchimp's OAuth metadata endpoint says (`MC_MAILCHIMP_OAUTH_METADATA_URL`
    overrides its URL). Raises ConnectError saying what to fix; never shows the secret."""
    if not oauth:
        try:
            return parse_api_key(secret)
        except ValueError as exc:
            raise ConnectError(str(exc)) from None
    token = secret if isinstance(secret, str) else ""
    if not token.strip():
        raise ConnectError("the OAuth access token is empty: pass the token your Mailchimp OAuth "
                           "flow returned (Authorization: Bearer …)")
    if (token != token.strip() or any(ch.isspace() for ch in token) or len(token) > 512
            or not token.isascii() or not token.isprintable()):
        raise ConnectError("the OAuth access token is malformed (whitespace, non-ASCII or control "
                           "characters, or longer than 512 characters): paste the token exactly as returned")
    try:
        metadata = run_sync(fetch_oauth_metadata(token))
    except InvalidApiKey as exc:
        raise ConnectError(str(exc)) from None
    except MailchimpError as exc:
        raise ConnectError(f"could not read the OAuth token's data centre: {exc}") from None
    return ApiKey(secret=token, dc=metadata.dc)


def client_for_key(key: ApiKey, *, oauth: bool = False,
                   base_url_template: str | None = None) -> MailchimpClient:
    """A Mailchimp client for a resolved credential (API key: Basic; OAuth token: Bearer)."""
    return MailchimpClient(key, oauth=oauth, base_url_template=base_url_template or mailchimp_base_url())


def client_for_connection(connection: Connection, *, base_url_template: str | None = None) -> MailchimpClient:
    """A Mailchimp client for the org's stored connection (the erasure's `ClientFactory`)."""
    return client_for_key(stored_credential(connection), oauth=connection.auth_kind == "oauth",
                          base_url_template=base_url_template)


def with_connection(engine: Engine, org_id: str, call: Callable[[MailchimpClient], Awaitable[T]], *,
                    base_url_template: str | None = None, audience_id: str | None = None) -> T:
    """Run `call(client)` with a client of the org's stored connection (`run_with`'s errors)."""
    connection = require_connected(engine, org_id)
    return run_with(stored_credential(connection), call, oauth=connection.auth_kind == "oauth",
                    base_url_template=base_url_template, audience_id=audience_id)


def _translate(key: ApiKey, audience_id: str | None = None) -> Callable[[MailchimpError], ConnectError]:
    def translate(exc: MailchimpError) -> ConnectError:
        if isinstance(exc, AudienceNotFound) and audience_id is not None:
            return AudienceNotFoundError(
                f"audience {audience_id!r} was not found in the Mailchimp account of key {key.label}: "
                "check the audience id (Audience → Settings → Audience name and defaults)")
        if isinstance(exc, InvalidApiKey):
            return ConnectError(f"Mailchimp rejected the API key {key.label}: {exc}")
        if isinstance(exc, AccountDisabled):  # reached, but refused: not a network problem
            return ConnectError(f"the Mailchimp account of key {key.label} is disabled: {exc}")
        return ConnectError(f"could not reach Mailchimp with key {key.label}: {exc}")
    return translate


def run_with(key: ApiKey, call: Callable[[MailchimpClient], Awaitable[T]], *, oauth: bool = False,
             base_url_template: str | None = None, audience_id: str | None = None) -> T:
    """Run `call(client)` with a client of `key`; Mailchimp errors become ConnectErrors naming
    the fix (the audience id when one is given)."""
    async def run() -> T:
        async with client_for_key(key, oauth=oauth, base_url_template=base_url_template) as client:
            return await call(client)

    try:
        return run_sync(run())
    except MailchimpError as exc:
        raise _translate(key, audience_id)(exc) from None


def check_connection(raw_key: str, audience_id: str, *, base_url_template: str | None = None,
                     oauth: bool = False, merge_fields: dict[str, str] | None = None) -> ConnectionCheck:
    """Validate the credential, ping Mailchimp, read the audience and, when a merge-field map is
    given, check it against the audience's merge fields (so a bad map fails now, not at 05:00)."""
    key = resolve_credential(raw_key, oauth=oauth)
    if not isinstance(audience_id, str) or not audience_id.strip():
        raise ConnectError("audience id is empty: pass the audience (list) id shown in Mailchimp's "
                           "audience settings")
    audience_id = audience_id.strip()

    async def check(client: MailchimpClient) -> tuple[dict, dict, list[dict]]:
        await client.ping()
        account, audience = await client.get_account(), await client.get_audience(audience_id)
        fields = await client.list_merge_fields(audience_id) if merge_fields is not None else []
        return account, audience, fields

    account, audience, fields = run_with(key, check, oauth=oauth, base_url_template=base_url_template,
                                         audience_id=audience_id)
    if merge_fields is not None:
        problems = check_merge_field_map(merge_fields, fields, CONTACT_COLUMNS)
        if problems:
            raise ConnectError(f"the merge-field map does not fit audience {audience['id']}: "
                               + "; ".join(problems) + " (fix the map; nothing was stored)")
    return ConnectionCheck(
        dc=key.dc, account_name=str(account.get("account_name") or ""), audience_id=audience["id"],
        audience_name=str(audience.get("name") or ""),
        member_count=int((audience.get("stats") or {}).get("member_count") or 0),
        auth_kind="oauth" if oauth else "api_key",
    )


def validate_merge_field_map(mapping: Mapping[str, str] | None) -> dict[str, str] | None:
    """`{"FNAME": "first_name"}` with tags upper-cased, or a clear error naming the bad pair (a
    tag is a Mailchimp merge tag, letters/digits/_, at most 10 characters; a column is a contact
    column). None stays None (no map given)."""
    if mapping is None:
        return None
    cleaned: dict[str, str] = {}
    for raw_tag, raw_column in mapping.items():
        tag, column = str(raw_tag).strip().upper(), str(raw_column).strip()
        if not _MERGE_TAG.match(tag):
            raise ConnectError(f"merge tag {raw_tag!r} is not a Mailchimp merge tag: use letters, "
                               "digits and _, at most 10 characters, starting with a letter (e.g. FNAME)")
        if column not in CONTACT_COLUMNS:
            raise ConnectError(f"merge tag {tag} maps to {raw_column!r}, which is not a contact "
                               f"column; use one of {', '.join(CONTACT_COLUMNS)}")
        cleaned[tag] = column
    return cleaned


def connect_org(engine: Engine, org_id: str, raw_key: str, audience_id: str, *, auto_sync: bool = False,
                actor: str, base_url_template: str | None = None,
                merge_fields: dict[str, str] | None = None,
                existing_members: str | None = None, reconsent: str | None = None,
                oauth: bool = False) -> ConnectionCheck:
    """Check the credential (API key, or OAuth access token with `oauth`), the audience and the
    merge-field map with Mailchimp, then store the connection with the credential encrypted
    (audited). `existing_members` / `reconsent`: the lifecycle options (see `set_options`)."""
    options = lifecycle_options(existing_members=existing_members, reconsent=reconsent)
    merge_fields = validate_merge_field_map(merge_fields)
    connections.require_org(engine, org_id)
    fernet = load_fernet()  # fail on a bad MC_SECRET_KEY before calling Mailchimp
    stored = connections.get_connection(engine, org_id)
    kept = (stored.merge_fields if stored else None) or {}  # a reconnect without a map keeps it
    check = check_connection(raw_key, audience_id, base_url_template=base_url_template, oauth=oauth,
                             merge_fields=merge_fields if merge_fields is not None else kept)
    connections.save_connection(
        engine, org_id=org_id, api_key_encrypted=encrypt_secret(raw_key, fernet),
        server_prefix=check.dc, audience_id=check.audience_id, account_name=check.account_name,
        auto_sync=auto_sync, actor=actor, merge_fields=merge_fields, options=options,
        auth_kind=check.auth_kind,
    )
    return check


def test_stored_connection(engine: Engine, org_id: str, *, base_url_template: str | None = None) -> ConnectionCheck:
    """Check the stored credential, audience and merge-field map with Mailchimp (writes nothing)."""
    connection = require_connected(engine, org_id)
    return _check_stored(connection, connection.merge_fields or {}, base_url_template)


def _check_stored(connection: Connection, merge_fields: dict[str, str],
                  base_url_template: str | None) -> ConnectionCheck:
    return check_connection(stored_credential(connection).secret, connection.audience_id or "",
                            base_url_template=base_url_template, oauth=connection.auth_kind == "oauth",
                            merge_fields=merge_fields)


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
                reconsent: str | None = None, auto_sync: bool | None = None,
                merge_fields: Mapping[str, str] | None = None,
                base_url_template: str | None = None) -> dict[str, Any]:
    """Change the connection's settings (None = leave as is), audited as one `set_options`
    entry: the lifecycle options, `auto_sync`, and the merge-field map (which replaces the stored
    one and is checked against the audience with Mailchimp first). Returns what changed."""
    options: dict[str, Any] = lifecycle_options(existing_members=existing_members, reconsent=reconsent)
    mapping = validate_merge_field_map(merge_fields)
    connection = require_connected(engine, org_id)
    if auto_sync is not None:
        options["auto_sync"] = bool(auto_sync)
    if mapping is not None:
        options["merge_fields"] = mapping
    changed = {k: v for k, v in options.items() if getattr(connection, k) != v}
    if "merge_fields" in changed:
        _check_stored(connection, mapping or {}, base_url_template)
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

