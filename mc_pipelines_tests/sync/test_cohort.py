import pandas as pd

from mc_pipelines.mailchimp.addresses import subscriber_hash
from mc_pipelines.schemas import CohortSchema, RejectedSchema
from mc_pipelines.sync.cohort import COHORT_COLUMNS, build_cohort
from mc_pipelines_tests.support.factories import BASE_TIME, contact, source_frame


def _by_id(result, contact_id):
    rows = result.cohort[result.cohort["contact_id"] == contact_id]
    assert len(rows) == 1, f"contact {contact_id} not in cohort"
    return rows.iloc[0]


def _rejected(result, contact_id):
    rows = result.rejected[result.rejected["contact_id"] == contact_id]
    assert len(rows) == 1, f"contact {contact_id} not rejected"
    return rows.iloc[0]


def test_consent_gate_comes_first():
    result = build_cohort(source_frame([
        contact(1, "a@example.com"),
        contact(2, "b@example.com", marketing_consent=False),
        contact(3, "not an email", marketing_consent=False),
    ]))
    assert result.cohort["contact_id"].tolist() == [1]
    # Without consent a contact is neither synced nor reported as invalid.
    assert result.rejected.empty
    assert result.counts == {
        "read": 3, "no_consent": 2, "invalid": 0, "duplicates": 0, "consented": 1,
    }


def test_consent_accepts_nullable_and_object_columns():
    src = source_frame([contact(1, "a@example.com"), contact(2, "b@example.com")])
    src["marketing_consent"] = pd.Series([True, None], dtype=object)
    assert build_cohort(src).cohort["contact_id"].tolist() == [1]
    src["marketing_consent"] = pd.array([pd.NA, True], dtype="boolean")
    assert build_cohort(src).cohort["contact_id"].tolist() == [2]


def test_emails_are_trimmed_keep_case_and_hash_lowercase():
    result = build_cohort(source_frame([contact(7, "\u00a0 Ann.Lee@Example.COM \u200b")]))
    row = _by_id(result, 7)
    assert row["email"] == "Ann.Lee@Example.COM"
    assert row["subscriber_hash"] == subscriber_hash("ann.lee@example.com")


def test_invalid_emails_are_rejected_with_reason_never_dropped():
    src = source_frame([
        contact(1, None),
        contact(2, "no-at-sign.example.com"),
        contact(3, "two@@example.com"),
        contact(4, "zoë@example.com"),
        contact(5, "ok@example.com"),
        contact(6, "bad\x00nul@example.com"),
    ])
    result = build_cohort(src)
    assert result.cohort["contact_id"].tolist() == [5]
    assert _rejected(result, 1)["detail"] == "missing"
    assert _rejected(result, 2)["detail"] == "no @"
    assert _rejected(result, 3)["detail"] == "more than one @"
    assert _rejected(result, 4)["detail"].startswith("non-ASCII characters")
    nul = _rejected(result, 6)
    assert nul["detail"] == "control characters"
    assert nul["email"] == "bad\\x00nul@example.com"  # escaped: storable and readable
    assert set(result.rejected["reason"]) == {"invalid_email"}
    assert result.counts["invalid"] == 5
    # Every consented contact is accounted for.
    accounted = set(result.cohort["contact_id"]) | set(result.rejected["contact_id"])
    assert accounted == set(src["id"])


def test_duplicates_most_recently_updated_wins():
    src = source_frame([
        contact(10, "Sam@Example.com", updated_at=BASE_TIME),
        contact(11, "sam@example.com ", updated_at=BASE_TIME + pd.Timedelta(days=1)),
        contact(12, "SAM@EXAMPLE.COM", updated_at=BASE_TIME - pd.Timedelta(days=1)),
    ])
    result = build_cohort(src)
    assert result.cohort["contact_id"].tolist() == [11]
    assert _by_id(result, 11)["email"] == "sam@example.com"
    loser = _rejected(result, 10)
    assert loser["reason"] == "duplicate_email"
    assert loser["detail"] == (
        "same address (sam@example.com) as contact 11, which was updated more recently"
    )
    assert _rejected(result, 12)["reason"] == "duplicate_email"
    assert result.counts["duplicates"] == 2


def test_duplicates_tie_goes_to_lowest_id():
    src = source_frame([
        contact(31, "dup@example.com", updated_at=BASE_TIME),
        contact(30, "dup@example.com", updated_at=BASE_TIME),
    ])
    result = build_cohort(src)
    assert result.cohort["contact_id"].tolist() == [30]
    assert _rejected(result, 31)["detail"] == (
        "same address as contact 30, which has the same update time and a lower id"
    )


def test_unicode_names_are_kept_and_control_characters_stripped():
    src = source_frame([
        contact(1, "a@example.com", first_name="Zoë", last_name="山田 🎉"),
        contact(2, "b@example.com", first_name="Jo\x00hn", last_name="Smith\x1b[31m"),
        contact(3, "c@example.com", first_name="Anne\nMarie", last_name="\u202eevil"),
    ])
    result = build_cohort(src)
    assert _by_id(result, 1)[["first_name", "last_name"]].tolist() == ["Zoë", "山田 🎉"]
    assert _by_id(result, 2)[["first_name", "last_name"]].tolist() == ["John", "Smith[31m"]
    # A line break becomes a space; format characters such as RLO are not controls: kept.
    assert _by_id(result, 3)[["first_name", "last_name"]].tolist() == ["Anne Marie", "\u202eevil"]


def test_tags_are_normalised_to_clean_lists():
    src = source_frame([
        contact(1, "a@example.com", tags=["vip", "x\x00y", " "]),
        contact(2, "b@example.com", tags=None),
        contact(3, "c@example.com", tags=("beta",)),
    ])
    cohort = build_cohort(src).cohort.set_index("contact_id")
    assert cohort.loc[1, "tags"] == ["vip", "xy"]
    assert cohort.loc[2, "tags"] == []
    assert cohort.loc[3, "tags"] == ["beta"]


def test_cohort_columns_consent_and_extra_source_columns():
    src = source_frame([contact(1, "a@example.com")])
    src["company"] = "ACME"
    cohort = build_cohort(src).cohort
    assert list(cohort.columns[: len(COHORT_COLUMNS)]) == list(COHORT_COLUMNS)
    assert "company" in cohort.columns and "id" not in cohort.columns
    assert cohort["marketing_consent"].tolist() == [True]
    assert cohort["contact_id"].dtype == "int64"


def test_results_validate_against_schemas():
    src = source_frame([
        contact(1, "a@example.com"), contact(2, "A@example.com"), contact(3, "bad"),
        contact(4, "d@example.com", contact_type="employee"),
    ])
    result = build_cohort(src)
    CohortSchema.validate(result.cohort)
    RejectedSchema.validate(result.rejected)


def test_empty_source():
    result = build_cohort(source_frame([]))
    assert result.cohort.empty and result.rejected.empty
    assert list(result.cohort.columns) == [*COHORT_COLUMNS, "org_id", "created_at"]
    assert result.counts == {
        "read": 0, "no_consent": 0, "invalid": 0, "duplicates": 0, "consented": 0,
    }
    CohortSchema.validate(result.cohort)
    RejectedSchema.validate(result.rejected)
