"""Mailchimp's official Python SDK (``mailchimp-marketing``), unchanged, against the emulator:
every call the project relies on, with Mailchimp's status codes, shapes and error texts."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import time
from typing import Any

import httpx
import pytest
from mailchimp_marketing.api_client import ApiClientError

from mailchimp_emulator.harness import EmulatorServer
from mc_pipelines_tests.support.emulator_sdk import sdk_error, sdk_for


def h(email: str) -> str:
    return hashlib.md5(email.lower().encode()).hexdigest()


def put(sdk: Any, list_id: str, email: str, **body: Any) -> dict[str, Any]:
    return sdk.lists.set_list_member(list_id, h(email), {"email_address": email, **body})


# ---- ping, account, auth ------------------------------------------------------------------


def test_ping_and_account_root(sdk: Any, account: dict[str, str]) -> None:
    assert sdk.ping.get() == {"health_status": "Everything's Chimpy!"}
    root = sdk.root.get_root()
    assert root["account_name"] == account["account_name"]
    assert {"account_id", "login_id", "email", "total_subscribers"} <= root.keys()


def test_wrong_dc_missing_key_revoked_and_disabled(emu: EmulatorServer, api_key: str) -> None:
    wrong_dc = sdk_for(emu, api_key, dc="us7")
    with pytest.raises(ApiClientError) as exc:
        wrong_dc.ping.get()
    status, body = sdk_error(exc)
    assert (status, body["title"]) == (401, "API Key Invalid")
    assert (
        body["detail"]
        == "Your API key may be invalid, or you've attempted to access the wrong datacenter."
    )
    assert api_key not in exc.value.text and api_key.split("-")[0] not in exc.value.text

    with pytest.raises(ApiClientError) as exc:
        sdk_for(emu, None).ping.get()
    status, body = sdk_error(exc)
    assert (status, body["title"], body["detail"]) == (
        401,
        "API Key Missing",
        "Your request did not include an API key.",
    )

    with pytest.raises(ApiClientError) as exc:
        sdk_for(emu, "0" * 32 + "-us1").ping.get()
    assert sdk_error(exc)[1]["title"] == "API Key Invalid"

    other = emu.create_account("Disabled Co")["api_key"]
    emu.disable_account(other)
    with pytest.raises(ApiClientError) as exc:
        sdk_for(emu, other).ping.get()
    status, body = sdk_error(exc)
    assert (status, body["title"], body["detail"]) == (
        403,
        "User Disabled",
        "This account has been deactivated.",
    )
    emu.enable_account(other)
    assert sdk_for(emu, other).ping.get()["health_status"] == "Everything's Chimpy!"

    emu.revoke_key(other)
    with pytest.raises(ApiClientError) as exc:
        sdk_for(emu, other).ping.get()
    assert sdk_error(exc)[0] == 401


def test_oauth_bearer_token_and_metadata(emu: EmulatorServer, account: dict[str, str]) -> None:
    token = account["api_key"].rpartition("-")[0]  # OAuth tokens carry no dc
    meta = httpx.get(emu.oauth_metadata_url, headers={"Authorization": f"OAuth {token}"}).json()
    assert meta["dc"] == "us1" and meta["accountname"] == account["account_name"]
    assert meta["api_endpoint"] + "/3.0" == emu.api_url("us1")
    assert (
        "api_endpoint"
        not in httpx.get(emu.oauth_metadata_url, headers={"Authorization": "OAuth nope"}).json()
    )
    client = sdk_for(emu, None, dc=meta["dc"], access_token=token)
    assert client.ping.get()["health_status"] == "Everything's Chimpy!"


# ---- lists --------------------------------------------------------------------------------


def test_lists_get_all_get_one_and_404(
    sdk: Any, list_id: str, emu: EmulatorServer, api_key: str
) -> None:
    second = emu.create_list(api_key, "Employees")
    all_lists = sdk.lists.get_all_lists()
    assert all_lists["total_items"] == 2
    assert [lst["id"] for lst in all_lists["lists"]] == [list_id, second]
    assert {"may_create", "max_instances", "current_total_instances"} <= all_lists[
        "constraints"
    ].keys()
    page = sdk.lists.get_all_lists(count=1, offset=1)
    assert [lst["id"] for lst in page["lists"]] == [second] and page["total_items"] == 2
    one = sdk.lists.get_list(list_id)
    assert one["name"] == "Customers" and len(one["id"]) == 10
    assert one["stats"]["member_count"] == 0 and "campaign_defaults" in one
    with pytest.raises(ApiClientError) as exc:
        sdk.lists.get_list("0000000000")
    status, body = sdk_error(exc)
    assert (status, body["title"], body["detail"]) == (
        404,
        "Resource Not Found",
        "The requested resource could not be found.",
    )
    assert {"type", "instance"} <= body.keys()


def test_create_list_requires_mailchimp_fields(sdk: Any) -> None:
    with pytest.raises(ApiClientError) as exc:
        sdk.lists.create_list({"name": "Only a name"})
    status, body = sdk_error(exc)
    assert (status, body["title"]) == (400, "Invalid Resource")
    assert "Required fields were not provided" in body["errors"][0]["message"]


# ---- single members -----------------------------------------------------------------------


def test_set_list_member_upserts_and_status_if_new_never_changes_status(
    sdk: Any, list_id: str, emu: EmulatorServer, api_key: str
) -> None:
    m = put(
        sdk,
        list_id,
        "Ann.Lee@Acme-Corp.com",
        status_if_new="subscribed",
        merge_fields={"FNAME": "Ann"},
    )
    assert m["id"] == h("ann.lee@acme-corp.com") and m["status"] == "subscribed"
    assert m["email_address"] == "Ann.Lee@Acme-Corp.com" and m["merge_fields"]["FNAME"] == "Ann"
    assert m["last_changed"].endswith("+00:00") and len(m["last_changed"]) == 25
    assert m["tags"] == [] and m["tags_count"] == 0 and m["list_id"] == list_id
    emu.member_event(api_key, list_id, m["id"], "unsubscribe")
    again = put(
        sdk,
        list_id,
        "Ann.Lee@Acme-Corp.com",
        status_if_new="subscribed",
        merge_fields={"LNAME": "Lee"},
    )
    assert again["status"] == "unsubscribed"
    assert again["merge_fields"]["FNAME"] == "Ann" and again["merge_fields"]["LNAME"] == "Lee"
    with pytest.raises(ApiClientError) as exc:
        put(sdk, list_id, "ann.lee@acme-corp.com", status="subscribed")
    status, body = sdk_error(exc)
    assert (status, body["title"]) == (400, "Member In Compliance State")
    assert body["detail"] == (
        "ann.lee@acme-corp.com is in a compliance state due to unsubscribe, bounce, or compliance "
        "review and cannot be subscribed."
    )
    assert "type" not in body  # real responses omit it for this error


def test_set_list_member_new_member_needs_status_if_new(sdk: Any, list_id: str) -> None:
    with pytest.raises(ApiClientError) as exc:
        put(sdk, list_id, "new.person@acme-corp.com", merge_fields={"FNAME": "N"})
    status, body = sdk_error(exc)
    assert (status, body["title"]) == (400, "Invalid Resource")
    assert body["errors"][0]["message"] == "Required fields were not provided: status_if_new"


def test_put_onto_another_members_email_is_member_exists(sdk: Any, list_id: str) -> None:
    a = put(sdk, list_id, "first@acme-corp.com", status_if_new="subscribed")
    put(sdk, list_id, "second@acme-corp.com", status_if_new="subscribed")
    with pytest.raises(ApiClientError) as exc:
        sdk.lists.set_list_member(
            list_id,
            a["id"],
            {"email_address": "second@acme-corp.com", "status_if_new": "subscribed"},
        )
    status, body = sdk_error(exc)
    assert (status, body["title"]) == (400, "Member Exists")
    assert (
        body["detail"]
        == "second@acme-corp.com is already a list member. Use PUT to insert or update list members."
    )
    moved = sdk.lists.update_list_member(
        list_id, a["id"], {"email_address": "first.new@acme-corp.com"}
    )
    assert moved["id"] == h("first.new@acme-corp.com")
    with pytest.raises(ApiClientError) as exc:
        sdk.lists.get_list_member(list_id, a["id"])
    assert sdk_error(exc)[0] == 404


def test_update_get_and_add_list_member(sdk: Any, list_id: str) -> None:
    added = sdk.lists.add_list_member(
        list_id, {"email_address": "bo@acme-corp.com", "status": "subscribed", "tags": ["VIP"]}
    )
    assert added["status"] == "subscribed" and [t["name"] for t in added["tags"]] == ["VIP"]
    with pytest.raises(ApiClientError) as exc:
        sdk.lists.add_list_member(
            list_id, {"email_address": "BO@acme-corp.com", "status": "subscribed"}
        )
    assert sdk_error(exc)[1]["title"] == "Member Exists"
    patched = sdk.lists.update_list_member(list_id, added["id"], {"merge_fields": {"FNAME": "Bo"}})
    assert patched["merge_fields"]["FNAME"] == "Bo" and patched["status"] == "subscribed"
    by_email = sdk.lists.get_list_member(list_id, "bo@acme-corp.com")
    assert by_email["id"] == added["id"] and by_email["full_name"] == "Bo"
    only = sdk.lists.get_list_member(list_id, added["id"], fields=["email_address", "status"])
    assert only == {"email_address": "bo@acme-corp.com", "status": "subscribed"}
    with pytest.raises(ApiClientError) as exc:
        sdk.lists.update_list_member(
            list_id, h("nobody.here@acme-corp.com"), {"status": "subscribed"}
        )
    assert sdk_error(exc)[0] == 404


@pytest.mark.parametrize(
    ("email", "detail"),
    [
        ("AAAAA", "Please provide a valid email address."),
        ("two@@acme-corp.com", "Please provide a valid email address."),
        ("dots..here@acme-corp.com", "Please provide a valid email address."),
        ("trailing@acme-corp.com.", "Please provide a valid email address."),
        ("sp ace@acme-corp.com", "Please provide a valid email address."),
        ("jos\u00e9@acme-corp.com", "Please provide a valid email address."),
        ("nodot@localhost", "Please provide a valid email address."),
        (
            "foo@example.com",
            "foo@example.com looks fake or invalid, please enter a real email address.",
        ),
        (
            "someone@test.com",
            "someone@test.com looks fake or invalid, please enter a real email address.",
        ),
        (
            "john.doe@acme-corp.com",
            "john.doe@acme-corp.com looks fake or invalid, please enter a real email address.",
        ),
    ],
)
def test_email_validation(sdk: Any, list_id: str, email: str, detail: str) -> None:
    with pytest.raises(ApiClientError) as exc:
        sdk.lists.add_list_member(list_id, {"email_address": email, "status": "subscribed"})
    status, body = sdk_error(exc)
    assert (status, body["title"], body["detail"]) == (400, "Invalid Resource", detail)


def test_merge_field_validation(sdk: Any, list_id: str) -> None:
    sdk.lists.add_list_merge_field(
        list_id, {"name": "Lifetime value", "tag": "LTV", "type": "number"}
    )
    sdk.lists.add_list_merge_field(
        list_id, {"name": "Department", "tag": "DEPT", "type": "text", "required": True}
    )
    fields = sdk.lists.get_list_merge_fields(list_id)
    tags = [f["tag"] for f in fields["merge_fields"]]
    assert (
        tags[:5] == ["FNAME", "LNAME", "ADDRESS", "PHONE", "BIRTHDAY"]
        and fields["total_items"] == 7
    )
    assert "EMAIL" not in tags

    def add(email: str, merge: dict[str, Any], **query: Any) -> Any:
        return sdk.lists.add_list_member(
            list_id,
            {"email_address": email, "status": "subscribed", "merge_fields": merge},
            **query,
        )

    with pytest.raises(ApiClientError) as exc:
        add("n1@acme-corp.com", {"LTV": "lots", "DEPT": "Sales"})
    status, body = sdk_error(exc)
    assert (status, body["title"], body["detail"]) == (
        400,
        "Invalid Resource",
        "Your merge fields were invalid.",
    )
    assert body["errors"] == [{"field": "LTV", "message": "Please enter a number"}]
    with pytest.raises(ApiClientError) as exc:
        add("n2@acme-corp.com", {"FNAME": "x"})
    assert sdk_error(exc)[1]["errors"] == [{"field": "DEPT", "message": "Please enter a value"}]
    with pytest.raises(ApiClientError) as exc:
        add("n3@acme-corp.com", {"DEPT": "x" * 256})
    assert sdk_error(exc)[1]["errors"][0]["field"] == "DEPT"
    ok = add("n4@acme-corp.com", {"FNAME": "x" * 255}, skip_merge_validation=True)
    assert ok["merge_fields"]["DEPT"] == "" and len(ok["merge_fields"]["FNAME"]) == 255
    assert add("n5@acme-corp.com", {"LTV": "12.5", "DEPT": "Ops"})["merge_fields"]["LTV"] == 12.5


# ---- listing members ----------------------------------------------------------------------


def test_get_list_members_info_paging_archived_and_count_limit(
    sdk: Any, list_id: str, emu: EmulatorServer, api_key: str
) -> None:
    emails = [f"page{i:02d}@acme-corp.com" for i in range(25)]
    sdk.lists.batch_list_members(
        list_id, {"members": [{"email_address": e, "status": "subscribed"} for e in emails]}
    )
    sdk.lists.delete_list_member(list_id, h(emails[0]))
    seen = []
    for offset in range(0, 40, 10):
        page = sdk.lists.get_list_members_info(list_id, count=10, offset=offset)
        assert page["total_items"] == 24 and page["list_id"] == list_id
        seen += [m["email_address"] for m in page["members"]]
    assert seen == emails[1:]
    archived = sdk.lists.get_list_members_info(list_id, status="archived")
    assert [m["email_address"] for m in archived["members"]] == [emails[0]]
    assert sdk.lists.get_list_members_info(list_id, count=1000)["total_items"] == 24
    # the SDK refuses count > 1000 itself; the emulator does too
    resp = httpx.get(
        f"{emu.api_url()}/lists/{list_id}/members", params={"count": 1001}, auth=("u", api_key)
    )
    assert resp.status_code == 400 and resp.json()["title"] == "Invalid Resource"
    slim = sdk.lists.get_list_members_info(
        list_id, count=2, fields=["members.email_address", "total_items"]
    )
    assert slim == {
        "members": [{"email_address": emails[1]}, {"email_address": emails[2]}],
        "total_items": 24,
    }


def test_since_last_changed_is_inclusive_and_sorted(
    sdk: Any, list_id: str, emu: EmulatorServer, api_key: str
) -> None:
    old = [f"old{i}@acme-corp.com" for i in range(3)]
    sdk.lists.batch_list_members(
        list_id, {"members": [{"email_address": e, "status": "subscribed"} for e in old]}
    )
    emu.advance_clock(60)
    cursor = put(sdk, list_id, old[1], status="unsubscribed")["last_changed"]
    emu.advance_clock(60)
    emu.member_event(api_key, list_id, old[0], "cleaned")
    changed = sdk.lists.get_list_members_info(
        list_id, since_last_changed=cursor, sort_field="last_changed", sort_dir="ASC"
    )
    assert [m["email_address"] for m in changed["members"]] == [old[1], old[0]]  # boundary included
    assert [m["status"] for m in changed["members"]] == ["unsubscribed", "cleaned"]
    later = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(time.time() + 3600 * 24 * 400))
    assert sdk.lists.get_list_members_info(list_id, since_last_changed=later)["total_items"] == 0
    desc = sdk.lists.get_list_members_info(list_id, sort_field="last_changed", sort_dir="DESC")
    assert [m["email_address"] for m in desc["members"]][:2] == [old[0], old[1]]


# ---- batch subscribe ----------------------------------------------------------------------


def test_batch_list_members_new_existing_invalid(
    sdk: Any, list_id: str, emu: EmulatorServer, api_key: str
) -> None:
    first = sdk.lists.batch_list_members(
        list_id,
        {
            "members": [
                {
                    "email_address": "a1@acme-corp.com",
                    "status": "subscribed",
                    "merge_fields": {"FNAME": "A"},
                },
                {"email_address": "a2@acme-corp.com", "status": "subscribed"},
                {"email_address": "bad@example.com", "status": "subscribed"},
                {"email_address": "not-an-email", "status": "subscribed"},
            ],
            "update_existing": False,
        },
    )
    assert set(first) >= {
        "new_members",
        "updated_members",
        "errors",
        "total_created",
        "total_updated",
        "error_count",
    }
    assert (first["total_created"], first["total_updated"], first["error_count"]) == (2, 0, 2)
    assert [m["email_address"] for m in first["new_members"]] == [
        "a1@acme-corp.com",
        "a2@acme-corp.com",
    ]
    assert first["errors"][0] == {
        "email_address": "bad@example.com",
        "error": "bad@example.com looks fake or invalid, please enter a real email address.",
        "error_code": "ERROR_GENERIC",
        "field": "",
        "field_message": "",
    }
    assert first["errors"][1]["error"] == "Please provide a valid email address."

    again = sdk.lists.batch_list_members(
        list_id,
        {
            "members": [
                {
                    "email_address": "a1@acme-corp.com",
                    "status": "subscribed",
                    "merge_fields": {"FNAME": "B"},
                }
            ]
        },
    )
    assert again["error_count"] == 1 and again["errors"][0]["error_code"] == "ERROR_CONTACT_EXISTS"
    assert again["errors"][0]["error"] == (
        "a1@acme-corp.com is already a list member, do you want to update? please provide "
        "update_existing:true in the request body"
    )
    emu.member_event(api_key, list_id, "a2@acme-corp.com", "unsubscribe")
    upd = sdk.lists.batch_list_members(
        list_id,
        {
            "members": [
                {
                    "email_address": "a1@acme-corp.com",
                    "status": "subscribed",
                    "merge_fields": {"FNAME": "B"},
                },
                {"email_address": "a2@acme-corp.com", "status": "subscribed"},
            ],
            "update_existing": True,
        },
    )
    assert upd["total_updated"] == 1 and upd["updated_members"][0]["merge_fields"]["FNAME"] == "B"
    assert upd["errors"][0]["error_code"] == "ERROR_GENERIC"
    assert "is in a compliance state" in upd["errors"][0]["error"]
    same_status = sdk.lists.batch_list_members(
        list_id,
        {
            "members": [
                {
                    "email_address": "a2@acme-corp.com",
                    "status": "unsubscribed",
                    "merge_fields": {"FNAME": "Z"},
                }
            ],
            "update_existing": True,
        },
    )
    assert same_status["error_count"] == 0
    assert same_status["updated_members"][0]["status"] == "unsubscribed"
    assert same_status["updated_members"][0]["merge_fields"]["FNAME"] == "Z"


def test_batch_unsubscribe_is_admin_unsubscribe_and_resubscribable(sdk: Any, list_id: str) -> None:
    put(sdk, list_id, "c1@acme-corp.com", status_if_new="subscribed")
    out = sdk.lists.batch_list_members(
        list_id,
        {
            "members": [{"email_address": "c1@acme-corp.com", "status": "unsubscribed"}],
            "update_existing": True,
        },
    )
    member = out["updated_members"][0]
    assert (
        member["status"] == "unsubscribed"
        and member["unsubscribe_reason"] == "N/A (Unsubscribed by admin)"
    )
    assert put(sdk, list_id, "c1@acme-corp.com", status="subscribed")["status"] == "subscribed"


def test_batch_list_members_limits_and_schema(sdk: Any, list_id: str) -> None:
    too_many = [
        {"email_address": f"m{i}@acme-corp.com", "status": "subscribed"} for i in range(501)
    ]
    with pytest.raises(ApiClientError) as exc:
        sdk.lists.batch_list_members(list_id, {"members": too_many})
    status, body = sdk_error(exc)
    assert (status, body["title"]) == (400, "Invalid Resource")
    assert (
        sdk.lists.batch_list_members(list_id, {"members": too_many[:500]})["total_created"] == 500
    )
    with pytest.raises(ApiClientError) as exc:
        sdk.lists.batch_list_members(
            list_id, {"members": [{"email_address": "x1@acme-corp.com", "status": ""}]}
        )
    status, body = sdk_error(exc)
    assert status == 400 and body["errors"][0]["field"] == "members.item:0.status"
    dup = sdk.lists.batch_list_members(
        list_id,
        {"members": [{"email_address": "d@acme-corp.com", "status": "subscribed"}] * 2},
        skip_duplicate_check=True,
    )
    assert (dup["total_created"], dup["error_count"]) == (1, 0)


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


def test_webhooks_create_list_delete(sdk: Any, list_id: str) -> None:
    body = {
        "url": "https://app.acme-corp.com/hooks/mc?secret=s3",
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
            list_id, {**body, "url": "https://app.acme-corp.com/hooks/mc?secret=other"}
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
