"""The webhook receiver: secret check, Mailchimp's validation GET, idempotent storage of the
form-encoded events, consent withdrawal — in process (Starlette's TestClient) and over real HTTP."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
import sqlalchemy as sa
from starlette.exceptions import StarletteDeprecationWarning

from mc_pipelines.actions import webhook_secrets
from mc_pipelines.store.tables import consent_events, contacts, mailchimp_webhook_events
from mc_pipelines.webhooks.app import create_app
from mc_pipelines.webhooks.events import WebhookPayloadError, parse_event
from mc_pipelines_tests.support.app_data import add_contacts, add_org, contact_row
from mc_pipelines_tests.support.db import connect_stub, table_snapshot

with warnings.catch_warnings():  # it prefers `httpx2`, not installed; the httpx client works the same
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

# Mailchimp's canonical webhook samples, one per event type
SAMPLES = {
    "subscribe": {"type": "subscribe", "fired_at": "2009-03-26 21:35:57", "data[id]": "8a25ff1d98",
                  "data[list_id]": "a6b5da1054", "data[email]": "api@mailchimp.com", "data[email_type]": "html",
                  "data[merges][EMAIL]": "api@mailchimp.com", "data[merges][FNAME]": "Mailchimp",
                  "data[merges][LNAME]": "API", "data[merges][INTERESTS]": "Group1,Group2",
                  "data[ip_opt]": "10.20.10.30", "data[ip_signup]": "10.20.10.30"},
    "unsubscribe": {"type": "unsubscribe", "fired_at": "2009-03-26 21:40:57", "data[action]": "unsub",
                    "data[reason]": "manual", "data[id]": "8a25ff1d98", "data[list_id]": "a6b5da1054",
                    "data[email]": "api+unsub@mailchimp.com", "data[email_type]": "html",
                    "data[merges][EMAIL]": "api+unsub@mailchimp.com", "data[campaign_id]": "cb398d21d2",
                    "data[ip_opt]": "10.20.10.30"},
    "profile": {"type": "profile", "fired_at": "2009-03-26 21:31:21", "data[id]": "8a25ff1d98",
                "data[list_id]": "a6b5da1054", "data[email]": "api@mailchimp.com", "data[email_type]": "html",
                "data[merges][FNAME]": "Mailchimp", "data[ip_opt]": "10.20.10.30"},
    "upemail": {"type": "upemail", "fired_at": "2009-03-26 22:15:09", "data[list_id]": "a6b5da1054",
                "data[new_id]": "51da8c3259", "data[new_email]": "api+new@mailchimp.com",
                "data[old_email]": "api+old@mailchimp.com"},
    "cleaned": {"type": "cleaned", "fired_at": "2009-03-26 22:01:00", "data[list_id]": "a6b5da1054",
                "data[campaign_id]": "4fjk2ma9xd", "data[reason]": "hard", "data[email]": "api+cleaned@mailchimp.com"},
    "campaign": {"type": "campaign", "fired_at": "2009-03-26 21:31:21", "data[id]": "5aa2102003",
                 "data[subject]": "Test Campaign Subject", "data[status]": "sent", "data[reason]": "",
                 "data[list_id]": "a6b5da1054"},
}
FORM = {"Content-Type": "application/x-www-form-urlencoded", "User-Agent": "MailChimp.com"}


@pytest.fixture
def receiver(app_engine):
    """An org with a webhook secret, two contacts, and the receiver app on the test DB."""
    add_org(app_engine, "acme")
    add_org(app_engine, "globex")
    connect_stub(app_engine, "acme", audience_id="a6b5da1054")
    connect_stub(app_engine, "globex")
    add_contacts(app_engine, [contact_row("acme", 1, "API+Unsub@mailchimp.com"),
                              contact_row("acme", 2, "api+cleaned@mailchimp.com"),
                              contact_row("globex", 3, "api+unsub@mailchimp.com")])
    secret = webhook_secrets.generate_webhook_secret(app_engine, "acme", actor="test")
    with TestClient(create_app(app_engine)) as client:
        yield client, secret, app_engine


def url(org_id: str, secret: str) -> str:
    return webhook_secrets.WEBHOOK_PATH.format(org_id=org_id, secret=secret)


def stored_events(engine) -> list[dict]:
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.select(mailchimp_webhook_events))]


def consent(engine, contact_id: int) -> bool:
    with engine.connect() as conn:
        return conn.execute(sa.select(contacts.c.marketing_consent).where(contacts.c.id == contact_id)).scalar_one()


def test_wrong_secret_unknown_org_and_disconnected_org_are_refused(receiver):
    client, secret, engine = receiver
    before = table_snapshot(engine)
    body = urlencode(SAMPLES["unsubscribe"])
    for path in (url("acme", secret + "x"), url("acme", "nope"), url("nobody", secret), url("globex", secret)):
        assert client.post(path, content=body, headers=FORM).status_code == 403
        assert client.get(path).status_code == 403
    assert table_snapshot(engine) == before


def test_validation_get_and_every_event_type_stored_once(receiver):
    client, secret, engine = receiver
    assert client.get(url("acme", secret), headers={"User-Agent": "MailChimp.com WebHook Validator"}).text == "ok"
    for sample in SAMPLES.values():
        first = client.post(url("acme", secret), content=urlencode(sample), headers=FORM)
        again = client.post(url("acme", secret), content=urlencode(sample), headers=FORM)
        assert (first.status_code, first.json()["status"]) == (200, "stored")
        assert (again.status_code, again.json()["status"]) == (200, "duplicate")
    events = {e["event_type"]: e for e in stored_events(engine)}
    assert sorted(events) == sorted(SAMPLES) and len(stored_events(engine)) == len(SAMPLES)
    assert events["upemail"]["email"] == "api+new@mailchimp.com"
    assert events["subscribe"]["payload"]["data"]["merges"]["FNAME"] == "Mailchimp"
    assert events["campaign"]["email"] is None and events["campaign"]["audience_id"] == "a6b5da1054"
    assert {e["org_id"] for e in events.values()} == {"acme"}


def test_unsubscribe_and_cleaned_withdraw_consent_in_that_org_only(receiver):
    client, secret, engine = receiver
    for kind in ("unsubscribe", "cleaned"):
        response = client.post(url("acme", secret), content=urlencode(SAMPLES[kind]), headers=FORM)
        assert response.json()["consent_withdrawn"] == 1
    assert not consent(engine, 1) and not consent(engine, 2)
    assert consent(engine, 3)  # same address in another org: untouched
    with engine.connect() as conn:
        sources = conn.execute(sa.select(consent_events.c.contact_id, consent_events.c.source)).all()
    # one source for Mailchimp-side changes, whether the pull or a webhook saw them (LIFECYCLE A5)
    assert sorted(sources) == [(1, "mailchimp"), (2, "mailchimp")]
    assert all(e["processed_at"] is not None for e in stored_events(engine))
    repeat = client.post(url("acme", secret), content=urlencode(SAMPLES["unsubscribe"]), headers=FORM)
    assert repeat.json() == {"status": "duplicate", "consent_withdrawn": 0}


@pytest.mark.parametrize("body, message", [
    ({"type": "bogus", "fired_at": "2009-03-26 21:35:57"}, "unsupported event type"),
    ({"type": "unsubscribe", "fired_at": "26/03/2009", "data[email]": "a@b.co"}, "fired_at"),
    ({"type": "unsubscribe", "fired_at": "2009-03-26 21:35:57", "data[list_id]": "x"}, "without an email"),
])
def test_malformed_deliveries_are_rejected_and_not_stored(receiver, body, message):
    client, secret, engine = receiver
    before = table_snapshot(engine)
    response = client.post(url("acme", secret), content=urlencode(body), headers=FORM)
    assert response.status_code == 400 and message in response.text
    assert table_snapshot(engine) == before


def test_parse_event_nests_bracketed_fields_and_keys_retries_alike():
    event = parse_event(urlencode(SAMPLES["subscribe"]))
    assert event.data["merges"] == {"EMAIL": "api@mailchimp.com", "FNAME": "Mailchimp", "LNAME": "API",
                                    "INTERESTS": "Group1,Group2"}
    assert event.list_id == "a6b5da1054" and event.email == "api@mailchimp.com"
    shouting = parse_event(urlencode({**SAMPLES["subscribe"], "data[email]": "API@MailChimp.com"}))
    assert shouting.dedupe_key == event.dedupe_key
    later = parse_event(urlencode({**SAMPLES["subscribe"], "fired_at": "2009-03-26 21:35:58"}))
    assert later.dedupe_key != event.dedupe_key
    with pytest.raises(WebhookPayloadError):
        parse_event(b"")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_mc_pipelines_webhooks_serves_over_real_http(pg_app_engine):
    """`mc-pipelines webhooks` in its own process, on a free loopback port; its output never
    shows the secret (no access log: the secret is in the path)."""
    add_org(pg_app_engine, "acme")
    connect_stub(pg_app_engine, "acme")
    add_contacts(pg_app_engine, [contact_row("acme", 1, "api+unsub@mailchimp.com")])
    secret = webhook_secrets.generate_webhook_secret(pg_app_engine, "acme", actor="test")
    port = _free_port()
    env = {**os.environ, "MC_DATABASE_URL": pg_app_engine.url.render_as_string(hide_password=False)}
    server = subprocess.Popen([str(Path(sys.executable).parent / "mc-pipelines"), "webhooks", "--port", str(port)],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            deadline = time.monotonic() + 30
            while True:
                try:
                    http.get("/healthz")
                    break
                except httpx.TransportError:
                    assert time.monotonic() < deadline and server.poll() is None, "receiver did not start"
                    time.sleep(0.1)
            assert http.get(url("acme", secret)).status_code == 200
            assert http.post(url("acme", "wrong"), data=SAMPLES["unsubscribe"]).status_code == 403
            assert stored_events(pg_app_engine) == []
            responses = [http.post(url("acme", secret), data=SAMPLES["unsubscribe"]) for _ in range(2)]
        assert [r.json()["status"] for r in responses] == ["stored", "duplicate"]
        assert len(stored_events(pg_app_engine)) == 1 and not consent(pg_app_engine, 1)
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=30)
    assert "/mailchimp/webhook/{org_id}/{secret}" in output and secret not in output
