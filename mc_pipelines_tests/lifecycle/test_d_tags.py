"""LIFECYCLE.md section D (tags): one conformance test per row, driving the real sync graph
against the emulator over HTTP and checking the member's tags as a GET returns them."""

from __future__ import annotations

import httpx

from mc_pipelines.store.clock import utcnow
from mc_pipelines_tests.lifecycle.world import World

FULL_REFRESH = {"full_refresh": True}


def _marketer(world: World, email: str, add: tuple[str, ...] = (), remove: tuple[str, ...] = ()) -> None:
    """A marketer tags or untags the member in Mailchimp's UI."""
    world.emulator.tag_member(world.api_key, world.audience_id, email, add=add, remove=remove)


def _tag_names(world: World) -> list[str]:
    """The audience's tags (static segments) as `GET /lists/{id}/segments` lists them."""
    response = httpx.get(f"{world.emulator.api_url()}/lists/{world.audience_id}/segments",
                         params={"type": "static", "count": 1000}, auth=("any", world.api_key),
                         timeout=10)
    response.raise_for_status()
    return sorted(s["name"] for s in response.json()["segments"])


def test_D1_marketer_tags_are_never_added_or_removed(world: World):
    ann = world.add("ann@d1.example.org", department="Sales")
    bob = world.add("bob@d1.example.org")
    world.segment(1, "VIP", {"department": "Sales"})
    world.sync()
    _marketer(world, "ann@d1.example.org", add=("Newsletter", "Spring Fair"))
    _marketer(world, "bob@d1.example.org", add=("VIP", "Newsletter"))  # the managed name, by hand
    before = world.writes()
    world.sync()
    world.sync(member_status=FULL_REFRESH)
    assert world.writes() == before
    assert world.tags("ann@d1.example.org") == {"VIP", "Newsletter", "Spring Fair"}
    assert world.tags("bob@d1.example.org") == {"VIP", "Newsletter"}

    # ann leaves the segment: only the tag the project applied goes
    world.update(ann, department="HR")
    world.sync()
    assert world.tags("ann@d1.example.org") == {"Newsletter", "Spring Fair"}
    assert (world.meta()["tags_added"], world.meta()["tags_removed"]) == (0, 1)

    # the marketer removes their own tag: never put back
    _marketer(world, "ann@d1.example.org", remove=("Newsletter",))
    before = world.writes()
    world.sync(member_status=FULL_REFRESH)
    assert world.writes() == before
    assert world.tags("ann@d1.example.org") == {"Spring Fair"}

    # bob joins the segment and leaves it again: the VIP the marketer gave him (seen by the full
    # refresh above: Mailchimp does not mark tag-only changes) stays
    world.update(bob, department="Sales")
    world.sync()
    assert world.tags("bob@d1.example.org") == {"VIP", "Newsletter"}
    world.update(bob, department="HR")
    world.sync()
    assert world.tags("bob@d1.example.org") == {"VIP", "Newsletter"}
    assert world.meta()["tags_removed"] == 0
    assert world.status("bob@d1.example.org") == world.status("ann@d1.example.org") == "subscribed"


def test_D2_segment_tag_a_member_had_before_the_project_is_kept(world: World):
    world.preexisting("ann@d2.example.org", tags=["VIP"])
    world.preexisting("cat@d2.example.org")
    ann = world.add("ann@d2.example.org", department="Sales")
    cat = world.add("cat@d2.example.org", department="Sales")
    world.segment(1, "VIP", {"department": "Sales"})
    world.sync()
    assert world.meta()["linked"] == 2
    world.sync()
    assert world.tags("ann@d2.example.org") == world.tags("cat@d2.example.org") == {"VIP"}
    assert world.state("ann@d2.example.org")["prior_tags"] == ["VIP"]
    assert world.state("ann@d2.example.org")["managed_tags"] == []

    # both leave the segment: the project takes back only the tag it applied
    world.update(ann, department="HR")
    world.update(cat, department="HR")
    world.sync()
    assert world.tags("ann@d2.example.org") == {"VIP"}
    assert world.tags("cat@d2.example.org") == set()
    assert world.meta()["tags_removed"] == 1
    # back in, then the segment is deleted, then ann withdraws: her own tag stays throughout
    world.update(ann, department="Sales")
    world.sync()
    world.update_segment(1, deleted_at=utcnow())
    world.sync()
    assert world.tags("ann@d2.example.org") == {"VIP"}
    world.withdraw(ann)
    world.sync()
    assert world.status("ann@d2.example.org") == "unsubscribed"
    assert world.tags("ann@d2.example.org") == {"VIP"}


def test_D3_tag_renamed_only_in_case_moves_nothing(world: World):
    ann = world.add("ann@d3.example.org", department="Sales")
    world.add("bob@d3.example.org", department="Sales")
    world.segment(1, "VIP", {"department": "Sales"})
    world.sync()
    world.update_segment(1, mailchimp_tag="vip")
    before = world.writes()
    world.sync()
    assert world.writes() == before
    assert world.tags("ann@d3.example.org") == world.tags("bob@d3.example.org") == {"VIP"}
    assert (world.meta()["tags_added"], world.meta()["tags_removed"]) == (0, 0)

    # a newcomer gets the same tag (no second tag), and the project still owns it
    world.add("cat@d3.example.org", department="Sales")
    world.update(ann, department="HR")
    world.sync()
    assert world.tags("cat@d3.example.org") == {"VIP"}
    assert world.tags("ann@d3.example.org") == set()
    assert world.tags("bob@d3.example.org") == {"VIP"}
    assert _tag_names(world) == ["VIP"]
    assert (world.meta()["tags_added"], world.meta()["tags_removed"]) == (1, 1)


def test_D4_managed_tag_removed_by_hand_is_reapplied_on_full_refresh(world: World):
    world.add("ann@d4.example.org", department="Sales")
    world.add("bob@d4.example.org", department="Sales")
    world.segment(1, "VIP", {"department": "Sales"})
    world.sync()
    _marketer(world, "ann@d4.example.org", remove=("VIP",), add=("Newsletter",))
    world.sync(member_status=FULL_REFRESH)
    assert world.tags("ann@d4.example.org") == {"VIP", "Newsletter"}
    assert world.tags("bob@d4.example.org") == {"VIP"}
    assert (world.meta()["tags_added"], world.meta()["tags_removed"]) == (1, 0)
    before = world.writes()
    world.sync(member_status=FULL_REFRESH)
    assert world.writes() == before
