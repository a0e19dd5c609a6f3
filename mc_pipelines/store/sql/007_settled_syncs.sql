-- The proof, per org, that the last sync left nothing to do for the inputs it saw: a fingerprint
-- of those inputs (the org's contacts, consent trail, segments, connection and member state, the
-- run's settings and the planning code). A run that finds the same fingerprint has nothing to
-- plan and skips reading the org (`store/settled.py`), reporting what that plan listed
-- (`listed`: per audience, the rows it leaves alone with their contact id, subscriber hash and
-- reason, and the guard's figures; no address). Erasing a contact forgets the org's row.
CREATE TABLE settled_syncs (
    org_id       VARCHAR(64)  PRIMARY KEY,
    fingerprint  CHAR(32)     NOT NULL,
    sync_run_id  VARCHAR(36)  NOT NULL,
    settled_at   TIMESTAMP    NOT NULL,
    listed       TEXT         NOT NULL DEFAULT '[]'
);
