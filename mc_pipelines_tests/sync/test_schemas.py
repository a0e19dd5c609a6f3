import pandas as pd
import pandera.pandas as pa
import pytest

from mc_pipelines.schemas import CohortSchema, RejectedSchema
from mc_pipelines.sync.cohort import build_cohort
from mc_pipelines_tests.support.factories import contact, source_frame


@pytest.fixture
def cohort():
    return build_cohort(source_frame([
        contact(1, "a@example.com"), contact(2, "b@example.com", contact_type="vendor"),
        contact(3, "c@example.com", contact_type="employee"),
    ])).cohort


def _fails(frame, column):
    with pytest.raises(pa.errors.SchemaErrors) as exc:
        CohortSchema.validate(frame, lazy=True)
    assert column in set(exc.value.failure_cases["column"].dropna())


def test_valid_cohort_passes(cohort):
    assert CohortSchema.validate(cohort) is not None


def test_invalid_email_fails(cohort):
    cohort.loc[1, "email"] = "not an email"
    _fails(cohort, "email")
    cohort.loc[1, "email"] = "a@b.co\n"
    _fails(cohort, "email")


def test_duplicate_or_malformed_hash_fails(cohort):
    dup = cohort.copy()
    dup.loc[2, "subscriber_hash"] = dup.loc[0, "subscriber_hash"]
    _fails(dup, "subscriber_hash")
    bad = cohort.copy()
    bad.loc[0, "subscriber_hash"] = bad.loc[0, "subscriber_hash"].upper()
    _fails(bad, "subscriber_hash")


def test_consent_and_contact_type_and_ids(cohort):
    no_consent = cohort.copy()
    no_consent.loc[0, "marketing_consent"] = False
    _fails(no_consent, "marketing_consent")
    odd_type = cohort.copy()
    odd_type.loc[0, "contact_type"] = "partner"
    _fails(odd_type, "contact_type")
    null_id = cohort.copy()
    null_id["contact_id"] = pd.array([1, None, 3], dtype="Int64")
    with pytest.raises(pa.errors.SchemaErrors):
        CohortSchema.validate(null_id, lazy=True)


def test_rejected_schema():
    result = build_cohort(source_frame([contact(1, "bad"), contact(2, None)]))
    RejectedSchema.validate(result.rejected)
    broken = result.rejected.copy()
    broken.loc[0, "reason"] = "other"
    with pytest.raises(pa.errors.SchemaError):
        RejectedSchema.validate(broken)
