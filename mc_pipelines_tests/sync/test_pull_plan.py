"""What one page of the member-status pull changes (pure): which pulled members change the state,
which are Mailchimp-side consent changes, which confirm the project's own writes."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from mc_pipelines.sync.pull_plan import PulledMember, plan_page

NOW = datetime(2026, 6, 1, 12, 0, 0)


def _member(status: str, tags: list[str] | None = None, changed: datetime = NOW,
            contact_id: str | None = "c1", h: str = "h1") -> PulledMember:
    return PulledMember(h, "a@b.io", status, tags or [], changed, "", contact_id)


def _row(status: str, **kw) -> dict:
    return {"status": status, "status_origin": kw.pop("origin", "project"), "ownership": "created",
            "intent": kw.pop("intent", None), "intent_at": None, "mailchimp_tags": [],
            "last_changed": NOW - timedelta(hours=1), "managed_tags": kw.pop("managed", []),
            "prior_tags": kw.pop("prior", []),
            "mailchimp_contact_id": "c1", **kw}


@pytest.mark.parametrize(("previous", "status", "opt_out", "resubscribe"), [
    ("subscribed", "unsubscribed", True, False),
    ("subscribed", "cleaned", True, False),
    ("pending", "unsubscribed", True, False),
    ("absent", "cleaned", True, False),
    (None, "unsubscribed", True, False),          # a member the project does not track (A5)
    ("unsubscribed", "unsubscribed", False, False),  # already known
    ("unsubscribed", "cleaned", True, False),     # a bounce after the project's unsubscribe
    ("cleaned", "cleaned", False, False),
    ("subscribed", "subscribed", False, False),
    ("unsubscribed", "subscribed", False, True),  # a signup form after an opt-out (A6)
    ("subscribed", "archived", False, False),     # a marketer archived it: recorded only (B6)
])
def test_only_changes_made_in_mailchimp_move_consent(previous, status, opt_out, resubscribe):
    baseline = {} if previous is None else {"h1": _row(previous)}
    plan = plan_page([_member(status)], baseline, NOW)
    assert bool(plan.opt_outs) is opt_out
    assert bool(plan.resubscribes) is resubscribe
    assert bool(plan.updates) is (previous is not None)


def test_a_lost_unsubscribe_answer_is_the_projects_own_write():
    plan = plan_page([_member("unsubscribed")], {"h1": _row("subscribed", intent="unsubscribe")}, NOW)
    assert not plan.opt_outs  # B8
    assert plan.updates["h1"]["status_origin"] == "project" and plan.updates["h1"]["intent"] is None


def test_a_resubscribe_links_the_member():
    plan = plan_page([_member("subscribed")], {"h1": _row("unsubscribed", origin="mailchimp")}, NOW)
    assert plan.updates["h1"]["ownership"] == "linked"


def test_rereading_an_unchanged_member_plans_nothing():
    row = _row("subscribed", mailchimp_tags=["Marketer"], prior=["Marketer"], last_changed=NOW)
    assert plan_page([_member("subscribed", ["Marketer"])], {"h1": row}, NOW).updates == {}
    tagged = plan_page([_member("subscribed", ["Marketer", "VIP"])], {"h1": row}, NOW)
    assert tagged.updates["h1"]["mailchimp_tags"] == ["Marketer", "VIP"]


def test_a_managed_tag_removed_by_hand_is_dropped_so_it_is_applied_again():
    row = _row("subscribed", managed=["VIP", "Staff"], mailchimp_tags=["VIP", "Staff"], last_changed=NOW)
    plan = plan_page([_member("subscribed", ["vip"])], {"h1": row}, NOW)  # D4 (and D3: any case)
    assert plan.updates["h1"]["managed_tags"] == ["VIP"]


def test_an_untracked_address_with_a_tracked_contact_id_is_a_move():
    plan = plan_page([_member("subscribed", h="h2", contact_id="c1")], {}, NOW, {"c1": "h1"})
    assert [(old, m.subscriber_hash) for old, m in plan.moves] == [("h1", "h2")]  # B9
    assert not plan.opt_outs
