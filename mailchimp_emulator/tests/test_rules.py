"""Mailchimp's member rules in the emulator: the status-transition table (compliance state,
admin vs self unsubscribe, archive), ``last_changed``, email changes, bulk load."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx
import pytest
from mailchimp_marketing.api_client import ApiClientError

from mailchimp_emulator.harness import EmulatorServer

from .helpers import sdk_error

EMAIL = "rule.subject@acme-corp.com"
HASH = hashlib.md5(EMAIL.encode()).hexdigest()
COMPLIANCE = "Member In Compliance State"

# initial state → how to get there (after the member was added as subscribed)
SETUPS: dict[str, list[tuple[str, str]]] = {
    "subscribed": [],
    "self_unsubscribed": [("event", "unsubscribe")],
    "admin_unsubscribed": [("event", "admin_unsubscribe")],
    "api_unsubscribed": [("put", "unsubscribed")],
    "cleaned": [("event", "cleaned")],
    "compliance_review": [("event", "compliance_review")],
    "pending": [("put", "pending")],
    "archived": [("delete", "")],
    "archived_after_self_unsubscribe": [("event", "unsubscribe"), ("delete", "")],
}

# (initial, requested status) → resulting status, or COMPLIANCE (400 / per-row error)
TABLE: dict[str, dict[str, str]] = {
    "subscribed": {
        "subscribed": "subscribed",
        "pending": "pending",
        "unsubscribed": "unsubscribed",
    },
    "self_unsubscribed": {
        "subscribed": COMPLIANCE,
        "pending": "pending",
        "unsubscribed": "unsubscribed",
    },
    "admin_unsubscribed": {
        "subscribed": "subscribed",
        "pending": "pending",
        "unsubscribed": "unsubscribed",
    },
    "api_unsubscribed": {
        "subscribed": "subscribed",
        "pending": "pending",
        "unsubscribed": "unsubscribed",
    },
    "cleaned": {"subscribed": COMPLIANCE, "pending": COMPLIANCE, "unsubscribed": "cleaned"},
    "compliance_review": {
        "subscribed": COMPLIANCE,
        "pending": COMPLIANCE,
        "unsubscribed": "unsubscribed",
    },
    "pending": {"subscribed": "subscribed", "pending": "pending", "unsubscribed": "unsubscribed"},
    "archived": {"subscribed": "subscribed", "pending": "pending", "unsubscribed": "unsubscribed"},
    "archived_after_self_unsubscribe": {
        "subscribed": COMPLIANCE,
        "pending": "pending",
        "unsubscribed": "unsubscribed",
    },
}
CASES = [(initial, target) for initial, row in TABLE.items() for target in row]


def _prepare(sdk: Any, emu: EmulatorServer, api_key: str, list_id: str, initial: str) -> None:
    sdk.lists.set_list_member(
        list_id,
        HASH,
        {"email_address": EMAIL, "status_if_new": "subscribed", "merge_fields": {"FNAME": "Old"}},
    )
    for kind, arg in SETUPS[initial]:
        if kind == "event":
            emu.member_event(api_key, list_id, HASH, arg)
        elif kind == "put":
            sdk.lists.set_list_member(list_id, HASH, {"email_address": EMAIL, "status": arg})
        else:
            sdk.lists.delete_list_member(list_id, HASH)


@pytest.mark.parametrize(("initial", "target"), CASES)
def test_status_table_via_put(
    sdk: Any, emu: EmulatorServer, api_key: str, list_id: str, initial: str, target: str
) -> None:
    _prepare(sdk, emu, api_key, list_id, initial)
    expected = TABLE[initial][target]
    body = {"email_address": EMAIL, "status": target, "merge_fields": {"FNAME": "New"}}
    if expected == COMPLIANCE:
        with pytest.raises(ApiClientError) as exc:
            sdk.lists.set_list_member(list_id, HASH, body)
        status, problem = sdk_error(exc)
        assert (status, problem["title"]) == (400, COMPLIANCE)
        member = sdk.lists.get_list_member(list_id, HASH)
        assert member["merge_fields"]["FNAME"] == "Old"  # a refused call changes nothing
    else:
        member = sdk.lists.set_list_member(list_id, HASH, body)
        assert member["status"] == expected and member["merge_fields"]["FNAME"] == "New"


@pytest.mark.parametrize(("initial", "target"), CASES)
def test_status_table_via_batch_update_existing(
    sdk: Any, emu: EmulatorServer, api_key: str, list_id: str, initial: str, target: str
) -> None:
    _prepare(sdk, emu, api_key, list_id, initial)
    expected = TABLE[initial][target]
    out = sdk.lists.batch_list_members(
        list_id, {"members": [{"email_address": EMAIL, "status": target}], "update_existing": True}
    )
    if expected == COMPLIANCE:
        assert out["error_count"] == 1 and out["errors"][0]["error_code"] == "ERROR_GENERIC"
        assert "is in a compliance state" in out["errors"][0]["error"]
    else:
        members = out["new_members"] + out["updated_members"]
        assert out["error_count"] == 0 and [m["status"] for m in members] == [expected]
        if initial.startswith("archived"):
            assert out["total_created"] == 1  # archived contacts come back as re-added


@pytest.mark.parametrize("initial", list(TABLE))
def test_put_status_if_new_only_never_changes_an_existing_status(
    sdk: Any, emu: EmulatorServer, api_key: str, list_id: str, initial: str
) -> None:
    _prepare(sdk, emu, api_key, list_id, initial)
    before = emu.dump_list(api_key, list_id)[0]["status"]
    body = {"email_address": EMAIL, "status_if_new": "subscribed"}
    if initial == "archived_after_self_unsubscribe":
        with pytest.raises(
            ApiClientError
        ) as exc:  # re-adding an archived contact applies status_if_new
            sdk.lists.set_list_member(list_id, HASH, body)
        assert sdk_error(exc)[1]["title"] == COMPLIANCE
        return
    after = sdk.lists.set_list_member(list_id, HASH, body)["status"]
    assert after == ("subscribed" if before == "archived" else before)


def test_unsubscribe_reasons_and_double_opt_in_path(
    sdk: Any, emu: EmulatorServer, api_key: str, list_id: str
) -> None:
    _prepare(sdk, emu, api_key, list_id, "admin_unsubscribed")
    assert (
        sdk.lists.get_list_member(list_id, HASH)["unsubscribe_reason"]
        == "N/A (Unsubscribed by admin)"
    )
    emu.member_event(api_key, list_id, HASH, "subscribe")
    emu.member_event(api_key, list_id, HASH, "unsubscribe")
    assert (
        sdk.lists.get_list_member(list_id, HASH)["unsubscribe_reason"]
        != "N/A (Unsubscribed by admin)"
    )
    pending = sdk.lists.update_list_member(list_id, HASH, {"status": "pending"})
    assert pending["status"] == "pending"
    emu.member_event(api_key, list_id, HASH, "confirm")  # the contact clicks the confirmation link
    assert sdk.lists.get_list_member(list_id, HASH)["status"] == "subscribed"


def test_cleaned_member_cannot_change_email(
    sdk: Any, emu: EmulatorServer, api_key: str, list_id: str
) -> None:
    _prepare(sdk, emu, api_key, list_id, "cleaned")
    with pytest.raises(ApiClientError) as exc:
        sdk.lists.update_list_member(list_id, HASH, {"email_address": "other.one@acme-corp.com"})
    status, body = sdk_error(exc)
    assert status == 400 and 'status is "cleaned."' in body["detail"]


def test_last_changed_moves_on_real_changes_only(
    sdk: Any, emu: EmulatorServer, api_key: str, list_id: str
) -> None:
    body = {
        "email_address": EMAIL,
        "status_if_new": "subscribed",
        "merge_fields": {"FNAME": "Same"},
    }
    first = sdk.lists.set_list_member(list_id, HASH, body)["last_changed"]
    emu.advance_clock(30)
    assert sdk.lists.set_list_member(list_id, HASH, body)["last_changed"] == first  # no-op
    sdk.lists.update_list_member_tags(list_id, HASH, {"tags": [{"name": "T", "status": "active"}]})
    assert sdk.lists.get_list_member(list_id, HASH)["last_changed"] == first  # tags do not count
    changed = sdk.lists.set_list_member(list_id, HASH, {**body, "merge_fields": {"FNAME": "Other"}})
    assert changed["last_changed"] > first
    emu.advance_clock(30)
    unsub = sdk.lists.update_list_member(list_id, HASH, {"status": "unsubscribed"})
    assert unsub["last_changed"] > changed["last_changed"]
    emu.advance_clock(30)
    event = emu.member_event(api_key, list_id, HASH, "cleaned")
    assert event["last_changed"] > unsub["last_changed"]


def test_bulk_load_dump_and_since_last_changed_with_past_timestamps(
    sdk: Any, emu: EmulatorServer, api_key: str, list_id: str
) -> None:
    rows = [
        {
            "email_address": f"bulk{i:04d}@acme-corp.com",
            "status": "subscribed" if i % 10 else "unsubscribed",
            "merge_fields": {"FNAME": f"F{i}"},
            "tags": ["Loaded"] if i % 2 else [],
            "last_changed": f"2024-01-{1 + i % 28:02d}T00:00:00+00:00",
        }
        for i in range(3000)
    ]
    totals = emu.bulk_load(api_key, list_id, rows, chunk_size=1000)
    assert totals == {"loaded": 3000, "created": 3000, "updated": 0}
    dump = emu.dump_list(api_key, list_id)
    assert (
        len(dump) == 3000 and dump[1]["tags"] == ["Loaded"] and dump[0]["status"] == "unsubscribed"
    )
    since = sdk.lists.get_list_members_info(
        list_id, since_last_changed="2024-01-27T00:00:00Z", sort_field="last_changed", count=1000
    )
    # days 27 and 28 → i % 28 in (26, 27): 2 x 107 members, minus nothing (all statuses shown)
    expected = sum(1 for i in range(3000) if i % 28 in (26, 27))
    assert since["total_items"] == expected
    stamps = [m["last_changed"] for m in since["members"]]
    assert stamps == sorted(stamps) and stamps[0] == "2024-01-27T00:00:00+00:00"
    newest = sdk.lists.set_list_member(
        list_id,
        hashlib.md5(b"bulk0001@acme-corp.com").hexdigest(),
        {"email_address": "bulk0001@acme-corp.com", "status": "unsubscribed"},
    )
    again = sdk.lists.get_list_members_info(list_id, since_last_changed=newest["last_changed"])
    assert [m["email_address"] for m in again["members"]] == ["bulk0001@acme-corp.com"]
    assert sdk.lists.get_list(list_id)["stats"]["member_count"] == 3000 - 300 - 1


def test_fast_member_serializer_matches_the_document_renderer(
    sdk: Any, emu: EmulatorServer, api_key: str, list_id: str
) -> None:
    sdk.lists.add_list_merge_field(list_id, {"name": "Score", "tag": "SCORE", "type": "number"})
    rows = [
        {
            "email_address": "plain@acme-corp.com",
            "status": "subscribed",
            "merge_fields": {"FNAME": 'Zoë "Q" \\ O\'Neil', "SCORE": 7},
        },
        {
            "email_address": "rich@acme-corp.com",
            "status": "unsubscribed",
            "email_type": "text",
            "language": "fr",
            "vip": True,
            "location": {"latitude": 48.85, "longitude": 2.35},
            "timestamp_signup": "2024-05-01T10:00:00Z",
            "merge_fields": {
                "LNAME": "名前",
                "SCORE": "2.5",
                "ADDRESS": {
                    "addr1": "1 Rue",
                    "city": "Paris",
                    "state": "IDF",
                    "zip": "75001",
                    "country": "FR",
                },
                "BIRTHDAY": "4/9",
            },
            "tags": ["VIP \u2728", "Customers"],
        },
        {"email_address": "pending@acme-corp.com", "status": "pending"},
    ]
    out = sdk.lists.batch_list_members(list_id, {"members": rows})
    assert out["error_count"] == 0, out["errors"]
    emu.member_event(api_key, list_id, "pending@acme-corp.com", "compliance_review")
    fast = sdk.lists.get_list_members_info(list_id)["members"]
    slow = sdk.lists.get_list_members_info(list_id, exclude_fields=["_links"])["members"]
    assert fast == slow and len(fast) == 3
    assert fast[0]["merge_fields"]["FNAME"] == 'Zoë "Q" \\ O\'Neil'
    assert (
        fast[1]["merge_fields"]["SCORE"] == 2.5 and fast[1]["merge_fields"]["BIRTHDAY"] == "04/09"
    )
    assert fast[1]["vip"] is True and fast[1]["location"]["latitude"] == 48.85
    assert [t["name"] for t in fast[1]["tags"]] == ["VIP \u2728", "Customers"]
    fetched = [sdk.lists.get_list_member(list_id, r["email_address"]) for r in rows[:2]]
    assert out["new_members"][:2] == fetched  # the batch response uses the same serializer


@pytest.mark.parametrize("extra", [[], ["merge_fields"]])  # simple keys only, or one more
def test_batch_answer_asking_for_some_member_keys_gives_the_documents_values(
    sdk: Any, emu: EmulatorServer, api_key: str, list_id: str, extra: list[str]
) -> None:
    keys = ["id", "email_address", "unique_email_id", "contact_id", "status", "last_changed",
            "list_id", *extra]
    rows = [{"email_address": f"keys{i}{len(extra)}@acme-corp.com", "status": "subscribed",
             "merge_fields": {"FNAME": f"K{i}"}} for i in range(3)]
    answer = httpx.post(f"{emu.api_url('us1')}/lists/{list_id}", auth=("any", api_key),
                        params={"fields": ",".join(f"new_members.{k}" for k in keys)},
                        json={"members": rows, "update_existing": False}).json()
    assert [m["email_address"] for m in answer["new_members"]] == [r["email_address"] for r in rows]
    for member in answer["new_members"]:
        fetched = sdk.lists.get_list_member(list_id, member["email_address"])
        assert member == {k: fetched[k] for k in keys}  # exactly those keys, the document's values
