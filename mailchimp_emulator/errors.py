"""ApiError, Mailchimp's error texts and the problem+json builders."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from typing import Any

# --------------------------------------------------------------------------------------------
# Constants: Mailchimp's texts (see /work/shared/MAILCHIMP.md §10)
# --------------------------------------------------------------------------------------------

ERROR_TYPE = "https://mailchimp.com/developer/marketing/docs/errors/"
DETAIL_INVALID_RESOURCE = (
    "The resource submitted could not be validated. For field-specific details, "
    "see the 'errors' array."
)
DETAIL_MERGE_INVALID = "Your merge fields were invalid."
DETAIL_NOT_FOUND = "The requested resource could not be found."
DETAIL_BAD_EMAIL = "Please provide a valid email address."
DETAIL_KEY_MISSING = "Your request did not include an API key."
DETAIL_KEY_INVALID = (
    "Your API key may be invalid, or you've attempted to access the wrong datacenter."
)
DETAIL_DISABLED = "This account has been deactivated."
DETAIL_METHOD = (
    "The requested method and resource are not compatible. See the Allow header for this "
    "resource's available methods."
)
DETAIL_ARCHIVE_405 = (
    "This list member cannot be removed. Can not archive a contact that is bounced, "
    "pending or archived"
)
DETAIL_JSON = "We encountered an unspecified JSON parsing error."
DETAIL_500 = (
    "A deep, internal error has occurred during the processing of your request. "
    "Please contact support."
)


def too_many_connections_detail(limit: int) -> str:
    """Mailchimp's glossary text for the simultaneous-connection limit."""
    return f"You have exceeded the limit of {limit} simultaneous connections."


def detail_fake(email: str) -> str:
    """The "looks fake or invalid" text."""
    return f"{email} looks fake or invalid, please enter a real email address."


def detail_member_exists(email: str) -> str:
    """The Member Exists text (POST members, PUT onto another member's email)."""
    return f"{email} is already a list member. Use PUT to insert or update list members."


def detail_compliance(email: str) -> str:
    """The Member In Compliance State text."""
    return (
        f"{email} is in a compliance state due to unsubscribe, bounce, or compliance review "
        "and cannot be subscribed."
    )


def detail_forgotten(email: str) -> str:
    """The Forgotten Email Not Subscribed text."""
    return (
        f"{email} was permanently deleted and cannot be re-imported. The contact must "
        "re-subscribe to get back on the list."
    )


def detail_contact_exists(email: str) -> str:
    """Batch subscribe's ERROR_CONTACT_EXISTS text."""
    return (
        f"{email} is already a list member, do you want to update? please provide "
        "update_existing:true in the request body"
    )


STATUSES = ("subscribed", "unsubscribed", "cleaned", "pending", "transactional")
ALL_STATUSES = (*STATUSES, "archived")
PATCH_STATUSES = ("subscribed", "unsubscribed", "cleaned", "pending")
UNSUB_ADMIN = "N/A (Unsubscribed by admin)"
UNSUB_SELF = "N/A (Unsubscribed by the contact)"
UNSUB_REVIEW = "N/A (Compliance review)"
MAX_BATCH = 500
MAX_COUNT = 1000
MAX_TEXT = 255
MAX_TAG_NAME = 100
CAMPAIGN_STATUSES = (
    "save",
    "paused",
    "schedule",
    "sending",
    "sent",
    "canceled",
    "canceling",
    "archived",
)
CAMPAIGN_TYPES = ("regular", "plaintext", "absplit", "rss", "variate")
MEMBER_EVENTS = (
    "unsubscribe",
    "admin_unsubscribe",
    "cleaned",
    "compliance_review",
    "confirm",
    "subscribe",
    "archive",
    "profile",
)


class ApiError(Exception):
    """A Mailchimp problem+json error.  ``with_type=False`` reproduces the real responses that
    omit ``type`` (Member Exists, Member In Compliance State, Forgotten Email Not Subscribed)."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        errors: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
        with_type: bool = True,
    ) -> None:
        super().__init__(f"{status} {title}: {detail}")
        self.status = status
        self.title = title
        self.detail = detail
        self.errors = errors
        self.headers = headers or {}
        self.with_type = with_type

    def body(self, instance: str) -> dict[str, Any]:
        """The problem+json document."""
        out: dict[str, Any] = {}
        if self.with_type:
            out["type"] = ERROR_TYPE
        out.update(title=self.title, status=self.status, detail=self.detail, instance=instance)
        if self.errors is not None:
            out["errors"] = self.errors
        return out


def not_found() -> ApiError:
    """404 Resource Not Found."""
    return ApiError(404, "Resource Not Found", DETAIL_NOT_FOUND)


def invalid(errors: list[dict[str, str]], detail: str = DETAIL_INVALID_RESOURCE) -> ApiError:
    """400 Invalid Resource with field errors."""
    return ApiError(400, "Invalid Resource", detail, errors=errors)


def invalid_field(field: str, message: str) -> ApiError:
    """400 Invalid Resource naming one field."""
    return invalid([{"field": field, "message": message}])


def required_missing(field_prefix: str, names: Iterable[str]) -> ApiError:
    """400 Invalid Resource for missing required properties."""
    return invalid_field(field_prefix, "Required fields were not provided: " + ", ".join(names))


def _json_type(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def schema_type_error(field: str, expected: str, value: Any) -> ApiError:
    """400 Invalid Resource: "Schema describes string, integer found instead"."""
    return invalid_field(field, f"Schema describes {expected}, {_json_type(value)} found instead")


def enum_error(field: str, choices: Iterable[str]) -> ApiError:
    """400 Invalid Resource for a value outside an enum."""
    return invalid_field(
        field, "Data presented is not one of the accepted values: " + ", ".join(choices) + "."
    )


def dumps(obj: Any) -> bytes:
    """Compact UTF-8 JSON."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def request_id() -> str:
    """An ``X-Request-Id`` / problem ``instance``."""
    return str(uuid.uuid4())

