-- No query looks members up by their write intent: the state is read whole per org and the rows
-- waiting to be read back are found in the frame (`effects/readback.needs_read`). The index only
-- cost every state write of the push (two per created member: the intent, then the answer) an
-- index update; measured on 100k created members, dropping it took the push's state writes from
-- 4.7 s to 3.9 s (bench/README.md, "Fourth round").
DROP INDEX IF EXISTS ix_member_state_intent;
