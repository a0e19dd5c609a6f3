"""Which pulled members change the state and which withdraw consent (pure)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from mc_pipelines.effects.pull import PulledMember, plan_page

NOW = datetime(2026, 6, 1, 12, 0, 0)


def _member(status: str, tags: list[str] | None = None, changed: datetime = NOW) -> PulledMember:
    return PulledMember("h1", "a@b.io", status, tags or [], changed, "")


@pytest.mark.parametrize(("previous", "status", "withdraws"), [
    ("subscribed", "unsubscribed", True),
    ("subscribed", "cleaned", True),
    ("pending", "unsubscribed", True),
    ("rejected", "cleaned", True),
    (None, "unsubscribed", True),          # a member the project never pushed
    ("unsubscribed", "unsubscribed", False),  # already known, or our own unsubscribe
    ("unsubscribed", "cleaned", False),    # opted out through us before bouncing
    ("cleaned", "cleaned", False),
    ("subscribed", "subscribed", False),
    ("unsubscribed", "subscribed", False),  # re-subscribing in Mailchimp grants nothing here
])
def test_only_transitions_made_in_mailchimp_withdraw_consent(previous, status, withdraws):
    baseline = {} if previous is None else {"h1": (previous, [], NOW - timedelta(hours=1))}
    plan = plan_page([_member(status)], baseline)
    assert bool(plan.withdrawals) is withdraws
    assert bool(plan.updates) is (previous is not None)


def test_rereading_an_unchanged_member_plans_nothing():
    member = _member("subscribed", ["Marketer"])
    assert plan_page([member], {"h1": member.state_values}).updates == {}
    tagged = _member("subscribed", ["Marketer", "VIP"])
    assert plan_page([tagged], {"h1": member.state_values}).updates == {
        "h1": {"status": "subscribed", "mailchimp_tags": ["Marketer", "VIP"], "last_changed": NOW}}
