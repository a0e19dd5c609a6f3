"""Member calls the lifecycle contract needs (LIFECYCLE.md B5, B6), against the emulator over HTTP:
reading one member back, listing archived members, and a batch subscribe answer trimmed to
what the push reads."""

from __future__ import annotations

import pytest

from mc_pipelines.mailchimp.addresses import subscriber_hash
from mc_pipelines.mailchimp.endpoints import BATCH_SUBSCRIBE_FIELDS
from mc_pipelines.mailchimp.errors import ResourceNotFound
from mc_pipelines_tests.support.mailchimp_client import (  # noqa: F401 (fixture)
    account,
    emails,
)


def _subscribe(addresses, status="subscribed"):
    return [{"email_address": e, "status": status} for e in addresses]


@pytest.mark.anyio
async def test_get_member_by_email_or_hash_with_fields(account):
    addr = "Reader.One@acme-mail.net"

    async def body():
        async with account.client() as mc:
            await mc.batch_subscribe(account.list_id, _subscribe([addr]), update_existing=False)
            full = await mc.get_member(account.list_id, f"\u00a0{addr} ")
            trimmed = await mc.get_member(
                account.list_id, subscriber_hash(addr), fields="email_address,status"
            )
            with pytest.raises(ResourceNotFound) as missing:
                await mc.get_member(account.list_id, "nobody@acme-mail.net")
            return full, trimmed, missing.value

    full, trimmed, missing = await body()
    assert full["id"] == subscriber_hash(addr) and full["status"] == "subscribed"
    assert "merge_fields" in full
    assert trimmed == {"email_address": addr, "status": "subscribed"}
    assert missing.status == 404


@pytest.mark.anyio
async def test_members_page_lists_archived_members_only_when_asked(account):
    addrs = emails(5, prefix="arch")

    async def body():
        async with account.client() as mc:
            await mc.batch_subscribe(account.list_id, _subscribe(addrs), update_existing=False)
            for addr in addrs[:2]:
                await mc.archive_member(account.list_id, addr)
            default = await mc.get_members_page(account.list_id)
            archived = await mc.get_members_page(account.list_id, status="archived")
            pages = [p async for p in mc.iter_members(account.list_id, status="archived", page_size=1)]
            return default, archived, pages

    default, archived, pages = await body()
    assert sorted(m["email_address"] for m in default["members"]) == addrs[2:]
    assert sorted(m["email_address"] for m in archived["members"]) == addrs[:2]
    assert {m["status"] for m in archived["members"]} == {"archived"}
    assert archived["total_items"] == 2
    assert sorted(m["email_address"] for page in pages for m in page) == addrs[:2]


@pytest.mark.anyio
async def test_batch_subscribe_asks_only_for_the_fields_the_push_reads(account):
    good = emails(40, prefix="lean")
    members = [*_subscribe(good), {"email_address": "not-an-email", "status": "subscribed"}]

    async def body():
        async with account.client() as lean_client, account.client() as full_client:
            lean = await lean_client.batch_subscribe(account.list_id, members, update_existing=False)
            again = await lean_client.batch_subscribe(
                account.list_id, _subscribe(good[:3], "unsubscribed"), update_existing=True
            )
            await full_client.batch_subscribe(
                account.list_id, _subscribe(good[:3]), update_existing=True, fields=None
            )
            full = await full_client.batch_subscribe(
                account.list_id, _subscribe(good[:3], "unsubscribed"), update_existing=True, fields=None
            )
            return lean, again, full, lean_client.metrics, full_client.metrics

    lean, again, full, lean_metrics, full_metrics = await body()
    assert "new_members.status" in BATCH_SUBSCRIBE_FIELDS
    assert sorted(m["email_address"] for m in lean.created) == good
    assert all(set(m) == {"email_address", "status", "contact_id"} for m in lean.created)
    assert [(e.email, e.code) for e in lean.errors] == [("not-an-email", "ERROR_GENERIC")]
    assert all(set(m) == {"email_address", "status"} for m in again.updated)
    assert {m["status"] for m in again.updated} == {"unsubscribed"}
    assert all("merge_fields" in m for m in full.updated)
    # the trimmed answer is several times smaller per member than the full one
    lean_bytes = lean_metrics.endpoints()["POST /lists/{list_id}"].bytes_received
    full_bytes = full_metrics.endpoints()["POST /lists/{list_id}"].bytes_received
    lean_per_member = lean_bytes / (41 + 3)  # two calls: 41 members, then 3
    full_per_member = full_bytes / (3 + 3)
    assert lean_per_member * 3 < full_per_member
