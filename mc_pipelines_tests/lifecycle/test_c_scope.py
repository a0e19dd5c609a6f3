"""LIFECYCLE.md section C (scope and safety): one conformance test per row, driving the real sync
graph against the emulator over HTTP and checking Mailchimp (a GET) and the app (consent, trail,
audit, segment status, run metadata)."""

from __future__ import annotations

import httpx
import pytest

from mc_pipelines.store.clock import utcnow
from mc_pipelines_tests.lifecycle.world import World


def _required_merge_field(world: World, tag: str, column: str) -> None:
    """The audience gets a required text merge field `tag`, which the org maps to `column`."""
    response = httpx.post(f"{world.emulator.api_url()}/lists/{world.audience_id}/merge-fields",
                          auth=("any", world.api_key), timeout=10,
                          json={"tag": tag, "name": tag.title(), "type": "text", "required": True})
    response.raise_for_status()
    world.set_connection(merge_fields={tag: column})


# -- C1 ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("how", ["segment_deleted", "segment_moved", "reconnected"])
def test_C1_retired_audience_still_receives_withdrawals_deletions_and_erasure(world: World, how):
    second = world.new_audience()
    emails = {name: f"{name}@c1.example.org" for name in ("ann", "bob", "cat", "dan")}
    ids = {name: world.add(email) for name, email in emails.items()}
    if how == "reconnected":
        old, current = world.audience_id, [second]
    else:
        world.segment(1, "Partners", {}, audience_id=second)
        old, current = second, [world.audience_id]
    world.sync()
    assert {world.status(e, old) for e in emails.values()} == {"subscribed"}

    # the audience leaves the configuration
    if how == "segment_deleted":
        world.update_segment(1, deleted_at=utcnow())
    elif how == "segment_moved":
        third = world.new_audience("Third audience")
        world.update_segment(1, audience_id=third)
        current.append(third)
    else:
        world.set_connection(audience_id=second)
    world.sync()
    # frozen: nobody is unsubscribed or untagged there because the configuration moved
    for email in emails.values():
        assert world.status(email, old) == "subscribed"
        assert world.tags(email, old) == (set() if how == "reconnected" else {"Partners"})
        for audience in current:
            assert world.status(email, audience) == "subscribed"
    assert world.meta()["unsubscribed"] == 0
    assert world.meta()["skipped[frozen_audience]"] == 4
    assert world.meta()["created"] == (4 if how != "segment_deleted" else 0)

    # a withdrawal and a deletion still reach the old audience
    world.withdraw(ids["ann"])
    world.delete(ids["bob"])
    world.sync()
    for name in ("ann", "bob"):
        assert world.status(emails[name], old) == "unsubscribed", name
        for audience in current:
            assert world.status(emails[name], audience) == "unsubscribed", (name, audience)
    for name in ("cat", "dan"):
        assert world.status(emails[name], old) == "subscribed"
    assert world.meta()["unsubscribed"] == 2 * (1 + len(current))
    assert world.meta()["skipped[frozen_audience]"] == 2
    assert world.trail(ids["ann"])[-1] == ("withdrawn", "app")

    # so does a GDPR erasure
    outcome = world.erase(ids["cat"])
    assert outcome.audiences == {a: "deleted" for a in (old, *current)}
    for audience in (old, *current):
        assert world.member(emails["cat"], audience) is None
    assert world.consent(ids["cat"]) is False
    assert world.trail(ids["cat"])[-1] == ("withdrawn", "gdpr_erasure")
    [audit] = world.audit("gdpr_erasure")
    assert audit["detail"]["contact_id"] == ids["cat"]
    assert set(audit["detail"]["audiences"]) == {old, *current}
    assert "c1.example.org" not in str(audit["detail"])
    before = world.writes()
    world.sync()
    assert world.writes() == before  # nothing re-created, nothing else to send
    assert world.member(emails["cat"], old) is None
    assert world.status(emails["dan"], old) == "subscribed"


# -- C2 ----------------------------------------------------------------------------------------
def test_C2_invalid_segment_freezes_its_audience_and_tag(world: World):
    second = world.new_audience()
    ann = world.add("ann@c2.example.org", department="Sales")
    bob = world.add("bob@c2.example.org", department="Sales")
    dan = world.add("dan@c2.example.org", department="Sales")
    world.segment(1, "VIP", {"department": "Sales"})
    world.segment(2, "Partners", {"department": "Sales"}, audience_id=second)
    world.sync()
    assert world.tags("bob@c2.example.org") == {"VIP"}
    assert world.tags("bob@c2.example.org", second) == {"Partners"}

    # a typo breaks both segments; meanwhile bob leaves them, dan withdraws, cat arrives
    world.update_segment(1, filters={"departmnt": "Sales"})
    world.update_segment(2, filters={"departmnt": "Sales"})
    world.update(bob, department="HR")
    world.withdraw(dan)
    cat = world.add("cat@c2.example.org", department="Sales")
    world.sync()
    for email in ("ann@c2.example.org", "bob@c2.example.org"):
        assert world.status(email) == world.status(email, second) == "subscribed"
        assert world.tags(email) == {"VIP"}
        assert world.tags(email, second) == {"Partners"}
    # an explicit withdrawal is sent everywhere; the rest of the org syncs
    assert world.status("dan@c2.example.org") == world.status("dan@c2.example.org", second) == "unsubscribed"
    assert world.status("cat@c2.example.org") == "subscribed"
    assert world.tags("cat@c2.example.org") == set()
    assert world.member("cat@c2.example.org", second) is None
    for sid in (1, 2):
        status, error = world.segment_status(sid)
        assert status == "error"
        assert "unknown filter field 'departmnt'" in error
    meta = world.meta()
    assert (meta["created"], meta["unsubscribed"], meta["resubscribed"]) == (1, 2, 0)
    assert meta["skipped[frozen_audience]"] == 2  # ann and bob in the second audience
    assert world.consent(ann) is True

    # the typo is fixed: the segments apply again, nothing needs re-subscribing
    world.update_segment(1, filters={"department": "Sales"})
    world.update_segment(2, filters={"department": "Sales"})
    world.sync()
    assert world.segment_status(1) == world.segment_status(2) == ("synced", None)
    assert world.tags("cat@c2.example.org") == {"VIP"}
    assert world.status("cat@c2.example.org", second) == "subscribed"
    assert world.tags("cat@c2.example.org", second) == {"Partners"}
    assert world.tags("bob@c2.example.org") == set()
    assert world.status("bob@c2.example.org") == "subscribed"
    assert world.status("bob@c2.example.org", second) == "unsubscribed"
    assert world.status("ann@c2.example.org") == world.status("ann@c2.example.org", second) == "subscribed"
    meta = world.meta()
    assert (meta["created"], meta["unsubscribed"], meta["resubscribed"]) == (1, 1, 0)
    assert (meta["tags_added"], meta["tags_removed"]) == (2, 2)
    assert world.consent(cat) is True


# -- C3 ----------------------------------------------------------------------------------------
def test_C3_missing_audience_fails_only_its_segment(world: World):
    second = world.new_audience()
    ghost = "0badc0ffee"
    ann = world.add("ann@c3.example.org")
    world.add("bob@c3.example.org")
    world.segment(1, "Partners", {}, audience_id=second)
    world.segment(2, "Ghosts", {}, audience_id=ghost)
    world.sync()
    for email in ("ann@c3.example.org", "bob@c3.example.org"):
        assert world.status(email) == world.status(email, second) == "subscribed"
    status, error = world.segment_status(2)
    assert status == "error" and ghost in error and "does not exist" in error
    assert world.segment_status(1) == ("synced", None)
    meta = world.meta()
    assert meta["created"] == 4
    assert meta["status"] == "partial"
    [failed] = [a for a in meta["audiences"] if a["audience_id"] == ghost]
    assert ghost in failed["error"]

    world.withdraw(ann)
    world.sync()
    assert world.status("ann@c3.example.org") == world.status("ann@c3.example.org", second) == "unsubscribed"
    assert world.status("bob@c3.example.org", second) == "subscribed"
    assert world.meta()["unsubscribed"] == 2
    assert world.segment_status(2)[0] == "error"


# -- C4 ----------------------------------------------------------------------------------------
def test_C4_mass_unsubscribe_guard_holds_non_explicit_unsubscribes(world: World):
    second = world.new_audience()
    ids = [world.add(f"p{i}@c4.example.org", department="Sales") for i in range(60)]
    world.segment(1, "Partners", {"department": "Sales"}, audience_id=second)
    world.sync()
    assert world.meta()["created"] == 120
    assert world.check("mass_unsubscribe_guard").passed

    movers, withdrawers = ids[:53], ids[58:]
    for cid in movers:  # the segment empties (53 of its 60 members leave)
        world.update(cid, department="HR")
    for cid in withdrawers:
        world.withdraw(cid)
    world.sync(raise_on_error=False)
    check = world.check("mass_unsubscribe_guard")
    assert not check.passed
    assert f"audience {second}: 53 unsubscribes held back of 60 subscribed members" in check.description
    assert check.metadata["held_unsubscribes"].value == 53
    meta = world.meta()
    assert meta["unsubscribed"] == 4  # the two withdrawals, in both audiences
    assert meta["skipped[mass_unsubscribe_guard]"] == 53
    assert world.status("p0@c4.example.org", second) == "subscribed"
    assert world.tags("p0@c4.example.org", second) == {"Partners"}
    for i in (58, 59):
        assert world.status(f"p{i}@c4.example.org") == world.status(f"p{i}@c4.example.org", second) == "unsubscribed"

    world.sync(raise_on_error=False)  # held again: the guard is not a one-run delay
    assert not world.check("mass_unsubscribe_guard").passed
    assert world.meta()["unsubscribed"] == 0

    world.sync(allow_mass_unsubscribe=True)
    assert world.check("mass_unsubscribe_guard").passed
    assert world.meta()["unsubscribed"] == 53
    assert world.status("p0@c4.example.org", second) == "unsubscribed"
    assert world.status("p0@c4.example.org") == "subscribed"
    assert world.status("p55@c4.example.org", second) == "subscribed"
    assert world.consent(movers[0]) is True


# -- C5 ----------------------------------------------------------------------------------------
def test_C5_fake_address_parked_until_the_contact_changes(world: World):
    ann = world.add("ann@example.com")
    world.add("bob@c5.example.org")
    world.sync()
    assert world.member("ann@example.com") is None
    meta = world.meta()
    assert (meta["created"], meta["parked"], meta["status"]) == (1, 1, "partial")
    [error] = world.errors()
    assert (error["contact_id"], error["error_code"]) == (ann, "fake_email")
    assert world.state("ann@example.com")["parked"] == "fake_email"

    before = world.writes()
    world.sync()  # unchanged: not retried, still reported with its contact id
    assert world.writes() == before
    meta = world.meta()
    assert meta["skipped[parked]"] == 1 and meta["status"] == "partial"
    assert [(r.data["contact_id"], r.data["reason"]) for r in meta["skipped_rows"].records] == [(ann, "parked")]

    world.update(ann, first_name="Annie")  # the contact's data changed: retried (refused again)
    world.sync()
    assert world.writes() == before + 1
    assert world.meta()["parked"] == 1
    assert world.member("ann@example.com") is None

    world.change_email(ann, "ann@c5.example.org")  # fixed: created
    world.sync()
    assert world.status("ann@c5.example.org") == "subscribed"
    meta = world.meta()
    assert (meta["created"], meta["parked"], meta["status"]) == (1, 0, "success")


def test_C5_invalid_merge_field_parked_until_the_contact_changes(world: World):
    _required_merge_field(world, "DEPT", "department")
    ann = world.add("ann@c5m.example.org")  # no department: the required DEPT would be empty
    world.add("bob@c5m.example.org", department="Sales")
    world.sync()
    assert world.member("ann@c5m.example.org") is None
    assert world.member("bob@c5m.example.org")["merge_fields"]["DEPT"] == "Sales"
    [error] = world.errors()
    assert (error["contact_id"], error["error_code"]) == (ann, "merge_field_invalid")
    assert "DEPT" in error["message"]

    before = world.writes()
    world.sync()
    assert world.writes() == before
    assert world.meta()["skipped[parked]"] == 1

    world.update(ann, department="Support")
    world.sync()
    member = world.member("ann@c5m.example.org")
    assert (member["status"], member["merge_fields"]["DEPT"]) == ("subscribed", "Support")
    assert world.state("ann@c5m.example.org")["parked"] is None
    assert world.meta()["status"] == "success"


# -- C6 ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("exit_", ["withdrawn", "deleted"])
def test_C6_address_mailchimp_never_held_leaving_gets_no_write(world: World, exit_):
    ann = world.add("ann@example.com")  # parked: Mailchimp never held it
    world.add("bob@c6.example.org")
    world.sync()
    assert world.meta()["status"] == "partial"

    if exit_ == "withdrawn":
        world.withdraw(ann)
    else:
        world.delete(ann)
    before = world.writes()
    world.sync()
    assert world.writes() == before
    assert world.member("ann@example.com") is None
    meta = world.meta()
    assert (meta["unsubscribed"], meta["skipped"], meta["status"]) == (0, 0, "success")
    world.sync()
    assert world.meta()["status"] == "success"
    assert world.writes() == before


# -- C7 ----------------------------------------------------------------------------------------
def test_C7_refused_update_parked_until_the_data_changes(world: World):
    _required_merge_field(world, "DEPT", "department")
    ann = world.add("ann@c7.example.org", department="Sales")
    world.sync()
    assert world.member("ann@c7.example.org")["merge_fields"]["DEPT"] == "Sales"

    world.update(ann, department=None)  # Mailchimp refuses an empty required field
    world.sync()
    meta = world.meta()
    assert (meta["updated"], meta["parked"], meta["status"]) == (0, 1, "partial")
    [error] = world.errors()
    assert (error["contact_id"], error["error_code"]) == (ann, "merge_field_invalid")
    assert world.member("ann@c7.example.org")["merge_fields"]["DEPT"] == "Sales"

    before = world.writes()
    world.sync()  # not retried every run, still reported
    assert world.writes() == before
    meta = world.meta()
    assert meta["skipped[parked]"] == 1 and meta["status"] == "partial"
    assert [(r.data["contact_id"], r.data["reason"]) for r in meta["skipped_rows"].records] == [(ann, "parked")]

    world.update(ann, department="Support")
    world.sync()
    assert world.writes() == before + 1
    member = world.member("ann@c7.example.org")
    assert (member["status"], member["merge_fields"]["DEPT"]) == ("subscribed", "Support")
    meta = world.meta()
    assert (meta["updated"], meta["status"]) == (1, "success")
    assert world.state("ann@c7.example.org")["parked"] is None
