"""Typed results of the client's bulk and account calls.

* :class:`RowError` — one email a bulk call could not apply.
* :class:`BatchSubscribeResult` — per-email outcomes of batch subscribe (``POST /lists/{id}``).
* :class:`SegmentMembersResult` — per-email outcomes of static segment add/remove.
* :class:`OperationResult` — one operation of a ``/batches`` job.
* :class:`OAuthMetadata` — what Mailchimp's OAuth metadata endpoint says about a token.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "BatchSubscribeResult",
    "OAuthMetadata",
    "OperationResult",
    "RowError",
    "SegmentMembersResult",
]


@dataclass(frozen=True)
class RowError:
    """One email that a bulk call could not apply.

    ``code`` is Mailchimp's ``error_code`` (``ERROR_CONTACT_EXISTS``, ``ERROR_GENERIC``…)
    or ``"request_failed"`` when the whole request for this email's chunk failed
    (after retries); ``message`` says why; ``field`` names the offending field if known.
    """

    email: str
    code: str
    message: str
    field: str | None = None


@dataclass
class BatchSubscribeResult:
    """Per-email outcomes of a batch subscribe, merged over its chunks."""

    created: list[dict[str, Any]] = field(default_factory=list)
    updated: list[dict[str, Any]] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    # lower-cased emails of chunks whose accepted attempt followed one that may have been applied
    ambiguous: set[str] = field(default_factory=set)

    @property
    def total_created(self) -> int:
        """Members created."""
        return len(self.created)

    @property
    def total_updated(self) -> int:
        """Members updated."""
        return len(self.updated)

    @property
    def error_count(self) -> int:
        """Emails refused."""
        return len(self.errors)

    def merge(self, other: BatchSubscribeResult) -> None:
        """Add ``other``'s outcomes (another chunk) to this result."""
        self.created.extend(other.created)
        self.updated.extend(other.updated)
        self.errors.extend(other.errors)
        self.ambiguous |= other.ambiguous


@dataclass
class SegmentMembersResult:
    """Per-email outcomes of static segment add/remove calls, merged over its chunks."""

    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)

    def merge(self, other: SegmentMembersResult) -> None:
        """Add ``other``'s outcomes (another chunk) to this result."""
        self.added.extend(other.added)
        self.removed.extend(other.removed)
        self.errors.extend(other.errors)


@dataclass(frozen=True)
class OperationResult:
    """The outcome of one operation of a ``/batches`` job.

    ``status_code`` is the operation's HTTP status; ``body`` its parsed JSON answer (``None``
    when empty, e.g. a 204); for a status ≥ 400 ``problem`` is the same problem+json document
    (``title``, ``detail``, ``errors``…) and ``body`` is ``None``.  An operation missing from
    the results (the batch lost it) comes back with ``status_code`` 0 and a ``problem`` saying so.
    """

    operation_id: str
    status_code: int
    body: Any = None
    problem: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        """True for a 2xx answer."""
        return 200 <= self.status_code < 300


@dataclass(frozen=True)
class OAuthMetadata:
    """Mailchimp's OAuth metadata for a token (``GET https://login.mailchimp.com/oauth2/metadata``).

    ``api_endpoint`` is the account's API root without ``/3.0``
    (``https://us1.api.mailchimp.com``); ``raw`` is the whole answer.
    """

    dc: str
    api_endpoint: str
    accountname: str
    login_url: str = ""
    raw: dict[str, Any] = field(default_factory=dict, repr=False)
