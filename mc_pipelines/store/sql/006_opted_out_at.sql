-- When the member's current Mailchimp-side opt-out was made (Mailchimp's `last_changed` at the
-- transition, or when the project read it if Mailchimp gave no time): LIFECYCLE A8 sends a
-- double opt-in request only to a contact whose app consent was given after it. NULL for opt-outs
-- recorded before this column (such members are listed, never asked to confirm).
ALTER TABLE mailchimp_member_state ADD COLUMN opted_out_at TIMESTAMP;
