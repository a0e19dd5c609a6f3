-- The member lifecycle contract (LIFECYCLE.md), per (org, audience, address):
-- ownership (created | linked | none), the status last read and who made it, the write the
-- project intends before each write (so a lost answer is never misread), the tags a member had
-- before the project applied them, why a create or update is parked, and where a member that
-- changed its address in Mailchimp came from. `managed` becomes `ownership`.
ALTER TABLE mailchimp_member_state ADD COLUMN ownership VARCHAR(16) NOT NULL DEFAULT 'created';
ALTER TABLE mailchimp_member_state ADD COLUMN status_origin VARCHAR(16);
ALTER TABLE mailchimp_member_state ADD COLUMN status_read_at TIMESTAMP;
ALTER TABLE mailchimp_member_state ADD COLUMN intent VARCHAR(16);
ALTER TABLE mailchimp_member_state ADD COLUMN intent_at TIMESTAMP;
ALTER TABLE mailchimp_member_state ADD COLUMN prior_tags TEXT NOT NULL DEFAULT '[]';
ALTER TABLE mailchimp_member_state ADD COLUMN parked VARCHAR(64);
ALTER TABLE mailchimp_member_state ADD COLUMN mailchimp_contact_id VARCHAR(64);
ALTER TABLE mailchimp_member_state ADD COLUMN moved_from_hash CHAR(32);
UPDATE mailchimp_member_state SET ownership = 'linked' WHERE managed = FALSE;
UPDATE mailchimp_member_state SET intent = 'create', status = 'unknown' WHERE status = 'creating';
UPDATE mailchimp_member_state SET ownership = 'none', status = 'absent', parked = 'rejected' WHERE status = 'rejected';
ALTER TABLE mailchimp_member_state DROP COLUMN managed;
CREATE INDEX ix_member_state_intent ON mailchimp_member_state (org_id, audience_id, intent);
-- Connection options of the lifecycle: what the sync does to members that existed before the
-- project (update | leave), and to app re-consent after a Mailchimp-side opt-out (pending | report).
ALTER TABLE mailchimp_connections ADD COLUMN existing_members VARCHAR(16) NOT NULL DEFAULT 'update';
ALTER TABLE mailchimp_connections ADD COLUMN reconsent VARCHAR(16) NOT NULL DEFAULT 'pending';
