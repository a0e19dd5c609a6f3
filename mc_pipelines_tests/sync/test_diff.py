import numpy as np
import pytest

from mc_pipelines.mailchimp.addresses import subscriber_hash
from mc_pipelines.sync import lifecycle as lc
from mc_pipelines.sync.cohort import build_cohort
from mc_pipelines.sync.diff import diff_audience
from mc_pipelines.sync.segments import evaluate_segments
from mc_pipelines.sync.simulate import apply_plan, read_back, state_from_desired
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


def test_changed_payload_is_a_field_update_that_carries_no_status():
    desired = _desired(ROWS)
    state = _state(desired, c1={"payload_hash": "0" * 32, "status": "pending"},
                   c2={"payload_hash": "1" * 32})
    plan = diff_audience(desired, state)
    assert sorted(plan.updates["contact_id"].tolist()) == [1, 2]
    assert "status" not in plan.updates.columns  # B1, B7: a field update never carries a status
    assert plan.creates.empty and plan.unsubscribes.empty and plan.resubscribes.empty


def test_failed_rows_are_retried_even_if_unchanged():
    desired = _desired(ROWS)
    state = _state(desired, c1={"payload_hash": None},
                   c2={"ownership": "none", "status": "absent", "payload_hash": None})
    plan = diff_audience(desired, state)
    assert plan.updates["contact_id"].tolist() == [1]
    assert plan.creates["contact_id"].tolist() == [2]


def test_parked_rows_wait_for_their_data_to_change():
    desired = _desired(ROWS)
    state = _state(desired, c2={"ownership": "none", "status": "absent", "parked": "fake_email"})
    plan = diff_audience(desired, state)
    assert plan.is_empty
    assert plan.skipped[["contact_id", "reason"]].values.tolist() == [[2, "parked"]]
    changed = _state(desired, c2={"ownership": "none", "status": "absent", "parked": "fake_email",
                                  "payload_hash": "9" * 32})
    assert diff_audience(desired, changed).creates["contact_id"].tolist() == [2]


@pytest.mark.parametrize("status", ["cleaned", "archived", "transactional"])
def test_members_in_frozen_statuses_are_skipped_not_updated(status):
    desired = _desired(ROWS)
    state = _state(desired, c1={"payload_hash": "0" * 32, "status": status})
    plan = diff_audience(desired, state)
    assert plan.is_empty
    assert plan.skipped[["contact_id", "reason"]].values.tolist() == [[1, status]]
    assert status in lc.REASONS


def test_pending_intents_and_unknown_statuses_wait_for_a_read_back():
    desired = _desired(ROWS)
    state = _state(desired, c1={"payload_hash": None, "status": "unknown"},
                   c2={"intent": "unsubscribe"}, c3={"status": "bogus"})
    plan = diff_audience(desired, state)
    assert plan.is_empty
    assert sorted(plan.skipped["contact_id"].tolist()) == [1, 2, 3]
    assert set(plan.skipped["reason"]) == {"status_unknown"}


def test_a_leaving_member_with_an_unresolved_write_is_listed_not_dropped():
    """Its read-back got no answer: nothing is written for it, and the run says so (retried)."""
    desired = _desired(ROWS)
    state = _state(desired, c2={"intent": "unsubscribe"}, c3={"intent": "create"})
    gone = _desired([contact(1, "a@example.com", tags=["vip"])])
    plan = diff_audience(gone, state)
    assert plan.unsubscribes.empty and plan.tag_removes.empty
    assert plan.skipped[["contact_id", "reason"]].values.tolist() == [
        [2, "status_unknown"], [3, "status_unknown"]]


def test_cleaned_members_get_no_tag_adds():
    desired = _desired(ROWS)
    state = _state(desired, c1={"managed_tags": [], "status": "cleaned"})
    plan = diff_audience(desired, state)
    assert plan.tag_adds.empty
    assert plan.skipped[["contact_id", "reason"]].values.tolist() == [[1, "cleaned"]]


def test_linked_members_are_updated_but_their_status_never_changes():
    desired = _desired(ROWS)
    state = _state(desired, c1={"ownership": "linked", "payload_hash": None, "managed_tags": [],
                                "status_origin": "mailchimp"})
    plan = diff_audience(desired, state)
    assert plan.updates["contact_id"].tolist() == [1]
    assert plan.tag_adds[["tag", "contact_id"]].values.tolist() == [["VIP", 1]]
    leave = diff_audience(desired, state, lc.AudienceContext(existing_members="leave"))
    assert leave.is_empty
    assert leave.skipped[["contact_id", "reason"]].values.tolist() == [[1, "linked_left_alone"]]


def test_prior_tags_are_never_added_nor_removed():
    desired = _desired(ROWS)
    state = _state(desired, c1={"managed_tags": [], "prior_tags": ["vip"]})
    assert diff_audience(desired, state).is_empty  # D2 (and D3: case-insensitive)
    gone = _desired([contact(1, "a@example.com"), ROWS[1], ROWS[2]])
    assert diff_audience(gone, state).tag_removes.empty


def test_a_tag_renamed_only_in_case_moves_nothing():
    desired = _desired(ROWS)
    state = _state(desired, c1={"managed_tags": ["vip"]})
    assert diff_audience(desired, state).is_empty  # D3


def test_created_members_leaving_are_unsubscribed_and_untagged_linked_only_unlinked():
    desired = _desired(ROWS)
    state = _state(desired, c3={"ownership": "linked"})
    gone = _desired([contact(1, "a@example.com", tags=["vip"])])
    plan = diff_audience(gone, state)
    assert plan.unsubscribes["contact_id"].tolist() == [2]  # B3: the linked one is only unlinked
    assert set(plan.unsubscribes["reason"]) == {"left_audience"}
    assert not plan.unsubscribes["explicit"].any()
    assert plan.tag_removes[["tag", "contact_id"]].values.tolist() == [["Staff", 2]]
    assert plan.creates.empty and plan.updates.empty and plan.tag_adds.empty


def test_consent_withdrawn_unsubscribes_created_and_linked_members():
    desired = _desired(ROWS)
    state = _state(desired, c3={"ownership": "linked"})
    withdrawn = frozenset({_hash("b@example.com"), _hash("c@example.com")})
    plan = diff_audience(desired.iloc[:1], state, lc.AudienceContext(withdrawn=withdrawn))
    assert sorted(plan.unsubscribes["contact_id"].tolist()) == [2, 3]
    assert set(plan.unsubscribes["reason"]) == {"consent_withdrawn"}
    assert plan.unsubscribes["explicit"].all()


def test_already_unsubscribed_cleaned_or_never_held_leavers_are_not_written():
    desired = _desired(ROWS)
    state = _state(desired, c2={"status": "unsubscribed", "managed_tags": []},
                   c3={"ownership": "none", "status": "absent", "parked": "fake_email"})
    plan = diff_audience(desired.iloc[:1], state)
    assert plan.is_empty  # C6: a parked address Mailchimp never held gets no write at all


def test_reconsent_after_a_project_unsubscribe_resubscribes():
    desired = _desired(ROWS)
    state = _state(desired, c1={"status": "unsubscribed", "status_origin": "project"})
    plan = diff_audience(desired, state)
    assert plan.resubscribes[["contact_id", "status"]].values.tolist() == [[1, "subscribed"]]


@pytest.mark.parametrize(("option", "expected"), [("pending", "pending"), ("report", None)])
def test_reconsent_after_a_mailchimp_opt_out_follows_the_option(option, expected):
    desired = _desired(ROWS)
    state = _state(desired, c1={"status": "unsubscribed", "status_origin": "mailchimp"})
    plan = diff_audience(desired, state, lc.AudienceContext(reconsent=option))
    if expected:
        assert plan.resubscribes[["contact_id", "status"]].values.tolist() == [[1, expected]]
        assert plan.skipped[["contact_id", "reason"]].values.tolist() == [[1, "reconfirmation_sent"]]
    else:
        assert plan.resubscribes.empty
        assert plan.skipped[["contact_id", "reason"]].values.tolist() == [[1, "opted_out_in_mailchimp"]]


def test_email_change_moves_the_member_in_place():
    desired = _desired(ROWS)
    state = state_from_desired(desired)
    changed = _desired([ROWS[0], ROWS[1], contact(3, "new-c@example.com")])
    plan = diff_audience(changed, state, lc.AudienceContext(cohort_contacts={3: _hash("new-c@example.com")}))
    assert plan.creates.empty and plan.unsubscribes.empty
    assert plan.email_changes[["old_email", "email", "contact_id"]].values.tolist() == [
        ["c@example.com", "new-c@example.com", 3]]


def test_an_address_the_person_changed_in_mailchimp_is_not_recreated():
    desired = _desired(ROWS)
    moved = _state(desired, c3={"subscriber_hash": _hash("moved@example.com"),
                                "email": "moved@example.com",
                                "moved_from_hash": _hash("c@example.com")})
    plan = diff_audience(desired, moved)
    assert plan.is_empty
    assert plan.skipped[["contact_id", "reason"]].values.tolist() == [[3, "moved_in_mailchimp"]]


def test_frozen_audiences_only_receive_explicit_withdrawals():
    desired = _desired(ROWS)
    state = state_from_desired(desired)
    context = lc.AudienceContext(frozen=True, withdrawn=frozenset({_hash("b@example.com")}))
    plan = diff_audience(desired.iloc[0:0], state, context)
    assert plan.unsubscribes["contact_id"].tolist() == [2]
    assert sorted(plan.skipped["contact_id"].tolist()) == [1, 3]
    assert set(plan.skipped["reason"]) == {"frozen_audience"}


def test_frozen_tags_are_not_removed():
    desired = _desired(ROWS, segments_frame([{"id": 2, "mailchimp_tag": "Staff",
                                              "segment_type": "employee"}]))
    state = state_from_desired(_desired(ROWS))
    plan = diff_audience(desired, state, lc.AudienceContext(frozen_tags=frozenset({"VIP"})))
    assert plan.tag_removes.empty


def test_the_guard_holds_mass_unsubscribes_but_never_withdrawals():
    rows = [contact(i, f"p{i}@example.com") for i in range(1, 101)]
    desired = _desired(rows)
    state = state_from_desired(desired)
    withdrawn = frozenset({_hash("p100@example.com")})
    plan = diff_audience(desired.iloc[:30], state, lc.AudienceContext(withdrawn=withdrawn))
    assert plan.unsubscribes["contact_id"].tolist() == [100]
    assert plan.guard["held"] and plan.guard["non_explicit_unsubscribes"] == 69
    assert (plan.skipped["reason"] == "mass_unsubscribe_guard").sum() == 69
    override = lc.AudienceContext(withdrawn=withdrawn, guard=lc.GuardSettings(override=True))
    assert len(diff_audience(desired.iloc[:30], state, override).unsubscribes) == 70
    few = diff_audience(desired.iloc[:60], state)  # 40 > 20% of 100, but not more than 50
    assert len(few.unsubscribes) == 40 and not few.guard["held"]


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
    state = read_back(apply_plan(state_from_desired(desired.iloc[0:0]), plan, failed=failed))
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
