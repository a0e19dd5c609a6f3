"""The in-memory model: members, segments, audiences, accounts, the emulator state.

Everything here is synchronous: the emulator runs one asyncio event loop and every request
handler mutates state without awaiting in between, so each API call is atomic.
"""

from __future__ import annotations

import itertools
import re
import secrets
from array import array
from bisect import bisect_left
from collections import OrderedDict
from collections.abc import Callable, Mapping
from json.encoder import encode_basestring as _q
from typing import Any

from .clock import Clock
from .errors import ALL_STATUSES
from .faults import Stats

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

    @property
    def origin(self) -> str:
        """The subscriber hash the member was created with (its ``contact_id``/``web_id`` derive
        from it, so they survive an email change)."""
        return self.extra.get("origin", self.h) if self.extra else self.h

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
        # webhook events waiting to be dispatched (see events.py) and deliveries made
        self.outbox: list[tuple[str, dict[str, Any], int]] = []
        self.deliveries: list[dict[str, Any]] = []
        # double opt-in confirmation emails sent, by contact_id
        self.confirmations: dict[str, int] = {}
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
        if m.extra is None or "origin" not in m.extra:
            m.set_extra("origin", m.h)  # contact_id and web_id stay those of the first address
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


