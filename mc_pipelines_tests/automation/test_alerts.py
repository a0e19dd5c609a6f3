"""Alerts: a failed run and failed asset checks reach a webhook receiver on loopback as
Slack-compatible JSON; the webhook URL (a secret) appears in no log line, event or exception;
nothing is sent while no URL is configured."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from dagster import (
    AssetCheckEvaluation,
    AssetCheckSeverity,
    AssetKey,
    DagsterEventType,
    build_run_status_sensor_context,
    build_sensor_context,
    instance_for_test,
)

from mc_pipelines.automation.alerts import check_failure_alert, run_failure_alert
from mc_pipelines.resources import (
    ALERT_WEBHOOK_URL_ENV,
    AlertDeliveryError,
    AlertWebhook,
    project_resources,
)
from mc_pipelines.store.connections import update_connection
from mc_pipelines_tests.support.app_data import (
    add_contacts,
    add_org,
    connect_to_emulator,
    contact_row,
)
from mc_pipelines_tests.support.dagster_runs import materialize_sync
from mc_pipelines_tests.support.secret_scan import capture_text, register_secret, scanned_instance

SECRET_PATH = "/services/T0TEST/B0TEST/x9SecretWebhookToken42"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "alerts"


def keep_payload(name: str, payload: dict) -> None:
    """The captured payload, for the record (test-artifacts/alerts/, not committed)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / f"{name}.json").write_text(json.dumps(payload, indent=2, ensure_ascii=False))
    capture_text(f"{name} alert payload", json.dumps(payload))


@dataclass
class Receiver:
    """A webhook receiver on loopback that records what it is sent and answers `status`."""

    url: str = field(default="", repr=False)
    status: int = 200
    posts: list[tuple[str, dict]] = field(default_factory=list, repr=False)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    box = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            box.posts.append((self.path, json.loads(body)))
            self.send_response(box.status)
            self.end_headers()

        def log_message(self, *args) -> None:  # the access log would print the secret path
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    box.url = f"http://127.0.0.1:{server.server_address[1]}{SECRET_PATH}"
    register_secret(box.url)  # the session-wide scan fails the run if it shows up anywhere
    try:
        yield box
    finally:
        server.shutdown()
        server.server_close()


def test_a_failed_run_is_posted_and_the_url_stays_secret(pg_app_engine, emulator, receiver, caplog):
    caplog.set_level("DEBUG")
    add_org(pg_app_engine, "acme")
    add_contacts(pg_app_engine, [contact_row("acme", 1, "ann@acme-mail.io")])
    connect_to_emulator(pg_app_engine, emulator, "acme")
    # connect refuses a map that does not fit the audience; this one stopped fitting after connect
    update_connection(pg_app_engine, "acme", merge_fields={"NICK": "first_name"})
    with scanned_instance() as instance:
        result = materialize_sync(instance, "acme", pg_app_engine, emulator, raise_on_error=False)
        assert not result.success
        run = instance.get_run_by_id(result.run_id)
        [failure] = [e.event_log_entry.dagster_event for e in instance.get_records_for_run(
            result.run_id, of_type=DagsterEventType.RUN_FAILURE).records]
        context = build_run_status_sensor_context(
            sensor_name="run_failure_alert", dagster_event=failure, dagster_instance=instance,
            dagster_run=run, resources={"alerts": AlertWebhook(url=receiver.url)})
        assert run_failure_alert(context) is None

        [(path, payload)] = receiver.posts
        assert path == SECRET_PATH
        assert payload["text"].startswith("Run failed: ") and "(org acme)" in payload["text"]
        assert "`audience_sync`" in payload["text"]
        assert "merge field mapping does not fit the audience" in payload["text"]
        assert [b["type"] for b in payload["blocks"]] == ["header", "section", "context"]
        assert result.run_id in payload["blocks"][2]["elements"][0]["text"]
        keep_payload("run_failure", payload)
        events = "\n".join(str(e) for e in instance.all_logs(result.run_id))
    for text in (caplog.text, events, json.dumps(payload)):
        assert receiver.url not in text and "x9SecretWebhookToken42" not in text


def _tick(instance, cursor: str | None, url: str | None):
    from mc_pipelines.definitions import defs  # the checks watched are the code location's

    context = build_sensor_context(instance=instance, cursor=cursor, definitions=defs,
                                   resources={"alerts": AlertWebhook(url=url)})
    return check_failure_alert(context)


ASSET_OF = {"invalid_email_rate": "consented_contacts", "mass_unsubscribe_guard": "audience_sync"}


def _evaluation(check: str, passed: bool, description: str, org: str = "acme",
                severity: AssetCheckSeverity = AssetCheckSeverity.WARN) -> AssetCheckEvaluation:
    # (runless evaluations of one check are unique per partition: each gets its own org here)
    return AssetCheckEvaluation(asset_key=AssetKey(ASSET_OF[check]), check_name=check, passed=passed,
                                severity=severity, description=description, partition=org)


def test_failed_checks_are_posted_once_each_and_retried_when_the_post_fails(receiver, caplog):
    caplog.set_level("DEBUG")
    with instance_for_test() as instance:
        instance.report_runless_asset_event(_evaluation("invalid_email_rate", False, "before the sensor started", "hooli"))
        first = _tick(instance, None, receiver.url)
        assert first.cursor and receiver.posts == []  # no alert for history

        instance.report_runless_asset_event(_evaluation("invalid_email_rate", True, "0.0 % of rows failed", "globex"))
        instance.report_runless_asset_event(_evaluation(
            "invalid_email_rate", False, "12.5 % of rows failed, e.g. contact 7 <bob@example.com>"))
        instance.report_runless_asset_event(_evaluation(
            "mass_unsubscribe_guard", False, "would unsubscribe 60 of 100", severity=AssetCheckSeverity.ERROR))
        second = _tick(instance, first.cursor, receiver.url)
        [(_, payload)] = receiver.posts
        assert payload["text"].splitlines() == [
            "2 asset checks failed",
            "• WARN `consented_contacts` check `invalid_email_rate` (org acme): 12.5 % of rows failed, e.g. "
            "contact 7 <<email>>",
            "• ERROR `audience_sync` check `mass_unsubscribe_guard` (org acme): would unsubscribe 60 of 100",
        ]
        assert "bob@example.com" not in json.dumps(payload)  # alerts carry no contact data
        keep_payload("check_failure", payload)

        third = _tick(instance, second.cursor, receiver.url)  # nothing new: nothing sent
        assert third.skip_reason and len(receiver.posts) == 1 and third.cursor == second.cursor

        receiver.status = 500
        instance.report_runless_asset_event(_evaluation("invalid_email_rate", False, "30 % of rows failed", "initech"))
        with pytest.raises(AlertDeliveryError) as refused:
            _tick(instance, second.cursor, receiver.url)
        assert "HTTP 500" in str(refused.value) and receiver.url not in str(refused.value)
        assert ALERT_WEBHOOK_URL_ENV in str(refused.value)
        receiver.status = 200
        _tick(instance, second.cursor, receiver.url)  # the tick that failed kept its cursor: sent again
        assert [p["text"].splitlines()[0] for _, p in receiver.posts] == [
            "2 asset checks failed", "1 asset check failed", "1 asset check failed"]
    assert receiver.url not in caplog.text and "x9SecretWebhookToken42" not in caplog.text


def test_alerts_are_off_without_a_url(receiver, monkeypatch):
    monkeypatch.delenv(ALERT_WEBHOOK_URL_ENV, raising=False)
    alerts = project_resources()["alerts"]
    assert not AlertWebhook(url="").enabled
    with instance_for_test() as instance:
        first = _tick(instance, None, None)
        instance.report_runless_asset_event(_evaluation("invalid_email_rate", False, "failed"))
        off = _tick(instance, first.cursor, "")
        assert "alerts off" in off.skip_reason.skip_message and off.cursor != first.cursor
    context = build_sensor_context(resources={"alerts": alerts})
    assert context.resources.alerts.enabled is False
    assert receiver.posts == []
