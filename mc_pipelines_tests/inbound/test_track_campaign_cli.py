"""`mc-pipelines track-campaign`: a real campaign id is looked up and tracked; an unknown one is
refused with a clear message, exit 2, and nothing written."""

from __future__ import annotations

import pytest

from mc_pipelines.cli import main
from mc_pipelines.store import audit
from mc_pipelines.store import campaigns as campaign_store
from mc_pipelines_tests.support.app_data import add_org, connect_to_emulator


@pytest.fixture
def cli_env(app_engine, emulator, monkeypatch):
    """The CLI pointed at the test database and the emulator; an org connected to it."""
    monkeypatch.setenv("MC_DATABASE_URL", app_engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("MC_MAILCHIMP_BASE_URL", emulator.base_url_template)
    add_org(app_engine, "cli-org")
    return connect_to_emulator(app_engine, emulator, "cli-org")


def test_track_campaign_accepts_a_real_id(app_engine, emulator, cli_env, capsys):
    campaign = emulator.create_campaign(cli_env["api_key"], list_id=cli_env["audience_id"],
                                        title="Spring sale", status="sent", emails_sent=40,
                                        unique_opens=10, hard_bounces=1)
    assert main(["track-campaign", "--org", "cli-org", "--campaign", campaign["id"]]) == 0
    assert "now tracking campaign" in capsys.readouterr().out
    [row] = campaign_store.tracked_campaigns(app_engine, "cli-org")
    assert (row.campaign_id, row.title, row.status, row.emails_sent, row.bounces) == (
        campaign["id"], "Spring sale", "sent", 40, 1)
    assert row.open_rate == pytest.approx(0.25) and row.audience_id == cli_env["audience_id"]

    assert main(["track-campaign", "--org", "cli-org", "--campaign", campaign["id"]]) == 0
    assert "already tracked" in capsys.readouterr().out
    assert len(campaign_store.tracked_campaigns(app_engine, "cli-org")) == 1
    assert [e["detail"]["new"] for e in audit.entries(app_engine, "cli-org", "track_campaign")] == [True, False]


def test_track_campaign_rejects_an_unknown_id(app_engine, cli_env, capsys):
    assert main(["track-campaign", "--org", "cli-org", "--campaign", "0123456789"]) == 2
    err = capsys.readouterr().err
    assert "campaign '0123456789' was not found in the Mailchimp account of org 'cli-org'" in err
    assert "nothing was written" in err and cli_env["api_key"] not in err
    assert campaign_store.tracked_campaigns(app_engine, "cli-org") == []
    assert audit.entries(app_engine, "cli-org", "track_campaign") == []


def test_track_campaign_names_an_unknown_org(cli_env, capsys):
    assert main(["track-campaign", "--org", "nobody", "--campaign", "0123456789"]) == 2
    assert "org 'nobody' does not exist" in capsys.readouterr().err
