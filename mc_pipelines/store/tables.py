"""SQLAlchemy Core descriptions of the tables created by `sql/` (the DDL is the source of truth;
`test_migrations` checks these match it column for column)."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator


class JSONText(TypeDecorator):
    """JSON kept in a TEXT column, so the same DDL works on PostgreSQL and SQLite."""

    impl = sa.Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect) -> str | None:
        return None if value is None else json.dumps(value, sort_keys=True, ensure_ascii=False)

    def process_result_value(self, value: str | None, dialect) -> Any:
        return None if value is None else json.loads(value)


metadata = sa.MetaData()

orgs = sa.Table(
    "orgs", metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
)

contacts = sa.Table(
    "contacts", metadata,
    sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("org_id", sa.String(64), nullable=False),
    sa.Column("email", sa.Text),
    sa.Column("first_name", sa.Text),
    sa.Column("last_name", sa.Text),
    sa.Column("phone", sa.Text),
    sa.Column("contact_type", sa.String(16), nullable=False),
    sa.Column("department", sa.Text),
    sa.Column("location", sa.Text),
    sa.Column("employment_type", sa.Text),
    sa.Column("employment_status", sa.Text),
    sa.Column("marketing_consent", sa.Boolean, nullable=False),
    sa.Column("tags", JSONText, nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
    sa.Column("deleted_at", sa.DateTime),
)

consent_events = sa.Table(
    "consent_events", metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("org_id", sa.String(64), nullable=False),
    sa.Column("contact_id", sa.BigInteger, nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("at", sa.DateTime, nullable=False),
    sa.Column("source", sa.String(64), nullable=False),
    sa.Column("detail", sa.Text),
)

mailchimp_connections = sa.Table(
    "mailchimp_connections", metadata,
    sa.Column("org_id", sa.String(64), primary_key=True),
    sa.Column("api_key_encrypted", sa.Text),
    sa.Column("server_prefix", sa.String(16)),
    sa.Column("audience_id", sa.String(64)),
    sa.Column("account_name", sa.Text),
    sa.Column("enabled", sa.Boolean, nullable=False),
    sa.Column("auto_sync", sa.Boolean, nullable=False),
    sa.Column("webhook_secret_hash", sa.Text),
    sa.Column("merge_fields", JSONText, nullable=False),
    sa.Column("connected_at", sa.DateTime),
    sa.Column("disconnected_at", sa.DateTime),
    sa.Column("last_sync_at", sa.DateTime),
    sa.Column("last_sync_status", sa.String(32)),
    sa.Column("last_error", sa.Text),
    sa.Column("existing_members", sa.String(16), nullable=False, server_default="update"),
    sa.Column("reconsent", sa.String(16), nullable=False, server_default="pending"),
    sa.Column("push_app_tags", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("app_tag_prefix", sa.String(50), nullable=False, server_default="app:"),
    sa.Column("new_member_tags", JSONText, nullable=False, server_default="[]"),
    sa.Column("auth_kind", sa.String(16), nullable=False, server_default="api_key"),
)

contact_segments = sa.Table(
    "contact_segments", metadata,
    sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("org_id", sa.String(64), nullable=False),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("description", sa.Text),
    sa.Column("segment_type", sa.String(16), nullable=False),
    sa.Column("filters", JSONText, nullable=False),
    sa.Column("audience_id", sa.String(64)),
    sa.Column("mailchimp_tag", sa.String(100), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("last_synced_at", sa.DateTime),
    sa.Column("last_error", sa.Text),
    sa.Column("deleted_at", sa.DateTime),
)

campaign_tracking = sa.Table(
    "campaign_tracking", metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("org_id", sa.String(64), nullable=False),
    sa.Column("campaign_id", sa.String(64), nullable=False),
    sa.Column("title", sa.Text),
    sa.Column("status", sa.String(16)),
    sa.Column("audience_id", sa.String(64)),
    sa.Column("send_time", sa.DateTime),
    sa.Column("emails_sent", sa.Integer),
    sa.Column("open_rate", sa.Float),
    sa.Column("click_rate", sa.Float),
    sa.Column("unsubscribed", sa.Integer),
    sa.Column("bounces", sa.Integer),
    sa.Column("refreshed_at", sa.DateTime),
    sa.Column("deleted_at", sa.DateTime),
)

sync_requests = sa.Table(
    "sync_requests", metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("org_id", sa.String(64), nullable=False),
    sa.Column("requested_at", sa.DateTime, nullable=False),
    sa.Column("requested_by", sa.String(255), nullable=False),
    sa.Column("consumed_at", sa.DateTime),
    sa.Column("run_id", sa.String(64)),
)

mailchimp_member_state = sa.Table(
    "mailchimp_member_state", metadata,
    sa.Column("org_id", sa.String(64), primary_key=True),
    sa.Column("audience_id", sa.String(64), primary_key=True),
    sa.Column("subscriber_hash", sa.String(32), primary_key=True),
    sa.Column("contact_id", sa.BigInteger),
    sa.Column("email", sa.Text, nullable=False),
    sa.Column("payload_hash", sa.String(32)),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("managed_tags", JSONText, nullable=False),
    sa.Column("mailchimp_tags", JSONText, nullable=False),
    sa.Column("last_changed", sa.DateTime),
    sa.Column("last_synced_at", sa.DateTime),
    sa.Column("ownership", sa.String(16), nullable=False),
    sa.Column("status_origin", sa.String(16)),
    sa.Column("status_read_at", sa.DateTime),
    sa.Column("intent", sa.String(16)),
    sa.Column("intent_at", sa.DateTime),
    sa.Column("prior_tags", JSONText, nullable=False),
    sa.Column("parked", sa.String(64)),
    sa.Column("mailchimp_contact_id", sa.String(64)),
    sa.Column("moved_from_hash", sa.String(32)),
    sa.Column("opted_out_at", sa.DateTime),
)

sync_runs = sa.Table(
    "sync_runs", metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("org_id", sa.String(64), nullable=False),
    sa.Column("dagster_run_id", sa.String(64)),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("dry_run", sa.Boolean, nullable=False),
    sa.Column("started_at", sa.DateTime, nullable=False),
    sa.Column("finished_at", sa.DateTime),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("summary", JSONText, nullable=False),
)

sync_errors = sa.Table(
    "sync_errors", metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("run_id", sa.String(36), nullable=False),
    sa.Column("org_id", sa.String(64), nullable=False),
    sa.Column("audience_id", sa.String(64)),
    sa.Column("contact_id", sa.BigInteger),
    sa.Column("email", sa.Text),
    sa.Column("error_code", sa.String(64), nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("at", sa.DateTime, nullable=False),
)

audit_log = sa.Table(
    "audit_log", metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("org_id", sa.String(64)),
    sa.Column("at", sa.DateTime, nullable=False),
    sa.Column("actor", sa.String(255), nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("detail", JSONText, nullable=False),
)

mailchimp_pull_cursors = sa.Table(
    "mailchimp_pull_cursors", metadata,
    sa.Column("org_id", sa.String(64), primary_key=True),
    sa.Column("audience_id", sa.String(64), primary_key=True),
    sa.Column("since_last_changed", sa.DateTime),
    sa.Column("updated_at", sa.DateTime, nullable=False),
)

mailchimp_webhook_events = sa.Table(
    "mailchimp_webhook_events", metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("org_id", sa.String(64), nullable=False),
    sa.Column("audience_id", sa.String(64)),
    sa.Column("dedupe_key", sa.String(64), nullable=False),
    sa.Column("event_type", sa.String(32), nullable=False),
    sa.Column("fired_at", sa.DateTime),
    sa.Column("email", sa.Text),
    sa.Column("payload", JSONText, nullable=False),
    sa.Column("received_at", sa.DateTime, nullable=False),
    sa.Column("processed_at", sa.DateTime),
)

mailchimp_member_tags = sa.Table(
    "mailchimp_member_tags", metadata,
    sa.Column("org_id", sa.String(64), primary_key=True),
    sa.Column("audience_id", sa.String(64), primary_key=True),
    sa.Column("subscriber_hash", sa.String(32), primary_key=True),
    sa.Column("email", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("tags", JSONText, nullable=False),
    sa.Column("read_at", sa.DateTime, nullable=False),
)

settled_syncs = sa.Table(
    "settled_syncs", metadata,
    sa.Column("org_id", sa.String(64), primary_key=True),
    sa.Column("fingerprint", sa.String(32), nullable=False),
    sa.Column("sync_run_id", sa.String(36), nullable=False),
    sa.Column("settled_at", sa.DateTime, nullable=False),
    sa.Column("listed", JSONText, nullable=False),
)
