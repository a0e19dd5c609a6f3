"""The campaign refresh rule and the stats conversion (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mc_pipelines.sync.campaign_window import (
    campaign_stats,
    percent_to_fraction,
    refresh_decision,
    report_fraction,
)

NOW = datetime(2026, 6, 1, 12, 0, 0)


@pytest.mark.parametrize(("status", "sent_days_ago", "refresh"), [
    ("save", None, True), ("paused", None, True), ("schedule", None, True),
    ("sending", 1, True), ("canceling", 1, True), ("brand-new-status", None, True), (None, None, True),
    ("sent", 0, True), ("sent", 29, True), ("sent", 30, True), ("sent", 31, False),
    ("sent", None, True),  # age unknown
    ("canceled", 1, False), ("archived", 1, False), ("deleted", None, False),
])
def test_refresh_rule(status, sent_days_ago, refresh):
    send_time = None if sent_days_ago is None else NOW - timedelta(days=sent_days_ago)
    decision = refresh_decision(status, send_time, NOW, window_days=30)
    assert decision.refresh is refresh
    assert decision.reason


def test_the_window_is_configurable():
    send_time = NOW - timedelta(days=10)
    assert refresh_decision("sent", send_time, NOW, window_days=14).refresh
    assert not refresh_decision("sent", send_time, NOW, window_days=7).refresh
    assert refresh_decision("sent", send_time, NOW.replace(tzinfo=UTC), window_days=14).refresh


def test_stats_keep_report_rates_as_fractions_and_sum_bounces():
    campaign = {"id": "c1", "status": "sent", "emails_sent": 50, "send_time": "2026-05-20T08:00:00+00:00",
                "settings": {"title": "May news"}, "recipients": {"list_id": "L1"}}
    report = {"emails_sent": 50, "unsubscribed": 2, "send_time": "2026-05-20T08:00:00+00:00",
              "opens": {"open_rate": 1}, "clicks": {"click_rate": 0.66},
              "bounces": {"hard_bounces": 1, "soft_bounces": 2, "syntax_errors": 1},
              "list_stats": {"open_rate": 100, "click_rate": 64.7}}
    assert campaign_stats(campaign, report) == {
        "title": "May news", "status": "sent", "audience_id": "L1",
        "send_time": datetime(2026, 5, 20, 8), "emails_sent": 50, "open_rate": 1.0,
        "click_rate": 0.66, "unsubscribed": 2, "bounces": 4}


def test_stats_without_a_report_use_the_summary_or_stay_empty():
    draft = {"status": "save", "emails_sent": 0, "send_time": "", "settings": {"title": "Draft"}}
    stats = campaign_stats(draft, None)
    assert stats["send_time"] is None and stats["open_rate"] is None and stats["bounces"] is None
    sending = {**draft, "status": "sending", "report_summary": {"open_rate": 0.25, "click_rate": 0.05}}
    assert (campaign_stats(sending, None)["open_rate"], campaign_stats(sending, None)["click_rate"]) == (0.25, 0.05)


def test_rate_units():
    assert percent_to_fraction(64.7) == pytest.approx(0.647)
    assert percent_to_fraction("") is None and report_fraction(None) is None
    with pytest.raises(ValueError, match="not a fraction"):
        report_fraction(64.7)
