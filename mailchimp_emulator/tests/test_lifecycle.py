"""The member lifecycle behaviours the sync relies on (LIFECYCLE.md, MAILCHIMP.md §3, §11), over
real HTTP with Mailchimp's official SDK."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from mailchimp_marketing.api_client import ApiClientError

from mailchimp_emulator.harness import EmulatorServer

from .helpers import h, put, sdk_error

COMPLIANCE = "Member In Compliance State"


def _member_ids(sdk: Any, list_id: str, **params: Any) -> list[str]:
    page = sdk.lists.get_list_members_info(list_id, count=1000, **params)
    return [m["email_address"] for m in page["members"]]


def test_archived_members_are_listed_only_with_status_archived_and_archiving_bumps_last_changed(
    emu: EmulatorServer, api_key: str, sdk: Any, list_id: str
) -> None:
    put(sdk, list_id, "keep@acme-corp.com", status_if_new="subscribed")
    before = put(sdk, list_id, "gone@acme-corp.com", status_if_new="subscribed")
    emu.advance_clock(5)
    assert sdk.lists.delete_list_member(list_id, h("gone@acme-corp.com")).status_code == 204
    archived = sdk.lists.get_list_member(list_id, h("gone@acme-corp.com"))
    assert archived["status"] == "archived"
    assert archived["last_changed"] > before["last_changed"]
    assert _member_ids(sdk, list_id) == ["keep@acme-corp.com"]
    assert _member_ids(sdk, list_id, status="archived") == ["gone@acme-corp.com"]
    since = sdk.lists.get_list_members_info(
        list_id, status="archived", since_last_changed=archived["last_changed"],
        sort_field="last_changed", sort_dir="ASC",
    )  # fmt: skip
    assert [m["email_address"] for m in since["members"]] == ["gone@acme-corp.com"]
    assert _member_ids(sdk, list_id, since_last_changed=archived["last_changed"]) == []


def test_contact_id_and_web_id_survive_an_email_change_and_the_old_hash_is_gone(
    sdk: Any, list_id: str
) -> None:
    m = put(sdk, list_id, "old.address@acme-corp.com", status_if_new="subscribed")
    moved = sdk.lists.update_list_member(
        list_id, m["id"], {"email_address": "new.address@acme-corp.com"}
    )
    assert moved["id"] == h("new.address@acme-corp.com") != m["id"]
    assert (moved["contact_id"], moved["web_id"]) == (m["contact_id"], m["web_id"])
    again = sdk.lists.get_list_member(list_id, moved["id"])
    assert (again["contact_id"], again["web_id"]) == (m["contact_id"], m["web_id"])
    listed = sdk.lists.get_list_members_info(list_id)["members"]  # the fast serializer too
    assert [(x["contact_id"], x["web_id"]) for x in listed] == [(m["contact_id"], m["web_id"])]
    with pytest.raises(ApiClientError) as exc:
        sdk.lists.get_list_member(list_id, m["id"])
    assert sdk_error(exc)[0] == 404


def test_email_change_onto_a_member_or_for_a_cleaned_member_is_refused(
    emu: EmulatorServer, api_key: str, sdk: Any, list_id: str
) -> None:
    a = put(sdk, list_id, "a@acme-corp.com", status_if_new="subscribed")
    put(sdk, list_id, "b@acme-corp.com", status_if_new="subscribed")
    with pytest.raises(ApiClientError) as exc:
        sdk.lists.update_list_member(list_id, a["id"], {"email_address": "b@acme-corp.com"})
    assert sdk_error(exc)[1]["title"] == "Member Exists"
    emu.member_event(api_key, list_id, a["id"], "cleaned")
    with pytest.raises(ApiClientError) as exc:
        sdk.lists.update_list_member(list_id, a["id"], {"email_address": "c@acme-corp.com"})
    status, body = sdk_error(exc)
    assert status == 400 and 'status is "cleaned."' in body["detail"]
    assert sdk.lists.get_list_member(list_id, a["id"])["email_address"] == "a@acme-corp.com"


def test_signup_and_opt_timestamps_are_stored_as_sent(sdk: Any, list_id: str) -> None:
    ts = {"timestamp_signup": "2023-04-05T06:07:08+00:00", "timestamp_opt": "2023-04-06T07:08:09+00:00"}
    posted = sdk.lists.add_list_member(
        list_id, {"email_address": "ts1@acme-corp.com", "status": "subscribed", **ts}
    )
    putted = put(sdk, list_id, "ts2@acme-corp.com", status_if_new="subscribed", **ts)
    batch = sdk.lists.batch_list_members(
        list_id, {"members": [{"email_address": "ts3@acme-corp.com", "status": "subscribed", **ts}]}
    )
    for doc in (posted, putted, batch["new_members"][0]):
        assert (doc["timestamp_signup"], doc["timestamp_opt"]) == (
            ts["timestamp_signup"],
            ts["timestamp_opt"],
        )
    got = sdk.lists.get_list_member(list_id, h("ts3@acme-corp.com"))
    assert got["timestamp_opt"] == ts["timestamp_opt"]


def test_unsubscribe_reason_distinguishes_the_contact_from_the_api(
    emu: EmulatorServer, api_key: str, sdk: Any, list_id: str
) -> None:
    put(sdk, list_id, "api@acme-corp.com", status_if_new="subscribed")
    put(sdk, list_id, "self@acme-corp.com", status_if_new="subscribed")
    by_api = sdk.lists.update_list_member(list_id, h("api@acme-corp.com"), {"status": "unsubscribed"})
    assert by_api["unsubscribe_reason"] == "N/A (Unsubscribed by admin)"
    emu.member_event(api_key, list_id, "self@acme-corp.com", "unsubscribe", reason="Too many emails")
    by_self = sdk.lists.get_list_member(list_id, h("self@acme-corp.com"))
    assert by_self["unsubscribe_reason"] == "Too many emails"
    # admin/API unsubscribes may be re-subscribed, self-unsubscribes may not
    again = sdk.lists.update_list_member(list_id, h("api@acme-corp.com"), {"status": "subscribed"})
    assert again["status"] == "subscribed"
    with pytest.raises(ApiClientError) as exc:
        sdk.lists.update_list_member(list_id, h("self@acme-corp.com"), {"status": "subscribed"})
    assert sdk_error(exc)[1]["title"] == COMPLIANCE


def test_patch_without_status_never_changes_it(
    emu: EmulatorServer, api_key: str, sdk: Any, list_id: str
) -> None:
    for email, status in (("p@acme-corp.com", "pending"), ("u@acme-corp.com", "unsubscribed")):
        put(sdk, list_id, email, status_if_new=status)
    put(sdk, list_id, "ar@acme-corp.com", status_if_new="subscribed")
    sdk.lists.delete_list_member(list_id, h("ar@acme-corp.com"))
    for email, status in (
        ("p@acme-corp.com", "pending"),
        ("u@acme-corp.com", "unsubscribed"),
        ("ar@acme-corp.com", "archived"),
    ):
        got = sdk.lists.update_list_member(list_id, h(email), {"merge_fields": {"FNAME": "Z"}})
        assert (got["status"], got["merge_fields"]["FNAME"]) == (status, "Z")
    # with a status, PATCH un-archives to that status
    back = sdk.lists.update_list_member(list_id, h("ar@acme-corp.com"), {"status": "subscribed"})
    assert back["status"] == "subscribed"


def test_pending_reconfirmation_after_self_unsubscribe_sends_one_email_per_request(
    emu: EmulatorServer, api_key: str, sdk: Any, list_id: str
) -> None:
    put(sdk, list_id, "again@acme-corp.com", status_if_new="subscribed")
    emu.member_event(api_key, list_id, "again@acme-corp.com", "unsubscribe")
    got = sdk.lists.update_list_member(list_id, h("again@acme-corp.com"), {"status": "pending"})
    assert got["status"] == "pending"
    assert emu.stats(api_key)["confirmation_emails"] == {"again@acme-corp.com": 1}
    # sending pending again to a pending member is not a new opt-in request
    sdk.lists.update_list_member(list_id, h("again@acme-corp.com"), {"status": "pending"})
    put(sdk, list_id, "again@acme-corp.com", status="pending")
    assert emu.stats(api_key)["confirmation_emails"] == {"again@acme-corp.com": 1}
    dump = emu.dump_list(api_key, list_id)
    assert [m["confirmation_emails"] for m in dump] == [1]
    emu.member_event(api_key, list_id, "again@acme-corp.com", "confirm")
    assert sdk.lists.get_list_member(list_id, h("again@acme-corp.com"))["status"] == "subscribed"


@pytest.mark.parametrize("event", ["unsubscribe", "cleaned", "compliance_review"])
def test_compliance_states_refuse_subscribed_everywhere(
    emu: EmulatorServer, api_key: str, sdk: Any, list_id: str, event: str
) -> None:
    email = f"{event.replace('_', '')}@acme-corp.com"
    put(sdk, list_id, email, status_if_new="subscribed")
    emu.member_event(api_key, list_id, email, event)
    for call in (
        lambda: sdk.lists.update_list_member(list_id, h(email), {"status": "subscribed"}),
        lambda: put(sdk, list_id, email, status="subscribed"),
    ):
        with pytest.raises(ApiClientError) as exc:
            call()
        assert sdk_error(exc)[1]["title"] == COMPLIANCE
    res = sdk.lists.batch_list_members(
        list_id,
        {"members": [{"email_address": email, "status": "subscribed"}], "update_existing": True},
    )
    assert res["error_count"] == 1 and "compliance state" in res["errors"][0]["error"]


def _run_batch(sdk: Any, ops: list[dict[str, Any]]) -> dict[str, Any]:
    import io
    import tarfile

    import httpx

    batch = sdk.batches.start({"operations": ops})
    for _ in range(200):
        batch = sdk.batches.status(batch["id"])
        if batch["status"] == "finished":
            break
        time.sleep(0.02)
    raw = httpx.get(batch["response_body_url"]).content
    with tarfile.open(fileobj=io.BytesIO(raw), mode="r:gz") as tar:
        member = next(m for m in tar.getmembers() if m.isfile())
        results = json.loads(tar.extractfile(member).read())  # type: ignore[union-attr]
    return {r["operation_id"]: r for r in results}


def test_batches_operations_go_through_the_same_rules(
    emu: EmulatorServer, api_key: str, sdk: Any, list_id: str
) -> None:
    put(sdk, list_id, "selfish@acme-corp.com", status_if_new="subscribed")
    put(sdk, list_id, "arch@acme-corp.com", status_if_new="subscribed")
    put(sdk, list_id, "mover@acme-corp.com", status_if_new="subscribed")
    emu.member_event(api_key, list_id, "selfish@acme-corp.com", "unsubscribe")
    path = f"/lists/{list_id}/members/"
    ops = [
        {"method": "PATCH", "path": path + h("selfish@acme-corp.com"), "operation_id": "patch",
         "body": json.dumps({"status": "subscribed"})},
        {"method": "PUT", "path": path + h("selfish@acme-corp.com"), "operation_id": "put",
         "body": json.dumps({"email_address": "selfish@acme-corp.com", "status": "subscribed"})},
        {"method": "POST", "path": path[:-1], "operation_id": "post",
         "body": json.dumps({"email_address": "arch@acme-corp.com", "status": "subscribed"})},
        {"method": "DELETE", "path": path + h("arch@acme-corp.com"), "operation_id": "delete"},
        {"method": "DELETE", "path": path + h("arch@acme-corp.com"), "operation_id": "delete2"},
        {"method": "PATCH", "path": path + h("mover@acme-corp.com"), "operation_id": "move",
         "body": json.dumps({"email_address": "moved@acme-corp.com"})},
    ]  # fmt: skip
    res = _run_batch(sdk, ops)
    assert json.loads(res["patch"]["response"])["title"] == COMPLIANCE
    assert json.loads(res["put"]["response"])["title"] == COMPLIANCE
    assert json.loads(res["post"]["response"])["title"] == "Member Exists"
    assert res["delete"]["status_code"] == 204 and res["delete2"]["status_code"] == 405
    assert json.loads(res["move"]["response"])["id"] == h("moved@acme-corp.com")
    assert sdk.lists.get_list_member(list_id, h("selfish@acme-corp.com"))["status"] == "unsubscribed"
    assert sdk.lists.get_list_member(list_id, h("arch@acme-corp.com"))["status"] == "archived"


def test_shuffle_same_second_fault_reorders_equal_last_changed(
    emu: EmulatorServer, api_key: str, sdk: Any, list_id: str
) -> None:
    emails = [f"same{i:02d}@acme-corp.com" for i in range(30)]
    sdk.lists.batch_list_members(
        list_id, {"members": [{"email_address": e, "status": "subscribed"} for e in emails]}
    )
    params = {"since_last_changed": "2000-01-01T00:00:00+00:00", "sort_field": "last_changed"}
    stable = {tuple(_member_ids(sdk, list_id, **params)) for _ in range(3)}
    assert len(stable) == 1  # without the fault: one order
    emu.set_faults(api_key, shuffle_same_second=True, seed=7)
    orders = {tuple(_member_ids(sdk, list_id, **params)) for _ in range(5)}
    assert len(orders) > 1 and all(sorted(o) == sorted(emails) for o in orders)
    emu.set_faults(api_key, shuffle_same_second=False)
    assert {tuple(_member_ids(sdk, list_id, **params)) for _ in range(2)} == stable
