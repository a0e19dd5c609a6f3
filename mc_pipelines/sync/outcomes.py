"""Per-row outcomes of Mailchimp writes, as recorded in `sync_errors.error_code`.

Mailchimp's batch subscribe reports per-member errors with only two codes (`ERROR_CONTACT_EXISTS`,
`ERROR_GENERIC`), so the outcome is read from the message text (Mailchimp's documented error texts).
Single-member calls give the problem title instead; both are understood.

Terminal outcomes are recorded and not retried: the data or Mailchimp's rules must change first
(`member_exists` → record the member as unmanaged; `compliance_state` / `forgotten_email` →
record and leave alone; `invalid_email` / `fake_email` / `merge_field_invalid` → the contact's
data must be fixed). Retryable ones are tried again on the next run even if unchanged.
"""

from __future__ import annotations

OUTCOMES = (
    "compliance_state", "forgotten_email", "member_exists", "invalid_email", "fake_email",
    "merge_field_invalid", "request_failed", "other",
)
RETRYABLE_OUTCOMES = frozenset({"request_failed", "other"})
TERMINAL_OUTCOMES = frozenset(OUTCOMES) - RETRYABLE_OUTCOMES

OUTCOME_HINTS: dict[str, str] = {
    "compliance_state": "unsubscribed, bounced or under compliance review in Mailchimp; "
                        "only the contact can re-subscribe",
    "forgotten_email": "permanently deleted from Mailchimp; the contact must re-subscribe "
                       "through a Mailchimp form",
    "member_exists": "already in the audience, added outside this project; left unmanaged",
    "invalid_email": "Mailchimp rejects the address; fix it in the application",
    "fake_email": "Mailchimp considers the address fake; fix it in the application",
    "merge_field_invalid": "a merge field value was refused; check the merge-field mapping",
    "request_failed": "the call failed (network or server error); retried next run",
    "other": "unrecognised error; retried next run",
}

# (outcome, lower-case fragments of Mailchimp's texts or titles), checked in order.
_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("compliance_state", ("is in a compliance state", "member in compliance state")),
    ("forgotten_email", ("was permanently deleted", "forgotten email")),
    ("member_exists", ("is already a list member", "member exists", "error_contact_exists")),
    ("fake_email", ("looks fake or invalid",)),
    ("invalid_email", ("please provide a valid email address", "invalid email")),
    ("merge_field_invalid", ("merge fields were invalid", "merge_fields.",
                             "please enter a number", "please enter a value")),
    ("request_failed", ("request_failed", "request failed", "timed out", "timeout",
                        "internal server error", "deep, internal error", "service unavailable",
                        "connection")),
)


def classify_row_error(error_code: str | None, message: str | None) -> str:
    """The outcome code (one of `OUTCOMES`) of a per-row Mailchimp error.

    `error_code`: the batch `error_code` (`ERROR_CONTACT_EXISTS`, `ERROR_GENERIC`), a problem
    title such as "Member In Compliance State", or the client's `request_failed`.
    `message`: Mailchimp's error text.
    """
    text = f"{message or ''}\n{error_code or ''}".lower()
    for outcome, fragments in _RULES:
        if any(f in text for f in fragments):
            return outcome
    return "other"


def is_retryable(outcome: str) -> bool:
    """True when a row with this outcome should be sent again on the next run."""
    return outcome in RETRYABLE_OUTCOMES
