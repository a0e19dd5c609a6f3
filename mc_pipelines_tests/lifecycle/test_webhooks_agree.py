"""Webhooks and the pull apply the same contract (A5, A6, B9) and agree with each other: the
emulator delivers Mailchimp's form-encoded events to the project's receiver over HTTP, and a pull
reading the same changes afterwards finds nothing left to do."""

from __future__ import annotations

from mc_pipelines.mailchimp.addresses import subscriber_hash
from mc_pipelines.store.member_state import load_state
from mc_pipelines_tests.lifecycle.world import World, wait_for_deliveries, webhook_receiver


def test_webhook_opt_out_and_resubscribe_match_the_pull(world: World):
    ann = world.add("ann@hooks.example.org")
    twin = world.add(" ann@hooks.example.org\t", deleted_at=None)  # same address, stray spaces
    world.sync()
    with webhook_receiver(world):
        world.person("ann@hooks.example.org", "unsubscribe", reason="too many emails")
        assert wait_for_deliveries(world, 1)
        assert world.consent(ann) is False and world.consent(twin) is False  # A5, by webhook
        assert ("withdrawn", "mailchimp") in world.trail(ann)
        world.person("ann@hooks.example.org", "subscribe")  # a signup form (A6)
        assert len(wait_for_deliveries(world, 2)) == 2
        assert world.consent(ann) is True
        assert world.trail(ann)[-1] == ("given", "mailchimp")
    world.sync()  # the pull reads both changes: nothing new, and nothing undone
    assert world.meta("mailchimp_member_status")["consent_withdrawn"] == 0
    assert world.status("ann@hooks.example.org") == "subscribed"
    assert world.consent(ann) is True


def test_webhook_address_change_moves_the_member_like_the_pull(world: World):
    bob = world.add("bob@hooks.example.org")
    world.sync()
    with webhook_receiver(world):
        world.person("bob@hooks.example.org", "profile", email_address="robert@hooks.example.org")
        assert wait_for_deliveries(world, 1)
    state = load_state(world.engine, world.org_id)
    row = state[state["subscriber_hash"] == subscriber_hash("robert@hooks.example.org")].iloc[0]
    assert row["contact_id"] == bob
    assert row["moved_from_hash"] == subscriber_hash("bob@hooks.example.org")
    writes = world.writes()
    world.sync()  # B9: the old address is never re-created
    assert world.member("bob@hooks.example.org") is None
    assert world.status("robert@hooks.example.org") == "subscribed"
    assert world.writes() == writes
    assert world.meta()["skipped[moved_in_mailchimp]"] == 1
