"""Which tracked campaigns to refresh, and campaign stats as the project stores them (pure).

Refresh rule: opens and clicks keep arriving for weeks after a send, so
- every campaign that is not finished — `save`, `paused`, `schedule`, `sending`, `canceling`,
  a status this module does not know, or none yet (just tracked) — is refreshed every time;
- a `sent` campaign is refreshed while its send time is within the rolling window (default 30
  days; a sent campaign without a send time is refreshed, its age being unknown);
- `canceled`, `archived`, the local marker `deleted` (gone from Mailchimp) and `sent` campaigns
  older than the window are left alone: no API call at all.

Units: `open_rate` and `click_rate` are FRACTIONS in 0..1 (unique opens resp. unique subscriber
clicks over emails sent), as Mailchimp's report gives them in `opens.open_rate` and
`clicks.click_rate`. Mailchimp's `list_stats` rates are percentages; `percent_to_fraction` converts
those. `bounces` is hard + soft + syntax-error bounces.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from mc_pipelines.sync.timestamps import parse_mailchimp_time

DEFAULT_WINDOW_DAYS = 30
SENT = "sent"
DELETED = "deleted"  # local marker: Mailchimp answers 404 for the campaign
NON_TERMINAL_STATUSES = frozenset({"save", "paused", "schedule", "sending", "canceling"})
TERMINAL_STATUSES = frozenset({"canceled", "archived", DELETED})
# Mailchimp has a report once a campaign started sending.
REPORTED_STATUSES = frozenset({"sending", SENT, "canceling", "canceled"})


@dataclass(frozen=True)
class RefreshDecision:
    """Whether a tracked campaign is refreshed now, and why."""

    refresh: bool
    reason: str


def refresh_decision(status: str | None, send_time: datetime | None, now: datetime,
                     window_days: int = DEFAULT_WINDOW_DAYS) -> RefreshDecision:
    """Apply the refresh rule to one campaign (`send_time` naive UTC; `now` naive UTC or aware)."""
    if now.tzinfo is not None:
        now = now.astimezone(UTC).replace(tzinfo=None)
    if status in TERMINAL_STATUSES:
        return RefreshDecision(False, f"{status} (terminal)")
    if status != SENT:
        return RefreshDecision(True, f"{status or 'not refreshed yet'} (not finished)")
    if send_time is None:
        return RefreshDecision(True, "sent, send time unknown")
    age = now - send_time
    if age <= timedelta(days=window_days):
        return RefreshDecision(True, f"sent {age.days} days ago (window {window_days} days)")
    return RefreshDecision(False, f"sent {age.days} days ago (outside the {window_days}-day window)")


def percent_to_fraction(value: Any) -> float | None:
    """A percentage (Mailchimp's `list_stats`: 64.7) as a fraction (0.647); blank → None."""
    number = _number(value)
    return None if number is None else number / 100.0


def report_fraction(value: Any) -> float | None:
    """A report rate (`opens.open_rate`, `clicks.click_rate`: already 0..1); blank → None.

    Values outside 0..1 are refused rather than guessed at: they would mean Mailchimp changed
    the unit."""
    number = _number(value)
    if number is not None and not 0.0 <= number <= 1.0:
        raise ValueError(f"report rate {number!r} is not a fraction in 0..1")
    return number


def has_report(campaign: dict[str, Any]) -> bool:
    """Whether Mailchimp has a report for this campaign object (it started sending)."""
    return campaign.get("status") in REPORTED_STATUSES or int(campaign.get("emails_sent") or 0) > 0


def campaign_stats(campaign: dict[str, Any], report: dict[str, Any] | None) -> dict[str, Any]:
    """The `campaign_tracking` columns from `GET /campaigns/{id}` and, once it exists,
    `GET /reports/{id}` (rates as fractions, bounces summed)."""
    settings = campaign.get("settings") or {}
    recipients = campaign.get("recipients") or {}
    stats: dict[str, Any] = {
        "title": settings.get("title") or None,
        "status": campaign.get("status"),
        "audience_id": recipients.get("list_id") or None,
        "send_time": parse_mailchimp_time(campaign.get("send_time")),
        "emails_sent": int(campaign.get("emails_sent") or 0),
        "open_rate": None, "click_rate": None, "unsubscribed": None, "bounces": None,
    }
    if report is None:
        summary = campaign.get("report_summary") or {}
        stats["open_rate"] = report_fraction(summary.get("open_rate"))
        stats["click_rate"] = report_fraction(summary.get("click_rate"))
        return stats
    bounces = report.get("bounces") or {}
    stats.update(
        emails_sent=int(report.get("emails_sent") or stats["emails_sent"]),
        open_rate=report_fraction((report.get("opens") or {}).get("open_rate")),
        click_rate=report_fraction((report.get("clicks") or {}).get("click_rate")),
        unsubscribed=int(report.get("unsubscribed") or 0),
        bounces=sum(int(bounces.get(k) or 0) for k in ("hard_bounces", "soft_bounces", "syntax_errors")),
    )
    stats["send_time"] = parse_mailchimp_time(report.get("send_time")) or stats["send_time"]
    return stats


def _number(value: Any) -> float | None:
    if value is None or value == "":
        return None
    return float(value)
