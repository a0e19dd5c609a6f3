"""Mailchimp's official Python SDK against the emulator, continued: tags and segments, archive
and permanent delete, campaigns, reports, webhooks, batches."""

from __future__ import annotations

import io
import json
import tarfile
import time
from typing import Any

import httpx
import pytest
from mailchimp_marketing.api_client import ApiClientError

from mailchimp_emulator.harness import EmulatorServer

from .helpers import Receiver, h, put, sdk_error

# ---- tags and segments ----------------------------------------------------------------------


def test_member_tags_and_marketer_tags(
    sdk: Any, list_id: str, emu: EmulatorServer, api_key: str
) -> None:
    m = put(sdk, list_id, "t1@acme-corp.com", status_if_new="subscribed")
    resp = sdk.lists.update_list_member_tags(
        list_id,
        m["id"],
        {
            "tags": [
                {"name": "Customers", "status": "active"},
                {"name": "Gone", "status": "inactive"},
            ]
        },
    )
    assert resp.status_code == 204 and resp.text == ""
    emu.tag_member(api_key, list_id, m["id"], add=["Marketer pick"])
    tags = sdk.lists.get_list_member_tags(list_id, m["id"])
    assert [t["name"] for t in tags["tags"]] == ["Customers", "Marketer pick"] and tags[
        "total_items"
    ] == 2
    assert all({"id", "name", "date_added"} <= t.keys() for t in tags["tags"])
    member = sdk.lists.get_list_member(list_id, m["id"])
    assert member["tags_count"] == 2 and {t["name"] for t in member["tags"]} == {
        "Customers",
        "Marketer pick",
    }
    sdk.lists.update_list_member_tags(
        list_id, m["id"], {"tags": [{"name": "customers", "status": "inactive"}]}
    )
    assert [t["name"] for t in sdk.lists.get_list_member(list_id, m["id"])["tags"]] == [
        "Marketer pick"
    ]
    with pytest.raises(ApiClientError) as exc:
        sdk.lists.update_list_member_tags(
            list_id, h("ghost@acme-corp.com"), {"tags": [{"name": "X", "status": "active"}]}
        )
    assert sdk_error(exc)[0] == 404
    segments = sdk.lists.list_segments(list_id, type="static")
    assert {s["name"] for s in segments["segments"]} == {"Customers", "Marketer pick"}


def test_segments_create_batch_members(sdk: Any, list_id: str) -> None:
    emails = [f"s{i:03d}@acme-corp.com" for i in range(600)]
    sdk.lists.batch_list_members(
        list_id, {"members": [{"email_address": e, "status": "subscribed"} for e in emails[:500]]}
    )
    sdk.lists.batch_list_members(
        list_id, {"members": [{"email_address": e, "status": "subscribed"} for e in emails[500:]]}
    )
    seg = sdk.lists.create_segment(list_id, {"name": "Employees", "static_segment": emails[:3]})
    assert seg["type"] == "static" and seg["member_count"] == 3 and isinstance(seg["id"], int)
    with pytest.raises(ApiClientError) as exc:
        sdk.lists.batch_segment_members({"members_to_add": emails[:501]}, list_id, seg["id"])
    assert sdk_error(exc)[0] == 400
    out = sdk.lists.batch_segment_members(
        {
            "members_to_add": [*emails[3:500], "stranger@acme-corp.com"],
            "members_to_remove": emails[:2],
        },
        list_id,
        seg["id"],
    )
    assert out["total_added"] == 497 and out["total_removed"] == 2 and out["error_count"] == 1
    assert out["errors"][0]["email_addresses"] == ["stranger@acme-corp.com"]
    assert {"members_added", "members_removed"} <= out.keys()
    assert sdk.lists.get_segment(list_id, seg["id"])["member_count"] == 498
    page = sdk.lists.get_segment_members_list(list_id, seg["id"], count=5)
    assert page["total_items"] == 498 and len(page["members"]) == 5
    listed = sdk.lists.list_segments(list_id)
    assert listed["total_items"] == 1 and listed["segments"][0]["name"] == "Employees"
    assert sdk.lists.get_list_member(list_id, emails[10])["tags"] == [
        {"id": seg["id"], "name": "Employees"}
    ]


# ---- archive and permanent delete -----------------------------------------------------------


def test_delete_list_member_archives_then_405(
    sdk: Any, list_id: str, emu: EmulatorServer, api_key: str
) -> None:
    m = put(sdk, list_id, "arch@acme-corp.com", status_if_new="subscribed")
    resp = sdk.lists.delete_list_member(list_id, m["id"])
    assert resp.status_code == 204
    assert sdk.lists.get_list_member(list_id, m["id"])["status"] == "archived"
    with pytest.raises(ApiClientError) as exc:
        sdk.lists.delete_list_member(list_id, m["id"])
    status, body = sdk_error(exc)
    assert (status, body["title"]) == (405, "Method Not Allowed")
    assert body["detail"].startswith("This list member cannot be removed.")
    pending = put(sdk, list_id, "pend@acme-corp.com", status_if_new="pending")
    cleaned = put(sdk, list_id, "bounce@acme-corp.com", status_if_new="subscribed")
    emu.member_event(api_key, list_id, cleaned["id"], "cleaned")
    for member in (pending, cleaned):
        with pytest.raises(ApiClientError) as exc:
            sdk.lists.delete_list_member(list_id, member["id"])
        assert sdk_error(exc)[0] == 405
    back = put(sdk, list_id, "arch@acme-corp.com", status_if_new="subscribed")
    assert back["status"] == "subscribed"


def test_delete_permanent_then_forgotten_email(sdk: Any, list_id: str) -> None:
    m = put(sdk, list_id, "gdpr@acme-corp.com", status_if_new="subscribed")
    assert sdk.lists.delete_list_member_permanent(list_id, m["id"]).status_code == 204
    with pytest.raises(ApiClientError) as exc:
        sdk.lists.get_list_member(list_id, m["id"])
    assert sdk_error(exc)[0] == 404
    with pytest.raises(ApiClientError) as exc:
        sdk.lists.delete_list_member_permanent(list_id, m["id"])
    assert sdk_error(exc)[0] == 404
    detail = (
        "gdpr@acme-corp.com was permanently deleted and cannot be re-imported. The contact must "
        "re-subscribe to get back on the list."
    )
    with pytest.raises(ApiClientError) as exc:
        put(sdk, list_id, "gdpr@acme-corp.com", status_if_new="subscribed")
    status, body = sdk_error(exc)
    assert (status, body["title"], body["detail"]) == (
        400,
        "Forgotten Email Not Subscribed",
        detail,
    )
    with pytest.raises(ApiClientError) as exc:
        sdk.lists.add_list_member(
            list_id, {"email_address": "gdpr@acme-corp.com", "status": "subscribed"}
        )
    assert sdk_error(exc)[1]["title"] == "Forgotten Email Not Subscribed"
    out = sdk.lists.batch_list_members(
        list_id, {"members": [{"email_address": "gdpr@acme-corp.com", "status": "subscribed"}]}
    )
    assert out["errors"][0]["error"] == detail and out["errors"][0]["error_code"] == "ERROR_GENERIC"


# ---- campaigns, reports, webhooks, batches ------------------------------------------------


def test_campaigns_and_reports(sdk: Any, list_id: str, emu: EmulatorServer, api_key: str) -> None:
    sent = emu.create_campaign(
        api_key,
        list_id=list_id,
        title="Spring sale",
        status="sent",
        emails_sent=200,
        unique_opens=50,
        unique_subscriber_clicks=20,
        unsubscribed=3,
        hard_bounces=2,
        soft_bounces=1,
        send_time="2024-03-01T10:00:00+00:00",
    )
    draft = emu.create_campaign(api_key, list_id=list_id, title="Draft", status="save")
    c = sdk.campaigns.get(sent["id"])
    assert (
        c["status"] == "sent"
        and c["emails_sent"] == 200
        and c["settings"]["title"] == "Spring sale"
    )
    assert c["recipients"]["list_id"] == list_id and c["send_time"] == "2024-03-01T10:00:00+00:00"
    assert c["report_summary"]["open_rate"] == 0.25
    listed = sdk.campaigns.list(status="sent")
    assert [x["id"] for x in listed["campaigns"]] == [sent["id"]] and listed["total_items"] == 1
    report = sdk.reports.get_campaign_report(sent["id"])
    assert report["opens"]["open_rate"] == 0.25 and report["clicks"]["click_rate"] == 0.1
    assert report["unsubscribed"] == 3 and report["bounces"]["hard_bounces"] == 2
    assert report["list_stats"]["open_rate"] == 25.0
    with pytest.raises(ApiClientError) as exc:
        sdk.reports.get_campaign_report(draft["id"])
    assert sdk_error(exc)[0] == 404
    emu.patch_campaign(api_key, sent["id"], unique_opens=80)
    assert sdk.reports.get_campaign_report(sent["id"])["opens"]["unique_opens"] == 80
    with pytest.raises(ApiClientError) as exc:
        sdk.campaigns.get("ffffffffff")
    assert sdk_error(exc)[0] == 404


def test_webhooks_create_list_delete(sdk: Any, list_id: str, receiver: Receiver) -> None:
    body = {
        "url": f"{receiver.url}/hooks/mc?secret=s3",
        "events": {"unsubscribe": True, "cleaned": True},
    }
    hook = sdk.lists.create_list_webhook(list_id, body)
    assert hook["events"]["unsubscribe"] is True and hook["sources"] == {
        "user": True,
        "admin": True,
        "api": False,
    }
    with pytest.raises(ApiClientError) as exc:
        sdk.lists.create_list_webhook(
            list_id, {**body, "url": f"{receiver.url}/hooks/mc?secret=other"}
        )
    assert sdk_error(exc)[0] == 400
    assert sdk.lists.get_list_webhooks(list_id)["total_items"] == 1
    assert sdk.lists.delete_list_webhook(list_id, hook["id"]).status_code == 204
    assert sdk.lists.get_list_webhooks(list_id)["webhooks"] == []


def test_batches_start_status_and_results(sdk: Any, list_id: str) -> None:
    ops = [
        {
            "method": "PUT",
            "path": f"/lists/{list_id}/members/{h('batch1@acme-corp.com')}",
            "operation_id": "op-1",
            "body": json.dumps(
                {"email_address": "batch1@acme-corp.com", "status_if_new": "subscribed"}
            ),
        },
        {
            "method": "GET",
            "path": f"/lists/{list_id}/members/{h('nobody@acme-corp.com')}",
            "operation_id": "op-2",
        },
        {
            "method": "GET",
            "path": f"/lists/{list_id}/members",
            "params": {"count": 1},
            "operation_id": "op-3",
        },
    ]
    batch = sdk.batches.start({"operations": ops})
    assert (
        batch["status"] == "pending"
        and batch["response_body_url"] == ""
        and batch["completed_at"] == ""
    )
    deadline = time.monotonic() + 10
    while (status := sdk.batches.status(batch["id"]))["status"] != "finished":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert (
        status["total_operations"],
        status["finished_operations"],
        status["errored_operations"],
    ) == (3, 3, 1)
    assert sdk.batches.list()["total_items"] == 1
    archive = httpx.get(status["response_body_url"]).content
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        results = [
            r
            for member in tar.getmembers()
            if member.isfile()
            for r in json.loads(tar.extractfile(member).read())  # type: ignore[union-attr]
        ]
    by_id = {r["operation_id"]: r for r in results}
    assert (
        by_id["op-1"]["status_code"] == 200
        and json.loads(by_id["op-1"]["response"])["status"] == "subscribed"
    )
    assert by_id["op-2"]["status_code"] == 404
    assert json.loads(by_id["op-3"]["response"])["total_items"] == 1
    with pytest.raises(ApiClientError) as exc:
        sdk.batches.start(
            {"operations": [{"method": "PUT", "path": "/lists", "body": {"not": "a string"}}]}
        )
    assert sdk_error(exc)[0] == 400
