-- Tags both ways (issue 16 items 4 and 5).
-- Connection options: push the application's own contact tags to Mailchimp as managed tags
-- (each named `app_tag_prefix` + the app's tag, in the default audience), and the tags every
-- member a sync run creates receives once (never existing members; JSON list of names).
ALTER TABLE mailchimp_connections ADD COLUMN push_app_tags BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE mailchimp_connections ADD COLUMN app_tag_prefix VARCHAR(50) NOT NULL DEFAULT 'app:';
ALTER TABLE mailchimp_connections ADD COLUMN new_member_tags TEXT NOT NULL DEFAULT '[]';
-- The full read of every member's Mailchimp tags (tag-only changes included), one row per
-- (org, audience, member), replaced by each read; `read_at` is the read that last saw it.
CREATE TABLE mailchimp_member_tags (
    org_id           VARCHAR(64)  NOT NULL REFERENCES orgs (id),
    audience_id      VARCHAR(64)  NOT NULL,
    subscriber_hash  CHAR(32)     NOT NULL,
    email            TEXT         NOT NULL,
    status           VARCHAR(16)  NOT NULL,
    tags             TEXT         NOT NULL DEFAULT '[]',
    read_at          TIMESTAMP    NOT NULL,
    PRIMARY KEY (org_id, audience_id, subscriber_hash)
);
