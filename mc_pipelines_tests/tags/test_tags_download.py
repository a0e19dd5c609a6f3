"""Tags both ways, inbound (issue 16, item 4): the full read of every member's Mailchimp tags
(tag-only changes included) and the opt-in download into the app's `contacts.tags`."""

from __future__ import annotations

import sqlalchemy as sa
from dagster import materialize

from mc_pipelines.actions.tag_options import set_tag_options
from mc_pipelines.assets.member_tags import (
    MemberTagsConfig,
    TagsDownloadConfig,
    contact_tags_download,
    mailchimp_member_tags,
)
from mc_pipelines.automation.run_config import run_config_dict
from mc_pipelines.store import member_tags
from mc_pipelines.store.tables import contacts
from mc_pipelines_tests.lifecycle.world import World
from mc_pipelines_tests.support.dagster_runs import metadata_of, resources_for


def _download(world: World, *, dry_run: bool = False, page_size: int = 2, max_members: int = 100):
    result = materialize(
        [mailchimp_member_tags, contact_tags_download], partition_key=world.org_id,
        instance=world.instance, resources=resources_for(world.engine, world.emulator),
        run_config=run_config_dict({
            "mailchimp_member_tags": MemberTagsConfig(page_size=page_size, max_members=max_members),
            "contact_tags_download": TagsDownloadConfig(dry_run=dry_run)}),
        raise_on_error=False, tags={"org": world.org_id})
    return result


def _app_tags(world: World) -> dict[int, list[str]]:
    with world.engine.connect() as conn:
        return dict(conn.execute(sa.select(contacts.c.id, contacts.c.tags)
                                 .where(contacts.c.org_id == world.org_id)).tuples().all())


def test_member_tags_are_read_whole_and_downloaded_without_managed_tags(world: World):
    ann = world.add("ann@download.example.org", tags=["vip"], department="Sales")
    bob = world.add("bob@download.example.org")
    cat = world.add("cat@download.example.org", consent=False)  # not in Mailchimp
    world.segment(1, "Sales team", {"department": "Sales"})
    set_tag_options(world.engine, world.org_id, actor="test", push_app_tags=True)
    world.preexisting("stranger@download.example.org", tags=["Foreign"])
    world.sync()
    # tag-only changes in Mailchimp: no `last_changed` bump, the incremental pull misses them
    world.emulator.tag_member(world.api_key, world.audience_id, "ann@download.example.org",
                              add=("Newsletter", "VIP"))
    world.emulator.tag_member(world.api_key, world.audience_id, "bob@download.example.org",
                              add=("Spring Fair",))
    writes = world.writes()

    dry = _download(world, dry_run=True)
    assert dry.success and metadata_of(dry, "contact_tags_download")["contacts_changed"] == 2
    assert _app_tags(world)[ann] == ["vip"]  # a dry run writes nothing

    result = _download(world)
    assert result.success
    read = metadata_of(result, "mailchimp_member_tags")
    assert (read["members"], read["tagged_members"]) == (3, 3)  # paged 2 by 2, foreign included
    stored = member_tags.load_tags(world.engine, world.org_id).set_index("email")["tags"].to_dict()
    assert sorted(stored["ann@download.example.org"]) == ["Newsletter", "Sales team", "VIP", "app:vip"]
    # managed tags (the segment's, the pushed app tag) are the app's own: not downloaded
    assert _app_tags(world) == {ann: ["vip", "Newsletter"], bob: ["Spring Fair"], cat: []}
    assert world.writes() == writes  # nothing written to Mailchimp
    assert [e["detail"] for e in world.audit("download_tags")] == [
        {"contacts_changed": 2, "tags_added": 2}]

    # again: nothing changes; a too-large audience is refused naming the setting
    again = _download(world)
    assert metadata_of(again, "contact_tags_download")["contacts_changed"] == 0
    refused = _download(world, max_members=2)
    assert not refused.success
    failure = next(e for e in refused.all_events if e.is_step_failure)
    assert "raise max_members" in failure.step_failure_data.error.message
