"""Webhooks (MAILCHIMP.md §9): the validation GET, and deliveries of what people, marketers and
API writes do, to a real HTTP receiver on 127.0.0.1."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from mailchimp_marketing.api_client import ApiClientError

from mailchimp_emulator.harness import EmulatorServer

from .helpers import Receiver, h, put, sdk_error, wait_for

ALL_EVENTS = {k: True for k in ("subscribe", "unsubscribe", "profile", "cleaned", "upemail")}


def _hook(sdk: Any, list_id: str, receiver: Receiver, **sources: bool) -> dict[str, Any]:
    body: dict[str, Any] = {"url": f"{receiver.url}/mc?secret=t0k", "events": ALL_EVENTS}
    if sources:
        body["sources"] = sources
    return sdk.lists.create_list_webhook(list_id, body)


def _deliveries(emu: EmulatorServer, api_key: str, list_id: str, n: int) -> list[dict[str, Any]]:
    return wait_for(
        lambda: (d := emu.webhook_deliveries(api_key, list_id))
        and len(d) >= n
        and all(x["done"] for x in d)
        and d
    )


def test_create_sends_a_validation_get_and_refuses_a_failing_url(
    sdk: Any, list_id: str, receiver: Receiver
) -> None:
    receiver.get_status = 404
    with pytest.raises(ApiClientError) as exc:
        _hook(sdk, list_id, receiver)
    status, body = sdk_error(exc)
    assert status == 400 and body["detail"].startswith("We couldn't verify the URL is working.")
    assert "HTTP Code: 404" in body["detail"]
    assert sdk.lists.get_list_webhooks(list_id)["total_items"] == 0
    receiver.get_status = 200
    _hook(sdk, list_id, receiver)
    gets = [r for r in receiver.requests if r["method"] == "GET"]
    assert len(gets) == 2 and gets[-1]["headers"]["User-Agent"] == "MailChimp.com WebHook Validator"
    with pytest.raises(ApiClientError) as exc:  # nothing listening
        sdk.lists.create_list_webhook(list_id, {"url": "http://127.0.0.1:9/x", "events": ALL_EVENTS})
    assert sdk_error(exc)[0] == 400


def test_people_and_marketer_events_are_delivered_form_encoded(
    emu: EmulatorServer, api_key: str, sdk: Any, list_id: str, receiver: Receiver
) -> None:
    put(sdk, list_id, "pat@acme-corp.com", status_if_new="subscribed", merge_fields={"FNAME": "Pat"})
    _hook(sdk, list_id, receiver)
    # deliveries run concurrently (no order is promised): each event is awaited before the next,
    # so the receiver's order can be compared with the events'
    events = [
        ("pat@acme-corp.com", "unsubscribe", {"reason": "No thanks"}),
        ("pat@acme-corp.com", "subscribe", {}),  # signup form again
        ("pat@acme-corp.com", "profile", {"email_address": "pat.new@acme-corp.com"}),
        ("pat.new@acme-corp.com", "cleaned", {}),
        ("newbie@acme-corp.com", "subscribe", {}),  # a new signup
        ("newbie@acme-corp.com", "archive", {}),
    ]
    for n, (email, kind, fields) in enumerate(events, start=1):
        emu.member_event(api_key, list_id, email, kind, **fields)
        wait_for(lambda n=n: len(receiver.posts()) >= n)
    deliveries = _deliveries(emu, api_key, list_id, 6)
    assert [(d["type"], d["source"]) for d in deliveries] == [
        ("unsubscribe", "user"), ("subscribe", "user"), ("upemail", "user"),
        ("cleaned", "admin"), ("subscribe", "user"), ("unsubscribe", "admin"),
    ]  # fmt: skip
    assert all(d["attempts"] == [200] and d["delivered"] for d in deliveries)
    posts = receiver.posts()
    assert [p["type"] for p in posts] == [d["type"] for d in deliveries]
    unsub, sub, upemail, cleaned, _, archived = posts
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", unsub["fired_at"])
    assert unsub["data[action]"] == "unsub" and unsub["data[reason]"] == "manual"
    assert unsub["data[email]"] == "pat@acme-corp.com" and unsub["data[list_id]"] == list_id
    assert unsub["data[merges][FNAME]"] == "Pat" and unsub["data[merges][EMAIL]"] == "pat@acme-corp.com"
    assert sub["data[email]"] == "pat@acme-corp.com"
    assert (upemail["data[old_email]"], upemail["data[new_email]"]) == (
        "pat@acme-corp.com",
        "pat.new@acme-corp.com",
    )
    assert upemail["data[new_id]"] == h("pat.new@acme-corp.com")[7:17]
    assert cleaned["data[reason]"] == "hard" and cleaned["data[email]"] == "pat.new@acme-corp.com"
    assert archived["data[action]"] == "delete"
    req = next(r for r in receiver.requests if r["method"] == "POST")
    assert req["headers"]["Content-Type"] == "application/x-www-form-urlencoded"
    assert req["headers"]["User-Agent"] == "MailChimp.com"
    newbie = sdk.lists.get_list_member(list_id, h("newbie@acme-corp.com"))
    assert newbie["status"] == "archived" and newbie["source"] == "Hosted Signup Form"


def test_api_writes_fire_only_when_the_api_source_is_enabled(
    emu: EmulatorServer, api_key: str, sdk: Any, list_id: str, receiver: Receiver
) -> None:
    hook = _hook(sdk, list_id, receiver)  # default sources: user + admin, not api
    put(sdk, list_id, "quiet@acme-corp.com", status_if_new="subscribed")
    sdk.lists.update_list_member(list_id, h("quiet@acme-corp.com"), {"status": "unsubscribed"})
    time.sleep(0.3)
    assert emu.webhook_deliveries(api_key, list_id) == [] and receiver.posts() == []
    sdk.lists.update_list_webhook(list_id, hook["id"], {"sources": {"api": True}})
    sdk.lists.update_list_member(list_id, h("quiet@acme-corp.com"), {"status": "subscribed"})
    sdk.lists.update_list_member(
        list_id, h("quiet@acme-corp.com"), {"merge_fields": {"FNAME": "Q"}}
    )
    sdk.lists.delete_list_member(list_id, h("quiet@acme-corp.com"))
    deliveries = _deliveries(emu, api_key, list_id, 3)
    assert [(d["type"], d["source"]) for d in deliveries] == [
        ("subscribe", "api"), ("profile", "api"), ("unsubscribe", "api"),
    ]  # fmt: skip
    # (deliveries go out concurrently: the receiver may see them in another order)
    assert [p["data[merges][FNAME]"] for p in receiver.posts() if p["type"] == "profile"] == ["Q"]


def test_a_failing_receiver_gets_bounded_retries_without_blocking_the_api(
    emu: EmulatorServer, api_key: str, sdk: Any, list_id: str, receiver: Receiver
) -> None:
    put(sdk, list_id, "retry@acme-corp.com", status_if_new="subscribed")
    put(sdk, list_id, "never@acme-corp.com", status_if_new="subscribed")
    _hook(sdk, list_id, receiver)
    receiver.statuses = [500, 503]  # the first delivery succeeds on the third attempt
    start = time.monotonic()
    emu.member_event(api_key, list_id, "retry@acme-corp.com", "admin_unsubscribe")
    assert time.monotonic() - start < 0.5  # the admin call did not wait for the deliveries
    first = _deliveries(emu, api_key, list_id, 1)[0]
    assert first["attempts"] == [500, 503, 200] and first["delivered"]
    receiver.statuses = [500] * 10
    emu.member_event(api_key, list_id, "never@acme-corp.com", "admin_unsubscribe")
    second = _deliveries(emu, api_key, list_id, 2)[1]
    assert second["attempts"] == [500, 500, 500, 500] and not second["delivered"]
    assert len(receiver.posts()) == 3 + 4


def test_tag_changes_by_a_marketer_neither_bump_last_changed_nor_fire(
    emu: EmulatorServer, api_key: str, sdk: Any, list_id: str, receiver: Receiver
) -> None:
    m = put(sdk, list_id, "tagged@acme-corp.com", status_if_new="subscribed")
    _hook(sdk, list_id, receiver)
    emu.advance_clock(3)
    emu.tag_member(api_key, list_id, m["id"], add=["VIP"])
    got = sdk.lists.get_list_member(list_id, m["id"])
    assert got["last_changed"] == m["last_changed"] and [t["name"] for t in got["tags"]] == ["VIP"]
    emu.member_event(api_key, list_id, m["id"], "admin_unsubscribe")
    assert sdk.lists.get_list_member(list_id, m["id"])["last_changed"] > m["last_changed"]
    assert [d["type"] for d in _deliveries(emu, api_key, list_id, 1)] == ["unsubscribe"]
