"""What every API handler shares: the ``Call``, results, query helpers, lookups."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..clock import parse_time
from ..emails import hash_from_path
from ..errors import MAX_COUNT, invalid_field, not_found, schema_type_error
from ..model import Account, AudienceList, Member, Segment
from ..rendering import HIDDEN_BY_DEFAULT

if TYPE_CHECKING:
    from ..app import Emulator



@dataclass(slots=True)
class Call:
    """One API call as a handler sees it."""

    emu: Emulator
    acct: Account
    method: str
    params: dict[str, str]
    query: Mapping[str, str]
    body: Any
    base_url: str
    now: int


class RawJSON:
    """A payload already serialized (the fast path for member lists)."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


Result = tuple[int, Any]  # (status, payload: JSON-able, RawJSON, or None for 204)
Handler = Callable[[Call], Result | Awaitable[Result]]  # async only to call out (webhooks)


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def int_param(q: Mapping[str, str], key: str, default: int) -> int:
    raw = q.get(key)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise invalid_field(key, f"{key} must be an integer") from None
    if value < 0:
        raise invalid_field(key, f"{key} must be zero or greater")
    return value


def page(q: Mapping[str, str]) -> tuple[int, int]:
    """``count`` (default 10, at most 1000) and ``offset``."""
    count = int_param(q, "count", 10)
    if count > MAX_COUNT:
        raise invalid_field("count", f"count must be less than or equal to {MAX_COUNT}")
    return count, int_param(q, "offset", 0)


def flag(q: Mapping[str, str], key: str) -> bool:
    """Boolean query parameter (``true``/``True``/``1``)."""
    return q.get(key, "").lower() in ("true", "1", "yes")


def time_param(q: Mapping[str, str], key: str) -> float | None:
    raw = q.get(key)
    return parse_time(raw, key) if raw else None


def _field_tree(spec: str) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for path in spec.split(","):
        node = tree
        for part in path.strip().split("."):
            if part:
                node = node.setdefault(part, {})
    return tree


def _keep(obj: Any, tree: dict[str, Any]) -> Any:
    if isinstance(obj, list):
        return [_keep(x, tree) for x in obj]
    if not isinstance(obj, dict):
        return obj
    return {k: (_keep(obj[k], sub) if sub else obj[k]) for k, sub in tree.items() if k in obj}


def _exclude(obj: Any, tree: dict[str, Any]) -> Any:
    if isinstance(obj, list):
        return [_exclude(x, tree) for x in obj]
    if not isinstance(obj, dict):
        return obj
    out = dict(obj)
    for k, sub in tree.items():
        if k in out:
            if sub:
                out[k] = _exclude(out[k], sub)
            else:
                del out[k]
    return out


def shape(payload: Any, q: Mapping[str, str]) -> Any:
    """Apply ``fields`` / ``exclude_fields`` (comma-separated, dot notation)."""
    if payload is None:
        return None
    if q.get("fields"):
        payload = _keep(payload, _field_tree(q["fields"]))
    if q.get("exclude_fields"):
        payload = _exclude(payload, _field_tree(q["exclude_fields"]))
    return payload


def get_list(call: Call) -> AudienceList:
    lst = call.acct.lists.get(call.params["list_id"])
    if lst is None:
        raise not_found()
    return lst


def member_hash(call: Call) -> str:
    h = hash_from_path(call.params["subscriber_hash"])
    if h is None:
        raise not_found()
    return h


def get_member(call: Call, lst: AudienceList) -> Member:
    m = lst.members.get(member_hash(call))
    if m is None:
        raise not_found()
    return m


def get_segment(call: Call, lst: AudienceList) -> Segment:
    try:
        seg = lst.segments.get(int(call.params["segment_id"]))
    except ValueError:
        seg = None
    if seg is None:
        raise not_found()
    return seg


def body_dict(call: Call) -> dict[str, Any]:
    if not isinstance(call.body, dict):
        raise schema_type_error("", "object", call.body)
    return call.body


def hidden_statuses(q: Mapping[str, str]) -> frozenset[str]:
    hidden = set(HIDDEN_BY_DEFAULT)
    for status, key in (
        ("cleaned", "include_cleaned"),
        ("transactional", "include_transactional"),
        ("unsubscribed", "include_unsubscribed"),
    ):
        if flag(q, key):
            hidden.discard(status)
    return frozenset(hidden)


def requested_fields(call: Call) -> dict[str, Any] | None:
    """The ``fields`` the call asks for, as a tree (None when it asks for everything, or excludes
    some: then only `shape` knows what stays)."""
    if not call.query.get("fields") or call.query.get("exclude_fields"):
        return None
    return _field_tree(call.query["fields"])


def is_shaped(call: Call) -> bool:
    """Whether the call asks for ``fields`` / ``exclude_fields`` (no raw fast path then)."""
    return bool(call.query.get("fields") or call.query.get("exclude_fields"))
