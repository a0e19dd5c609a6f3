"""The member-status pull against the emulator over HTTP, on PostgreSQL and SQLite: Mailchimp-side
opt-outs become withdrawn consent and stay opted out, cursors advance, re-pulls change nothing,
orgs stay isolated."""

from __future__ import annotations

from datetime import timedelta

from mc_pipelines.assets.member_status import MemberStatusConfig, mailchimp_member_status
from mc_pipelines.mailchimp.addresses import subscriber_hash
from mc_pipelines.store import cursors, member_state
from mc_pipelines.store.clock import utcnow
from mc_pipelines.store.member_state import load_state
from mc_pipelines_tests.support.app_data import consent_of, consent_rows, seed_org
from mc_pipelines_tests.support.dagster_runs import materialize_one, materialize_sync, metadata_of

EMAILS = ["self.leaver@acme-mail.io", "admin.removed@acme-mail.io", "bouncer@acme-mail.io",
          "stayer@acme-mail.io"]


def _statuses(emulator, conn) -> dict[str, str]:
    return {m["email_address"]: m["status"]
            for m in emulator.dump_list(conn["api_key"], conn["audience_id"])}


def _preload(engine, emulator, conn, org_id: str, emails: list[str], *, spacing: int = 10):
    """Members already in Mailchimp and in the state (as a past sync left them), changed three days
    ago `spacing` seconds apart; returns the first one's last_changed."""
    past = (utcnow() - timedelta(days=3)).replace(microsecond=0)
    emulator.bulk_load(conn["api_key"], conn["audience_id"], [
        {"email_address": e, "status": "subscribed",
         "last_changed": f"{(past + timedelta(seconds=spacing * i)).isoformat()}+00:00"}
        for i, e in enumerate(emails)])
    member_state.save_rows(engine, org_id, [
        {"audience_id": conn["audience_id"], "subscriber_hash": subscriber_hash(e), "email": e,
         "status": "subscribed"} for e in emails], ["status"])
    return past


def test_opt_outs_made_in_mailchimp_withdraw_consent_and_are_never_resubscribed(
        app_engine, emulator, dagster_instance):
    conn = seed_org(app_engine, emulator, "acme", EMAILS)
    key, audience = conn["api_key"], conn["audience_id"]
    materialize_sync(dagster_instance, "acme", app_engine, emulator)
    assert set(_statuses(emulator, conn).values()) == {"subscribed"}
    emulator.tag_member(key, audience, EMAILS[0], add=["Marketer VIP"])  # a marketer's own tag
    for email, event in zip(EMAILS[:3], ["unsubscribe", "admin_unsubscribe", "cleaned"], strict=True):
        emulator.member_event(key, audience, email, event)

    result = materialize_sync(dagster_instance, "acme", app_engine, emulator)
    pulled = metadata_of(result, "mailchimp_member_status")
    assert (pulled["unsubscribed_in_mailchimp"], pulled["cleaned_in_mailchimp"]) == (2, 1)
    assert pulled["consent_withdrawn"] == 3
    assert consent_of(app_engine, "acme") == {1: False, 2: False, 3: False, 4: True}
    events = consent_rows(app_engine, "acme")
    assert [(e["contact_id"], e["kind"], e["source"]) for e in events] == [
        (1, "withdrawn", "mailchimp"), (2, "withdrawn", "mailchimp"), (3, "withdrawn", "mailchimp")]
    details = {e["contact_id"]: e["detail"] for e in events}
    assert "Unsubscribed by the contact" in details[1] and audience in details[1]
    assert "Unsubscribed by admin" in details[2]
    assert details[3].startswith("cleaned")
    state = load_state(app_engine, "acme").set_index("email")
    assert state.loc[EMAILS[0], "status"] == "unsubscribed"
    assert "Marketer VIP" in state.loc[EMAILS[0], "mailchimp_tags"]  # read, never written back
    assert state.loc[EMAILS[2], "status"] == "cleaned"

    # neither the push of that run nor the next sync fights them: no re-subscribe, no new events
    result = materialize_sync(dagster_instance, "acme", app_engine, emulator)
    assert metadata_of(result, "mailchimp_member_status")["consent_withdrawn"] == 0
    assert _statuses(emulator, conn) == {EMAILS[0]: "unsubscribed", EMAILS[1]: "unsubscribed",
                                         EMAILS[2]: "cleaned", EMAILS[3]: "subscribed"}
    assert len(consent_rows(app_engine, "acme")) == 3


def test_cursor_advances_and_a_repull_changes_nothing(app_engine, emulator, dagster_instance):
    emails = [f"member{i}@cursor-mail.io" for i in range(6)]
    conn = seed_org(app_engine, emulator, "cursorco", emails)
    audience = conn["audience_id"]
    past = _preload(app_engine, emulator, conn, "cursorco", emails)

    def pull(**config):
        return materialize_one(dagster_instance, mailchimp_member_status, "cursorco", app_engine,
                               emulator, MemberStatusConfig(**config))

    first = pull()
    assert first["members_changed"] == 6 and first["state_rows_changed"] == 6  # last_changed learnt
    assert cursors.get_cursor(app_engine, "cursorco", audience) == past + timedelta(seconds=50)

    emulator.member_event(conn["api_key"], audience, emails[2], "unsubscribe")
    second = pull()
    assert second["members_changed"] == 2  # the newest of the first pull (overlap), the leaver
    assert second["state_rows_changed"] == 1 and second["consent_withdrawn"] == 1
    cursor = cursors.get_cursor(app_engine, "cursorco", audience)
    assert cursor > past + timedelta(seconds=50)

    events = consent_rows(app_engine, "cursorco")
    again = pull()
    assert again["members_changed"] == 1  # the cursor's second is re-read on purpose…
    assert again["state_rows_changed"] == 0 and again["consent_withdrawn"] == 0  # …as a no-op
    assert consent_rows(app_engine, "cursorco") == events
    assert cursors.get_cursor(app_engine, "cursorco", audience) == cursor

    dry = pull(full_refresh=True, dry_run=True)
    assert dry["members_changed"] == 6 and dry["state_rows_changed"] == 0


def test_an_opt_out_in_one_orgs_mailchimp_never_touches_another_org(pg_app_engine, emulator,
                                                                     dagster_instance):
    shared = "shared.person@both-orgs.io"
    conns = {}
    for org, base in (("northco", 100), ("southco", 200)):
        emails = [shared, f"own@{org}-mail.io"]
        conns[org] = seed_org(pg_app_engine, emulator, org, emails, first_id=base)
        _preload(pg_app_engine, emulator, conns[org], org, emails)
    emulator.member_event(conns["northco"]["api_key"], conns["northco"]["audience_id"], shared,
                          "unsubscribe")
    pulled = {org: materialize_one(dagster_instance, mailchimp_member_status, org, pg_app_engine,
                                   emulator) for org in conns}
    assert pulled["northco"]["consent_withdrawn"] == 1 and pulled["southco"]["consent_withdrawn"] == 0
    assert consent_of(pg_app_engine, "northco") == {100: False, 101: True}
    assert consent_of(pg_app_engine, "southco") == {200: True, 201: True}
    assert consent_rows(pg_app_engine, "southco") == []
    south = load_state(pg_app_engine, "southco")
    assert set(south["status"]) == {"subscribed"}


def test_opt_outs_of_members_the_project_never_pushed_withdraw_consent_but_add_no_state(
        pg_app_engine, emulator, dagster_instance):
    conn = seed_org(pg_app_engine, emulator, "legacy",
                    ["old.member@legacy-mail.io", "bounced@legacy-mail.io", "fine@legacy-mail.io"])
    emulator.bulk_load(conn["api_key"], conn["audience_id"], [
        {"email_address": "OLD.Member@legacy-mail.io", "status": "unsubscribed"},
        {"email_address": "bounced@legacy-mail.io", "status": "cleaned"},
        {"email_address": "fine@legacy-mail.io", "status": "subscribed"}])
    meta = materialize_one(dagster_instance, mailchimp_member_status, "legacy", pg_app_engine, emulator)
    assert meta["consent_withdrawn"] == 2 and meta["known_members_seen"] == 0
    assert consent_of(pg_app_engine, "legacy") == {1: False, 2: False, 3: True}
    assert load_state(pg_app_engine, "legacy").empty
