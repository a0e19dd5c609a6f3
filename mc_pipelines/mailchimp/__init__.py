"""Mailchimp Marketing API access for the sync: an async httpx client and its helpers.

* :mod:`.keys` — parse/validate API keys (``<32 hex>-<dc>``), OAuth data centre lookup.
* :mod:`.client` — :class:`MailchimpClient`: bounded concurrency (≤ 10 per key),
  retries with backoff and jitter, paging, chunked bulk writes with per-email outcomes.
* :mod:`.errors` — typed errors from Mailchimp's problem+json answers.
* :mod:`.metrics` — per-run call counters for asset metadata.
* :mod:`.redact` — keeps keys out of logs and exception texts.
* :mod:`.emulator` — an in-memory Mailchimp for tests and local runs.
"""

from .client import (
    BATCH_LIMIT,
    MAX_CONNECTIONS_LIMIT,
    PAGE_LIMIT,
    BatchSubscribeResult,
    MailchimpClient,
    RowError,
    SegmentMembersResult,
    gather_limited,
    run_sync,
    subscriber_hash,
)
from .errors import (
    ACCOUNT_LEVEL_ERRORS,
    AccountDisabled,
    AudienceNotFound,
    BadRequest,
    Forbidden,
    ForgottenEmail,
    InvalidApiKey,
    InvalidApiKeyFormat,
    InvalidResource,
    MailchimpError,
    MemberExists,
    MemberInComplianceState,
    MethodNotAllowed,
    RateLimited,
    ResourceNotFound,
    ServerError,
    TransportError,
    WrongDatacenter,
    error_from_response,
)
from .keys import (
    ApiKey,
    adc_from_oauth_metadata,
    dc_from_oauth_metadata,
    parse_api_key,
    redact_key,
)
from .metrics import CallMetrics
from .redact import RedactingFilter, install_redaction_filter, redact_text

__all__ = [
    "ACCOUNT_LEVEL_ERRORS",
    "BATCH_LIMIT",
    "MAX_CONNECTIONS_LIMIT",
    "PAGE_LIMIT",
    "AccountDisabled",
    "ApiKey",
    "AudienceNotFound",
    "BadRequest",
    "BatchSubscribeResult",
    "CallMetrics",
    "Forbidden",
    "ForgottenEmail",
    "InvalidApiKey",
    "InvalidApiKeyFormat",
    "InvalidResource",
    "MailchimpClient",
    "MailchimpError",
    "MemberExists",
    "MemberInComplianceState",
    "MethodNotAllowed",
    "RateLimited",
    "RedactingFilter",
    "ResourceNotFound",
    "RowError",
    "SegmentMembersResult",
    "ServerError",
    "TransportError",
    "WrongDatacenter",
    "adc_from_oauth_metadata",
    "dc_from_oauth_metadata",
    "error_from_response",
    "gather_limited",
    "install_redaction_filter",
    "parse_api_key",
    "redact_key",
    "redact_text",
    "run_sync",
    "subscriber_hash",
]
