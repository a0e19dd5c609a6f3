"""Campaigns and reports: JSON shapes and the admin-side writes."""

from __future__ import annotations

import secrets
from typing import Any

from .clock import iso, iso_or_empty, parse_time
from .errors import CAMPAIGN_STATUSES, CAMPAIGN_TYPES, enum_error, invalid_field
from .model import Account, new_id


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


