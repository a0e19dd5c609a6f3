"""`campaign_stats` against the emulator on PostgreSQL and SQLite: figures follow Mailchimp, and
campaigns outside the window (or finished) are not fetched at all."""

from __future__ import annotations

from datetime import timedelta

import pytest

from mc_pipelines.assets.campaigns import CampaignStatsConfig, campaign_stats
from mc_pipelines.store import campaigns as campaign_store
from mc_pipelines.store.clock import utcnow
from mc_pipelines.store.connections import disconnect
from mc_pipelines_tests.support.app_data import add_org, connect_to_emulator
from mc_pipelines_tests.support.dagster_runs import materialize_one


def _iso(days_ago: float) -> str:
    return f"{(utcnow() - timedelta(days=days_ago)).replace(microsecond=0).isoformat()}+00:00"


def _gets(emulator, key: str) -> tuple[int, int]:
    """Successful GETs of campaigns and of reports made with this key so far."""
    requests = emulator.stats(key)["requests"]
    return tuple(requests.get(f"GET /{path}/{{campaign_id}}", {}).get("200", 0)
                 for path in ("campaigns", "reports"))


def _rows(engine, org_id: str) -> dict[str, campaign_store.TrackedCampaign]:
    return {c.title or c.campaign_id: c for c in campaign_store.tracked_campaigns(engine, org_id)}


def test_stats_follow_mailchimp_within_the_window_only(app_engine, emulator, dagster_instance):
    add_org(app_engine, "shop")
    conn = connect_to_emulator(app_engine, emulator, "shop")
    key, audience = conn["api_key"], conn["audience_id"]
    figures = {"emails_sent": 200, "unique_opens": 50, "unique_subscriber_clicks": 10,
               "unsubscribed": 1, "hard_bounces": 2, "soft_bounces": 1}
    made = {
        "recent": emulator.create_campaign(key, list_id=audience, title="recent", status="sent",
                                           send_time=_iso(5), **figures),
        "old": emulator.create_campaign(key, list_id=audience, title="old", status="sent",
                                        send_time=_iso(45), **figures),
        "sending": emulator.create_campaign(key, list_id=audience, title="sending", status="sending",
                                            **figures),
        "draft": emulator.create_campaign(key, list_id=audience, title="draft", status="save"),
        "canceled": emulator.create_campaign(key, list_id=audience, title="canceled",
                                             status="canceled", **figures),
        "gone": emulator.create_campaign(key, list_id=audience, title="gone", status="schedule"),
    }
    for campaign in made.values():
        campaign_store.track_campaign(app_engine, "shop", campaign["id"], {}, actor="test")
    emulator.delete_campaign(key, made["gone"]["id"])

    first = materialize_one(dagster_instance, campaign_stats, "shop", app_engine, emulator)
    assert first["campaigns_refreshed"] == 6 and first["campaigns_skipped"] == 0  # never read yet
    rows = {c.campaign_id: c for c in campaign_store.tracked_campaigns(app_engine, "shop")}
    recent = rows[made["recent"]["id"]]
    assert (recent.status, recent.emails_sent, recent.unsubscribed, recent.bounces) == ("sent", 200, 1, 3)
    assert recent.open_rate == pytest.approx(0.25) and recent.click_rate == pytest.approx(0.05)  # fractions
    assert rows[made["gone"]["id"]].status == "deleted"
    assert rows[made["draft"]["id"]].open_rate is None
    assert first["avg_open_rate"] == pytest.approx(0.25) and first["emails_sent"] == 800

    for name in ("recent", "old", "sending", "canceled"):
        emulator.patch_campaign(key, made[name]["id"], unique_opens=120, unique_subscriber_clicks=40,
                                unsubscribed=4, soft_bounces=5)
    emulator.patch_campaign(key, made["sending"]["id"], status="sent", send_time=_iso(0))
    before = _gets(emulator, key)
    second = materialize_one(dagster_instance, campaign_stats, "shop", app_engine, emulator)
    # refreshed: recent, sending (now sent) and the draft; old, canceled and gone: no call at all
    assert _gets(emulator, key) == (before[0] + 3, before[1] + 2)
    assert (second["campaigns_refreshed"], second["campaigns_skipped"]) == (3, 3)
    rows = {c.campaign_id: c for c in campaign_store.tracked_campaigns(app_engine, "shop")}
    recent = rows[made["recent"]["id"]]
    assert recent.open_rate == pytest.approx(0.6) and recent.click_rate == pytest.approx(0.2)
    assert (recent.unsubscribed, recent.bounces) == (4, 7)
    assert rows[made["sending"]["id"]].status == "sent"
    old = rows[made["old"]["id"]]
    assert old.open_rate == pytest.approx(0.25) and old.refreshed_at < recent.refreshed_at  # untouched
    assert second["avg_open_rate"] == pytest.approx(0.6) and second["emails_sent"] == 400
    table = {r.data["campaign_id"]: r.data for r in second["campaigns"].records}
    assert table[made["old"]["id"]]["action"].startswith("skipped: sent 45 days ago")
    assert {c.description for c in second["campaigns"].schema.columns} >= {
        "Unique opens / emails sent, a fraction in 0..1"}

    wide = materialize_one(dagster_instance, campaign_stats, "shop", app_engine, emulator,
                           CampaignStatsConfig(window_days=60))
    assert wide["campaigns_refreshed"] == 4  # the old one is back inside a 60-day window
    assert _rows(app_engine, "shop")["old"].open_rate == pytest.approx(0.6)


def test_orgs_with_campaigns_to_refresh(app_engine, emulator):
    now = utcnow()
    for org_id in ("busy", "quiet", "gone"):
        add_org(app_engine, org_id)
        connect_to_emulator(app_engine, emulator, org_id)
    old = {"status": "sent", "send_time": now - timedelta(days=40)}
    campaign_store.track_campaign(app_engine, "busy", "b-old", old, actor="test")
    campaign_store.track_campaign(app_engine, "busy", "b-recent",
                                  {"status": "sent", "send_time": now - timedelta(days=2)}, actor="test")
    campaign_store.track_campaign(app_engine, "quiet", "q-old", old, actor="test")
    campaign_store.track_campaign(app_engine, "quiet", "q-canceled", {"status": "canceled"}, actor="test")
    campaign_store.track_campaign(app_engine, "gone", "g-draft", {"status": "save"}, actor="test")
    disconnect(app_engine, "gone", actor="test")

    assert campaign_store.orgs_with_campaigns_to_refresh(app_engine, now) == ["busy"]
    assert campaign_store.orgs_with_campaigns_to_refresh(app_engine, now, window_days=60) == ["busy", "quiet"]
    assert [c.campaign_id for c in campaign_store.campaigns_to_refresh(app_engine, "busy", now)] == ["b-recent"]
