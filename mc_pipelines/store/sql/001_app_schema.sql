-- Application-owned tables (the application writes these; the pipelines read them,
-- and write back only consent withdrawals, segment status and connection status).
-- Portable subset of SQL: runs unchanged on PostgreSQL and SQLite. All timestamps are UTC.

CREATE TABLE orgs (
    id          VARCHAR(64)  PRIMARY KEY,
    name        VARCHAR(255) NOT NULL,
    created_at  TIMESTAMP    NOT NULL
);

CREATE TABLE contacts (
    id                 BIGINT        PRIMARY KEY,
    org_id             VARCHAR(64)   NOT NULL REFERENCES orgs (id),
    email              TEXT,
    first_name         TEXT,
    last_name          TEXT,
    phone              TEXT,
    contact_type       VARCHAR(16)   NOT NULL DEFAULT 'customer'
                       CHECK (contact_type IN ('customer', 'employee', 'vendor')),
    department         TEXT,
    location           TEXT,
    employment_type    TEXT,
    employment_status  TEXT,
    marketing_consent  BOOLEAN       NOT NULL DEFAULT FALSE,
    tags               TEXT          NOT NULL DEFAULT '[]',
    created_at         TIMESTAMP     NOT NULL,
    updated_at         TIMESTAMP     NOT NULL,
    deleted_at         TIMESTAMP
);
CREATE INDEX ix_contacts_org ON contacts (org_id, id);

CREATE TABLE consent_events (
    id          VARCHAR(36)  PRIMARY KEY,
    org_id      VARCHAR(64)  NOT NULL REFERENCES orgs (id),
    contact_id  BIGINT       NOT NULL,
    kind        VARCHAR(16)  NOT NULL CHECK (kind IN ('given', 'withdrawn')),
    at          TIMESTAMP    NOT NULL,
    source      VARCHAR(64)  NOT NULL,
    detail      TEXT
);
CREATE INDEX ix_consent_events_org_contact ON consent_events (org_id, contact_id);

CREATE TABLE mailchimp_connections (
    org_id               VARCHAR(64)  PRIMARY KEY REFERENCES orgs (id),
    api_key_encrypted    TEXT,
    server_prefix        VARCHAR(16),
    audience_id          VARCHAR(64),
    account_name         TEXT,
    enabled              BOOLEAN      NOT NULL DEFAULT TRUE,
    auto_sync            BOOLEAN      NOT NULL DEFAULT FALSE,
    webhook_secret_hash  TEXT,
    merge_fields         TEXT         NOT NULL DEFAULT '{}',
    connected_at         TIMESTAMP,
    disconnected_at      TIMESTAMP,
    last_sync_at         TIMESTAMP,
    last_sync_status     VARCHAR(32),
    last_error           TEXT
);

CREATE TABLE contact_segments (
    id              BIGINT        PRIMARY KEY,
    org_id          VARCHAR(64)   NOT NULL REFERENCES orgs (id),
    name            VARCHAR(255)  NOT NULL,
    description     TEXT,
    segment_type    VARCHAR(16)   NOT NULL DEFAULT 'mixed'
                    CHECK (segment_type IN ('customer', 'employee', 'vendor', 'mixed')),
    filters         TEXT          NOT NULL DEFAULT '{}',
    audience_id     VARCHAR(64),
    mailchimp_tag   VARCHAR(100)  NOT NULL,
    status          VARCHAR(16)   NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'syncing', 'synced', 'error')),
    last_synced_at  TIMESTAMP,
    last_error      TEXT,
    deleted_at      TIMESTAMP
);
CREATE INDEX ix_contact_segments_org ON contact_segments (org_id);

CREATE TABLE campaign_tracking (
    id            VARCHAR(36)   PRIMARY KEY,
    org_id        VARCHAR(64)   NOT NULL REFERENCES orgs (id),
    campaign_id   VARCHAR(64)   NOT NULL,
    title         TEXT,
    status        VARCHAR(16),
    audience_id   VARCHAR(64),
    send_time     TIMESTAMP,
    emails_sent   INTEGER,
    open_rate     DOUBLE PRECISION,
    click_rate    DOUBLE PRECISION,
    unsubscribed  INTEGER,
    bounces       INTEGER,
    refreshed_at  TIMESTAMP,
    deleted_at    TIMESTAMP,
    UNIQUE (org_id, campaign_id)
);

CREATE TABLE sync_requests (
    id            VARCHAR(36)   PRIMARY KEY,
    org_id        VARCHAR(64)   NOT NULL REFERENCES orgs (id),
    requested_at  TIMESTAMP     NOT NULL,
    requested_by  VARCHAR(255)  NOT NULL,
    consumed_at   TIMESTAMP,
    run_id        VARCHAR(64)
);
CREATE INDEX ix_sync_requests_pending ON sync_requests (consumed_at, requested_at);
