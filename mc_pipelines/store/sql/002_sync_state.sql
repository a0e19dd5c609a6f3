-- Pipeline-owned tables: what was pushed to Mailchimp (the diff base), run history,
-- per-row outcomes, the audit trail, pull cursors and received webhook events.

CREATE TABLE mailchimp_member_state (
    org_id           VARCHAR(64)  NOT NULL,
    audience_id      VARCHAR(64)  NOT NULL,
    subscriber_hash  CHAR(32)     NOT NULL,
    contact_id       BIGINT,
    email            TEXT         NOT NULL,
    payload_hash     CHAR(32),
    status           VARCHAR(16)  NOT NULL,
    managed          BOOLEAN      NOT NULL DEFAULT TRUE,
    managed_tags     TEXT         NOT NULL DEFAULT '[]',
    mailchimp_tags   TEXT         NOT NULL DEFAULT '[]',
    last_changed     TIMESTAMP,
    last_synced_at   TIMESTAMP,
    PRIMARY KEY (org_id, audience_id, subscriber_hash)
);
CREATE INDEX ix_member_state_contact ON mailchimp_member_state (org_id, contact_id);

CREATE TABLE sync_runs (
    id              VARCHAR(36)  PRIMARY KEY,
    org_id          VARCHAR(64)  NOT NULL,
    dagster_run_id  VARCHAR(64),
    kind            VARCHAR(32)  NOT NULL,
    dry_run         BOOLEAN      NOT NULL DEFAULT FALSE,
    started_at      TIMESTAMP    NOT NULL,
    finished_at     TIMESTAMP,
    status          VARCHAR(16)  NOT NULL,
    summary         TEXT         NOT NULL DEFAULT '{}'
);
CREATE INDEX ix_sync_runs_org ON sync_runs (org_id, started_at);

CREATE TABLE sync_errors (
    id           VARCHAR(36)  PRIMARY KEY,
    run_id       VARCHAR(36)  NOT NULL,
    org_id       VARCHAR(64)  NOT NULL,
    audience_id  VARCHAR(64),
    contact_id   BIGINT,
    email        TEXT,
    error_code   VARCHAR(64)  NOT NULL,
    message      TEXT         NOT NULL,
    at           TIMESTAMP    NOT NULL
);
CREATE INDEX ix_sync_errors_org_run ON sync_errors (org_id, run_id);

CREATE TABLE audit_log (
    id      VARCHAR(36)  PRIMARY KEY,
    org_id  VARCHAR(64),
    at      TIMESTAMP    NOT NULL,
    actor   VARCHAR(255) NOT NULL,
    action  VARCHAR(64)  NOT NULL,
    detail  TEXT         NOT NULL DEFAULT '{}'
);
CREATE INDEX ix_audit_log_org ON audit_log (org_id, at);

CREATE TABLE mailchimp_pull_cursors (
    org_id              VARCHAR(64)  NOT NULL,
    audience_id         VARCHAR(64)  NOT NULL,
    since_last_changed  TIMESTAMP,
    updated_at          TIMESTAMP    NOT NULL,
    PRIMARY KEY (org_id, audience_id)
);

CREATE TABLE mailchimp_webhook_events (
    id           VARCHAR(36)  PRIMARY KEY,
    org_id       VARCHAR(64)  NOT NULL,
    audience_id  VARCHAR(64),
    dedupe_key   CHAR(64)     NOT NULL,
    event_type   VARCHAR(32)  NOT NULL,
    fired_at     TIMESTAMP,
    email        TEXT,
    payload      TEXT         NOT NULL,
    received_at  TIMESTAMP    NOT NULL,
    processed_at TIMESTAMP,
    UNIQUE (org_id, dedupe_key)
);
