"""Tracked campaigns (`campaign_tracking`) and their latest stats.

Columns the pipelines write: `title`, `status` (Mailchimp's campaign status, or `deleted` once
Mailchimp no longer knows the id), `audience_id`, `send_time` (naive UTC), `emails_sent`,
`open_rate` and `click_rate` as FRACTIONS in 0..1 (not percent), `unsubscribed`, `bounces`
(hard + soft + syntax errors) and `refreshed_at` (naive UTC). `deleted_at` belongs to the
application: soft-deleted rows are never refreshed. Which rows are refreshed is decided by
`mc_pipelines.sync.campaign_window`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from mc_pipelines.store import audit
from mc_pipelines.store.clock import new_id, utcnow
from mc_pipelines.store.connections import active_org_ids
from mc_pipelines.store.tables import campaign_tracking as tracking
from mc_pipelines.sync.campaign_window import DEFAULT_WINDOW_DAYS, refresh_decision

STATS_COLUMNS = ("title", "status", "audience_id", "send_time", "emails_sent", "open_rate",
                 "click_rate", "unsubscribed", "bounces")


@dataclass(frozen=True)
class TrackedCampaign:
    """A `campaign_tracking` row that is not soft-deleted."""

    org_id: str
    campaign_id: str
    title: str | None
    status: str | None
    audience_id: str | None
    send_time: datetime | None
    emails_sent: int | None
    open_rate: float | None
    click_rate: float | None
    unsubscribed: int | None
    bounces: int | None
    refreshed_at: datetime | None


def tracked_campaigns(engine: Engine, org_id: str | None = None) -> list[TrackedCampaign]:
    """Live tracked campaigns of one org (or of every org), ordered by org and campaign id."""
    fields = [tracking.c[name] for name in TrackedCampaign.__dataclass_fields__]
    query = (sa.select(*fields).where(tracking.c.deleted_at.is_(None))
             .order_by(tracking.c.org_id, tracking.c.campaign_id))
    if org_id is not None:
        query = query.where(tracking.c.org_id == org_id)
    with engine.connect() as conn:
        return [TrackedCampaign(**row._mapping) for row in conn.execute(query)]


def campaigns_to_refresh(engine: Engine, org_id: str, now: datetime,
                         window_days: int = DEFAULT_WINDOW_DAYS) -> list[TrackedCampaign]:
    """The org's tracked campaigns the refresh rule selects at `now` (naive UTC)."""
    return [c for c in tracked_campaigns(engine, org_id)
            if refresh_decision(c.status, c.send_time, now, window_days).refresh]


def orgs_with_campaigns_to_refresh(engine: Engine, now: datetime,
                                   window_days: int = DEFAULT_WINDOW_DAYS) -> list[str]:
    """Orgs with an active Mailchimp connection and at least one tracked campaign to refresh at
    `now` (naive UTC), sorted — what the campaign-stats schedule fans out over."""
    active = set(active_org_ids(engine))
    return sorted({c.org_id for c in tracked_campaigns(engine) if c.org_id in active
                   and refresh_decision(c.status, c.send_time, now, window_days).refresh})


def save_stats(engine: Engine, org_id: str, stats: Mapping[str, Mapping[str, Any]],
               refreshed_at: datetime) -> None:
    """Store refreshed stats: `stats` maps campaign id → `STATS_COLUMNS` values (missing keys are
    left as they are)."""
    with engine.begin() as conn:
        for campaign_id, values in stats.items():
            conn.execute(
                tracking.update()
                .where(tracking.c.org_id == org_id, tracking.c.campaign_id == campaign_id)
                .values(**{k: v for k, v in values.items() if k in STATS_COLUMNS},
                        refreshed_at=refreshed_at)
            )


def track_campaign(engine: Engine, org_id: str, campaign_id: str, stats: Mapping[str, Any], *,
                   actor: str) -> bool:
    """Start tracking a campaign (or update and un-delete it) with its current stats; audited.
    Returns True when the row is new."""
    values = {k: v for k, v in stats.items() if k in STATS_COLUMNS}
    now = utcnow()
    with engine.begin() as conn:
        existing = conn.execute(sa.select(tracking.c.id).where(
            tracking.c.org_id == org_id, tracking.c.campaign_id == campaign_id)).scalar_one_or_none()
        if existing is None:
            conn.execute(tracking.insert().values(
                id=new_id(), org_id=org_id, campaign_id=campaign_id, refreshed_at=now, **values))
        else:
            conn.execute(tracking.update().where(tracking.c.id == existing).values(
                refreshed_at=now, deleted_at=None, **values))
        audit.record(conn, org_id=org_id, actor=actor, action="track_campaign",
                     detail={"campaign_id": campaign_id, "status": values.get("status"),
                             "new": existing is None})
    return existing is None
