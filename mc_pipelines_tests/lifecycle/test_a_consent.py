"""LIFECYCLE.md section A (consent): one conformance test per row, driving the real sync graph
against the emulator over HTTP and checking Mailchimp (a GET) and the app (consent, trail, audit)."""

from __future__ import annotations

from mc_pipelines_tests.lifecycle.world import World


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
