"""LIFECYCLE.md section E (reading Mailchimp back): one conformance test per row, driving the real
sync graph (the member-status pull, then the push) against the emulator over HTTP and checking
the app's consent trail and the member state the pull keeps."""

from __future__ import annotations

import threading
import time

import httpx

from mc_pipelines_tests.lifecycle.world import World

SMALL_PAGES = {"page_size": 3}
FULL_REFRESH = {"full_refresh": True}
MEMBER_PAGES = "GET /lists/{list_id}/members"


def _opt_out_in_one_second(world: World, emails: list[str]) -> None:
    """Every one of `emails` unsubscribes in Mailchimp within the same second (one bulk call)."""
    world.emulator.bulk_load(world.api_key, world.audience_id,
                             [{"email_address": e, "status": "unsubscribed"} for e in emails])
    changed = {m["last_changed"] for m in world.emulator.dump_list(world.api_key, world.audience_id)
               if m["email_address"] in emails}
    assert len(changed) == 1


def _page_reads(world: World) -> int:
    return sum(world.emulator.stats(world.api_key)["requests"].get(MEMBER_PAGES, {}).values())


def test_E1_members_changed_in_one_second_read_in_small_pages(world: World):
    emails = [f"m{i:02d}@e1.example.org" for i in range(40)]
    ids = [world.add(e) for e in emails]
    world.sync()
    _opt_out_in_one_second(world, emails)
    world.sync(member_status=SMALL_PAGES)
    pull = world.meta("mailchimp_member_status")
    assert (pull["unsubscribed_in_mailchimp"], pull["consent_withdrawn"]) == (40, 40)
    for cid in ids:
        assert world.trail(cid) == [("given", "app"), ("withdrawn", "mailchimp")]
    assert world.meta()["unsubscribed"] == 0  # the push never writes an opt-out it read

    world.sync(member_status=SMALL_PAGES)  # the cursor's second is read again: applied once only
    pull = world.meta("mailchimp_member_status")
    assert (pull["unsubscribed_in_mailchimp"], pull["consent_withdrawn"]) == (0, 0)
    for cid in ids:
        assert world.trail(cid) == [("given", "app"), ("withdrawn", "mailchimp")]


def test_E1_members_changing_while_pages_are_read(world: World):
    block = [f"m{i:02d}@e1b.example.org" for i in range(40)]
    late = [f"late{i}@e1b.example.org" for i in range(5)]
    ids = {e: world.add(e) for e in block + late}
    world.sync()
    _opt_out_in_one_second(world, block)
    api = f"{world.emulator.api_url()}/lists/{world.audience_id}/members"
    started = _page_reads(world)
    problems: list[BaseException] = []

    def meanwhile() -> None:
        """Once the scan is under way, a marketer edits members of the same-second block (they
        move to a later second, shifting the block under the scan) and five more people
        unsubscribe."""
        try:
            deadline = time.monotonic() + 60
            while _page_reads(world) < started + 2 and time.monotonic() < deadline:
                time.sleep(0.01)
            with httpx.Client(auth=("any", world.api_key), timeout=30) as client:
                for i, email in enumerate(block[:10]):
                    client.patch(f"{api}/{email}", json={"merge_fields": {"FNAME": f"Edited{i}"}}
                                 ).raise_for_status()
                    if i < len(late):
                        world.person(late[i], "unsubscribe")
        except BaseException as exc:
            problems.append(exc)

    world.emulator.set_faults(world.api_key, latency_ms=60)  # a scan slow enough to be overtaken
    thread = threading.Thread(target=meanwhile)
    thread.start()
    try:
        world.sync(member_status=SMALL_PAGES)
    finally:
        thread.join()
        world.emulator.set_faults(world.api_key, clear=True)
    assert problems == []
    first = world.meta("mailchimp_member_status")
    for email in block:  # changed before the scan started: none missed
        assert world.consent(ids[email]) is False, email
    world.sync(member_status=SMALL_PAGES)
    second = world.meta("mailchimp_member_status")
    assert first["consent_withdrawn"] + second["consent_withdrawn"] == 45
    for email in block + late:  # none applied twice
        assert world.trail(ids[email]) == [("given", "app"), ("withdrawn", "mailchimp")], email
    world.sync(member_status=SMALL_PAGES)
    assert world.meta("mailchimp_member_status")["consent_withdrawn"] == 0


def test_E1_same_second_ties_listed_in_any_order(world: World):
    emails = [f"m{i:02d}@e1c.example.org" for i in range(40)]
    ids = [world.add(e) for e in emails]
    world.sync()
    _opt_out_in_one_second(world, emails)
    world.emulator.set_faults(world.api_key, shuffle_same_second=True, seed=7)
    try:
        world.sync(member_status=SMALL_PAGES)
    finally:
        world.emulator.set_faults(world.api_key, clear=True)
    assert world.meta("mailchimp_member_status")["consent_withdrawn"] == 40
    assert world.meta("mailchimp_member_status")["page_restarts"] > 0
    for cid in ids:
        assert world.trail(cid) == [("given", "app"), ("withdrawn", "mailchimp")]


def test_E2_tag_only_changes_reach_the_state_on_full_refresh(world: World):
    world.add("ann@e2.example.org", department="Sales")
    world.add("bob@e2.example.org")
    world.segment(1, "VIP", {"department": "Sales"})
    world.sync()
    world.sync()  # the pull has read both members once
    assert world.state("ann@e2.example.org")["mailchimp_tags"] == ["VIP"]
    world.emulator.tag_member(world.api_key, world.audience_id, "ann@e2.example.org", add=["Newsletter"])
    world.emulator.tag_member(world.api_key, world.audience_id, "bob@e2.example.org", add=["Spring Fair"])
    world.sync(member_status=FULL_REFRESH)
    assert world.state("ann@e2.example.org")["mailchimp_tags"] == ["Newsletter", "VIP"]
    assert world.state("bob@e2.example.org")["mailchimp_tags"] == ["Spring Fair"]
    assert world.state("ann@e2.example.org")["managed_tags"] == ["VIP"]

    world.emulator.tag_member(world.api_key, world.audience_id, "ann@e2.example.org", remove=["Newsletter"])
    before = world.writes()
    world.sync(member_status=FULL_REFRESH)
    assert world.state("ann@e2.example.org")["mailchimp_tags"] == ["VIP"]
    assert world.writes() == before
