import numpy as np
import pandas as pd
import pytest

from mc_pipelines.mailchimp.addresses import subscriber_hash
from mc_pipelines.sync.cohort import build_cohort
from mc_pipelines.sync.diff import REASONS, diff_audience
from mc_pipelines.sync.segments import evaluate_segments
from mc_pipelines.sync.simulate import apply_plan, state_from_desired
from mc_pipelines_tests.support.factories import (
    AUDIENCE,
    OTHER_AUDIENCE,
    contact,
    segments_frame,
    source_frame,
)

SEGMENTS = segments_frame([
    {"id": 1, "mailchimp_tag": "VIP", "filters": {"tags": ["vip"]}},
    {"id": 2, "mailchimp_tag": "Staff", "segment_type": "employee"},
])


def _desired(rows, segments=SEGMENTS, audience=AUDIENCE):
    cohort = build_cohort(source_frame(rows)).cohort
    desired = evaluate_segments(cohort, segments, AUDIENCE).desired
    return desired[desired["audience_id"] == audience].reset_index(drop=True)


ROWS = [
    contact(1, "a@example.com", tags=["vip"]),
    contact(2, "b@example.com", contact_type="employee"),
    contact(3, "c@example.com"),
]


def _state(desired, **by_contact):
    """State matching `desired`, with per-contact overrides: {contact_id: {column: value}}."""
    state = state_from_desired(desired)
    for key, changes in by_contact.items():
        idx = state.index[state["contact_id"] == int(key.lstrip("c"))][0]
        for col, value in changes.items():
            state.at[idx, col] = value
    return state


def _hash(email):
    return subscriber_hash(email)


def test_empty_state_creates_everyone_with_tags():
    desired = _desired(ROWS)
    plan = diff_audience(desired, state_from_desired(desired.iloc[0:0]))
    assert sorted(plan.creates["contact_id"]) == [1, 2, 3]
    assert list(plan.creates.columns) == [
        "subscriber_hash", "contact_id", "email", "merge_fields", "payload_hash",
    ]
    assert sorted(zip(plan.tag_adds["tag"], plan.tag_adds["contact_id"], strict=True)) == [
        ("Staff", 2), ("VIP", 1),
    ]
    assert plan.updates.empty and plan.unsubscribes.empty and plan.tag_removes.empty
    assert plan.counts["creates"] == 3 and plan.counts["tag_adds"] == 2


def test_diff_of_a_state_with_itself_is_empty():
    desired = _desired(ROWS)
    plan = diff_audience(desired, state_from_desired(desired))
    assert plan.is_empty and plan.skipped.empty
    assert plan.counts["unchanged"] == 3


def test_changed_payload_is_updated_with_the_current_status():
    desired = _desired(ROWS)
    state = _state(desired, c1={"payload_hash": "0" * 32, "status": "unsubscribed"},
                   c2={"payload_hash": "1" * 32, "status": "pending"})
    plan = diff_audience(desired, state)
    updates = plan.updates.set_index("contact_id")
    assert updates.loc[1, "status"] == "unsubscribed"  # never flipped to subscribed
    assert updates.loc[2, "status"] == "pending"
    assert plan.creates.empty and plan.unsubscribes.empty
    assert list(plan.updates.columns) == [
        "subscriber_hash", "contact_id", "email", "merge_fields", "payload_hash", "status",
    ]


def test_failed_rows_are_retried_even_if_unchanged():
    desired = _desired(ROWS)
    state = _state(desired, c1={"payload_hash": None}, c2={"status": "creating"})
    plan = diff_audience(desired, state)
    assert plan.updates["contact_id"].tolist() == [1]
    assert plan.creates["contact_id"].tolist() == [2]


@pytest.mark.parametrize("status", ["cleaned", "archived", "transactional"])
def test_members_in_frozen_statuses_are_skipped_not_updated(status):
    desired = _desired(ROWS)
    state = _state(desired, c1={"payload_hash": "0" * 32, "status": status})
    plan = diff_audience(desired, state)
    assert plan.is_empty
    assert plan.skipped[["contact_id", "reason"]].values.tolist() == [[1, f"status_{status}"]]
    assert f"status_{status}" in REASONS


def test_unknown_status_waits_for_the_status_pull():
    desired = _desired(ROWS)
    state = _state(desired, c1={"payload_hash": None, "status": "unknown"},
                   c3={"status": "bogus"})
    plan = diff_audience(desired, state)
    assert plan.is_empty
    assert plan.skipped["reason"].tolist() == ["status_unknown"]


def test_cleaned_members_get_no_tag_adds_but_tag_removes():
    desired = _desired(ROWS)
    state = _state(desired, c1={"managed_tags": [], "status": "cleaned"},
                   c3={"managed_tags": ["VIP"], "status": "cleaned"})
    plan = diff_audience(desired, state)
    assert plan.tag_adds.empty
    assert plan.tag_removes[["tag", "contact_id"]].values.tolist() == [["VIP", 3]]
    assert plan.skipped[["contact_id", "reason"]].values.tolist() == [[1, "status_cleaned"]]


def test_unmanaged_members_are_never_touched():
    desired = _desired(ROWS)
    state = _state(desired, c1={"managed": False, "payload_hash": None, "managed_tags": []},
                   c2={"managed": False, "managed_tags": ["Old"], "payload_hash": None})
    # An unmanaged member that is not desired is not unsubscribed either.
    extra = pd.DataFrame([{
        "subscriber_hash": _hash("old@example.com"), "contact_id": pd.NA,
        "email": "old@example.com", "payload_hash": None, "status": "subscribed",
        "managed": False, "managed_tags": ["VIP"],
    }])
    plan = diff_audience(desired, pd.concat([state, extra], ignore_index=True))
    assert plan.is_empty
    assert sorted(plan.skipped["contact_id"].tolist()) == [1, 2]
    assert set(plan.skipped["reason"]) == {"unmanaged"}


def test_members_leaving_are_unsubscribed_and_untagged():
    desired = _desired(ROWS)
    state = state_from_desired(desired)
    gone = _desired([contact(1, "a@example.com", tags=["vip"])])
    plan = diff_audience(gone, state)
    assert sorted(plan.unsubscribes["contact_id"].tolist()) == [2, 3]
    assert set(plan.unsubscribes["reason"]) == {"not_desired"}
    assert plan.tag_removes[["tag", "contact_id"]].values.tolist() == [["Staff", 2]]
    assert plan.creates.empty and plan.updates.empty and plan.tag_adds.empty


def test_already_unsubscribed_or_cleaned_leavers_are_not_resent():
    desired = _desired(ROWS)
    state = _state(desired, c2={"status": "unsubscribed"}, c3={"status": "cleaned"})
    plan = diff_audience(desired.iloc[:1], state)
    assert plan.unsubscribes.empty
    assert plan.tag_removes[["tag", "contact_id"]].values.tolist() == [["Staff", 2]]


def test_unconfirmed_creates_of_leavers_are_unsubscribed_to_be_safe():
    desired = _desired(ROWS)
    state = _state(desired, c2={"status": "creating"}, c3={"status": "unknown"})
    plan = diff_audience(desired.iloc[:1], state)
    assert sorted(plan.unsubscribes["contact_id"].tolist()) == [2, 3]


def test_email_change_creates_the_new_address_and_unsubscribes_the_old():
    desired = _desired(ROWS)
    state = state_from_desired(desired)
    changed = _desired([ROWS[0], ROWS[1], contact(3, "new-c@example.com")])
    plan = diff_audience(changed, state, known_contact_ids=[1, 2, 3])
    assert plan.creates["email"].tolist() == ["new-c@example.com"]
    assert plan.unsubscribes[["email", "reason"]].values.tolist() == [
        ["c@example.com", "email_changed"],
    ]


def test_unsubscribe_reasons_use_known_contacts():
    desired = _desired(ROWS)
    state = state_from_desired(desired)
    plan = diff_audience(desired.iloc[:1], state, known_contact_ids=[1, 2])
    reasons = dict(zip(plan.unsubscribes["contact_id"], plan.unsubscribes["reason"], strict=True))
    assert reasons == {2: "left_audience", 3: "not_in_cohort"}


def test_segment_only_audience_diff():
    segments = segments_frame([
        {"id": 1, "mailchimp_tag": "Staff", "segment_type": "employee",
         "audience_id": OTHER_AUDIENCE},
    ])
    desired = _desired(ROWS, segments, OTHER_AUDIENCE)
    assert desired["contact_id"].tolist() == [2]
    plan = diff_audience(desired, state_from_desired(desired.iloc[0:0]))
    assert plan.audience_id == OTHER_AUDIENCE
    assert plan.creates["contact_id"].tolist() == [2]
    assert plan.tag_adds[["tag", "contact_id"]].values.tolist() == [["Staff", 2]]


def test_one_audience_at_a_time():
    cohort = build_cohort(source_frame(ROWS)).cohort
    both = evaluate_segments(cohort, segments_frame([
        {"id": 1, "mailchimp_tag": "Staff", "audience_id": OTHER_AUDIENCE},
    ]), AUDIENCE).desired
    with pytest.raises(ValueError, match="one audience at a time"):
        diff_audience(both, state_from_desired(both.iloc[0:0]))


def test_apply_plan_converges_and_failed_rows_are_retried():
    desired = _desired(ROWS)
    plan = diff_audience(desired, state_from_desired(desired.iloc[0:0]))
    failed = {_hash("a@example.com")}
    state = apply_plan(state_from_desired(desired.iloc[0:0]), plan, failed=failed)
    retry = diff_audience(desired, state)
    assert retry.creates["contact_id"].tolist() == [1]
    assert retry.tag_adds[["tag", "contact_id"]].values.tolist() == [["VIP", 1]]
    final = diff_audience(desired, apply_plan(state, retry))
    assert final.is_empty


def test_tag_containers_from_io_round_trips_compare_equal():
    desired = _desired(ROWS)
    state = state_from_desired(desired)
    # e.g. arrays after a parquet round trip; unparsed JSON text and NULL from the database.
    desired["managed_tags"] = [np.array(["VIP"]), ["Staff"], ()]
    state["managed_tags"] = ['["VIP"]', ("Staff",), None]
    assert diff_audience(desired, state).is_empty
