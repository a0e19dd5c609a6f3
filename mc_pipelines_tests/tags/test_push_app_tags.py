"""The app's own contact tags pushed as managed tags with a prefix (issue 16, item 4): no segment
per tag; they move like segment tags (added, removed when the app drops them, re-applied after a
hand removal on a full refresh), and a marketer's tags are never touched."""

from __future__ import annotations

import pandas as pd

from mc_pipelines.actions.tag_options import set_tag_options
from mc_pipelines.sync import app_tags, segments
from mc_pipelines.sync.app_tags import app_tag_membership
from mc_pipelines.sync.segments import MEMBERSHIP_COLUMNS
from mc_pipelines_tests.lifecycle.world import World


def test_app_tag_membership_is_segment_shaped_and_bounded():
    cohort = pd.DataFrame({"contact_id": [1, 2, 3], "subscriber_hash": ["a", "b", "c"],
                           "tags": [["vip", "VIP", "x" * 97], [], None]})
    rows = app_tag_membership(cohort, "aud", "app:")
    assert tuple(rows.columns) == MEMBERSHIP_COLUMNS == app_tags.MEMBERSHIP_COLUMNS
    assert app_tags.MAX_TAG_LENGTH == segments.MAX_TAG_LENGTH
    assert rows[["contact_id", "tag"]].values.tolist() == [[1, "app:vip"]]  # case twin, >100 out


def test_app_tags_are_pushed_as_managed_tags(world: World):
    ann = world.add("ann@apptags.example.org", tags=["vip", "Berlin"])
    world.add("bob@apptags.example.org", tags=[])
    world.preexisting("cat@apptags.example.org", tags=["app:vip"])  # had it before the project
    cat = world.add("cat@apptags.example.org", tags=["vip"])
    set_tag_options(world.engine, world.org_id, actor="test", push_app_tags=True,
                    app_tag_prefix="app:")
    world.sync()
    assert world.tags("ann@apptags.example.org") == {"app:vip", "app:Berlin"}
    assert world.tags("bob@apptags.example.org") == set()
    assert world.tags("cat@apptags.example.org") == {"app:vip"}

    # the app drops a tag: the pushed tag goes; a marketer's tag stays; cat keeps its own (D2)
    world.emulator.tag_member(world.api_key, world.audience_id, "ann@apptags.example.org",
                              add=("Newsletter",))
    world.update(ann, tags=["Berlin"])
    world.update(cat, tags=[])
    world.sync()
    assert world.tags("ann@apptags.example.org") == {"app:Berlin", "Newsletter"}
    assert world.tags("cat@apptags.example.org") == {"app:vip"}

    # removed by hand in Mailchimp: re-applied on the next full refresh (D4)
    world.emulator.tag_member(world.api_key, world.audience_id, "ann@apptags.example.org",
                              remove=("app:Berlin",))
    world.sync(member_status={"full_refresh": True})
    assert world.tags("ann@apptags.example.org") == {"app:Berlin", "Newsletter"}

    # option off: the pushed tags are no longer wanted and go; the marketer's stay
    set_tag_options(world.engine, world.org_id, actor="test", push_app_tags=False)
    world.sync()
    assert world.tags("ann@apptags.example.org") == {"Newsletter"}
