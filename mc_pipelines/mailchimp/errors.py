"""Typed Mailchimp errors built from problem+json responses.

Mailchimp answers errors with RFC 7807 bodies ``{type, title, status, detail,
instance, errors?}``, but ``type`` is often missing in real responses, so
:func:`error_from_response` keys on ``status`` + ``title`` (and, for a few
cases, the endpoint and the detail text).

Every error's ``str()`` says what went wrong *and what to fix*; none contains an
API key (messages pass through :func:`~mc_pipelines.mailchimp.redact.redact_text`).
``endpoint`` is ``"<METHOD> <path template>"``, e.g.
``"POST /lists/{list_id}/segments/{segment_id}"`` — never a URL with ids or a key.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .redact import redact_text

__all__ = [
    "ACCOUNT_LEVEL_ERRORS",
    "AccountDisabled",
    "AudienceNotFound",
    "BadRequest",
    "Forbidden",
    "ForgottenEmail",
    "InvalidApiKey",
    "InvalidApiKeyFormat",
    "InvalidResource",
    "MailchimpError",
    "MemberExists",
    "MemberInComplianceState",
    "MethodNotAllowed",
    "RateLimited",
    "ResourceNotFound",
    "ServerError",
    "TransportError",
    "WrongDatacenter",
    "error_from_response",
]


class InvalidApiKeyFormat(ValueError):
    """A Mailchimp API key that is malformed before it is ever sent (see ``keys.parse_api_key``)."""


class MailchimpError(Exception):
    """Base of every error the Mailchimp client raises.

    Attributes: ``status`` (HTTP status or None), ``title``, ``detail`` (Mailchimp's
    text), ``field_errors`` (list of ``{"field", "message"}``), ``endpoint``
    (``"<METHOD> <path template>"``), ``instance`` (Mailchimp's request id),
    ``context`` (ids the client knew: ``list_id``, ``email``, ``segment_id``…),
    ``attempts`` (HTTP attempts made) and ``ambiguous`` (True when an earlier
    attempt may have reached Mailchimp before the connection failed).
    """

    #: What to do about it; appended to the message.
    hint: str = ""

    def __init__(
        self,
        message: str | None = None,
        *,
        status: int | None = None,
        title: str | None = None,
        detail: str | None = None,
        field_errors: list[dict[str, str]] | None = None,
        endpoint: str | None = None,
        instance: str | None = None,
        context: Mapping[str, Any] | None = None,
    ) -> None:
        self.status = status
        self.title = title
        self.detail = redact_text(detail) if detail else detail
        self.field_errors = list(field_errors or [])
        self.endpoint = endpoint
        self.instance = instance
        self.context = {k: v for k, v in (context or {}).items() if v is not None}
        self.attempts = 1
        self.ambiguous = False
        self.message = redact_text(message if message is not None else self._compose())
        super().__init__(self.message)

    def _subject(self) -> str:
        return ""

    def _compose(self) -> str:
        text = f"Mailchimp {self.endpoint} failed" if self.endpoint else "Mailchimp request failed"
        if self.status is not None or self.title:
            text += f" ({' '.join(str(p) for p in (self.status, self.title) if p)})"
        subject = self._subject()
        if subject:
            text += f": {subject}"
        if self.detail:
            text += f". {self.detail.rstrip('.')}"
        if self.field_errors:
            text += ". Fields: " + "; ".join(
                f"{fe.get('field') or '(body)'}: {fe.get('message', '')}"
                for fe in self.field_errors
            )
        if self.hint:
            text += ". " + self.hint.format_map(_SafeFormat(self.context))
        return text

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"

    def __reduce__(self):  # keep pickling (e.g. across processes) working with keyword fields
        return (_rebuild, (type(self), self.message, self.__dict__.copy()))


def _rebuild(cls: type[MailchimpError], message: str, state: dict[str, Any]) -> MailchimpError:
    err = cls.__new__(cls)
    Exception.__init__(err, message)
    err.__dict__.update(state)
    return err


class _SafeFormat(dict):
    """``str.format_map`` helper: unknown placeholders render as a neutral phrase."""

    _DEFAULTS = {
        "list_id": "this audience",
        "email": "this contact",
        "segment_id": "this segment",
        "campaign_id": "this campaign",
        "key": "the API key",
        "dc": "its data centre",
    }

    def __missing__(self, key: str) -> str:
        return self._DEFAULTS.get(key, key)

    def __getitem__(self, key: str) -> str:
        if key in self and dict.__getitem__(self, key) not in (None, ""):
            value = dict.__getitem__(self, key)
            return f"'{value}'" if key in ("list_id", "segment_id", "campaign_id") else str(value)
        return self.__missing__(key)


class InvalidApiKey(MailchimpError):
    hint = (
        "Mailchimp rejected {key}: it may have been revoked or mistyped, or its '-<dc>' suffix "
        "names the wrong data centre. Create or copy a valid key in Mailchimp (Profile \u2192 Extras "
        "\u2192 API keys) and store it again for this organisation"
    )


class WrongDatacenter(InvalidApiKey):
    hint = (
        "{key} belongs to data centre {dc} but the request went to another one. Use the whole key "
        "as Mailchimp shows it (the part after the last '-' selects the data centre) and keep "
        "'{{dc}}' in MC_MAILCHIMP_BASE_URL / base_url_template so the key's data centre is used"
    )


class AccountDisabled(MailchimpError):
    hint = (
        "The Mailchimp account behind {key} is disabled or deactivated; the account owner must "
        "reactivate it in Mailchimp (or contact Mailchimp support) before syncing can resume"
    )


class Forbidden(MailchimpError):
    hint = "{key} is not permitted to do this; check the key's user role and the account's plan"


class ResourceNotFound(MailchimpError):
    hint = "Check the ids used; the resource may have been deleted in Mailchimp"

    def _subject(self) -> str:
        ids = ", ".join(f"{k} {v}" for k, v in self.context.items() if k not in ("key", "dc"))
        return f"not found: {ids}" if ids else ""


class AudienceNotFound(ResourceNotFound):
    hint = (
        "Audience {list_id} does not exist in the Mailchimp account of {key}: check the audience id "
        "configured for this organisation (Mailchimp \u2192 Audience \u2192 Settings \u2192 Audience "
        "name and defaults \u2192 Audience ID) and that the key belongs to the account owning it"
    )

    def _subject(self) -> str:
        list_id = self.context.get("list_id")
        return f"audience '{list_id}' not found" if list_id else "audience not found"


class BadRequest(MailchimpError):
    hint = "Mailchimp refused the request as sent; fix the request data"


class MemberExists(BadRequest):
    hint = (
        "{email} is already on audience {list_id}; update it with PUT (upsert by subscriber hash) "
        "or a batch subscribe with update_existing=true instead of adding it again"
    )


class MemberInComplianceState(BadRequest):
    hint = (
        "{email} unsubscribed, bounced or is under compliance review, so the API may not subscribe "
        "it again. Record it and do not retry; only the contact can re-subscribe (a signup form, or "
        "status 'pending' to send a double opt-in email)"
    )


class ForgottenEmail(BadRequest):
    hint = (
        "{email} was permanently deleted from audience {list_id} and cannot be re-imported; record "
        "it and do not retry. The contact must re-subscribe through a Mailchimp signup form"
    )


class InvalidResource(BadRequest):
    hint = (
        "Fix the data named above (email address, merge field values, status) and send it again; "
        "required merge fields can be skipped with skip_merge_validation"
    )


class MethodNotAllowed(MailchimpError):
    hint = (
        "This operation is not allowed for the resource in its current state (e.g. archiving a "
        "member that is already archived, cleaned or pending); record it rather than retrying"
    )


class RateLimited(MailchimpError):
    hint = (
        "Too many simultaneous requests for {key} (Mailchimp allows 10 per key); lower the "
        "client's max_connections or run fewer syncs for this account at once"
    )

    def __init__(
        self, message: str | None = None, *, retry_after: float | None = None, **kw: Any
    ) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kw)


class ServerError(MailchimpError):
    hint = (
        "Mailchimp had an internal error and retries did not help; try again later and check "
        "https://status.mailchimp.com if it persists"
    )


class TransportError(MailchimpError):
    """The request never got an answer (connection refused or dropped, timeout) after retries."""

    hint = (
        "No answer from Mailchimp: check network access to the API (and MC_MAILCHIMP_BASE_URL if "
        "set), then run again; every write the sync sends is safe to repeat"
    )


#: Errors that concern the whole account/audience: bulk operations raise these
#: instead of turning them into per-row errors.
ACCOUNT_LEVEL_ERRORS: tuple[type[MailchimpError], ...] = (
    InvalidApiKey,
    AccountDisabled,
    AudienceNotFound,
    Forbidden,
)

_TITLE_MAP: dict[str, type[MailchimpError]] = {
    "api key missing": InvalidApiKey,
    "api key invalid": InvalidApiKey,
    "invalid api key": InvalidApiKey,
    "wrong datacenter": WrongDatacenter,
    "wrong data center": WrongDatacenter,
    "wrongdatacenter": WrongDatacenter,
    "user disabled": AccountDisabled,
    "account disabled": AccountDisabled,
    "member exists": MemberExists,
    "member in compliance state": MemberInComplianceState,
    "forgotten email not subscribed": ForgottenEmail,
    "invalid resource": InvalidResource,
    "method not allowed": MethodNotAllowed,
    "too many requests": RateLimited,
    "resource not found": ResourceNotFound,
}

# "/lists/{list_id}" itself and its direct collections: a 404 there means the audience is missing.
_AUDIENCE_SCOPED = re.compile(r"^(?:[A-Z]+ )?/lists/\{list_id\}(?:/[a-z\-]+)?$")


def _field_errors(body: Mapping[str, Any]) -> list[dict[str, str]]:
    out = []
    for item in body.get("errors") or []:
        if isinstance(item, Mapping):
            out.append(
                {"field": str(item.get("field") or ""), "message": str(item.get("message") or "")}
            )
    return out


def error_from_response(
    status: int,
    body: Any,
    endpoint: str | None,
    *,
    context: Mapping[str, Any] | None = None,
    retry_after: float | None = None,
) -> MailchimpError:
    """Build the typed error for a non-2xx Mailchimp response.

    ``body`` is the parsed problem+json (a dict) or the raw text of a non-JSON
    answer (e.g. an HTML 503 page).  ``endpoint`` is ``"<METHOD> <path template>"``.
    ``context`` carries ids for the message (``list_id``, ``email``, ``segment_id``,
    ``key`` — a redacted key label — and ``dc``).
    """
    if isinstance(body, Mapping):
        title = str(body.get("title") or "")
        detail = str(body.get("detail") or "")
        instance = body.get("instance")
        field_errors = _field_errors(body)
    else:
        title = ""
        text = " ".join(str(body or "").split())
        detail = (text[:200] + "\u2026") if len(text) > 200 else text
        instance = None
        field_errors = []
    low_title = title.strip().lower()
    low_detail = detail.lower()
    cls: type[MailchimpError] | None = _TITLE_MAP.get(low_title)
    if status == 401:
        if "datacenter" in low_detail.replace(" ", "") and "different" in low_detail:
            cls = WrongDatacenter
        elif cls is None or not issubclass(cls, InvalidApiKey):
            cls = InvalidApiKey
    elif status == 403:
        if cls is None or cls not in (AccountDisabled, WrongDatacenter):
            if "disabled" in low_detail or "deactivated" in low_detail:
                cls = AccountDisabled
            elif "data center" in low_detail or "datacenter" in low_detail:
                cls = WrongDatacenter
            else:
                cls = Forbidden
    elif status == 404:
        endpoint_template = endpoint or ""
        cls = AudienceNotFound if _AUDIENCE_SCOPED.match(endpoint_template) else ResourceNotFound
    elif status == 405:
        cls = MethodNotAllowed
    elif status == 429:
        cls = RateLimited
    elif status >= 500:
        cls = ServerError
    elif status == 400:
        if cls is None or not issubclass(cls, BadRequest):
            if "compliance state" in low_detail:
                cls = MemberInComplianceState
            elif "permanently deleted" in low_detail:
                cls = ForgottenEmail
            elif "already a list member" in low_detail:
                cls = MemberExists
            else:
                cls = InvalidResource if field_errors else BadRequest
    else:
        cls = BadRequest if 400 <= status < 500 else MailchimpError
    kwargs: dict[str, Any] = {
        "status": status,
        "title": title or None,
        "detail": detail or None,
        "field_errors": field_errors,
        "endpoint": endpoint,
        "instance": instance,
        "context": context,
    }
    if cls is RateLimited:
        return RateLimited(retry_after=retry_after, **kwargs)
    return cls(**kwargs)
