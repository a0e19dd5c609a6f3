"""LIFECYCLE.md section A (consent): one conformance test per row, driving the real sync graph
against the emulator over HTTP and checking Mailchimp (a GET) and the app (consent, trail, audit)."""

from __future__ import annotations

import json

from mc_pipelines_tests.lifecycle.world import World, earlier, next_second


def test_A1_consenting_contact_is_subscribed(world: World):
    cid = world.add("ann@a1.example.org")
    world.sync()
    assert world.status("ann@a1.example.org") == "subscribed"
    assert world.meta()["created"] == 1
    assert world.consent(cid) is True


def test_A2_no_consent_is_never_written(world: World):
    world.add("bob@a2.example.org", consent=False)
    world.add("cat@a2.example.org")
    world.sync()
    assert world.member("bob@a2.example.org") is None
    second = world.new_audience()
    assert world.member("bob@a2.example.org", second) is None


def test_A3_withdrawal_unsubscribes_in_every_audience_in_scope(world: World):
    second = world.new_audience()
    ann = world.add("ann@a3.example.org", department="Sales")
    world.segment(1, "sales", {"department": "Sales"}, audience_id=second)
    world.sync()
    assert world.status("ann@a3.example.org") == world.status("ann@a3.example.org", second) == "subscribed"
    world.withdraw(ann)
    world.sync()
    assert world.status("ann@a3.example.org") == "unsubscribed"
    assert world.status("ann@a3.example.org", second) == "unsubscribed"
    assert world.trail(ann)[-1] == ("withdrawn", "app")


def listed(world: World, reason: str) -> list[int]:
    """Contact ids the last sync listed as skipped for `reason` (the run's `skipped_rows`)."""
    table = world.meta()["skipped_rows"]
    return sorted(int(r.data["contact_id"]) for r in table.records if r.data["reason"] == reason)


def test_A4_latest_consent_change_of_an_address_wins(world: World):
    stale = world.add("ann@a4.example.org")
    current = world.add("Ann@a4.example.org")  # the same address, more recently updated
    world.sync()
    assert world.status("ann@a4.example.org") == "subscribed"
    world.withdraw(stale)  # the stale duplicate withdraws: the newest consent change of the address
    world.sync()
    assert world.status("ann@a4.example.org") == "unsubscribed"
    assert world.meta()["unsubscribed"] == 1
    assert world.consent(current) is True  # the app's records are the app's: only Mailchimp follows
    assert world.trail(current) == [("given", "app")]
    world.give(current)  # now the newest change of the address is a consent again
    world.sync()
    assert world.status("ann@a4.example.org") == "subscribed"
    assert world.meta()["resubscribed"] == 1


def test_A5_mailchimp_unsubscribe_withdraws_every_record_of_the_address(world: World):
    live = world.add("ann@a5.example.org")
    tabbed = world.add("\tAnn@A5.example.org\u00a0")
    deleted = world.add(" ann@a5.example.org\u200b")
    world.delete(deleted)
    other = world.add("bob@a5.example.org")
    world.sync()
    assert world.status("ann@a5.example.org") == "subscribed"
    world.person("ann@a5.example.org", "unsubscribe")
    before = world.writes()
    world.sync()
    for cid in (live, tabbed, deleted):
        assert world.consent(cid) is False
        assert world.trail(cid) == [("given", "app"), ("withdrawn", "mailchimp")]
    assert world.consent(other) is True and world.trail(other) == [("given", "app")]
    pulled = world.meta("mailchimp_member_status")
    assert pulled["consent_withdrawn"] == 3 and pulled["unsubscribed_in_mailchimp"] == 1
    world.sync()
    assert world.status("ann@a5.example.org") == "unsubscribed"
    assert world.writes() == before  # never re-subscribed, nothing else written
    assert world.meta()["resubscribed"] == world.meta()["reconfirmation_requested"] == 0


def test_A5_mailchimp_unsubscribe_reaches_a_contact_whose_address_the_app_changed(world: World):
    """The person opts out in Mailchimp and, before the next run, the app changes the contact's
    address: the opt-out still withdraws that contact's consent (the state links the member to
    it), so the member is neither moved to the new address nor asked to confirm again (A8 needs
    a `given` newer than the opt-out; there is none)."""
    ann = world.add("ann@a5m.example.org")
    world.sync()
    before = world.acts_and_moves(ann, "ann@a5m.example.org", "unsubscribe", "ann.new@a5m.example.org")
    world.sync()
    assert world.consent(ann) is False
    assert world.trail(ann) == [("given", "app"), ("withdrawn", "mailchimp")]
    assert world.status("ann@a5m.example.org") == "unsubscribed"
    assert world.member("ann.new@a5m.example.org") is None
    # one member, never asked to confirm
    assert [(m["email_address"], m["confirmation_emails"])
            for m in world.emulator.dump_list(world.api_key, world.audience_id)] == [
        ("ann@a5m.example.org", 0)]
    meta = world.meta()
    assert meta["email_changed"] == meta["reconfirmation_requested"] == meta["created"] == 0
    world.sync()
    assert world.writes() == before  # nothing written on either run


def test_A5_unsubscribe_webhook_reaches_a_contact_whose_address_the_app_changed(world: World):
    ann = world.add("ann@a5mw.example.org")
    world.sync()
    world.webhooks_to_receiver()
    world.change_email(ann, "ann.new@a5mw.example.org")
    world.person("ann@a5mw.example.org", "unsubscribe")
    world.await_webhooks()
    assert world.consent(ann) is False  # before any pull
    before = world.writes()
    world.sync()
    assert world.member("ann.new@a5mw.example.org") is None
    assert world.status("ann@a5mw.example.org") == "unsubscribed"
    assert world.writes() == before


def test_A6_resubscribe_in_mailchimp_gives_consent_back(world: World):
    ann = world.add("ann@a6.example.org")
    world.sync()
    world.person("ann@a6.example.org", "unsubscribe")
    world.sync()
    assert world.consent(ann) is False
    world.person("ann@a6.example.org", "subscribe")  # a signup form, after the opt-out
    before = world.writes()
    world.sync()
    assert world.consent(ann) is True
    assert world.trail(ann) == [("given", "app"), ("withdrawn", "mailchimp"), ("given", "mailchimp")]
    assert world.meta("mailchimp_member_status")["consent_given"] == 1
    world.sync()
    assert world.status("ann@a6.example.org") == "subscribed"
    assert world.writes() == before  # the next runs leave the person's subscription alone
    assert world.meta()["unsubscribed"] == 0


def test_A7_reconsent_after_project_unsubscribe(world: World):
    second = world.new_audience()
    world.segment(1, "sales", {"department": "Sales"}, audience_id=second)
    ann = world.add("ann@a7.example.org")
    bob = world.add("bob@a7.example.org")
    cat = world.add("cat@a7.example.org", department="Sales")
    world.sync()
    world.withdraw(ann)  # consent withdrawn
    world.delete(bob)  # contact deleted
    world.update(cat, department="Support")  # left the segment feeding the second audience
    world.sync()
    assert world.status("ann@a7.example.org") == world.status("bob@a7.example.org") == "unsubscribed"
    assert world.status("cat@a7.example.org", second) == "unsubscribed"
    assert world.status("cat@a7.example.org") == "subscribed"
    world.give(ann)  # re-consent
    world.restore(bob)  # restored contact
    world.update(cat, department="Sales")  # back in the segment
    world.sync()
    assert world.status("ann@a7.example.org") == world.status("bob@a7.example.org") == "subscribed"
    assert world.status("cat@a7.example.org", second) == "subscribed"
    assert world.tags("cat@a7.example.org", second) == {"sales"}
    assert world.meta()["resubscribed"] == 3
    assert world.meta()["reconfirmation_requested"] == 0
    assert world.trail(ann) == [("given", "app"), ("withdrawn", "app"), ("given", "app")]


def _opt_out_then_reconsent(world: World) -> tuple[int, int]:
    """Two members opt out in Mailchimp (one unsubscribes, one bounces), then both consent again
    in the app (newer than the opt-outs); returns their contact ids."""
    ann = world.add("ann@a8.example.org")
    bob = world.add("bob@a8.example.org")
    world.sync()
    world.person("ann@a8.example.org", "unsubscribe")
    world.person("bob@a8.example.org", "cleaned")
    world.sync()
    assert world.consent(ann) is world.consent(bob) is False
    world.give(ann, at=next_second())
    world.give(bob, at=next_second())
    return ann, bob


def test_A8_reconsent_after_mailchimp_opt_out_asks_for_double_opt_in(world: World):
    ann, bob = _opt_out_then_reconsent(world)  # connection option reconsent=pending (default)
    before = world.writes()
    world.sync()
    assert world.status("ann@a8.example.org") == "pending"  # Mailchimp mails the confirmation
    assert world.status("bob@a8.example.org") == "cleaned"
    assert world.writes() == before + 1
    meta = world.meta()
    assert meta["reconfirmation_requested"] == 1 and meta["resubscribed"] == 0
    assert listed(world, "reconfirmation_sent") == [ann]
    assert listed(world, "cleaned") == [bob]
    assert world.consent(ann) is True and world.trail(ann)[-1] == ("given", "app")
    world.sync()  # no second confirmation email, no subscribe behind the person's back
    assert world.status("ann@a8.example.org") == "pending"
    assert world.writes() == before + 1
    world.person("ann@a8.example.org", "confirm")
    world.sync()
    assert world.status("ann@a8.example.org") == "subscribed"
    assert world.consent(ann) is True


def test_A8_consent_back_on_without_a_newer_given_event_sends_nothing(world: World):
    """A8 needs a `given` event newer than the Mailchimp-side opt-out: the app turning the consent
    flag back on without recording one is listed for a person, never a confirmation email."""
    ann = world.add("ann@a8n.example.org")
    world.sync()
    world.person("ann@a8n.example.org", "unsubscribe")
    world.sync()
    assert world.consent(ann) is False
    world.update(ann, marketing_consent=True)  # the flag only: no consent event
    before = world.writes()
    world.sync()
    assert world.status("ann@a8n.example.org") == "unsubscribed"
    assert world.writes() == before
    assert listed(world, "consent_older_than_opt_out") == [ann]
    assert world.meta()["reconfirmation_requested"] == 0
    assert not world.check("rows_need_a_person").passed
    world.give(ann, at=next_second())  # the consent recorded, newer than the opt-out: A8 applies
    world.sync()
    assert world.status("ann@a8n.example.org") == "pending"
    assert listed(world, "reconfirmation_sent") == [ann]


def test_A8_reconsent_report_option_only_lists_the_contacts(world: World):
    world.set_connection(reconsent="report")
    ann, bob = _opt_out_then_reconsent(world)
    before = world.writes()
    world.sync()
    assert world.status("ann@a8.example.org") == "unsubscribed"
    assert world.status("bob@a8.example.org") == "cleaned"
    assert world.writes() == before
    meta = world.meta()
    assert meta["reconfirmation_requested"] == meta["resubscribed"] == 0
    assert meta["skipped[opted_out_in_mailchimp]"] == 1 and meta["skipped[cleaned]"] == 1
    assert listed(world, "opted_out_in_mailchimp") == [ann]
    assert listed(world, "cleaned") == [bob]
    assert meta["status"] == "partial"  # someone must ask the person: the run says so


def test_A9_first_pull_keeps_a_newer_app_consent(world: World):
    world.emulator.bulk_load(world.api_key, world.audience_id, [
        {"email_address": "ann@a9.example.org", "status": "unsubscribed",
         "last_changed": earlier(2 * 86400).strftime("%Y-%m-%dT%H:%M:%S+00:00")}])
    ann = world.add("ann@a9.example.org")  # consent given now: newer than the opt-out
    world.sync()
    assert world.consent(ann) is True
    assert world.trail(ann) == [("given", "app")]
    assert world.meta("mailchimp_member_status")["consent_withdrawn"] == 0
    assert world.meta()["linked"] == 1 and world.meta()["created"] == 0
    assert world.status("ann@a9.example.org") == "unsubscribed"
    world.sync()  # A8 applies: the person is asked to confirm
    assert world.status("ann@a9.example.org") == "pending"
    assert world.meta()["reconfirmation_requested"] == 1
    assert listed(world, "reconfirmation_sent") == [ann]
    assert world.consent(ann) is True


def test_A10_every_consent_change_is_audited_without_personal_data(world: World):
    ann = world.add("ann@a10.example.org", first_name="Annabel")
    twin = world.add(" ANN@a10.example.org", first_name="Annabel")
    world.sync()
    world.person("ann@a10.example.org", "unsubscribe")
    world.sync()
    world.person("ann@a10.example.org", "subscribe")
    world.sync()
    for cid in (ann, twin):
        assert world.trail(cid) == [("given", "app"), ("withdrawn", "mailchimp"), ("given", "mailchimp")]
    changes = sorted((row["action"], row["detail"]["contact_id"]) for row in world.audit()
                     if row["action"].startswith("consent_"))
    assert changes == sorted([("consent_withdrawn", ann), ("consent_withdrawn", twin),
                              ("consent_given", ann), ("consent_given", twin)])
    for row in world.audit():
        if row["action"].startswith("consent_"):
            assert row["detail"] == {"contact_id": row["detail"]["contact_id"], "source": "mailchimp"}
        text = json.dumps(row["detail"]) + str(row["actor"])
        assert "@" not in text and "Annabel" not in text and "a10.example" not in text


def test_A5_mailchimp_unsubscribe_by_webhook_withdraws_every_record_of_the_address(world: World):
    live = world.add("ann@a5w.example.org")
    tabbed = world.add("\tAnn@A5w.example.org\u00a0")
    deleted = world.add(" ann@a5w.example.org\u200b")
    world.delete(deleted)
    world.sync()
    world.webhooks_to_receiver()  # the audience's webhook points at the project's receiver
    world.person("ann@a5w.example.org", "unsubscribe")
    world.await_webhooks()
    for cid in (live, tabbed, deleted):  # before any pull
        assert world.consent(cid) is False
        assert world.trail(cid) == [("given", "app"), ("withdrawn", "mailchimp")]
    before = world.writes()
    world.sync()
    assert world.status("ann@a5w.example.org") == "unsubscribed"
    assert world.writes() == before
