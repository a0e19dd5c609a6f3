import json

import pytest

from mc_pipelines.sync.cohort import build_cohort
from mc_pipelines.sync.segments import FILTER_FIELDS, evaluate_segments, validate_filters
from mc_pipelines_tests.support.factories import (
    AUDIENCE,
    OTHER_AUDIENCE,
    contact,
    segments_frame,
    source_frame,
)


@pytest.fixture
def cohort():
    return build_cohort(source_frame([
        contact(1, "a@example.com", contact_type="employee", department=" Sales ",
                location="London", employment_status="active", tags=["VIP", "beta"]),
        contact(2, "b@example.com", contact_type="employee", department="sales",
                location="Paris", employment_status="on_leave", tags=["vip"]),
        contact(3, "c@example.com", contact_type="customer", department="HR",
                location="london", tags=["beta"]),
        contact(4, "d@example.com", contact_type="vendor", department=None, tags=[]),
    ])).cohort


def _members(result, segment_id):
    m = result.membership
    return sorted(m.loc[m["segment_id"] == segment_id, "contact_id"].tolist())


def _summary(result, segment_id):
    s = result.summary
    return s[s["segment_id"] == segment_id].iloc[0]


def test_validate_filters_accepts_known_fields():
    assert validate_filters({}) == []
    assert validate_filters(None) == []
    assert validate_filters({
        "department": "Sales", "location": ["London", "Paris"], "employment_type": None,
        "employment_status": [], "tags": ["vip"],
    }) == []


def test_validate_filters_names_unknown_fields_and_lists_allowed_ones():
    problems = validate_filters({"team": "x", "Department": "y", "tags": ["a"]})
    assert problems == [
        "unknown filter fields 'Department', 'team'; allowed: "
        + ", ".join(sorted(FILTER_FIELDS))
    ]


@pytest.mark.parametrize(
    ("filters", "problem"),
    [
        ({"department": 5}, "department: expected a string or a list of strings, got int"),
        ({"location": ["x", {"a": 1}]}, "location: expected a string or a list of strings, got dict"),
        ({"tags": [1, True]}, "tags: expected tag names, got bool, int"),
        ({"tags": ["vip", " "]}, "tags: empty tag name"),
        ({"employment_type": ""}, "employment_type: empty value"),
        ("department=Sales", "filters must be an object of field → value, got str"),
    ],
)
def test_validate_filters_reports_wrong_values(filters, problem):
    assert validate_filters(filters) == [problem]


def test_scalar_filters_are_trimmed_case_insensitive_any_of(cohort):
    result = evaluate_segments(cohort, segments_frame([
        {"id": 1, "mailchimp_tag": "Sales", "filters": {"department": "SALES"}},
        {"id": 2, "mailchimp_tag": "L or P", "filters": {"location": ["LONDON ", "paris"]}},
        {"id": 3, "mailchimp_tag": "Sales London",
         "filters": {"department": "sales", "location": "london"}},
        {"id": 4, "mailchimp_tag": "Nobody", "filters": {"department": "Legal"}},
    ]), AUDIENCE)
    assert _members(result, 1) == [1, 2]
    assert _members(result, 2) == [1, 2, 3]
    assert _members(result, 3) == [1]
    assert _members(result, 4) == []
    assert result.summary["error"].isna().all()
    assert result.summary["member_count"].tolist() == [2, 3, 1, 0]


def test_tag_filters_require_all_tags_case_insensitive(cohort):
    result = evaluate_segments(cohort, segments_frame([
        {"id": 1, "mailchimp_tag": "VIP", "filters": {"tags": ["vip"]}},
        {"id": 2, "mailchimp_tag": "VIP beta", "filters": {"tags": ["Vip", "BETA"]}},
        {"id": 3, "mailchimp_tag": "Unknown tag", "filters": {"tags": ["vip", "gold"]}},
    ]), AUDIENCE)
    assert _members(result, 1) == [1, 2]
    assert _members(result, 2) == [1]
    assert _members(result, 3) == []


def test_segment_type_filters_contact_type_and_mixed_takes_all(cohort):
    result = evaluate_segments(cohort, segments_frame([
        {"id": 1, "mailchimp_tag": "Staff", "segment_type": "employee"},
        {"id": 2, "mailchimp_tag": "Vendors", "segment_type": "vendor"},
        {"id": 3, "mailchimp_tag": "All", "segment_type": "mixed"},
        {"id": 4, "mailchimp_tag": "Active staff", "segment_type": "employee",
         "filters": {"employment_status": "Active"}},
    ]), AUDIENCE)
    assert _members(result, 1) == [1, 2]
    assert _members(result, 2) == [4]
    assert _members(result, 3) == [1, 2, 3, 4]
    assert _members(result, 4) == [1]


def test_invalid_segments_get_no_members_and_are_reported(cohort):
    result = evaluate_segments(cohort, segments_frame([
        {"id": 1, "mailchimp_tag": "Bad field", "filters": {"team": "x"}},
        {"id": 2, "mailchimp_tag": "  ", "filters": {}},
        {"id": 3, "mailchimp_tag": "Bad JSON", "filters": "{not json"},
        {"id": 4, "mailchimp_tag": "Good", "filters": json.dumps({"department": "hr"})},
    ]), AUDIENCE)
    assert _members(result, 1) == [] and _members(result, 2) == [] and _members(result, 3) == []
    assert _summary(result, 1)["error"].startswith("unknown filter field 'team'; allowed:")
    assert _summary(result, 2)["error"] == "mailchimp_tag is empty"
    assert _summary(result, 3)["error"].startswith("filters are not valid JSON")
    assert _members(result, 4) == [3]
    assert _summary(result, 4)["error"] is None
    # Invalid segments manage no tag anywhere.
    tags = {t for ts in result.desired["managed_tags"] for t in ts}
    assert tags == {"Good"}


def test_segments_pointing_to_another_audience(cohort):
    result = evaluate_segments(cohort, segments_frame([
        {"id": 1, "mailchimp_tag": "Staff", "segment_type": "employee",
         "audience_id": OTHER_AUDIENCE},
        {"id": 2, "mailchimp_tag": "Beta", "filters": {"tags": ["beta"]}},
        {"id": 3, "mailchimp_tag": "Paris staff", "audience_id": OTHER_AUDIENCE,
         "filters": {"location": "Paris"}},
    ]), AUDIENCE)
    desired = result.desired
    default = desired[desired["audience_id"] == AUDIENCE].set_index("contact_id")
    other = desired[desired["audience_id"] == OTHER_AUDIENCE].set_index("contact_id")
    assert sorted(default.index) == [1, 2, 3, 4]  # the default audience holds the whole cohort
    assert sorted(other.index) == [1, 2]
    assert default.loc[1, "managed_tags"] == ("Beta",)
    assert default.loc[2, "managed_tags"] == ()
    assert other.loc[1, "managed_tags"] == ("Staff",)
    assert other.loc[2, "managed_tags"] == ("Paris staff", "Staff")
    assert _summary(result, 1)["audience_id"] == OTHER_AUDIENCE
    assert _summary(result, 2)["audience_id"] == AUDIENCE
    assert list(result.membership.columns) == [
        "segment_id", "audience_id", "subscriber_hash", "contact_id", "tag",
    ]
    assert list(result.summary.columns) == [
        "segment_id", "name", "tag", "audience_id", "member_count", "error",
    ]


def test_no_segments(cohort):
    result = evaluate_segments(cohort, segments_frame([]), AUDIENCE)
    assert result.membership.empty and result.summary.empty
    assert len(result.desired) == 4
    assert set(result.desired["managed_tags"]) == {()}
