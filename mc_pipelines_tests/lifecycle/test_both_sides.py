"""Changes on both sides between two runs: what a person or a marketer does in Mailchimp, and
what the application does to the same contact, before the next run reads either.

Each cell checks the rows the two changes touch, whatever their order: an opt-out (A5) leaves
nobody mailable and sends no confirmation email (A8 needs a newer app consent), an archived
member (B6) stays archived and is not re-added under another address, a member whose person
moved it in Mailchimp (B9) is never re-created at the old address, a withdrawal in the app (A3)
is honoured, the project's state tells the truth about every member it owns, and a further run
writes nothing."""

from __future__ import annotations

import pytest

from mc_pipelines_tests.lifecycle.world import World, next_second
from mc_pipelines_tests.support.reliability import audience, state_untruths

OLD, BY_APP, BY_PERSON = "ann@both.example.org", "ann.app@both.example.org", "ann.mc@both.example.org"
OPT_OUTS = ("unsubscribe", "admin_unsubscribe", "cleaned")


def _in_mailchimp(world: World, event: str | None) -> None:
    if event == "profile":  # the person changes their address on the profile page
        world.person(OLD, "profile", email_address=BY_PERSON)
    elif event is not None:
        world.person(OLD, event)


def _in_the_app(world: World, cid: int, change: str | None) -> None:
    if change == "change_email":
        world.change_email(cid, BY_APP)
    elif change == "withdraw":
        world.withdraw(cid)
    elif change == "delete":
        world.delete(cid)
    elif change == "rename":
        world.update(cid, first_name="Annie")


@pytest.mark.parametrize("app", ["change_email", "withdraw", "delete", "rename"])
@pytest.mark.parametrize("mailchimp", [*OPT_OUTS, "archive", "profile"])
@pytest.mark.parametrize("start", ["created", "linked_pending"])
def test_changes_on_both_sides_between_two_runs(world: World, start: str, mailchimp: str, app: str):
    if start == "linked_pending":  # in the audience before the project, unconfirmed (B2, B7)
        world.preexisting(OLD, status="pending")
    ann = world.add(OLD)
    world.add("bob@both.example.org")  # a bystander: it must end as it began
    world.sync()
    _in_mailchimp(world, mailchimp)
    _in_the_app(world, ann, app)
    world.sync()
    world.sync()
    held = audience(world.emulator, world.api_key, world.audience_id)
    ann_members = {e: m for e, m in held.items() if e != "bob@both.example.org"}
    assert held["bob@both.example.org"]["status"] == "subscribed"
    if mailchimp in OPT_OUTS or app == "withdraw":
        assert not [e for e, m in ann_members.items() if m["status"] in ("subscribed", "pending")]
    if mailchimp in OPT_OUTS or mailchimp == "archive":
        assert list(ann_members) == [OLD], "the person is in the audience under another address"
        assert ann_members[OLD]["confirmation_emails"] == 0
    if mailchimp == "archive":
        assert ann_members[OLD]["status"] == "archived"
    if start == "linked_pending":  # B7: never flipped to subscribed, never asked again
        assert not [e for e, m in ann_members.items() if m["status"] == "subscribed"]
        assert sum(m["confirmation_emails"] for m in ann_members.values()) == 0
    if mailchimp == "profile":
        assert OLD not in ann_members  # B9: the old address is never re-created
    if app == "withdraw" or mailchimp in OPT_OUTS:
        assert world.consent(ann) is False
    assert state_untruths(world.engine, world.org_id, held) == []
    before = world.writes()
    world.sync()
    assert world.writes() == before


@pytest.mark.parametrize("person", [None, "subscribe"])
@pytest.mark.parametrize("app", ["give", "change_email", "change_email_give", "withdraw_give"])
@pytest.mark.parametrize("first", ["unsubscribe", "cleaned", "archive"])
def test_the_way_back_after_a_mailchimp_side_change(world: World, first: str, app: str, person: str | None):
    """After a Mailchimp-side opt-out, bounce or archive (read by a run), the app gives consent
    again and/or changes the address while the person may sign up again on a form: a newer
    consent asks an opted-out person to confirm (A8, one email, wherever the member now lives),
    the person's own re-subscribe is never undone (A6), a bounced address is never written again
    (a new address may be created), an archived member stays the only one (B6), the state tells
    the truth and a further run writes nothing."""
    ann = world.add(OLD)
    world.sync()
    world.person(OLD, first)
    world.sync()
    if app in ("change_email", "change_email_give"):
        world.change_email(ann, BY_APP)
    if app == "withdraw_give":
        world.withdraw(ann)
    if app in ("give", "change_email_give", "withdraw_give"):
        world.give(ann, at=next_second())
    signed_up = person == "subscribe" and first == "unsubscribe"
    if signed_up:
        world.person(OLD, "subscribe")
    world.sync()
    world.sync()
    held = audience(world.emulator, world.api_key, world.audience_id)
    statuses = {e: m["status"] for e, m in held.items()}
    if first == "archive":
        assert statuses == {OLD: "archived"}
    elif first == "cleaned":
        assert statuses[OLD] == "cleaned"
        assert statuses.get(BY_APP) == ("subscribed" if app == "change_email_give" else None)
    elif signed_up:  # A6: the person's own subscription, wherever the app's address moved it
        assert list(statuses.values()) == ["subscribed"] and world.consent(ann) is True
    elif app != "change_email":  # A8: consent given again, newer than the opt-out
        assert list(statuses.values()) == ["pending"]
        assert [m["confirmation_emails"] for m in held.values()] == [1]
    else:
        assert list(statuses.values()) == ["unsubscribed"] and world.consent(ann) is False
    assert state_untruths(world.engine, world.org_id, held) == []
    before = world.writes()
    world.sync()
    assert world.writes() == before
