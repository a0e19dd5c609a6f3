import pytest

from mc_pipelines.sync.outcomes import (
    OUTCOMES,
    RETRYABLE_OUTCOMES,
    TERMINAL_OUTCOMES,
    classify_row_error,
    is_retryable,
)


@pytest.mark.parametrize(
    ("code", "message", "outcome"),
    [
        ("ERROR_GENERIC", "ann@example.com is in a compliance state due to unsubscribe, bounce, "
         "or compliance review and cannot be subscribed.", "compliance_state"),
        ("Member In Compliance State", "", "compliance_state"),
        ("ERROR_GENERIC", "ann@example.com was permanently deleted and cannot be re-imported. "
         "The contact must re-subscribe to get back on the list.", "forgotten_email"),
        ("Forgotten Email Not Subscribed", None, "forgotten_email"),
        ("ERROR_CONTACT_EXISTS", "ann@example.com is already a list member, do you want to "
         "update? please provide update_existing:true in the request body", "member_exists"),
        ("Member Exists", "ann@example.com is already a list member. Use PUT to insert or "
         "update list members.", "member_exists"),
        ("ERROR_GENERIC", "foo@example.com looks fake or invalid, please enter a real email "
         "address.", "fake_email"),
        ("ERROR_GENERIC", "Please provide a valid email address.", "invalid_email"),
        ("ERROR_GENERIC", "Your merge fields were invalid.", "merge_field_invalid"),
        ("ERROR_GENERIC", "Please enter a number", "merge_field_invalid"),
        ("request_failed", "HTTP 503 after 6 attempts", "request_failed"),
        ("ERROR_GENERIC", "A deep, internal error has occurred during the processing of your "
         "request. Please contact support.", "request_failed"),
        ("ERROR_GENERIC", "ann@example.com has signed up to a lot of lists very recently; "
         "we're not allowing more signups for now", "other"),
        (None, None, "other"),
    ],
)
def test_classify_row_error(code, message, outcome):
    assert classify_row_error(code, message) == outcome


def test_retryable_and_terminal_outcomes_partition_all_outcomes():
    assert {"request_failed", "other"} == RETRYABLE_OUTCOMES
    assert set(OUTCOMES) == RETRYABLE_OUTCOMES | TERMINAL_OUTCOMES
    assert not RETRYABLE_OUTCOMES & TERMINAL_OUTCOMES
    assert not is_retryable("member_exists") and not is_retryable("compliance_state")
    assert is_retryable("request_failed")
