"""Mailchimp connections: one row per org; disconnect is a soft delete that clears the key."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from cryptography.fernet import Fernet
from sqlalchemy.engine import Engine

from mc_pipelines.errors import FixableError
from mc_pipelines.mailchimp.keys import ApiKey, parse_api_key
from mc_pipelines.store import audit
from mc_pipelines.store.clock import utcnow
from mc_pipelines.store.secrets import decrypt_secret
from mc_pipelines.store.tables import mailchimp_connections, orgs


class UnknownOrgError(FixableError, LookupError):
    """The org id does not exist in the application database."""


class NotConnectedError(FixableError, LookupError):
    """The org has no active Mailchimp connection."""


@dataclass(frozen=True)
class Connection:
    """An org's Mailchimp connection as stored (the API key stays encrypted here)."""

    org_id: str
    api_key_encrypted: str | None = field(repr=False)
    server_prefix: str | None
    audience_id: str | None
    account_name: str | None
    enabled: bool
    auto_sync: bool
    merge_fields: dict[str, str]
    connected_at: datetime | None
    disconnected_at: datetime | None
    last_sync_at: datetime | None
    last_sync_status: str | None
    last_error: str | None
    webhook_secret_hash: str | None = field(default=None, repr=False)
    existing_members: str = "update"
    reconsent: str = "pending"
    push_app_tags: bool = False       # the app's contact tags go to Mailchimp as managed tags
    app_tag_prefix: str = "app:"      # … each named prefix + the app's tag
    new_member_tags: list[str] = field(default_factory=list)  # tags of the members a run creates
    auth_kind: str = "api_key"  # api_key (HTTP Basic) | oauth (Bearer access token)

    @property
    def active(self) -> bool:
        """Connected (key present, not disconnected) and enabled."""
        return bool(self.api_key_encrypted) and self.disconnected_at is None and self.enabled


def _to_connection(row: Any) -> Connection:
    data = dict(row._mapping)
    return Connection(**{k: data[k] for k in Connection.__dataclass_fields__})


def stored_credential(connection: Connection, fernet: Fernet | None = None) -> ApiKey:
    """The connection's decrypted credential as `MailchimpClient` takes it: the API key, or for
    an OAuth connection the token with the data centre stored at connect time (no metadata call)."""
    secret = decrypt_secret(connection.api_key_encrypted or "", fernet)
    if connection.auth_kind == "oauth":
        return ApiKey(secret=secret, dc=connection.server_prefix or "")
    return parse_api_key(secret)


def require_org(engine: Engine, org_id: str) -> None:
    """Raise UnknownOrgError naming the org when it does not exist."""
    with engine.connect() as conn:
        if conn.execute(sa.select(orgs.c.id).where(orgs.c.id == org_id)).first() is None:
            raise UnknownOrgError(
                f"org {org_id!r} does not exist in the application database "
                "(check the id with `mc-pipelines status`)"
            )


def get_connection(engine: Engine, org_id: str) -> Connection | None:
    """The org's connection row, or None when it never connected."""
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(mailchimp_connections).where(mailchimp_connections.c.org_id == org_id)
        ).first()
    return _to_connection(row) if row else None


def require_active_connection(engine: Engine, org_id: str) -> Connection:
    """The org's connection, or a clear error saying how to connect/enable it."""
    require_org(engine, org_id)
    connection = get_connection(engine, org_id)
    if connection is None or not connection.api_key_encrypted or connection.disconnected_at:
        raise NotConnectedError(
            f"org {org_id!r} has no Mailchimp connection: run `mc-pipelines connect --org {org_id} "
            "--api-key KEY --audience AUDIENCE_ID`"
        )
    if not connection.enabled:
        raise NotConnectedError(
            f"org {org_id!r} has its Mailchimp sync disabled: run `mc-pipelines enable --org {org_id}`"
        )
    return connection


def orgs_with_connections(engine: Engine) -> list[dict[str, Any]]:
    """Every org (by id) with its connection row's columns (None where it never connected)."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(orgs.c.id, mailchimp_connections)
            .select_from(orgs.outerjoin(mailchimp_connections, mailchimp_connections.c.org_id == orgs.c.id))
            .order_by(orgs.c.id)
        ).mappings().all()
    return [dict(r) for r in rows]


def list_connections(engine: Engine) -> list[Connection]:
    """Every connection row (active or not), ordered by org id."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(mailchimp_connections).order_by(mailchimp_connections.c.org_id))
        return [_to_connection(r) for r in rows]


def active_org_ids(engine: Engine) -> list[str]:
    """Orgs whose connection is active (key stored, not disconnected, enabled)."""
    return [c.org_id for c in list_connections(engine) if c.active]


def save_connection(
    engine: Engine, *, org_id: str, api_key_encrypted: str, server_prefix: str, audience_id: str,
    account_name: str, auto_sync: bool, actor: str, merge_fields: dict[str, str] | None = None,
    options: dict[str, str] | None = None, auth_kind: str = "api_key",
) -> None:
    """Create or replace the org's connection (connect / reconnect) and audit it. `options`:
    lifecycle options (`existing_members`, `reconsent`) to set; others keep their value.
    `auth_kind`: `api_key` or `oauth` (what `api_key_encrypted` holds)."""
    now = utcnow()
    values = {**(options or {}), "auth_kind": auth_kind,
        "api_key_encrypted": api_key_encrypted, "server_prefix": server_prefix,
        "audience_id": audience_id, "account_name": account_name, "enabled": True,
        "auto_sync": auto_sync, "connected_at": now, "disconnected_at": None, "last_error": None,
    }
    if merge_fields is not None:
        values["merge_fields"] = merge_fields
    with engine.begin() as conn:
        exists = conn.execute(
            sa.select(mailchimp_connections.c.org_id).where(mailchimp_connections.c.org_id == org_id)
        ).first()
        if exists:
            conn.execute(
                mailchimp_connections.update()
                .where(mailchimp_connections.c.org_id == org_id).values(**values)
            )
        else:
            values.setdefault("merge_fields", {})
            conn.execute(mailchimp_connections.insert().values(org_id=org_id, **values))
        audit.record(
            conn, org_id=org_id, actor=actor, action="connect",
            detail={"audience_id": audience_id, "server_prefix": server_prefix,
                    "account_name": account_name, "auto_sync": auto_sync, "auth_kind": auth_kind,
                    **(options or {})},
        )


def update_connection(engine: Engine, org_id: str, *, actor: str | None = None,
                      action: str | None = None, **values: Any) -> None:
    """Update columns of the org's connection; audited when an actor and action are given."""
    with engine.begin() as conn:
        conn.execute(
            mailchimp_connections.update()
            .where(mailchimp_connections.c.org_id == org_id).values(**values)
        )
        if actor and action:
            safe = {k: v for k, v in values.items() if k not in ("api_key_encrypted", "webhook_secret_hash")}
            audit.record(conn, org_id=org_id, actor=actor, action=action,
                         detail={k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in safe.items()})


def disconnect(engine: Engine, org_id: str, *, actor: str) -> None:
    """Soft delete: clear the key and webhook secret, keep the row, stop syncing."""
    update_connection(
        engine, org_id, actor=actor, action="disconnect",
        api_key_encrypted=None, webhook_secret_hash=None, disconnected_at=utcnow(), enabled=False,
    )


def record_sync_status(engine: Engine, org_id: str, *, status: str, error: str | None) -> None:
    """Store the outcome of the latest sync on the connection (`last_sync_*`, `last_error`)."""
    update_connection(engine, org_id, last_sync_at=utcnow(), last_sync_status=status, last_error=error)
