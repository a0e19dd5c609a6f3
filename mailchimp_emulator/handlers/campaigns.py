"""``/campaigns``."""

from __future__ import annotations

from typing import Any

from ..campaigns import render_campaign
from ..clock import parse_time
from ..errors import CAMPAIGN_STATUSES, enum_error, not_found
from .base import Call, Result, page, time_param


def campaign_filter(call: Call, campaigns: list[dict[str, Any]]) -> list[dict[str, Any]]:
    q = call.query
    if q.get("status"):
        if q["status"] not in CAMPAIGN_STATUSES:
            raise enum_error("status", CAMPAIGN_STATUSES)
        campaigns = [c for c in campaigns if c["status"] == q["status"]]
    if q.get("type"):
        campaigns = [c for c in campaigns if c["type"] == q["type"]]
    if q.get("list_id"):
        campaigns = [c for c in campaigns if c["list_id"] == q["list_id"]]
    for key, field, cmp in (
        ("since_send_time", "send_time", "ge"),
        ("before_send_time", "send_time", "lt"),
        ("since_create_time", "create_time", "ge"),
        ("before_create_time", "create_time", "lt"),
    ):
        bound = time_param(q, key)
        if bound is None:
            continue
        kept = []
        for c in campaigns:
            value = c[field]
            ts = (parse_time(value, field) if value else None) if field == "send_time" else value
            if ts is not None and ((ts >= int(bound)) if cmp == "ge" else (ts < bound)):
                kept.append(c)
        campaigns = kept
    sort_field = q.get("sort_field")
    if sort_field in ("create_time", "send_time"):
        campaigns = sorted(
            campaigns,
            key=lambda c: (c[sort_field] or 0) if sort_field == "create_time" else c["send_time"],
        )
    if (q.get("sort_dir") or "").upper() == "DESC":
        campaigns = list(reversed(campaigns))
    return campaigns


def h_campaigns_get(call: Call) -> Result:
    count, offset = page(call.query)
    campaigns = campaign_filter(call, list(call.acct.campaigns.values()))
    return 200, {
        "campaigns": [render_campaign(call.acct, c) for c in campaigns[offset : offset + count]],
        "total_items": len(campaigns),
        "_links": [],
    }


def get_campaign(call: Call) -> dict[str, Any]:
    c = call.acct.campaigns.get(call.params["campaign_id"])
    if c is None:
        raise not_found()
    return c


def h_campaign_get(call: Call) -> Result:
    return 200, render_campaign(call.acct, get_campaign(call))


