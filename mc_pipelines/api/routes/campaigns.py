"""`/orgs/{org_id}/campaigns`: tracked campaigns — list, get, track, untrack, refresh one now."""

from __future__ import annotations

from mc_pipelines.actions import campaigns as actions
from mc_pipelines.api.endpoint import Call, Endpoint
from mc_pipelines.api.models import Body, Done, Out, RefId, Timestamp
from mc_pipelines.store.campaigns import TrackedCampaign


class TrackBody(Body):
    """The Mailchimp campaign id to track (looked up in the org's account)."""

    campaign_id: RefId


class CampaignOut(Out):
    """A tracked campaign's latest stats (rates are fractions 0..1)."""

    campaign_id: str
    title: str | None
    status: str | None
    audience_id: str | None
    send_time: Timestamp | None
    emails_sent: int | None
    open_rate: float | None
    click_rate: float | None
    unsubscribed: int | None
    bounces: int | None
    refreshed_at: Timestamp | None


class CampaignsOut(Out):
    """The org's tracked campaigns."""

    campaigns: list[CampaignOut]


class TrackOut(Out):
    """A campaign tracked (`new`: False when it already was)."""

    new: bool
    campaign: CampaignOut


def _out(campaign: TrackedCampaign) -> CampaignOut:
    return CampaignOut(**{k: v for k, v in vars(campaign).items() if k != "org_id"})


def list_all(call: Call) -> CampaignsOut:
    """The org's tracked campaigns."""
    return CampaignsOut(campaigns=[_out(c) for c in actions.list_campaigns(call.engine, call.org_id)])


def get_one(call: Call) -> CampaignOut:
    """One tracked campaign."""
    return _out(actions.get_campaign(call.engine, call.org_id, call.path["campaign_id"]))


def track(call: Call) -> TrackOut:
    """Track a campaign of the org's account."""
    body: TrackBody = call.body
    new, campaign = actions.track_campaign(call.engine, call.org_id, body.campaign_id, actor=call.actor)
    return TrackOut(new=new, campaign=_out(campaign))


def untrack(call: Call) -> Done:
    """Stop tracking a campaign."""
    actions.untrack_campaign(call.engine, call.org_id, call.path["campaign_id"], actor=call.actor)
    return Done(changed=True)


def refresh(call: Call) -> CampaignOut:
    """Read a tracked campaign's stats now."""
    return _out(actions.refresh_campaign(call.engine, call.org_id, call.path["campaign_id"], actor=call.actor))


ONE = "/orgs/{org_id}/campaigns/{campaign_id}"
ENDPOINTS = [
    Endpoint("GET", "/orgs/{org_id}/campaigns", "list_campaigns", "Tracked campaigns", list_all,
             response=CampaignsOut, tag="campaigns"),
    Endpoint("POST", "/orgs/{org_id}/campaigns", "track_campaign", "Track a campaign", track,
             body=TrackBody, response=TrackOut, errors=(400, 404, 409), tag="campaigns"),
    Endpoint("GET", ONE, "get_campaign", "One tracked campaign", get_one, response=CampaignOut,
             errors=(400, 404), tag="campaigns"),
    Endpoint("DELETE", ONE, "untrack_campaign", "Stop tracking a campaign", untrack, response=Done,
             errors=(400, 404), tag="campaigns"),
    Endpoint("POST", ONE + "/refresh", "refresh_campaign", "Refresh a tracked campaign's stats now",
             refresh, response=CampaignOut, errors=(400, 404, 409), tag="campaigns"),
]
