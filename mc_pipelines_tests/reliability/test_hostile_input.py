"""Hostile input: bad keys, audiences, org ids, addresses, oversize and hostile strings,
merge-field and segment mistakes. Each case asserts the exact error text an operator reads (or
the exact per-row outcome), and that nothing was lost or written: no connection row, no audit
row, no Mailchimp write, no member state; valid contacts of the same org still synced.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

import psycopg
import pytest
import sqlalchemy as sa

from mc_pipelines.actions.connections import ConnectError, connect_org
from mc_pipelines.assets.privacy import mask_text
from mc_pipelines.store import tables
from mc_pipelines.store.connections import UnknownOrgError, get_connection, update_connection
from mc_pipelines.store.db import create_db_engine
from mc_pipelines.store.migrations import migrate
from mc_pipelines_tests.support.app_data import (
    add_contacts,
    add_org,
    add_segment,
    connect_to_emulator,
    contact_row,
)
from mc_pipelines_tests.support.dagster_runs import metadata_of
from mc_pipelines_tests.support.reliability import (
    audience,
    failure_message,
    run_sync,
    state_rows,
    table_counts,
)
from mc_pipelines_tests.support.secret_scan import capture_text, run_cli, scanned_instance

BODY = "5f1c0e9d8b7a69584736251403f2e1d0"
WHERE = "copy it again from Mailchimp (Profile → Extras → API keys)"
REJECTED_BY_MAILCHIMP = (
    "Mailchimp rejected the API key {label}: Mailchimp GET /ping failed (401 API Key Invalid). Your API "
    "key may be invalid, or you've attempted to access the wrong datacenter. Mailchimp rejected {label}: "
    "it may have been revoked or mistyped, or its '-<dc>' suffix names the wrong data centre. Create or "
    "copy a valid key in Mailchimp (Profile → Extras → API keys) and store it again for this organisation"
)
NOT_FOUND = ("audience {audience!r} was not found in the Mailchimp account of key {label}: check the "
             "audience id (Audience → Settings → Audience name and defaults)")

FORMAT_CASES = {
    "empty": ("", "Mailchimp API key is empty: paste the key from Mailchimp (Profile → Extras → API keys); it "
                  "looks like 32 hexadecimal characters followed by '-' and the data centre, e.g. '-us1'"),
    "only spaces": ("   ", "Mailchimp API key is empty: paste the key from Mailchimp (Profile → Extras → API "
                           "keys); it looks like 32 hexadecimal characters followed by '-' and the data "
                           "centre, e.g. '-us1'"),
    "space around": (f" {BODY}-us1\n", "Mailchimp API key ****e1d0 has whitespace or a line break around "
                                       "it: remove the leading/trailing spaces"),
    "quoted": (f"'{BODY}-us1'", "Mailchimp API key ****e1d0 is wrapped in quotes: remove the quote "
                                "characters around it"),
    "space inside": (f"{BODY[:16]} {BODY[16:]}-us1", "Mailchimp API key ****e1d0 contains whitespace: a key "
                                                     f"has no spaces; {WHERE}"),
    "missing suffix": (BODY, "Mailchimp API key ****e1d0 has no data-centre suffix: a key ends in '-<dc>' "
                             "such as '-us1'; copy the whole key including the part after the '-'"),
    "empty suffix": (f"{BODY}-", "Mailchimp API key ****e1d0 has no data-centre suffix: a key ends in "
                                 "'-<dc>' such as '-us1'; copy the whole key including the part after the '-'"),
    "upper-case dc": (f"{BODY}-US1", "Mailchimp API key ****-US1 has an invalid data-centre suffix: the part "
                                     "after the last '-' must be two lowercase letters and 1-3 digits, e.g. "
                                     f"'us1' or 'us21'; {WHERE}"),
    "word dc": (f"{BODY}-mars", "Mailchimp API key ****mars has an invalid data-centre suffix: the part after "
                                "the last '-' must be two lowercase letters and 1-3 digits, e.g. 'us1' or "
                                f"'us21'; {WHERE}"),
    "not hex": ("g" * 32 + "-us1", "Mailchimp API key ****gggg is malformed: the part before '-us1' must be 32 "
                                   "lowercase hexadecimal characters (0-9, a-f) but contains other "
                                   f"characters; {WHERE}"),
    "too short": (f"{BODY[:20]}-us1", "Mailchimp API key ****4736 is malformed: the part before '-us1' must "
                                      f"be 32 hexadecimal characters but has 20; {WHERE}"),
    "too long": (f"{BODY}ff-us1", "Mailchimp API key ****d0ff is malformed: the part before '-us1' must be 32 "
                                  f"hexadecimal characters but has 34; {WHERE}"),
    "sql in key": ("x'; DROP TABLE orgs;--", "Mailchimp API key ****gs;- contains whitespace: a key has no "
                                             f"spaces; {WHERE}"),
    "sql without spaces": ("x';DROP/**/TABLE/**/orgs;--us1", "Mailchimp API key ****gs;- is malformed: the "
                                                             "part before '-us1' must be 32 lowercase "
                                                             "hexadecimal characters (0-9, a-f) but contains "
                                                             f"other characters; {WHERE}"),
}


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    """A SQLite application DB for this module (each test uses its own org ids)."""
    engine = create_db_engine(f"sqlite:///{tmp_path_factory.mktemp('hostile') / 'app.db'}")
    migrate(engine)
    yield engine
    engine.dispose()


def _connection_rows(engine) -> tuple[int, int]:
    with engine.connect() as conn:
        return (conn.execute(sa.select(sa.func.count()).select_from(tables.mailchimp_connections)).scalar_one(),
                conn.execute(sa.select(sa.func.count()).select_from(tables.audit_log)).scalar_one())


def _refused(engine, emulator, org_id: str, key: str, audience_id: str, expected: str) -> None:
    """connect_org fails with exactly `expected`, stores nothing and writes nothing to Mailchimp."""
    before, writes = _connection_rows(engine), emulator.stats()["writes"]
    with pytest.raises((ConnectError, UnknownOrgError)) as caught:
        connect_org(engine, org_id, key, audience_id, actor="test", base_url_template=emulator.base_url_template)
    message = str(caught.value)
    capture_text("connect_org error", message)
    assert message == expected
    assert _connection_rows(engine) == before
    assert emulator.stats()["writes"] == writes
    body = key.strip().rpartition("-")[0]
    if len(body) >= 16:
        assert body not in message  # at most the last four characters are shown


# -- keys, audiences and org ids at connect time ---------------------------------------------------

@pytest.mark.parametrize("case", list(FORMAT_CASES))
def test_malformed_keys_are_refused_before_any_call(db, emulator, case):
    org_id = f"fmt-{list(FORMAT_CASES).index(case)}"
    add_org(db, org_id)
    key, expected = FORMAT_CASES[case]
    requests = sum(sum(v.values()) for v in emulator.stats()["requests"].values())
    _refused(db, emulator, org_id, key, "a1b2c3d4e5", expected)
    assert sum(sum(v.values()) for v in emulator.stats()["requests"].values()) == requests


@pytest.fixture
def account(emulator):
    acct = emulator.create_account("hostile")
    key = acct["api_key"]
    return {"api_key": key, "audience_id": emulator.create_list(key), "label": f"****{key.rpartition('-')[0][-4:]}"}


def test_key_of_an_unknown_data_centre(db, emulator, account):
    add_org(db, "dc-unknown")
    key = account["api_key"].rpartition("-")[0] + "-us9"
    _refused(db, emulator, "dc-unknown", key, account["audience_id"],
             REJECTED_BY_MAILCHIMP.format(label=account["label"] + "-us9"))


def test_revoked_key(db, emulator, account):
    add_org(db, "revoked")
    emulator.revoke_key(account["api_key"])
    _refused(db, emulator, "revoked", account["api_key"], account["audience_id"],
             REJECTED_BY_MAILCHIMP.format(label=account["label"] + "-us1"))


def test_disabled_account(db, emulator, account):
    add_org(db, "disabled")
    emulator.disable_account(account["api_key"])
    label = account["label"] + "-us1"
    _refused(db, emulator, "disabled", account["api_key"], account["audience_id"],
             f"the Mailchimp account of key {label} is disabled: Mailchimp GET /ping failed (403 User "
             f"Disabled). This account has been deactivated. The Mailchimp account behind {label} is disabled "
             "or deactivated; the account owner must reactivate it in Mailchimp (or contact Mailchimp "
             "support) before syncing can resume")


@pytest.mark.parametrize("audience_id", ["other-account", "0000000000", "x'; DROP TABLE orgs;--"])
def test_wrong_or_unknown_audience(db, emulator, account, audience_id):
    org_id = f"aud-{abs(hash(audience_id)) % 10_000}"
    add_org(db, org_id)
    if audience_id == "other-account":  # an audience that exists, in another account
        other = emulator.create_account("other")
        audience_id = emulator.create_list(other["api_key"])
    _refused(db, emulator, org_id, account["api_key"], audience_id,
             NOT_FOUND.format(audience=audience_id, label=account["label"] + "-us1"))
    assert table_counts(db)["orgs"] > 0  # the SQL-looking id did nothing to the tables


def test_empty_audience(db, emulator, account):
    add_org(db, "aud-empty")
    _refused(db, emulator, "aud-empty", account["api_key"], "  ",
             "audience id is empty: pass the audience (list) id shown in Mailchimp's audience settings")


@pytest.mark.parametrize("org_id", ["ghost", "x'; DROP TABLE orgs;--"])
def test_org_that_does_not_exist(db, emulator, account, org_id):
    counts = table_counts(db)
    _refused(db, emulator, org_id, account["api_key"], account["audience_id"],
             f"org {org_id!r} does not exist in the application database (check the id with "
             "`mc-pipelines status`)")
    assert table_counts(db) == counts


# -- the sync refuses what it cannot do, and writes nothing ---------------------------------------------

def _org_with_contacts(engine, emulator, org_id: str, **connect) -> dict:
    add_org(engine, org_id)
    add_contacts(engine, [contact_row(org_id, hash_id(org_id, i), f"member{i}@{org_id}.de", tags=["vip"])
                          for i in range(3)])
    add_segment(engine, org_id, hash_id(org_id, 99), "app:vip", {"tags": ["vip"]})
    return connect_to_emulator(engine, emulator, org_id, **connect)


def hash_id(org_id: str, i: int) -> int:
    return int(hashlib.md5(org_id.encode()).hexdigest()[:6], 16) * 100 + i


def _sync_fails(engine, emulator, org_id: str, conn: dict | None, expected: str) -> str:
    """The sync run fails with `expected` in its step failure; nothing reached Mailchimp or the state."""
    contacts = table_counts(engine)["contacts"]
    writes = emulator.stats()["writes"]  # all accounts (a revoked key cannot read its own)
    with scanned_instance() as instance:
        result = run_sync(instance, org_id, engine, emulator)
    assert not result.success
    message = failure_message(result)
    capture_text("sync failure", message)
    assert expected in message
    assert state_rows(engine, org_id) == []
    assert table_counts(engine)["contacts"] == contacts
    assert emulator.stats()["writes"] == writes
    return message


def test_audience_deleted_after_connect(db, emulator):
    conn = _org_with_contacts(db, emulator, "deleted-aud")
    emulator.delete_list(conn["api_key"], conn["audience_id"])
    label = f"****{conn['api_key'].rpartition('-')[0][-4:]}-us1"
    aud = conn["audience_id"]
    _sync_fails(db, emulator, "deleted-aud", conn,
                f"Mailchimp GET /lists/{{list_id}}/members failed (404 Resource Not Found): audience '{aud}' "
                f"not found. The requested resource could not be found. Audience '{aud}' does not exist in "
                f"the Mailchimp account of {label}: check the audience id configured for this organisation")
    connection = get_connection(db, "deleted-aud")  # what the operator sees in `mc-pipelines status`
    assert connection.last_sync_status == "error"
    assert f"Audience '{aud}' does not exist" in connection.last_error


def test_key_revoked_after_connect(db, emulator):
    conn = _org_with_contacts(db, emulator, "revoked-later")
    emulator.revoke_key(conn["api_key"])
    label = f"****{conn['api_key'].rpartition('-')[0][-4:]}-us1"
    _sync_fails(db, emulator, "revoked-later", conn,
                "failed (401 API Key Invalid). Your API key may be invalid, or you've attempted to access "
                f"the wrong datacenter. Mailchimp rejected {label}: it may have been revoked or mistyped")


def test_account_disabled_after_connect(db, emulator):
    conn = _org_with_contacts(db, emulator, "disabled-later")
    emulator.disable_account(conn["api_key"])
    label = f"****{conn['api_key'].rpartition('-')[0][-4:]}-us1"
    _sync_fails(db, emulator, "disabled-later", conn,
                f"failed (403 User Disabled). This account has been deactivated. The Mailchimp account behind "
                f"{label} is disabled or deactivated")


@pytest.mark.parametrize("org_id", ["ghost-org", "x'; DROP TABLE contacts;--"])
def test_sync_of_an_org_that_does_not_exist(db, emulator, org_id):
    _sync_fails(db, emulator, org_id, None,
                f"org {org_id!r} does not exist in the application database (check the id with "
                "`mc-pipelines status`)")


def test_sync_of_an_org_never_connected(db, emulator):
    add_org(db, "unconnected")
    _sync_fails(db, emulator, "unconnected", None,
                "org 'unconnected' has no Mailchimp connection: run `mc-pipelines connect --org unconnected "
                "--api-key KEY --audience AUDIENCE_ID`")


def _add_number_field(emulator, conn: dict, tag: str) -> None:
    resp = emulator.http.post(f"{emulator.api_url('us1')}/lists/{conn['audience_id']}/merge-fields",
                              json={"tag": tag, "name": tag.title(), "type": "number"},
                              auth=("test", conn["api_key"]))
    assert resp.status_code == 200, resp.text


@pytest.mark.parametrize(("mapping", "problem"), [
    ({"AGE": "department"}, "merge field AGE is a number field but column 'department' holds text"),
    ({"FNAME": "nickname"}, "merge-field map uses columns the cohort does not have: nickname; fix the org's "
                            "merge-field map (reconnect with `mc-pipelines connect --org merge-fname ... "
                            "--merge-field TAG=column`)"),
    ({"SHOESIZE": "location"}, "merge field SHOESIZE is not defined in the audience; its merge fields are: "
                               "ADDRESS, AGE, BIRTHDAY, FNAME, LNAME, PHONE"),
])
def test_merge_field_mapping_that_does_not_fit(db, emulator, mapping, problem):
    org_id = f"merge-{next(iter(mapping)).lower()}"
    conn = _org_with_contacts(db, emulator, org_id)
    _add_number_field(emulator, conn, "AGE")
    # connect refuses a map that does not fit; this one stopped fitting after connect
    update_connection(db, org_id, merge_fields=mapping)
    expected = problem if "cohort" in problem else \
        f"merge field mapping does not fit the audience: audience {conn['audience_id']}: {problem}"
    message = _sync_fails(db, emulator, org_id, conn, expected)
    connection = get_connection(db, org_id)
    assert connection.last_sync_status == "error" and problem in connection.last_error
    assert "Exceeded max_retries" not in message


def test_segment_with_unknown_filter_field_is_reported_and_the_rest_syncs(db, emulator):
    conn = _org_with_contacts(db, emulator, "bad-segment")
    add_segment(db, "bad-segment", 7001, "app:team", {"team": "blue", "department": "sales"})
    add_segment(db, "bad-segment", 7002, "app:long", {"tags": ["vip"]})
    with db.begin() as c:  # a tag longer than Mailchimp allows, stored by the application
        c.execute(tables.contact_segments.update().where(tables.contact_segments.c.id == 7002)
                  .values(mailchimp_tag="x" * 100 + "y"))
    with scanned_instance() as instance:
        result = run_sync(instance, "bad-segment", db, emulator)
    assert result.success
    s = tables.contact_segments
    with db.connect() as c:
        rows = {r.id: r for r in c.execute(sa.select(s).where(s.c.org_id == "bad-segment"))}
    assert rows[7001].status == "error"
    assert rows[7001].last_error == ("invalid segment: unknown filter field 'team'; allowed: department, "
                                     "employment_status, employment_type, location, tags")
    assert rows[7002].status == "error"
    assert rows[7002].last_error == "invalid segment: mailchimp_tag is longer than 100 characters"
    assert rows[hash_id("bad-segment", 99)].status == "synced"
    members = audience(emulator, conn["api_key"], conn["audience_id"])
    assert len(members) == 3 and all(m["tags"] == ["app:vip"] for m in members.values())
    meta = metadata_of(result, "segment_summary")
    assert meta["segments_with_errors"] == 2


# -- per-row outcomes: addresses and field values ---------------------------------------------------

ROWS = {
    # case: (contact overrides, expected outcome)
    "space inside address": ({"email": "bad address@rows.de"}, ("invalid_email", "contains spaces")),
    "non-ASCII address": ({"email": "zoë@rows.de"},
                          ("invalid_email", "non-ASCII characters (Mailchimp accepts ASCII addresses only)")),
    "trailing dot": ({"email": "trailing.dot@rows.de."}, ("invalid_email", "ends with a dot")),
    "two @": ({"email": "two@@rows.de"}, ("invalid_email", "more than one @")),
    "no address": ({"email": None}, ("invalid_email", "missing")),
    "SQL as address": ({"email": "x'; DROP TABLE contacts;--"},
                       ("invalid_email", "contains spaces; no @")),
    "overlong address": ({"email": "a" * 250 + "@rows.de"},
                         ("invalid_email", "longer than 254 characters; local part longer than 64 characters")),
    "duplicate in another case": ({"email": "Dup.Person@Rows.DE", "updated_at_offset": -5},
                                  ("duplicate_email", "same address (dup.person@rows.de) as contact {winner}, "
                                                      "which was updated more recently")),
    "fake address": ({"email": "someone@example.com"},
                     ("fake_email", "someone@example.com looks fake or invalid, please enter a real email address.")),
    "padded address": ({"email": "  padded@rows.de\u00a0"}, ("synced", {"email": "padded@rows.de"})),
    "upper-case address": ({"email": "UPPER.Case@Rows.DE"}, ("synced", {"email": "UPPER.Case@Rows.DE"})),
    "10,000-character name": ({"email": "long.name@rows.de", "first_name": "N" * 10_000},
                              ("synced", {"FNAME": "N" * 255})),
    "SQL in names": ({"email": "bobby@rows.de", "first_name": "Robert'); DROP TABLE contacts;--",
                      "last_name": "' OR '1'='1"},
                     ("synced", {"FNAME": "Robert'); DROP TABLE contacts;--", "LNAME": "' OR '1'='1"})),
    "unicode names": ({"email": "zoe@rows.de", "first_name": "Zoë 🌸", "last_name": "זואי Łódź"},
                      ("synced", {"FNAME": "Zoë 🌸", "LNAME": "זואי Łódź"})),
    "line breaks in a name": ({"email": "breaks@rows.de", "last_name": "Smith\nJones\tJr"},
                              ("synced", {"LNAME": "Smith Jones Jr"})),
    "NUL in a name": ({"email": "nul.name@rows.de", "first_name": "Nu\x00ll"}, ("synced", {"FNAME": "Null"})),
    "NUL in an address": ({"email": "nul\x00byte@rows.de"}, ("invalid_email", "control characters")),
}


@pytest.fixture(scope="module")
def row_outcomes(db, emulator):
    """One org holding every case of ROWS (plus the winner of the duplicate), synced once."""
    add_org(db, "rows")
    rows = [contact_row("rows", 500, "dup.person@rows.de")]
    ids = {}
    for i, (case, (overrides, _)) in enumerate(ROWS.items()):
        overrides = dict(overrides)
        offset = overrides.pop("updated_at_offset", 0)
        row = contact_row("rows", 501 + i, overrides.pop("email"), **overrides)
        row["updated_at"] = row["updated_at"].replace(second=30) + timedelta(seconds=offset)
        rows.append(row)
        ids[case] = row["id"]
    rows[0]["updated_at"] = rows[0]["updated_at"].replace(second=30)
    add_contacts(db, rows)
    conn = connect_to_emulator(db, emulator, "rows")
    with scanned_instance() as instance:
        result = run_sync(instance, "rows", db, emulator)
    assert result.success
    with db.connect() as c:
        errors = {r.contact_id: r for r in c.execute(sa.select(tables.sync_errors).where(
            tables.sync_errors.c.org_id == "rows"))}
    rejected = {r["contact_id"]: r for r in _rejected(result)}
    return {"ids": ids, "members": audience(emulator, conn["api_key"], conn["audience_id"]),
            "errors": errors, "rejected": rejected, "result": result}


def _rejected(result) -> list[dict]:
    for event in result.get_asset_materialization_events():
        if event.materialization.asset_key.to_user_string() == "rejected_contacts":
            table = event.materialization.metadata["rejected"].value
            return [dict(r.data) for r in table.records]
    raise AssertionError("rejected_contacts not materialized")


@pytest.mark.parametrize("case", list(ROWS))
def test_row_outcome(row_outcomes, case):
    cid = row_outcomes["ids"][case]
    kind, expected = ROWS[case][1]
    members, errors, rejected = row_outcomes["members"], row_outcomes["errors"], row_outcomes["rejected"]
    if kind == "synced":
        email = expected.get("email") or ROWS[case][0]["email"].strip()
        member = members[email.lower()]
        assert member["email_address"] == email and member["status"] == "subscribed"
        for tag in ("FNAME", "LNAME"):
            if tag in expected:
                assert member["merge_fields"][tag] == expected[tag]
        assert cid not in errors and cid not in rejected
    elif kind in ("invalid_email", "duplicate_email"):
        assert rejected[cid]["reason"] == kind
        # metadata masks addresses by default (README, "Personal data in Dagster metadata")
        assert rejected[cid]["detail"] == mask_text(expected.format(winner=500))
        assert cid not in errors
    else:  # refused by Mailchimp: recorded with the contact id, parked
        assert errors[cid].error_code == kind and errors[cid].message == expected
    # nothing lost: every valid contact of the org is in the audience
    assert "dup.person@rows.de" in members and len(members) == 8


def test_oversize_values_are_reported(row_outcomes):
    meta = metadata_of(row_outcomes["result"], "desired_members")
    assert meta["truncated_fields"] == 1
    counts = metadata_of(row_outcomes["result"], "rejected_contacts")
    assert counts["invalid"] == 8 and counts["duplicates"] == 1


def test_postgresql_refuses_nul_in_text_and_nothing_is_stored(pg_app_engine):
    add_org(pg_app_engine, "nul-org")
    with pytest.raises(sa.exc.DataError) as caught:
        add_contacts(pg_app_engine, [contact_row("nul-org", 1, "ok@posteo.de"),
                                     contact_row("nul-org", 2, "nul@posteo.de", first_name="Nu\x00ll")])
    assert isinstance(caught.value.orig, psycopg.DataError)
    assert "PostgreSQL text fields cannot contain NUL (0x00) bytes" in str(caught.value.orig)
    assert table_counts(pg_app_engine)["contacts"] == 0  # the whole insert was refused


# -- the command line ----------------------------------------------------------------------------

@pytest.fixture
def cli_env(db, emulator, monkeypatch):
    monkeypatch.setenv("MC_DATABASE_URL", db.url.render_as_string(hide_password=False))
    monkeypatch.setenv("MC_MAILCHIMP_BASE_URL", emulator.base_url_template)
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.delenv("MC_API_KEY", raising=False)
    return db


def test_cli_connect_with_a_key_missing_its_suffix(cli_env, emulator):
    add_org(cli_env, "cli-org")
    before = _connection_rows(cli_env)
    code, out, err = run_cli(["connect", "--org", "cli-org", "--api-key", "-", "--audience", "a1b2c3d4e5"],
                             stdin=BODY + "\n")
    assert code == 2 and out == ""
    assert err == ("error: Mailchimp API key ****e1d0 has no data-centre suffix: a key ends in '-<dc>' such as "
                   "'-us1'; copy the whole key including the part after the '-'\n")
    assert _connection_rows(cli_env) == before


def test_cli_sync_of_an_unknown_org(cli_env):
    code, out, err = run_cli(["sync", "--org", "nobody"])
    assert (code, out) == (2, "")
    assert err == ("error: org 'nobody' does not exist in the application database (check the id with "
                   "`mc-pipelines status`)\n")
