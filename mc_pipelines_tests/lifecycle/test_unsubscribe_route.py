"""The unsubscribe route: batch subscribe (`update_existing`, status `unsubscribed`, ≤500 a call)
for members a pull made right before the status writes still shows mailable (A3, B1, B6, A5).

A person or a marketer acting in Mailchimp *between the plan and the status writes* is played by
running their action as the push starts its pre-write pull (`AudiencePusher.fresh_statuses`):
the moment no earlier pull could have seen."""

from __future__ import annotations

import asyncio

import pytest

from mc_pipelines.effects.push import AudiencePusher
from mc_pipelines_tests.lifecycle.world import World

UNSUBSCRIBE_CALLS = "POST /lists/{list_id}"
PATCHES = "POST /batches"


def _requests(world: World, endpoint: str) -> int:
    """Calls of `endpoint` Mailchimp answered with a 2xx."""
    counts = world.emulator.stats(world.api_key)["requests"].get(endpoint, {})
    return sum(n for status, n in counts.items() if status.startswith("2"))


@pytest.fixture
def acts_before_the_writes(world: World, monkeypatch):
    """`act(email, event)`: the Mailchimp event happens once the plan is made, just before the
    push's pre-write pull."""
    planned: list[tuple[str, str]] = []
    original = AudiencePusher.fresh_statuses

    async def acted_first(self, hashes):
        while planned:
            email, event = planned.pop()
            await asyncio.to_thread(world.person, email, event)
        return await original(self, hashes)

    monkeypatch.setattr(AudiencePusher, "fresh_statuses", acted_first)
    return lambda email, event: planned.append((email, event))


def test_withdrawals_are_sent_500_a_call_not_one_patch_each(world: World):
    ids = [world.add(f"p{i}@route.example.org") for i in range(30)]
    world.sync()
    world.sync()  # the pull's cursor covers the members: their statuses are known
    for cid in ids[:12]:
        world.withdraw(cid)
    calls, patches = _requests(world, UNSUBSCRIBE_CALLS), _requests(world, PATCHES)
    world.sync()
    assert [world.status(f"p{i}@route.example.org") for i in range(13)] == ["unsubscribed"] * 12 + ["subscribed"]
    assert _requests(world, UNSUBSCRIBE_CALLS) == calls + 1  # 12 unsubscribes in one call
    assert _requests(world, PATCHES) == patches
    assert world.meta()["unsubscribed"] == 12
    state = world.state("p0@route.example.org")
    assert (state["status"], state["status_origin"], state["intent"]) == ("unsubscribed", "project", None)


def test_a_member_archived_after_the_plan_is_not_unarchived(world: World, acts_before_the_writes):
    ann = world.add("ann@route.example.org")
    world.add("bob@route.example.org")
    world.sync()
    world.sync()
    world.withdraw(ann)
    acts_before_the_writes("ann@route.example.org", "archive")  # a marketer archives it meanwhile
    world.sync()
    assert world.status("ann@route.example.org") == "archived"  # B6: never un-archived
    assert world.meta()["unsubscribed"] == 0
    assert world.state("ann@route.example.org")["status"] == "archived"


def test_an_opt_out_made_after_the_plan_stays_the_persons_own(world: World, acts_before_the_writes):
    ann = world.add("ann@route.example.org")
    world.sync()
    world.sync()
    world.withdraw(ann)
    acts_before_the_writes("ann@route.example.org", "unsubscribe")  # the person opts out meanwhile
    world.sync()
    assert world.status("ann@route.example.org") == "unsubscribed"
    assert world.meta()["unsubscribed"] == 0  # nothing sent: not recorded as the project's
    assert world.state("ann@route.example.org")["status_origin"] == "mailchimp"
    world.give(ann)  # consent given again in the app: A8 (double opt-in), never A7
    world.sync()
    assert world.status("ann@route.example.org") == "pending"
