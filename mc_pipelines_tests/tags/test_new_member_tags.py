"""Upload with tags for new contacts only (issue 16, item 5): the connection's and the run's
`new_member_tags` go to the members a run creates — never to existing or linked members, never
again on a later run, and never removed or put back by the sync afterwards."""

from __future__ import annotations

import pytest

from mc_pipelines.actions.tag_options import set_tag_options, tag_options
from mc_pipelines.errors import OperationError
from mc_pipelines_tests.lifecycle.world import World


def test_new_member_tags_go_to_created_members_only(world: World):
    world.add("first@new.example.org")
    world.sync()  # an existing project-created member before the option is set
    world.preexisting("linked@new.example.org", tags=["Marketer"])
    world.add("linked@new.example.org")
    world.add("fresh@new.example.org")
    set_tag_options(world.engine, world.org_id, actor="test", new_member_tags=["From app"])

    world.sync(new_member_tags=["Batch 12"])

    assert world.tags("fresh@new.example.org") == {"From app", "Batch 12"}
    assert world.tags("first@new.example.org") == set()             # existing: never
    assert world.tags("linked@new.example.org") == {"Marketer"}     # linked: never
    assert world.status("linked@new.example.org") == "subscribed"
    assert world.meta()["created"] == 1 and world.meta()["tags_added"] == 2
    assert world.meta()["new_member_tags"] == ["From app", "Batch 12"]

    # a later run creates another member: only that one gets the tags; a marketer removing one
    # from the earlier member is never undone (the tags are not managed)
    world.emulator.tag_member(world.api_key, world.audience_id, "fresh@new.example.org",
                              remove=("Batch 12",))
    world.add("later@new.example.org")
    world.sync(member_status={"full_refresh": True})
    assert world.tags("later@new.example.org") == {"From app"}
    assert world.tags("fresh@new.example.org") == {"From app"}
    assert world.tags("first@new.example.org") == set()
    before = world.writes()
    world.sync(member_status={"full_refresh": True})
    assert world.writes() == before  # nothing more to do
    assert any(e["action"] == "set_tag_options" for e in world.audit())


def test_bad_new_member_tags_are_refused_and_nothing_changes(world: World):
    with pytest.raises(OperationError, match="longer than 100"):
        set_tag_options(world.engine, world.org_id, actor="test", new_member_tags=["x" * 101])
    with pytest.raises(OperationError, match="empty"):
        set_tag_options(world.engine, world.org_id, actor="test", new_member_tags=["  "])
    assert tag_options(world.engine, world.org_id)["new_member_tags"] == []
    world.add("fresh@bad.example.org")
    result = world.sync(new_member_tags=["\x00evil"], raise_on_error=False)
    assert not result.success
    assert world.status("fresh@bad.example.org") is None  # refused before any Mailchimp write
