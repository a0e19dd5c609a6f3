"""`/orgs/{org_id}/connection`: get, connect (API key or OAuth token), test, settings
(enable/disable, auto-sync, merge-field map, lifecycle options), disconnect, webhook secret."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field, StringConstraints, WithJsonSchema, model_validator

from mc_pipelines.actions import connections as actions
from mc_pipelines.actions import webhook_secrets
from mc_pipelines.api.endpoint import Call, Endpoint
from mc_pipelines.api.models import Body, Done, Out, Timestamp, omitted, text
from mc_pipelines.store import connections as store
from mc_pipelines.store.contacts import CONTACT_COLUMNS

MergeTag = Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9_]{0,9}$")]
MergeFieldMap = Annotated[
    dict[MergeTag, Literal[tuple(CONTACT_COLUMNS)]],  # type: ignore[misc]
    WithJsonSchema({"type": "object", "maxProperties": 30,
                    "propertyNames": {"pattern": "^[A-Za-z][A-Za-z0-9_]{0,9}$"},
                    "additionalProperties": {"type": "string", "enum": list(CONTACT_COLUMNS)}}),
    Field(max_length=30)]
ExistingMembers = Literal["update", "leave"]
Reconsent = Literal["pending", "report"]


class Credential(Body):
    """Exactly one of `api_key` (`<32 hex>-<dc>`) or `oauth_token` (its data centre is read from
    Mailchimp's OAuth metadata endpoint)."""

    model_config = ConfigDict(json_schema_extra={"oneOf": [{"required": ["api_key"]},
                                                           {"required": ["oauth_token"]}]})

    api_key: text(100, 1) = omitted(description="Mailchimp API key; never echoed")
    oauth_token: text(512, 1) = omitted(description="OAuth access token; never echoed")

    @model_validator(mode="after")
    def _one_credential(self) -> Credential:
        if (self.api_key is None) == (self.oauth_token is None):
            raise ValueError("give exactly one of api_key or oauth_token")
        return self

    @property
    def secret(self) -> str:
        """The credential given."""
        return self.api_key if self.api_key is not None else self.oauth_token or ""

    @property
    def oauth(self) -> bool:
        """Whether it is an OAuth token."""
        return self.oauth_token is not None


class ConnectBody(Credential):
    """Connect (or reconnect) the org to one audience of its Mailchimp account."""

    audience_id: text(64, 1)
    auto_sync: bool = False
    merge_fields: MergeFieldMap | None = Field(
        default=None, description="merge TAG → contact column, checked against the audience")
    existing_members: ExistingMembers | None = None
    reconsent: Reconsent | None = None


class SettingsBody(Body):
    """The settings to change; fields left out keep their value."""

    enabled: bool | None = None
    auto_sync: bool | None = None
    merge_fields: MergeFieldMap | None = None
    existing_members: ExistingMembers | None = None
    reconsent: Reconsent | None = None


class WebhookSecretBody(Body):
    """Where the receiver is reachable (to print the URL to register in Mailchimp)."""

    base_url: text(200, 1) = Field(default="https://YOUR-HOST", pattern=r"^https?://[^\s/?#]+(/[^\s?#]*)?$")


class ConnectionOut(Out):
    """The org's connection as stored (never the credential)."""

    org_id: str
    connected: bool
    enabled: bool
    auto_sync: bool
    auth_kind: str | None
    dc: str | None
    account_name: str | None
    audience_id: str | None
    merge_fields: dict[str, str]
    existing_members: str | None
    reconsent: str | None
    webhook_secret_set: bool
    connected_at: Timestamp | None
    disconnected_at: Timestamp | None
    last_sync_at: Timestamp | None
    last_sync_status: str | None
    last_error: str | None


class CheckOut(Out):
    """What a connect or test learned from Mailchimp."""

    dc: str
    auth_kind: str
    account_name: str
    audience_id: str
    audience_name: str
    member_count: int


class ConnectOut(Out):
    """The stored connection and what Mailchimp said."""

    connection: ConnectionOut
    check: CheckOut


class WebhookSecretOut(Out):
    """The new webhook secret, shown once (only its hash is stored)."""

    secret: str
    url: str


def connection_out(call: Call) -> ConnectionOut:
    """The org's connection (404 for an unknown org)."""
    store.require_org(call.engine, call.org_id)
    c = store.get_connection(call.engine, call.org_id)
    if c is None:
        return ConnectionOut(org_id=call.org_id, connected=False, enabled=False, auto_sync=False,
                             auth_kind=None, dc=None, account_name=None, audience_id=None,
                             merge_fields={}, existing_members=None, reconsent=None,
                             webhook_secret_set=False, connected_at=None, disconnected_at=None,
                             last_sync_at=None, last_sync_status=None, last_error=None)
    connected = bool(c.api_key_encrypted) and c.disconnected_at is None
    return ConnectionOut(
        org_id=c.org_id, connected=connected, enabled=c.enabled, auto_sync=c.auto_sync,
        auth_kind=c.auth_kind if connected else None, dc=c.server_prefix, account_name=c.account_name,
        audience_id=c.audience_id, merge_fields=dict(c.merge_fields or {}),
        existing_members=c.existing_members, reconsent=c.reconsent,
        webhook_secret_set=bool(c.webhook_secret_hash), connected_at=c.connected_at,
        disconnected_at=c.disconnected_at, last_sync_at=c.last_sync_at,
        last_sync_status=c.last_sync_status, last_error=c.last_error)


def _check_out(check: actions.ConnectionCheck) -> CheckOut:
    return CheckOut(dc=check.dc, auth_kind=check.auth_kind, account_name=check.account_name,
                    audience_id=check.audience_id, audience_name=check.audience_name,
                    member_count=check.member_count)


def connect(call: Call) -> ConnectOut:
    """Check the credential, audience and map with Mailchimp; store the connection."""
    body: ConnectBody = call.body
    check = actions.connect_org(call.engine, call.org_id, body.secret, body.audience_id,
                                auto_sync=body.auto_sync, actor=call.actor, merge_fields=body.merge_fields,
                                existing_members=body.existing_members, reconsent=body.reconsent,
                                oauth=body.oauth)
    return ConnectOut(connection=connection_out(call), check=_check_out(check))


def test(call: Call) -> CheckOut:
    """Check the stored credential, audience and map (writes nothing)."""
    return _check_out(actions.test_stored_connection(call.engine, call.org_id))


def update(call: Call) -> ConnectionOut:
    """Change settings; each change audited."""
    body: SettingsBody = call.body
    actions.require_connected(call.engine, call.org_id)
    actions.set_options(call.engine, call.org_id, actor=call.actor, existing_members=body.existing_members,
                        reconsent=body.reconsent, auto_sync=body.auto_sync, merge_fields=body.merge_fields)
    if body.enabled is not None:
        actions.set_enabled(call.engine, call.org_id, body.enabled, actor=call.actor)
    return connection_out(call)


def disconnect(call: Call) -> Done:
    """Soft-delete the connection: credential and webhook secret cleared, history kept."""
    actions.disconnect(call.engine, call.org_id, actor=call.actor)
    return Done(changed=True)


def webhook_secret(call: Call) -> WebhookSecretOut:
    """A new webhook secret (replaces the previous one)."""
    body: WebhookSecretBody = call.body
    secret = webhook_secrets.generate_webhook_secret(call.engine, call.org_id, actor=call.actor)
    return WebhookSecretOut(secret=secret, url=webhook_secrets.webhook_url(call.org_id, secret, body.base_url))


PATH = "/orgs/{org_id}/connection"
ENDPOINTS = [
    Endpoint("GET", PATH, "get_connection", "The org's Mailchimp connection", connection_out,
             response=ConnectionOut, tag="connection"),
    Endpoint("PUT", PATH, "connect", "Connect by API key or OAuth token", connect, body=ConnectBody,
             response=ConnectOut, errors=(400, 404), tag="connection",
             description="Checks the credential (an OAuth token's data centre from Mailchimp's OAuth "
                         "metadata), pings Mailchimp, reads the audience, checks the merge-field map "
                         "against it, then stores the credential encrypted. Nothing is stored on error."),
    Endpoint("PATCH", PATH, "update_connection", "Enable/disable, auto-sync, merge fields, options",
             update, body=SettingsBody, response=ConnectionOut, errors=(400, 404, 409), tag="connection"),
    Endpoint("DELETE", PATH, "disconnect", "Disconnect (credential cleared, history kept)", disconnect,
             response=Done, errors=(404, 409), tag="connection"),
    Endpoint("POST", PATH + "/test", "test_connection", "Check the stored connection with Mailchimp",
             test, response=CheckOut, errors=(400, 404, 409), tag="connection"),
    Endpoint("POST", PATH + "/webhook-secret", "new_webhook_secret",
             "A new webhook secret, shown once", webhook_secret, body=WebhookSecretBody,
             body_required=False, response=WebhookSecretOut, status=201, errors=(404, 409),
             tag="connection"),
]
