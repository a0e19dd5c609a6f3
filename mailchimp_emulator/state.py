"""In-memory state of the Mailchimp emulator and Mailchimp's rules.

Everything here is synchronous: the emulator runs one asyncio event loop and every request
handler mutates state without awaiting in between, so each API call is atomic with respect to
the others (this is how the state is "guarded" for concurrent requests).

Sizing: a member is one ``__slots__`` object holding its email, status, a tuple of merge-field
values aligned with the audience's merge fields and a small tuple of tag ids (a few hundred bytes
per member), indexed by subscriber hash.  ``since_last_changed`` queries use a per-audience
append-only change log that is sorted by construction (the emulator clock never goes
backwards), so they bisect instead of scanning and sorting; materialized query results are
cached per audience version so paging through a million members is linear overall.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import secrets
import time
import uuid
from array import array
from bisect import bisect_left
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from functools import lru_cache
from json.encoder import encode_basestring as _q
from typing import Any, NamedTuple

from .faults import Stats

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


# --------------------------------------------------------------------------------------------
# Clock and timestamps
# --------------------------------------------------------------------------------------------


class Clock:
    """Whole-second UTC clock that never goes backwards; ``advance`` shifts it for tests."""

    def __init__(self) -> None:
        self.offset = 0
        self._last = 0

    def now(self) -> int:
        """Current emulator time, epoch seconds."""
        t = int(time.time()) + self.offset
        if t < self._last:
            return self._last
        self._last = t
        return t

    def advance(self, seconds: int) -> int:
        """Move the clock forward by ``seconds``; returns the new time."""
        self.offset += max(0, int(seconds))
        return self.now()


@lru_cache(maxsize=8192)
def iso(ts: int) -> str:
    """Epoch seconds → ``2021-11-23T22:51:56+00:00`` (Mailchimp's format)."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def iso_or_empty(ts: int | None) -> str:
    """ISO text, or ``""`` for unset (Mailchimp uses empty strings, never null)."""
    return iso(ts) if ts else ""


def parse_time(value: str, field: str) -> float:
    """Parse an ISO 8601 timestamp (``Z``, offsets, fractions, date-only) → epoch seconds."""
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise invalid_field(field, f"{value!r} is not a valid ISO 8601 date-time") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


# --------------------------------------------------------------------------------------------
# Email validation
# --------------------------------------------------------------------------------------------

_LOCAL_CHARS = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_EMAIL_RE = re.compile(
    rf"^{_LOCAL_CHARS}(?:\.{_LOCAL_CHARS})*@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{{0,61}}[A-Za-z0-9])?\.)+"
    r"[A-Za-z]{2,63}$"
)
FAKE_DOMAINS = frozenset(
    {
        "example.com", "example.org", "example.net", "example.edu",
        "test.com", "test.org", "test.net", "testing.com",
        "mailinator.com", "yopmail.com", "guerrillamail.com", "10minutemail.com",
        "email.com", "domain.com", "fake.com", "nowhere.com", "none.com",
    }
)  # fmt: skip
FAKE_TLDS = frozenset({"test", "example", "invalid", "localhost", "local"})
FAKE_LOCAL_PARTS = frozenset(
    {
        "test", "testing", "tester", "asdf", "asdfasdf", "qwerty", "fake", "noemail",
        "no-email", "none", "null", "nobody", "john.doe", "jane.doe", "johndoe", "janedoe",
        "abc", "xxx", "foo", "foobar",
    }
)  # fmt: skip
FAKE_ADDRESSES = frozenset({"alex@gmail.com"})


def email_problem(email: str) -> str | None:
    """``None`` if Mailchimp would accept ``email``, else the error text it returns."""
    if (
        not email
        or len(email) > 254
        or not email.isascii()
        or email.count("@") != 1
        or not _EMAIL_RE.match(email)
        or len(email.partition("@")[0]) > 64
    ):
        return DETAIL_BAD_EMAIL
    lower = email.lower()
    local, _, domain = lower.partition("@")
    if (
        lower in FAKE_ADDRESSES
        or domain in FAKE_DOMAINS
        or domain.rsplit(".", 1)[-1] in FAKE_TLDS
        or domain.startswith("example.")
        or local in FAKE_LOCAL_PARTS
    ):
        return detail_fake(email)
    return None


def subscriber_hash(email: str) -> str:
    """md5 of the lower-cased email, as Mailchimp computes it."""
    return hashlib.md5(email.lower().encode("utf-8")).hexdigest()


_HEX32 = re.compile(r"^[0-9a-fA-F]{32}$")


def hash_from_path(segment: str) -> str | None:
    """A member path segment may be the subscriber hash or the email address itself."""
    if "@" in segment:
        return subscriber_hash(segment)
    if _HEX32.match(segment):
        return segment.lower()
    return None


# --------------------------------------------------------------------------------------------
# Model
# --------------------------------------------------------------------------------------------


class Member:
    """One audience member.  ``mf`` holds merge values aligned with the audience's merge-field
    order (shorter tuples mean trailing empties); ``tags`` holds static-segment ids;
    ``compliance`` is why the member may not be re-subscribed (``unsubscribe``, ``cleaned``,
    ``review``) or ``None``; ``extra`` holds rarely set fields."""

    __slots__ = ("changed", "compliance", "email", "extra", "h", "mf", "opt", "status", "tags")

    def __init__(self, h: str, email: str, status: str, mf: tuple, now: int) -> None:
        self.h = h
        self.email = email
        self.status = status
        self.mf = mf
        self.tags: tuple[int, ...] = ()
        self.changed = now
        self.opt = now if status == "subscribed" else 0
        self.compliance: str | None = None
        self.extra: dict[str, Any] | None = None

    def get_extra(self, key: str, default: Any = "") -> Any:
        """A rarely set field (``unsubscribe_reason``, ``language``, ``vip`` …)."""
        return self.extra.get(key, default) if self.extra else default

    def set_extra(self, key: str, value: Any) -> None:
        """Set or clear (``None``) a rarely set field."""
        if value is None:
            if self.extra:
                self.extra.pop(key, None)
            return
        if self.extra is None:
            self.extra = {}
        self.extra[key] = value


class Segment:
    """A segment; tags are static segments.  ``members`` maps subscriber hash → time added."""

    __slots__ = ("created", "id", "members", "name", "options", "type", "updated")

    def __init__(self, seg_id: int, name: str, seg_type: str, now: int, options: Any = None):
        self.id = seg_id
        self.name = name
        self.type = seg_type
        self.members: dict[str, int] = {}
        self.created = now
        self.updated = now
        self.options = options


DEFAULT_MERGE_FIELDS = (
    ("FNAME", "First Name", "text", {"size": 25}, True),
    ("LNAME", "Last Name", "text", {"size": 25}, True),
    ("ADDRESS", "Address", "address", {"default_country": 164}, False),
    ("PHONE", "Phone Number", "phone", {"phone_format": "none"}, False),
    ("BIRTHDAY", "Birthday", "birthday", {"date_format": "MM/DD"}, False),
)
MERGE_TYPES = (
    "text", "number", "address", "phone", "date", "url", "imageurl", "radio", "dropdown",
    "birthday", "zip",
)  # fmt: skip
_TAG_RE = re.compile(r"^[A-Z0-9_]{1,10}$")


class AudienceList:
    """An audience with its members, segments, merge fields and webhooks."""

    def __init__(self, list_id: str, settings: dict[str, Any], now: int) -> None:
        self.id = list_id
        self.web_id = secrets.randbelow(900_000) + 100_000
        self.settings = settings
        self.created = now
        self.members: dict[str, Member] = {}
        self.forgotten: set[str] = set()
        self.merge_fields: list[dict[str, Any]] = []
        self.mf_index: dict[str, int] = {}
        self.mf_types: list[str] = []
        self.mf_keys_json: list[str] = []
        self.next_merge_id = 1
        for tag, name, ftype, options, public in DEFAULT_MERGE_FIELDS:
            self.add_merge_field(
                {"tag": tag, "name": name, "type": ftype, "options": options, "public": public}
            )
        self.segments: dict[int, Segment] = {}
        self.seg_by_name: dict[str, Segment] = {}
        self.webhooks: dict[str, dict[str, Any]] = {}
        self.counts: dict[str, int] = dict.fromkeys(ALL_STATUSES, 0)
        self.last_sub = 0
        self.last_unsub = 0
        # change log: (member, last_changed) appended on every change; valid iff ts == m.changed
        self.log_m: list[Member] = []
        self.log_ts = array("q")
        self.log_dirty = False
        self.version = 0
        self.qcache: OrderedDict[tuple, tuple[int, list[Member]]] = OrderedDict()

    # ---- merge fields --------------------------------------------------------------------
    def add_merge_field(self, body: dict[str, Any]) -> dict[str, Any]:
        """Append a merge field (validated by the caller)."""
        merge_id = self.next_merge_id
        self.next_merge_id += 1
        ftype = body["type"]
        options = dict(body.get("options") or {})
        if ftype == "date":
            options.setdefault("date_format", "MM/DD/YYYY")
        field = {
            "merge_id": merge_id,
            "tag": body["tag"],
            "name": body["name"],
            "type": ftype,
            "required": bool(body.get("required", False)),
            "default_value": str(body.get("default_value", "") or ""),
            "public": bool(body.get("public", False)),
            "display_order": merge_id + 1,
            "options": options,
            "help_text": str(body.get("help_text", "") or ""),
            "list_id": self.id,
        }
        self.mf_index[field["tag"]] = len(self.merge_fields)
        self.merge_fields.append(field)
        self.mf_types.append(ftype)
        self.mf_keys_json.append(_q(field["tag"]) + ":")
        return field

    # ---- bookkeeping -----------------------------------------------------------------------
    def touch(self, m: Member, now: int) -> None:
        """Record that ``m`` changed now (bumps ``last_changed`` and the change log)."""
        self.version += 1
        if m.changed != now:
            m.changed = now
            self.log_m.append(m)
            self.log_ts.append(now)

    def set_status(self, m: Member, status: str, now: int) -> None:
        """Change a member's status keeping the per-status counters right."""
        self.counts[m.status] -= 1
        self.counts[status] += 1
        m.status = status
        if status == "subscribed":
            m.opt = now
            self.last_sub = now
        elif status == "unsubscribed":
            self.last_unsub = now

    def insert(self, m: Member) -> None:
        """Add a new member object to the indexes."""
        self.members[m.h] = m
        self.counts[m.status] += 1
        if m.status == "subscribed":
            self.last_sub = m.changed
        self.version += 1
        if self.log_ts and self.log_ts[-1] > m.changed:
            self.log_dirty = True
        self.log_m.append(m)
        self.log_ts.append(m.changed)

    def remove(self, m: Member) -> None:
        """Drop a member from every index (permanent delete)."""
        del self.members[m.h]
        self.counts[m.status] -= 1
        for sid in m.tags:
            seg = self.segments.get(sid)
            if seg is not None:
                seg.members.pop(m.h, None)
        m.changed = -1  # invalidates its change-log entries
        self.version += 1

    def rekey(self, m: Member, new_email: str, new_h: str, now: int) -> None:
        """Change a member's email address (its subscriber hash changes with it)."""
        del self.members[m.h]
        for sid in m.tags:
            seg = self.segments.get(sid)
            if seg is not None:
                added = seg.members.pop(m.h, now)
                seg.members[new_h] = added
        m.h = new_h
        m.email = new_email
        self.members[new_h] = m
        self.touch(m, now)

    def ensure_log(self) -> None:
        """Rebuild the change log when it holds too many stale entries or lost its order."""
        live = len(self.members)
        if not self.log_dirty and len(self.log_m) <= 2 * live + 1024:
            return
        ms = sorted(self.members.values(), key=_changed_key)
        self.log_m = ms
        self.log_ts = array("q", (m.changed for m in ms))
        self.log_dirty = False

    # ---- tags ------------------------------------------------------------------------------
    def tag_segment(self, name: str, now: int, ids: Callable[[], int]) -> Segment:
        """The static segment (tag) named ``name`` (case-insensitive), created if missing."""
        seg = self.seg_by_name.get(name.lower())
        if seg is None:
            seg = Segment(ids(), name, "static", now)
            self.segments[seg.id] = seg
            self.seg_by_name[name.lower()] = seg
        return seg

    def add_tag(self, m: Member, seg: Segment, now: int) -> bool:
        """Put ``m`` in static segment ``seg``; ``False`` if it already was."""
        if m.h in seg.members:
            return False
        seg.members[m.h] = now
        seg.updated = now
        m.tags = (*m.tags, seg.id)
        self.version += 1
        return True

    def remove_tag(self, m: Member, seg: Segment, now: int) -> bool:
        """Take ``m`` out of static segment ``seg``; ``False`` if it was not in it."""
        if seg.members.pop(m.h, None) is None:
            return False
        seg.updated = now
        m.tags = tuple(t for t in m.tags if t != seg.id)
        self.version += 1
        return True

    # ---- queries ---------------------------------------------------------------------------
    def query(self, key: tuple, build: Callable[[], list[Member]]) -> list[Member]:
        """Materialized member query cached by audience version (pages reuse one result)."""
        hit = self.qcache.get(key)
        if hit is not None and hit[0] == self.version:
            self.qcache.move_to_end(key)
            return hit[1]
        result = build()
        self.qcache[key] = (self.version, result)
        self.qcache.move_to_end(key)
        while len(self.qcache) > 8:
            self.qcache.popitem(last=False)
        return result

    def changed_between(self, since: float | None, before: float | None) -> list[Member]:
        """Live members ordered by ``last_changed`` ASC with ``since <= ts < before``."""
        self.ensure_log()
        ts = self.log_ts
        lo = bisect_left(ts, int(since)) if since is not None else 0
        hi = len(ts)
        if before is not None:
            hi = bisect_left(ts, int(before) + (0 if before == int(before) else 1))
        return [m for m, t in zip(self.log_m[lo:hi], ts[lo:hi], strict=True) if t == m.changed]


def _changed_key(m: Member) -> int:
    return m.changed


class Account:
    """A Mailchimp account (one API key) and everything it owns."""

    def __init__(self, key: str, dc: str, name: str, now: int) -> None:
        self.key = key
        self.dc = dc
        self.name = name
        self.account_id = secrets.token_hex(12) + "a"
        self.user_id = secrets.randbelow(90_000_000) + 10_000_000
        self.created = now
        self.disabled = False
        self.lists: dict[str, AudienceList] = {}
        self.campaigns: dict[str, dict[str, Any]] = {}
        self.batches: dict[str, Any] = {}
        self.in_flight = 0
        self.stats = Stats()


def new_id(existing: Mapping[str, Any]) -> str:
    """A fresh 10-hex id, like Mailchimp's list/campaign/batch ids."""
    while True:
        value = secrets.token_hex(5)
        if value not in existing:
            return value


def valid_dc(dc: str) -> bool:
    """Mailchimp data centres look like ``us1`` … ``us21``, ``eu1``."""
    return bool(re.fullmatch(r"[a-z]{2}\d{1,3}", dc))


class EmulatorState:
    """All accounts.  Created once per emulator process; ``reset`` empties it."""

    def __init__(self) -> None:
        self.clock = Clock()
        self.accounts: dict[str, Account] = {}  # API key -> account
        self.tokens: dict[str, Account] = {}  # key and key body (OAuth-style token) -> account
        self._segment_ids = itertools.count(13_506_100)
        self.preset_keys: list[str] = []

    def next_segment_id(self) -> int:
        """Segment/tag ids are integers like Mailchimp's (``13506128``)."""
        return next(self._segment_ids)

    def create_account(
        self, name: str = "Test", dc: str = "us1", key: str | None = None
    ) -> Account:
        """Register an account; a key is generated unless given (``<32 hex>-<dc>``)."""
        if key is None:
            key = f"{secrets.token_hex(16)}-{dc}"
        else:
            dc = key.rpartition("-")[2]
        acct = Account(key, dc, name, self.clock.now())
        self.accounts[key] = acct
        self.tokens[key] = acct
        self.tokens[key.rpartition("-")[0]] = acct
        return acct

    def revoke(self, acct: Account) -> None:
        """Make the account's key (and token) stop working."""
        self.accounts.pop(acct.key, None)
        self.tokens.pop(acct.key, None)
        self.tokens.pop(acct.key.rpartition("-")[0], None)

    def reset(self) -> None:
        """Forget everything except the pre-registered (``--api-key``) accounts, re-created empty."""
        self.accounts.clear()
        self.tokens.clear()
        for key in self.preset_keys:
            self.create_account("Emulator", key=key)


# --------------------------------------------------------------------------------------------
# Merge-field validation
# --------------------------------------------------------------------------------------------

_NUMBER_RE = re.compile(r"^-?\d+(\.\d+)?$")
_BIRTHDAY_RE = re.compile(r"^(\d{1,2})/(\d{1,2})$")
_DATE_FORMATS = ("%Y-%m-%d", "%m/%d/%Y", "%d/%m/%Y", "%Y/%m/%d")
_ADDRESS_REQUIRED = ("addr1", "city", "state", "zip")


class MergeError(Exception):
    """Merge-field problems: ``errors`` as Mailchimp lists them; ``schema`` means the value's
    JSON type was wrong (whole-document "Invalid Resource"), else "Your merge fields were
    invalid."."""

    def __init__(self, errors: list[dict[str, str]], schema: bool = False) -> None:
        super().__init__(errors)
        self.errors = errors
        self.schema = schema

    def api_error(self) -> ApiError:
        """As a 400 Invalid Resource."""
        return invalid(
            self.errors, DETAIL_INVALID_RESOURCE if self.schema else DETAIL_MERGE_INVALID
        )


def _check_value(field: dict[str, Any], value: Any) -> tuple[Any, str | None]:
    """Normalize one merge value; returns (value, error message or None)."""
    ftype = field["type"]
    if value == "" or value is None:
        return "", None
    if ftype == "address":
        if isinstance(value, str):
            parts = [p.strip() for p in value.split("  ")]
            if len(parts) < 4 or not all(parts[:4]):
                return value, "Please enter a complete address"
            keys = ("addr1", "addr2", "city", "state", "zip", "country")
            if len(parts) == 4:
                parts.insert(1, "")
            value = dict(zip(keys, parts, strict=False))
        if not isinstance(value, dict):
            return value, "schema"
        if not all(
            isinstance(value.get(k), str) and value.get(k).strip() for k in _ADDRESS_REQUIRED
        ):
            return value, "Please enter a complete address"
        return {
            "addr1": value["addr1"],
            "addr2": str(value.get("addr2", "") or ""),
            "city": value["city"],
            "state": value["state"],
            "zip": value["zip"],
            "country": str(value.get("country", "") or "US"),
        }, None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return value, "schema"
    if ftype == "number":
        if isinstance(value, int | float):
            return value, None
        text = value.strip()
        if not _NUMBER_RE.match(text):
            return value, "Please enter a number"
        return (float(text) if "." in text else int(text)), None
    text = value if isinstance(value, str) else str(value)
    if ftype == "text":
        if len(text) > MAX_TEXT:
            return text, f"Please enter a value no longer than {MAX_TEXT} characters"
        return text, None
    if ftype == "birthday":
        m = _BIRTHDAY_RE.match(text)
        if not m or not (1 <= int(m.group(1)) <= 12 and 1 <= int(m.group(2)) <= 31):
            return text, "Please enter a valid birthday (MM/DD)"
        return f"{int(m.group(1)):02d}/{int(m.group(2)):02d}", None
    if ftype == "date":
        for fmt in _DATE_FORMATS:
            try:
                return datetime.strptime(text, fmt).date().isoformat(), None
            except ValueError:
                continue
        return text, "Please enter a valid date"
    if ftype in ("dropdown", "radio"):
        choices = field["options"].get("choices") or []
        if text not in choices:
            return text, "Please choose one of the listed options"
        return text, None
    if ftype in ("url", "imageurl", "phone", "zip") and len(text) > MAX_TEXT:
        return text, f"Please enter a value no longer than {MAX_TEXT} characters"
    return text, None


def merge_values(
    lst: AudienceList,
    incoming: Any,
    current: tuple | None,
    skip_required: bool,
) -> tuple:
    """Validate ``incoming`` merge fields against the audience and merge them over ``current``
    (``None`` for a new member, which also receives default values).  Unknown tags are ignored.
    Raises :class:`MergeError`."""
    if incoming is None:
        incoming = {}
    if not isinstance(incoming, dict):
        raise MergeError(
            [
                {
                    "field": "merge_fields",
                    "message": f"Schema describes object, {_json_type(incoming)} found instead",
                }
            ],
            schema=True,
        )
    fields = lst.merge_fields
    if current is None:
        values = [f["default_value"] for f in fields]
    else:
        values = list(current) + [""] * (len(fields) - len(current))
    errors: list[dict[str, str]] = []
    schema = False
    index = lst.mf_index
    types = lst.mf_types
    for tag, raw in incoming.items():
        pos = index.get(tag)
        if pos is None:
            pos = index.get(tag.upper())
            if pos is None:
                continue
        if type(raw) is str and types[pos] == "text" and len(raw) <= MAX_TEXT:
            values[pos] = raw  # the common case, without the general checks
            continue
        value, err = _check_value(fields[pos], raw)
        if err == "schema":
            schema = True
            errors.append(
                {
                    "field": f"merge_fields.{fields[pos]['tag']}",
                    "message": "Data did not match any of the schemas described in anyOf.",
                }
            )
        elif err:
            errors.append({"field": fields[pos]["tag"], "message": err})
        else:
            values[pos] = value
    if not errors and not skip_required:
        for pos, f in enumerate(fields):
            if f["required"] and values[pos] == "":
                errors.append({"field": f["tag"], "message": "Please enter a value"})
    if errors:
        raise MergeError(errors, schema=schema)
    while values and values[-1] == "":
        values.pop()
    return tuple(values)


def merge_dict(lst: AudienceList, mf: tuple) -> dict[str, Any]:
    """Merge values as Mailchimp returns them: every audience field, ``""`` when empty."""
    fields = lst.merge_fields
    n = len(mf)
    return {f["tag"]: (mf[i] if i < n else "") for i, f in enumerate(fields)}


# --------------------------------------------------------------------------------------------
# Status rules
# --------------------------------------------------------------------------------------------


def check_status_change(m: Member, target: str, email: str | None = None) -> None:
    """Raise 400 Member In Compliance State if Mailchimp refuses moving ``m`` to ``target``.

    Self-unsubscribed members may go to ``pending`` (double opt-in) but not ``subscribed``;
    cleaned and compliance-review members may go neither to ``subscribed`` nor ``pending``."""
    if target == m.status:
        return
    blocked = m.compliance or ("cleaned" if m.status == "cleaned" else None)
    if blocked is None:
        return
    if target == "subscribed" or (
        target in ("pending", "transactional") and blocked != "unsubscribe"
    ):
        raise ApiError(
            400, "Member In Compliance State", detail_compliance(email or m.email), with_type=False
        )


def apply_status(lst: AudienceList, m: Member, target: str, now: int) -> bool:
    """Move ``m`` to ``target`` through the API (call :func:`check_status_change` first).

    API/admin unsubscribes are re-subscribable; a cleaned member sent ``unsubscribed`` stays
    cleaned.  Returns whether anything changed."""
    if target == m.status or (m.status == "cleaned" and target == "unsubscribed"):
        return False
    if target == "unsubscribed":
        if m.compliance is None or m.get_extra("unsubscribe_reason") == "":
            m.set_extra("unsubscribe_reason", UNSUB_ADMIN)
    elif target == "cleaned":
        m.compliance = "cleaned"
    else:
        m.set_extra("unsubscribe_reason", None)
    lst.set_status(m, target, now)
    return True


def member_event(lst: AudienceList, m: Member, kind: str, now: int) -> None:
    """A Mailchimp-side event (admin route): what a contact or Mailchimp does, not the API."""
    if kind == "unsubscribe":
        m.compliance = "unsubscribe"
        m.set_extra("unsubscribe_reason", UNSUB_SELF)
        lst.set_status(m, "unsubscribed", now)
    elif kind == "admin_unsubscribe":
        m.set_extra("unsubscribe_reason", UNSUB_ADMIN)
        lst.set_status(m, "unsubscribed", now)
    elif kind == "cleaned":
        m.compliance = "cleaned"
        m.set_extra("unsubscribe_reason", None)
        lst.set_status(m, "cleaned", now)
    elif kind == "compliance_review":
        m.compliance = "review"
        m.set_extra("unsubscribe_reason", UNSUB_REVIEW)
        lst.set_status(m, "unsubscribed", now)
    elif kind in ("confirm", "subscribe"):
        if kind == "confirm" and m.status != "pending":
            raise invalid_field("type", "confirm applies to pending members only")
        m.compliance = None
        m.set_extra("unsubscribe_reason", None)
        lst.set_status(m, "subscribed", now)
    else:
        raise enum_error("type", MEMBER_EVENTS)
    lst.touch(m, now)


# --------------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------------

_EMPTY_LOCATION = {
    "latitude": 0, "longitude": 0, "gmtoff": 0, "dstoff": 0, "country_code": "", "timezone": "",
    "region": "",
}  # fmt: skip
_STATS = {"avg_open_rate": 0, "avg_click_rate": 0}


def render_member(lst: AudienceList, m: Member) -> dict[str, Any]:
    """The member object (Mailchimp's shape, without per-member ``_links``)."""
    h = m.h
    mf = merge_dict(lst, m.mf)
    segs = lst.segments
    tags = [{"id": sid, "name": segs[sid].name} for sid in m.tags if sid in segs]
    extra = m.extra or {}
    fname = mf.get("FNAME", "")
    lname = mf.get("LNAME", "")
    out = {
        "id": h,
        "email_address": m.email,
        "unique_email_id": h[7:17],
        "contact_id": h[::-1],
        "full_name": f"{fname} {lname}".strip()
        if isinstance(fname, str) and isinstance(lname, str)
        else "",
        "web_id": int(h[:7], 16),
        "email_type": extra.get("email_type", "html"),
        "status": m.status,
        "consents_to_one_to_one_messaging": True,
        "merge_fields": mf,
        "stats": _STATS,
        "ip_signup": extra.get("ip_signup", ""),
        "timestamp_signup": extra.get("timestamp_signup", ""),
        "ip_opt": extra.get("ip_opt", ""),
        "timestamp_opt": extra.get("timestamp_opt") or iso_or_empty(m.opt),
        "member_rating": 2,
        "last_changed": iso(m.changed),
        "language": extra.get("language", ""),
        "vip": extra.get("vip", False),
        "email_client": "",
        "location": extra.get("location") or _EMPTY_LOCATION,
        "source": extra.get("source", "API - Generic"),
        "tags_count": len(tags),
        "tags": tags,
        "list_id": lst.id,
    }
    if m.status == "unsubscribed" or "unsubscribe_reason" in extra:
        out["unsubscribe_reason"] = extra.get("unsubscribe_reason", "")
    return out


def _jv(value: Any) -> str:
    """JSON text of a merge value (str, int, float or an address object)."""
    t = type(value)
    if t is str:
        return _q(value)
    if t is int or t is float:
        return repr(value)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


_LOCATION_JSON = json.dumps(_EMPTY_LOCATION, separators=(",", ":"))
_MEMBER_FMT = (
    '{"id":"%s","email_address":%s,"unique_email_id":"%s","contact_id":"%s","full_name":%s,'
    '"web_id":%d,"email_type":%s,"status":"%s","consents_to_one_to_one_messaging":true,'
    '"merge_fields":{%s},"stats":{"avg_open_rate":0,"avg_click_rate":0},"ip_signup":%s,'
    '"timestamp_signup":%s,"ip_opt":%s,"timestamp_opt":%s,"member_rating":2,"last_changed":"%s",'
    '"language":%s,"vip":%s,"email_client":"","location":%s,"source":%s,"tags_count":%d,'
    '"tags":[%s],"list_id":"%s"%s}'
)


def member_json(lst: AudienceList, m: Member) -> str:
    """The same document as :func:`render_member`, serialized directly (the hot path of member
    lists and bulk responses: several times faster than building and dumping dicts)."""
    h = m.h
    mf = m.mf
    n = len(mf)
    merge = ",".join([k + (_jv(mf[i]) if i < n else '""') for i, k in enumerate(lst.mf_keys_json)])
    fi = lst.mf_index.get("FNAME", n)
    li = lst.mf_index.get("LNAME", n)
    fname = mf[fi] if fi < n else ""
    lname = mf[li] if li < n else ""
    full = f"{fname} {lname}".strip() if type(fname) is str and type(lname) is str else ""
    segs = lst.segments
    tags = [(sid, segs[sid].name) for sid in m.tags if sid in segs]
    tags_json = ",".join([f'{{"id":{sid},"name":{_q(name)}}}' for sid, name in tags])
    extra = m.extra
    if extra:
        email_type = _q(extra.get("email_type", "html"))
        ip_signup = _q(extra.get("ip_signup", ""))
        ts_signup = _q(extra.get("timestamp_signup", ""))
        ip_opt = _q(extra.get("ip_opt", ""))
        ts_opt = _q(extra.get("timestamp_opt") or iso_or_empty(m.opt))
        language = _q(extra.get("language", ""))
        vip = "true" if extra.get("vip", False) else "false"
        loc = extra.get("location")
        location = json.dumps(loc, separators=(",", ":")) if loc else _LOCATION_JSON
        source = _q(extra.get("source", "API - Generic"))
        has_reason = "unsubscribe_reason" in extra
    else:
        email_type, ip_signup, ts_signup, ip_opt = '"html"', '""', '""', '""'
        ts_opt = '"' + iso(m.opt) + '"' if m.opt else '""'
        language, vip, location, source = '""', "false", _LOCATION_JSON, '"API - Generic"'
        has_reason = False
    reason = ""
    if m.status == "unsubscribed" or has_reason:
        reason = ',"unsubscribe_reason":' + _q(m.get_extra("unsubscribe_reason"))
    return _MEMBER_FMT % (
        h, _q(m.email), h[7:17], h[::-1], _q(full), int(h[:7], 16), email_type, m.status, merge,
        ip_signup, ts_signup, ip_opt, ts_opt, iso(m.changed), language, vip, location, source,
        len(tags), tags_json, lst.id, reason,
    )  # fmt: skip


def members_json(lst: AudienceList, members: Iterable[Member]) -> str:
    """A JSON array of member documents."""
    return "[" + ",".join([member_json(lst, m) for m in members]) + "]"


def render_list(lst: AudienceList) -> dict[str, Any]:
    """The audience object (SubscriberList)."""
    s = lst.settings
    counts = lst.counts
    total = sum(counts.values())
    return {
        "id": lst.id,
        "web_id": lst.web_id,
        "name": s["name"],
        "contact": s["contact"],
        "permission_reminder": s["permission_reminder"],
        "use_archive_bar": s.get("use_archive_bar", True),
        "campaign_defaults": s["campaign_defaults"],
        "notify_on_subscribe": s.get("notify_on_subscribe", ""),
        "notify_on_unsubscribe": s.get("notify_on_unsubscribe", ""),
        "date_created": iso(lst.created),
        "list_rating": 0,
        "email_type_option": s["email_type_option"],
        "subscribe_url_short": f"http://eepurl.com/{lst.id[:6]}",
        "subscribe_url_long": f"https://emulator.list-manage.com/subscribe?u=0&id={lst.id}",
        "beamer_address": f"emulator-{lst.id}@inbound.mailchimp.com",
        "visibility": s.get("visibility", "prv"),
        "double_optin": s.get("double_optin", False),
        "has_welcome": s.get("has_welcome", False),
        "marketing_permissions": s.get("marketing_permissions", False),
        "modules": [],
        "stats": {
            "member_count": counts["subscribed"],
            "total_contacts": total,
            "unsubscribe_count": counts["unsubscribed"],
            "cleaned_count": counts["cleaned"],
            "member_count_since_send": counts["subscribed"],
            "unsubscribe_count_since_send": counts["unsubscribed"],
            "cleaned_count_since_send": counts["cleaned"],
            "campaign_count": 0,
            "campaign_last_sent": "",
            "merge_field_count": len(lst.merge_fields),
            "avg_sub_rate": 0,
            "avg_unsub_rate": 0,
            "target_sub_rate": 0,
            "open_rate": 0,
            "click_rate": 0,
            "last_sub_date": iso_or_empty(lst.last_sub),
            "last_unsub_date": iso_or_empty(lst.last_unsub),
        },
        "_links": [],
    }


HIDDEN_BY_DEFAULT = frozenset({"unsubscribed", "cleaned", "transactional", "archived"})


def segment_visible(lst: AudienceList, seg: Segment, hidden: frozenset[str]) -> list[str]:
    """Hashes of the segment's members whose status is not hidden (insertion order)."""
    members = lst.members
    out = []
    for h in seg.members:
        m = members.get(h)
        if m is not None and m.status not in hidden:
            out.append(h)
    return out


def render_segment(lst: AudienceList, seg: Segment, hidden: frozenset[str]) -> dict[str, Any]:
    """The segment object; ``member_count`` excludes the hidden statuses."""
    options = seg.options if seg.type != "static" else {"match": "any", "conditions": []}
    return {
        "id": seg.id,
        "name": seg.name,
        "member_count": len(segment_visible(lst, seg, hidden)),
        "type": seg.type,
        "created_at": iso(seg.created),
        "updated_at": iso(seg.updated),
        "options": options,
        "list_id": lst.id,
        "_links": [],
    }


def render_campaign(acct: Account, c: dict[str, Any]) -> dict[str, Any]:
    """The campaign object."""
    lst = acct.lists.get(c["list_id"])
    sent = c["emails_sent"]
    out = {
        "id": c["id"],
        "web_id": c["web_id"],
        "parent_campaign_id": "",
        "type": c["type"],
        "create_time": iso(c["create_time"]),
        "archive_url": f"http://eepurl.com/{c['id'][:6]}",
        "long_archive_url": f"https://us1.campaign-archive.com/?u=0&id={c['id']}",
        "status": c["status"],
        "emails_sent": sent,
        "send_time": c["send_time"],
        "content_type": "template",
        "needs_block_refresh": False,
        "resendable": False,
        "recipients": {
            "list_id": c["list_id"],
            "list_is_active": lst is not None,
            "list_name": lst.settings["name"] if lst else "",
            "segment_text": "",
            "recipient_count": sent,
        },
        "settings": {
            "subject_line": c["subject_line"],
            "preview_text": "",
            "title": c["title"],
            "from_name": "",
            "reply_to": "",
            "use_conversation": False,
            "to_name": "",
            "folder_id": "",
            "authenticate": True,
            "auto_footer": False,
            "inline_css": False,
            "auto_tweet": False,
            "fb_comments": False,
            "timewarp": False,
            "template_id": 0,
            "drag_and_drop": True,
        },
        "tracking": {
            "opens": True,
            "html_clicks": True,
            "text_clicks": False,
            "goal_tracking": False,
            "ecomm360": False,
            "google_analytics": "",
            "clicktale": "",
        },
        "delivery_status": {"enabled": False},
        "_links": [],
    }
    if has_report(c):
        out["report_summary"] = {
            "opens": c["opens_total"],
            "unique_opens": c["unique_opens"],
            "open_rate": _rate(c["unique_opens"], sent),
            "clicks": c["clicks_total"],
            "subscriber_clicks": c["unique_subscriber_clicks"],
            "click_rate": _rate(c["unique_subscriber_clicks"], sent),
            "ecommerce": {"total_orders": 0, "total_spent": 0, "total_revenue": 0},
        }
    return out


def has_report(c: dict[str, Any]) -> bool:
    """Reports exist once a campaign started sending."""
    return c["status"] in ("sending", "sent", "canceling", "canceled") or c["emails_sent"] > 0


def _rate(part: int, whole: int) -> float:
    return part / whole if whole else 0


def render_report(acct: Account, c: dict[str, Any]) -> dict[str, Any]:
    """The campaign report (rates are fractions 0..1; ``list_stats`` in percent)."""
    lst = acct.lists.get(c["list_id"])
    sent = c["emails_sent"]
    open_rate = _rate(c["unique_opens"], sent)
    click_rate = _rate(c["unique_subscriber_clicks"], sent)
    return {
        "id": c["id"],
        "campaign_title": c["title"],
        "type": c["type"],
        "list_id": c["list_id"],
        "list_is_active": lst is not None,
        "list_name": lst.settings["name"] if lst else "",
        "subject_line": c["subject_line"],
        "preview_text": "",
        "emails_sent": sent,
        "abuse_reports": c["abuse_reports"],
        "unsubscribed": c["unsubscribed"],
        "send_time": c["send_time"],
        "rss_last_send": "",
        "bounces": {
            "hard_bounces": c["hard_bounces"],
            "soft_bounces": c["soft_bounces"],
            "syntax_errors": 0,
        },
        "forwards": {"forwards_count": 0, "forwards_opens": 0},
        "opens": {
            "opens_total": c["opens_total"],
            "unique_opens": c["unique_opens"],
            "open_rate": open_rate,
            "last_open": c["send_time"] if c["opens_total"] else "",
        },
        "clicks": {
            "clicks_total": c["clicks_total"],
            "unique_clicks": c["unique_clicks"],
            "unique_subscriber_clicks": c["unique_subscriber_clicks"],
            "click_rate": click_rate,
            "last_click": c["send_time"] if c["clicks_total"] else "",
        },
        "facebook_likes": {"recipient_likes": 0, "unique_likes": 0, "facebook_likes": 0},
        "industry_stats": {"type": "", "open_rate": 0, "click_rate": 0, "bounce_rate": 0},
        "list_stats": {
            "sub_rate": 0,
            "unsub_rate": 0,
            "open_rate": open_rate * 100,
            "click_rate": click_rate * 100,
        },
        "timeseries": [],
        "share_report": {"share_url": "", "share_password": ""},
        "ecommerce": {
            "total_orders": 0,
            "total_spent": 0,
            "total_revenue": 0,
            "currency_code": "USD",
        },
        "delivery_status": {"enabled": False},
        "_links": [],
    }


CAMPAIGN_INT_FIELDS = (
    "emails_sent", "unique_opens", "opens_total", "unique_subscriber_clicks", "clicks_total",
    "unique_clicks", "unsubscribed", "hard_bounces", "soft_bounces", "abuse_reports",
)  # fmt: skip


def apply_campaign_fields(acct: Account, c: dict[str, Any], body: dict[str, Any], now: int) -> None:
    """Set admin-provided campaign fields (validated); a ``sent`` campaign without a
    ``send_time`` gets ``now``."""
    for key, value in body.items():
        if key in CAMPAIGN_INT_FIELDS:
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise invalid_field(key, "must be a non-negative integer")
            c[key] = value
        elif key == "status":
            if value not in CAMPAIGN_STATUSES:
                raise enum_error("status", CAMPAIGN_STATUSES)
            c["status"] = value
        elif key == "type":
            if value not in CAMPAIGN_TYPES:
                raise enum_error("type", CAMPAIGN_TYPES)
            c["type"] = value
        elif key in ("title", "subject_line"):
            c[key] = str(value)
        elif key == "list_id":
            if value not in acct.lists:
                raise invalid_field("list_id", "unknown list_id for this account")
            c["list_id"] = value
        elif key in ("send_time", "create_time"):
            ts = 0 if value in ("", None) else int(parse_time(str(value), key))
            if key == "send_time":
                c["send_time"] = iso_or_empty(ts)
            else:
                c["create_time"] = ts or c["create_time"]
        elif key != "id":
            raise invalid_field(key, "unknown campaign field")
    if "opens_total" not in body and c["opens_total"] < c["unique_opens"]:
        c["opens_total"] = c["unique_opens"]
    if "clicks_total" not in body and c["clicks_total"] < c["unique_subscriber_clicks"]:
        c["clicks_total"] = c["unique_subscriber_clicks"]
    if "unique_clicks" not in body and c["unique_clicks"] < c["unique_subscriber_clicks"]:
        c["unique_clicks"] = c["unique_subscriber_clicks"]
    if c["status"] == "sent" and not c["send_time"]:
        c["send_time"] = iso(now)


def new_campaign(acct: Account, body: dict[str, Any], now: int) -> dict[str, Any]:
    """Create a campaign from the admin route's fields."""
    c: dict[str, Any] = {
        "id": new_id(acct.campaigns),
        "web_id": secrets.randbelow(9_000_000) + 1_000_000,
        "type": "regular",
        "create_time": now,
        "status": "save",
        "title": "",
        "subject_line": "",
        "list_id": "",
        "send_time": "",
        **dict.fromkeys(CAMPAIGN_INT_FIELDS, 0),
    }
    apply_campaign_fields(acct, c, body, now)
    acct.campaigns[c["id"]] = c
    return c


def dumps(obj: Any) -> bytes:
    """Compact UTF-8 JSON."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def request_id() -> str:
    """An ``X-Request-Id`` / problem ``instance``."""
    return str(uuid.uuid4())


# --------------------------------------------------------------------------------------------
# Member writes (POST / PUT / PATCH / DELETE / delete-permanent / batch subscribe / tags)
# --------------------------------------------------------------------------------------------

_MEMBER_STR_FIELDS = ("email_address", "language", "ip_signup", "ip_opt")
_MEMBER_TIME_FIELDS = ("timestamp_signup", "timestamp_opt")


def check_member_schema(
    body: Any, prefix: str, statuses: tuple[str, ...], status_keys: tuple[str, ...]
) -> None:
    """Schema-level checks of a member document (wrong JSON types, enum values)."""
    if not isinstance(body, dict):
        raise schema_type_error(prefix.rstrip(".") or "", "object", body)
    for key in _MEMBER_STR_FIELDS + _MEMBER_TIME_FIELDS:
        if key in body and not isinstance(body[key], str):
            raise schema_type_error(prefix + key, "string", body[key])
    for key in status_keys:
        if key in body and body[key] not in statuses:
            raise enum_error(prefix + key, statuses)
    if "email_type" in body and body["email_type"] not in ("html", "text"):
        raise enum_error(prefix + "email_type", ("html", "text"))
    if "vip" in body and not isinstance(body["vip"], bool):
        raise schema_type_error(prefix + "vip", "boolean", body["vip"])
    if "location" in body and not isinstance(body["location"], dict):
        raise schema_type_error(prefix + "location", "object", body["location"])
    if "interests" in body:
        interests = body["interests"]
        if not isinstance(interests, dict):
            raise schema_type_error(prefix + "interests", "object", interests)
        if interests:
            raise ApiError(
                400, "Invalid Resource", f"Invalid interest ID: '{next(iter(interests))}'."
            )
    if "tags" in body:
        tags = body["tags"]
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise schema_type_error(prefix + "tags", "array of strings", tags)
        for t in tags:
            check_tag_name(t, prefix + "tags")


def check_tag_name(name: Any, field: str) -> None:
    """Tag names: non-empty strings of at most 100 characters."""
    if not isinstance(name, str) or not name.strip():
        raise invalid_field(field, "Tag names must be non-empty strings")
    if len(name) > MAX_TAG_NAME:
        raise invalid_field(field, f"Tag names must be {MAX_TAG_NAME} characters or fewer")


def _apply_extras(m: Member, body: dict[str, Any]) -> bool:
    """Copy optional member fields from a request; returns whether anything changed."""
    changed = False
    for key, default in (
        ("email_type", "html"),
        ("language", ""),
        ("vip", False),
        ("ip_signup", ""),
        ("ip_opt", ""),
    ):
        if key in body:
            value = body[key]
            if m.get_extra(key, default) != value:
                m.set_extra(key, None if value == default else value)
                changed = True
    for key in _MEMBER_TIME_FIELDS:
        if body.get(key):
            value = iso(int(parse_time(body[key], key)))
            if m.get_extra(key) != value:
                m.set_extra(key, value)
                changed = True
    if "location" in body:
        loc = body["location"]
        lat, lon = loc.get("latitude", 0), loc.get("longitude", 0)
        value = {**_EMPTY_LOCATION, "latitude": lat, "longitude": lon} if (lat or lon) else None
        if m.get_extra("location", None) != value:
            m.set_extra("location", value)
            changed = True
    return changed


def _email_error(email: str) -> ApiError | None:
    problem = email_problem(email)
    return ApiError(400, "Invalid Resource", problem) if problem else None


def _member_exists(email: str) -> ApiError:
    return ApiError(400, "Member Exists", detail_member_exists(email), with_type=False)


def _forgotten(email: str) -> ApiError:
    return ApiError(400, "Forgotten Email Not Subscribed", detail_forgotten(email), with_type=False)


def _cleaned_email_change() -> ApiError:
    return ApiError(
        400,
        "Invalid Resource",
        'This member\'s status is "cleaned." You can only update email addresses for members '
        'with a status of "subscribed."',
    )


def _fresh_member(h: str, email: str, status: str, mf: tuple, now: int) -> Member:
    """A member added through the API (or bulk load) with ``status``: added as unsubscribed
    counts as an admin unsubscribe, added as cleaned is in compliance state."""
    m = Member(h, email, status, mf, now)
    if status == "unsubscribed":
        m.set_extra("unsubscribe_reason", UNSUB_ADMIN)
    elif status == "cleaned":
        m.compliance = "cleaned"
    return m


def _new_member(
    lst: AudienceList, h: str, email: str, status: str, mf: tuple, body: dict[str, Any], now: int
) -> Member:
    m = _fresh_member(h, email, status, mf, now)
    _apply_extras(m, body)
    lst.insert(m)
    return m


def _apply_tag_names(
    state: EmulatorState,
    lst: AudienceList,
    m: Member,
    names: Iterable[str],
    now: int,
    replace: bool,
) -> None:
    wanted = []
    for name in names:
        seg = lst.tag_segment(name.strip(), now, state.next_segment_id)
        lst.add_tag(m, seg, now)
        wanted.append(seg.id)
    if replace:
        keep = set(wanted)
        for sid in [t for t in m.tags if t not in keep]:
            seg = lst.segments.get(sid)
            if seg is not None and seg.type == "static":
                lst.remove_tag(m, seg, now)


def add_member(
    state: EmulatorState, lst: AudienceList, body: Any, skip_merge: bool, now: int
) -> Member:
    """``POST /lists/{id}/members``."""
    check_member_schema(body, "", STATUSES, ("status",))
    missing = [k for k in ("email_address", "status") if not body.get(k)]
    if missing:
        raise required_missing("", missing)
    email = body["email_address"]
    err = _email_error(email)
    if err:
        raise err
    h = subscriber_hash(email)
    if h in lst.forgotten:
        raise _forgotten(email)
    if h in lst.members:
        raise _member_exists(email)
    try:
        mf = merge_values(lst, body.get("merge_fields"), None, skip_merge)
    except MergeError as exc:
        raise exc.api_error() from None
    m = _new_member(lst, h, email, body["status"], mf, body, now)
    if body.get("tags"):
        _apply_tag_names(state, lst, m, body["tags"], now, replace=False)
    return m


def _prepare_email_change(lst: AudienceList, m: Member, email: str) -> str | None:
    """Validate moving ``m`` to ``email``; returns the new hash, or ``None`` if unchanged."""
    if email == m.email:
        return None
    err = _email_error(email)
    if err:
        raise err
    new_h = subscriber_hash(email)
    if new_h == m.h:
        return m.h  # only the letter case changes
    if new_h in lst.members:
        raise _member_exists(email)
    if new_h in lst.forgotten:
        raise _forgotten(email)
    if m.status == "cleaned":
        raise _cleaned_email_change()
    return new_h


def _update_existing(
    lst: AudienceList,
    m: Member,
    body: dict[str, Any],
    target: str | None,
    skip_merge: bool,
    now: int,
) -> None:
    """Validate everything first, then mutate (an error leaves the member untouched)."""
    new_h = None
    email = body.get("email_address")
    if email:
        new_h = _prepare_email_change(lst, m, email)
    if target:
        check_status_change(m, target, email)
    try:
        mf = merge_values(lst, body.get("merge_fields"), m.mf, skip_merge)
    except MergeError as exc:
        raise exc.api_error() from None
    changed = False
    if new_h is not None:
        if new_h == m.h:
            m.email = email
            changed = True
        else:
            lst.rekey(m, email, new_h, now)
    if mf != m.mf:
        m.mf = mf
        changed = True
    changed = _apply_extras(m, body) or changed
    if target:
        changed = apply_status(lst, m, target, now) or changed
    if changed:
        lst.touch(m, now)


def upsert_member(
    state: EmulatorState, lst: AudienceList, path_h: str, body: Any, skip_merge: bool, now: int
) -> Member:
    """``PUT /lists/{id}/members/{hash}``: ``status_if_new`` for new members, ``status`` changes
    an existing member's status (subject to the compliance rule)."""
    check_member_schema(body, "", STATUSES, ("status", "status_if_new"))
    email = body.get("email_address")
    if not email:
        raise required_missing("", ["email_address"])
    err = _email_error(email)
    if err:
        raise err
    eh = subscriber_hash(email)
    m = lst.members.get(path_h)
    if m is None:
        if eh != path_h:
            if eh in lst.members:
                raise _member_exists(email)
            raise invalid_field(
                "email_address",
                "The subscriber hash in the URL does not match the email address provided.",
            )
        if eh in lst.forgotten:
            raise _forgotten(email)
        status = body.get("status") or body.get("status_if_new")
        if not status:
            raise required_missing("", ["status_if_new"])
        try:
            mf = merge_values(lst, body.get("merge_fields"), None, skip_merge)
        except MergeError as exc:
            raise exc.api_error() from None
        return _new_member(lst, eh, email, status, mf, body, now)
    target = body.get("status")
    if m.status == "archived" and not target:
        target = body.get("status_if_new")
        if not target:
            raise required_missing("", ["status_if_new"])
    _update_existing(lst, m, body, target, skip_merge, now)
    return m


def patch_member(
    state: EmulatorState, lst: AudienceList, path_h: str, body: Any, skip_merge: bool, now: int
) -> Member:
    """``PATCH /lists/{id}/members/{hash}``."""
    m = lst.members.get(path_h)
    if m is None:
        raise not_found()
    check_member_schema(body, "", PATCH_STATUSES, ("status",))
    _update_existing(lst, m, body, body.get("status"), skip_merge, now)
    return m


def archive_member(lst: AudienceList, path_h: str, now: int) -> None:
    """``DELETE /lists/{id}/members/{hash}``: archive (405 for archived/pending/cleaned)."""
    m = lst.members.get(path_h)
    if m is None:
        raise not_found()
    if m.status in ("archived", "pending", "cleaned"):
        raise ApiError(405, "Method Not Allowed", DETAIL_ARCHIVE_405, headers={"Allow": "GET, PUT"})
    lst.set_status(m, "archived", now)
    lst.touch(m, now)


def delete_permanent(lst: AudienceList, path_h: str) -> None:
    """``POST .../actions/delete-permanent``: gone for good; re-adding is refused."""
    m = lst.members.get(path_h)
    if m is None:
        raise not_found()
    lst.remove(m)
    lst.forgotten.add(path_h)


def update_member_tags(
    state: EmulatorState, lst: AudienceList, path_h: str, body: Any, now: int
) -> None:
    """``POST .../members/{hash}/tags``: ``active`` adds (creating the tag), ``inactive`` removes."""
    m = lst.members.get(path_h)
    if m is None:
        raise not_found()
    if not isinstance(body, dict) or "tags" not in body:
        raise required_missing("", ["tags"])
    tags = body["tags"]
    if not isinstance(tags, list):
        raise schema_type_error("tags", "array", tags)
    for i, t in enumerate(tags):
        if not isinstance(t, dict) or "name" not in t or "status" not in t:
            raise required_missing(f"tags.item:{i}", ["name", "status"])
        check_tag_name(t["name"], f"tags.item:{i}.name")
        if t["status"] not in ("active", "inactive"):
            raise enum_error(f"tags.item:{i}.status", ("active", "inactive"))
    for t in tags:
        name = t["name"].strip()
        if t["status"] == "active":
            lst.add_tag(m, lst.tag_segment(name, now, state.next_segment_id), now)
        else:
            seg = lst.seg_by_name.get(name.lower())
            if seg is not None:
                lst.remove_tag(m, seg, now)


def _row_error(
    email: str, error: str, code: str = "ERROR_GENERIC", field: str = "", field_message: str = ""
) -> dict[str, str]:
    return {
        "email_address": email,
        "error": error,
        "error_code": code,
        "field": field,
        "field_message": field_message,
    }


_BATCH_STATUS_FIELDS = ("status",)


def batch_subscribe(
    state: EmulatorState,
    lst: AudienceList,
    body: Any,
    skip_merge: bool,
    skip_duplicates: bool,
    now: int,
) -> BatchResult:
    """``POST /lists/{id}``: up to 500 members; per-row outcomes, HTTP 200 even if all fail.

    Schema problems (missing ``members``, > 500 members, a row without ``email_address`` or
    with a bad ``status``) fail the whole call; everything else is a per-row error."""
    if not isinstance(body, dict) or "members" not in body:
        raise required_missing("", ["members"])
    rows = body["members"]
    if not isinstance(rows, list):
        raise schema_type_error("members", "array", rows)
    if len(rows) > MAX_BATCH:
        raise invalid_field(
            "members", f"You may only submit up to {MAX_BATCH} members per batch request."
        )
    for key in ("update_existing", "sync_tags"):
        if key in body and not isinstance(body[key], bool):
            raise schema_type_error(key, "boolean", body[key])
    update_existing = body.get("update_existing", False)
    sync_tags = body.get("sync_tags", False)
    for i, row in enumerate(rows):
        prefix = f"members.item:{i}."
        check_member_schema(row, prefix, STATUSES, _BATCH_STATUS_FIELDS)
        missing = [k for k in ("email_address", "status") if k not in row]
        if missing:
            raise required_missing(f"members.item:{i}", missing)
    new_members: list[Member] = []
    updated: list[Member] = []
    errors: list[dict[str, str]] = []
    seen: set[str] = set()
    members = lst.members
    for row in rows:
        email = row["email_address"]
        problem = email_problem(email)
        if problem:
            errors.append(_row_error(email, problem))
            continue
        h = subscriber_hash(email)
        if h in seen:
            if not skip_duplicates:
                errors.append(
                    _row_error(email, f"{email} is included more than once in this request")
                )
            continue
        seen.add(h)
        if h in lst.forgotten:
            errors.append(_row_error(email, detail_forgotten(email)))
            continue
        m = members.get(h)
        target = row["status"]
        try:
            if m is None:
                mf = merge_values(lst, row.get("merge_fields"), None, skip_merge)
                m = _new_member(lst, h, email, target, mf, row, now)
                out = new_members
            elif m.status == "archived":
                _update_existing(lst, m, row, target, skip_merge, now)
                out = new_members
            elif not update_existing:
                errors.append(
                    _row_error(email, detail_contact_exists(email), "ERROR_CONTACT_EXISTS")
                )
                continue
            else:
                _update_existing(lst, m, row, target, skip_merge, now)
                out = updated
        except MergeError as exc:
            first = exc.errors[0]
            errors.append(
                _row_error(
                    email,
                    DETAIL_MERGE_INVALID,
                    field=first["field"],
                    field_message=first["message"],
                )
            )
            continue
        except ApiError as exc:
            first = (exc.errors or [{}])[0]
            errors.append(
                _row_error(
                    email,
                    exc.detail,
                    field=first.get("field", ""),
                    field_message=first.get("message", ""),
                )
            )
            continue
        if sync_tags or row.get("tags"):
            _apply_tag_names(state, lst, m, row.get("tags") or (), now, replace=sync_tags)
        out.append(m)
    return BatchResult(new_members, updated, errors)


class BatchResult(NamedTuple):
    """Outcome of a batch subscribe: members created/updated and per-row errors."""

    new: list[Member]
    updated: list[Member]
    errors: list[dict[str, str]]

    def render(self, lst: AudienceList) -> dict[str, Any]:
        """The response document."""
        return {
            "new_members": [render_member(lst, m) for m in self.new],
            "updated_members": [render_member(lst, m) for m in self.updated],
            "errors": self.errors,
            "total_created": len(self.new),
            "total_updated": len(self.updated),
            "error_count": len(self.errors),
            "_links": [],
        }

    def json(self, lst: AudienceList) -> str:
        """The response document serialized directly (same content as :meth:`render`)."""
        return (
            f'{{"new_members":{members_json(lst, self.new)},'
            f'"updated_members":{members_json(lst, self.updated)},'
            f'"errors":{json.dumps(self.errors, ensure_ascii=False)},'
            f'"total_created":{len(self.new)},"total_updated":{len(self.updated)},'
            f'"error_count":{len(self.errors)},"_links":[]}}'
        )


# --------------------------------------------------------------------------------------------
# Segments
# --------------------------------------------------------------------------------------------

ERROR_NOT_ON_LIST = "Email address does not belong to this list"


def _email_list(body: dict[str, Any], key: str) -> list[str]:
    value = body.get(key, [])
    if not isinstance(value, list) or not all(isinstance(e, str) for e in value):
        raise schema_type_error(key, "array of strings", value)
    if len(value) > MAX_BATCH:
        raise invalid_field(key, f"A maximum of {MAX_BATCH} members can be sent in {key}.")
    return value


def create_segment(state: EmulatorState, lst: AudienceList, body: Any, now: int) -> Segment:
    """``POST /lists/{id}/segments``: ``static_segment`` (a tag) or ``options`` (saved)."""
    if not isinstance(body, dict) or not body.get("name"):
        raise required_missing("", ["name"])
    name = body["name"]
    check_tag_name(name, "name")
    if "static_segment" in body:
        emails = body["static_segment"]
        if not isinstance(emails, list) or not all(isinstance(e, str) for e in emails):
            raise schema_type_error("static_segment", "array of strings", emails)
        if name.strip().lower() in lst.seg_by_name:
            raise ApiError(
                400, "Invalid Resource", f"A tag or segment named '{name}' already exists."
            )
        seg = lst.tag_segment(name.strip(), now, state.next_segment_id)
        for email in emails:
            m = lst.members.get(subscriber_hash(email))
            if m is not None:
                lst.add_tag(m, seg, now)
        return seg
    if "options" in body:
        if not isinstance(body["options"], dict):
            raise schema_type_error("options", "object", body["options"])
        seg = Segment(state.next_segment_id(), name, "saved", now, body["options"])
        lst.segments[seg.id] = seg
        return seg
    raise invalid_field("", "Either static_segment or options must be provided")


def batch_segment(lst: AudienceList, seg: Segment, body: Any, now: int) -> SegmentResult:
    """``POST /lists/{id}/segments/{segment_id}``: ≤500 adds and ≤500 removes; emails that are
    not on the list are reported in ``errors`` and otherwise ignored."""
    if not isinstance(body, dict):
        raise schema_type_error("", "object", body)
    to_add = _email_list(body, "members_to_add")
    to_remove = _email_list(body, "members_to_remove")
    if seg.type != "static":
        raise ApiError(
            400,
            "Invalid Resource",
            "Members can only be added to or removed from static segments (tags).",
        )
    added: list[Member] = []
    removed: list[Member] = []
    missing: list[str] = []
    members = lst.members
    for email in to_add:
        m = members.get(subscriber_hash(email))
        if m is None:
            missing.append(email)
        elif lst.add_tag(m, seg, now):
            added.append(m)
    for email in to_remove:
        m = members.get(subscriber_hash(email))
        if m is None:
            missing.append(email)
        elif lst.remove_tag(m, seg, now):
            removed.append(m)
    return SegmentResult(added, removed, missing)


class SegmentResult(NamedTuple):
    """Outcome of a segment batch add/remove."""

    added: list[Member]
    removed: list[Member]
    missing: list[str]

    def _errors(self) -> list[dict[str, Any]]:
        return (
            [{"email_addresses": self.missing, "error": ERROR_NOT_ON_LIST}] if self.missing else []
        )

    def render(self, lst: AudienceList) -> dict[str, Any]:
        """The response document."""
        return {
            "members_added": [render_member(lst, m) for m in self.added],
            "members_removed": [render_member(lst, m) for m in self.removed],
            "errors": self._errors(),
            "total_added": len(self.added),
            "total_removed": len(self.removed),
            "error_count": len(self.missing),
            "_links": [],
        }

    def json(self, lst: AudienceList) -> str:
        """The response document serialized directly."""
        return (
            f'{{"members_added":{members_json(lst, self.added)},'
            f'"members_removed":{members_json(lst, self.removed)},'
            f'"errors":{json.dumps(self._errors(), ensure_ascii=False)},'
            f'"total_added":{len(self.added)},"total_removed":{len(self.removed)},'
            f'"error_count":{len(self.missing)},"_links":[]}}'
        )


def delete_segment(lst: AudienceList, seg: Segment) -> None:
    """Delete a segment/tag and take it off every member."""
    for h in list(seg.members):
        m = lst.members.get(h)
        if m is not None:
            m.tags = tuple(t for t in m.tags if t != seg.id)
    lst.segments.pop(seg.id, None)
    if lst.seg_by_name.get(seg.name.lower()) is seg:
        del lst.seg_by_name[seg.name.lower()]
    lst.version += 1


# --------------------------------------------------------------------------------------------
# Bulk load (admin; not part of Mailchimp)
# --------------------------------------------------------------------------------------------


def bulk_load(
    state: EmulatorState, lst: AudienceList, rows: Iterable[Any], now: int
) -> dict[str, int]:
    """Insert or overwrite members with only basic checks (email has an ``@``, status valid).

    Rows: ``{"email_address", "status"="subscribed", "merge_fields"={}, "tags"=[],
    "last_changed"=now}``; merge values are stored as given for known tags."""
    created = updated = 0
    members = lst.members
    index = lst.mf_index
    nfields = len(lst.merge_fields)
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise schema_type_error(f"members.item:{i}", "object", row)
        email = row.get("email_address")
        if not isinstance(email, str) or "@" not in email:
            raise invalid_field(f"members.item:{i}.email_address", DETAIL_BAD_EMAIL)
        status = row.get("status", "subscribed")
        if status not in ALL_STATUSES:
            raise enum_error(f"members.item:{i}.status", ALL_STATUSES)
        mfin = row.get("merge_fields") or {}
        if mfin:
            values = [""] * nfields
            for tag, value in mfin.items():
                pos = index.get(tag)
                if pos is not None:
                    values[pos] = value
            while values and values[-1] == "":
                values.pop()
            mf = tuple(values)
        else:
            mf = ()
        ts = now
        if row.get("last_changed"):
            ts = min(now, int(parse_time(str(row["last_changed"]), "last_changed")))
        h = subscriber_hash(email)
        m = members.get(h)
        if m is None:
            m = _fresh_member(h, email, status, mf, ts)
            lst.insert(m)
            created += 1
        else:
            if m.status != status:
                lst.set_status(m, status, ts)
            m.email = email
            m.mf = mf
            if m.changed != ts:
                m.changed = ts
                lst.log_m.append(m)
                lst.log_ts.append(ts)
                lst.log_dirty = True
            lst.version += 1
            updated += 1
        tags = row.get("tags")
        if tags:
            _apply_tag_names(state, lst, m, tags, ts, replace=False)
        lst.forgotten.discard(h)
    return {"loaded": created + updated, "created": created, "updated": updated}
