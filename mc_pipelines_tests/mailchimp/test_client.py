"""MailchimpClient against the emulator over real HTTP: reads, paging, bulk writes, members,
segments, campaigns, OAuth and the sync facade."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta

import pytest

from mc_pipelines.mailchimp.addresses import subscriber_hash
from mc_pipelines.mailchimp.endpoints import MailchimpClient
from mc_pipelines.mailchimp.errors import (
    ForgottenEmail,
    InvalidApiKey,
    MethodNotAllowed,
    ResourceNotFound,
)
from mc_pipelines.mailchimp.metrics import CallMetrics
from mc_pipelines.mailchimp.oauth import fetch_oauth_metadata
from mc_pipelines.mailchimp.runner import run_sync
from mc_pipelines_tests.support.mailchimp_client import (  # noqa: F401 (fixture)
    Account,
    account,
    emails,
    new_account,
)


def _subscribe(addresses, status="subscribed"):
    return [{"email_address": e, "status": status} for e in addresses]


@pytest.mark.anyio
async def test_account_and_audience_reads(account):
    async def body():
        async with account.client() as mc:
            ping = await mc.ping()
            info = await mc.get_account()
            audiences = await mc.list_audiences()
            audience = await mc.get_audience(account.list_id)
            fields = await mc.list_merge_fields(account.list_id)
            return mc.metrics, ping, info, audiences, audience, fields

    metrics, ping, info, audiences, audience, fields = await body()
    assert ping == {"health_status": "Everything's Chimpy!"}
    assert info["account_name"] == account.name
    assert [a["id"] for a in audiences] == [account.list_id]
    assert audience["id"] == account.list_id
    assert {"FNAME", "LNAME"} <= {f["tag"] for f in fields}
    # one HTTP call each, counted per endpoint template, no writes
    assert metrics.total_calls == 5
    assert metrics.total_writes == 0 and metrics.total_retries == 0
    md = metrics.as_metadata()
    assert md["mailchimp_calls"] == 5
    assert md["mailchimp_calls[GET /lists/{list_id}]"] == 1
    assert md["mailchimp_calls[GET /lists/{list_id}/merge-fields]"] == 1
    assert md["mailchimp_bytes_received"] > 0
    assert all(isinstance(v, int | float) for v in md.values())
    assert account.count("GET /lists/{list_id}", 200) == 1


@pytest.mark.anyio
async def test_batch_subscribe_chunks_with_per_email_outcomes(account):
    good = emails(1228)
    malformed = ["not-an-email", "two@@at.org", "spaces in@mail.org"]
    fake = ["someone@example.com", "test@acme-mail.net", "fake@yopmail.com"]
    members = _subscribe(good)
    for pos, addr in zip((10, 600, 1200, 20, 700, 1210), malformed + fake, strict=True):
        members.insert(pos, {"email_address": addr, "status": "subscribed"})
    assert len(members) == 1234

    async def body():
        async with account.client() as mc:
            first = await mc.batch_subscribe(account.list_id, members, update_existing=False)
            again = await mc.batch_subscribe(
                account.list_id, _subscribe(good[:10]), update_existing=False
            )
            changed = [
                {"email_address": e, "status": "unsubscribed", "merge_fields": {"FNAME": "Renamed"}}
                for e in good[:10]
            ]
            updated = await mc.batch_subscribe(account.list_id, changed, update_existing=True)
            return mc.metrics, first, again, updated

    metrics, first, again, updated = await body()
    # 1,234 members → 3 calls (500 + 500 + 234), then 1 + 1
    assert account.count("POST /lists/{list_id}", 200) == 5
    assert metrics.endpoints()["POST /lists/{list_id}"].calls == 5
    assert metrics.total_writes == 5

    assert sorted(m["email_address"] for m in first.created) == sorted(good)
    assert first.updated == []
    assert sorted(e.email for e in first.errors) == sorted(malformed + fake)
    by_email = {e.email: e for e in first.errors}
    for addr in malformed:
        assert by_email[addr].code == "ERROR_GENERIC"
        assert "valid email address" in by_email[addr].message
    for addr in fake:
        assert by_email[addr].code == "ERROR_GENERIC"
        assert "looks fake or invalid" in by_email[addr].message

    assert again.created == [] and again.updated == []
    assert [e.code for e in again.errors] == ["ERROR_CONTACT_EXISTS"] * 10
    assert {e.email for e in again.errors} == set(good[:10])

    assert updated.created == [] and len(updated.updated) == 10 and updated.errors == []
    assert {m["status"] for m in updated.updated} == {"unsubscribed"}

    dumped = account.server.dump_list(account.api_key, account.list_id)
    members_by_email = {m["email_address"]: m for m in dumped}
    assert len(members_by_email) == 1228
    assert members_by_email[good[0]]["status"] == "unsubscribed"
    assert members_by_email[good[0]]["merge_fields"]["FNAME"] == "Renamed"
    assert members_by_email[good[500]]["status"] == "subscribed"


@pytest.mark.anyio
async def test_batch_subscribe_validates_chunk_size(account):
    client = account.client()
    with pytest.raises(ValueError, match="chunk_size must be between 1 and 500"):
        await client.batch_subscribe(account.list_id, [], update_existing=True, chunk_size=501)


@pytest.mark.anyio
async def test_iter_members_pages_sorted_and_filtered(account):
    addresses = emails(2100, prefix="pager")

    async def seed():
        async with account.client() as mc:
            result = await mc.batch_subscribe(
                account.list_id, _subscribe(addresses), update_existing=True
            )
            assert result.errors == []

    await seed()
    calls_before = account.count("GET /lists/{list_id}/members")

    async def pull(**kw):
        async with account.client() as mc:
            return [page async for page in mc.iter_members(account.list_id, **kw)]

    pages = await pull()
    assert [len(p) for p in pages] == [1000, 1000, 100]
    assert account.count("GET /lists/{list_id}/members") - calls_before == 3
    seen = [m["email_address"] for p in pages for m in p]
    assert sorted(seen) == sorted(addresses)
    changed = [m["last_changed"] for p in pages for m in p]
    assert changed == sorted(changed)

    # small pages, field selection
    small = await pull(page_size=700, fields="members.email_address,members.status,total_items")
    assert [len(p) for p in small] == [700, 700, 700]
    assert set(small[0][0]) <= {"email_address", "status"}

    # since_last_changed: only members changed at or after the cut-off (emulator clock moved on)
    newest = max(datetime.fromisoformat(c) for c in changed)
    cutoff = newest + timedelta(seconds=1)
    account.server.advance_clock(2)

    async def touch():
        async with account.client() as mc:
            for addr in addresses[:3]:
                await mc.upsert_member(account.list_id, addr, {"merge_fields": {"FNAME": "Late"}})
            await mc.upsert_member(account.list_id, addresses[3], {"status": "unsubscribed"})

    await touch()
    recent = [m["email_address"] for p in await pull(since_last_changed=cutoff) for m in p]
    assert sorted(recent) == sorted(addresses[:4])
    # naive datetimes are UTC
    naive = cutoff.astimezone(UTC).replace(tzinfo=None)
    assert len([m for p in await pull(since_last_changed=naive) for m in p]) == 4
    unsubscribed = [m["email_address"] for p in await pull(status="unsubscribed") for m in p]
    assert unsubscribed == [addresses[3]]


@pytest.mark.anyio
async def test_member_lifecycle(account):
    addr = "lifecycle.person@acme-mail.net"

    async def body():
        async with account.client() as mc:
            created = await mc.upsert_member(
                account.list_id,
                addr,
                {"status_if_new": "subscribed", "merge_fields": {"FNAME": "Ada"}},
            )
            by_email = await mc.get_member(account.list_id, addr)
            by_hash = await mc.get_member(account.list_id, subscriber_hash(addr))
            await mc.update_member_tags(account.list_id, addr, {"VIP": True, "Old": False})
            tagged = await mc.get_member(account.list_id, addr)
            await mc.update_member_tags(account.list_id, addr, {"VIP": False})
            untagged = await mc.get_member(account.list_id, addr)
            await mc.archive_member(account.list_id, addr)
            archived = await mc.get_member(account.list_id, addr)
            with pytest.raises(MethodNotAllowed) as twice:
                await mc.archive_member(account.list_id, addr)
            await mc.delete_member_permanent(account.list_id, addr)
            with pytest.raises(ResourceNotFound) as gone:
                await mc.get_member(account.list_id, addr)
            with pytest.raises(ForgottenEmail) as forgotten:
                await mc.upsert_member(account.list_id, addr, {"status_if_new": "subscribed"})
            return created, by_email, by_hash, tagged, untagged, archived, twice, gone, forgotten

    created, by_email, by_hash, tagged, untagged, archived, twice, gone, forgotten = await body()
    assert created["status"] == "subscribed" and created["merge_fields"]["FNAME"] == "Ada"
    assert by_email["id"] == by_hash["id"] == subscriber_hash(addr)
    assert [t["name"] for t in tagged["tags"]] == ["VIP"]
    assert untagged["tags"] == []
    assert archived["status"] == "archived"
    assert twice.value.status == 405 and not twice.value.ambiguous
    assert gone.value.status == 404 and addr in str(gone.value)
    assert forgotten.value.status == 400 and addr in str(forgotten.value)
    assert "permanently deleted" in str(forgotten.value)


@pytest.mark.anyio
async def test_static_segments_chunked_add_and_remove(account):
    addresses = emails(1100, prefix="seg")
    outsiders = ["stranger1@acme-mail.net", "stranger2@acme-mail.net"]

    async def body():
        async with account.client() as mc:
            await mc.batch_subscribe(account.list_id, _subscribe(addresses), update_existing=True)
            seg = await mc.ensure_static_segment(account.list_id, "Customers")
            same = await mc.ensure_static_segment(account.list_id, "Customers")
            other = await mc.ensure_static_segment(account.list_id, "Prospects")
            folded = await mc.ensure_static_segment(account.list_id, "customers")
            calls0 = account.count("POST /lists/{list_id}/segments/{segment_id}")
            added = await mc.update_segment_members(account.list_id, seg, add=addresses + outsiders)
            calls1 = account.count("POST /lists/{list_id}/segments/{segment_id}")
            removed = await mc.update_segment_members(account.list_id, seg, remove=addresses[:600])
            calls2 = account.count("POST /lists/{list_id}/segments/{segment_id}")
            both = await mc.update_segment_members(
                account.list_id, seg, add=addresses[:5], remove=addresses[600:610]
            )
            calls3 = account.count("POST /lists/{list_id}/segments/{segment_id}")
            segments = await mc.list_segments(account.list_id, type="static")
            with pytest.raises(ResourceNotFound):
                await mc.update_segment_members(account.list_id, 999_999_999, add=addresses[:1])
            calls = (calls0, calls1, calls2, calls3)
            return seg, same, other, folded, added, removed, both, calls, segments

    seg, same, other, folded, added, removed, both, calls, segments = await body()
    assert seg == same == folded and isinstance(seg, int) and other != seg
    assert account.count("POST /lists/{list_id}/segments") == 2  # created once each
    assert calls[1] - calls[0] == 3  # 1,102 emails → 500 + 500 + 102
    assert calls[2] - calls[1] == 2  # 600 → 500 + 100
    assert calls[3] - calls[2] == 2  # adds and removes go in separate calls
    assert sorted(added.added) == sorted(addresses)
    assert sorted(e.email for e in added.errors) == sorted(outsiders)
    assert sorted(removed.removed) == sorted(addresses[:600])
    assert sorted(both.added) == sorted(addresses[:5])
    assert sorted(both.removed) == sorted(addresses[600:610])
    by_name = {s["name"]: s for s in segments}
    assert by_name["Customers"]["id"] == seg
    assert by_name["Customers"]["member_count"] == 1100 - 600 + 5 - 10


@pytest.mark.anyio
async def test_campaigns_and_reports(account):
    campaign = account.server.create_campaign(
        account.api_key, list_id=account.list_id, status="sent"
    )
    campaign_id = campaign["id"] if isinstance(campaign, dict) else campaign

    async def body():
        async with account.client() as mc:
            listed = await mc.list_campaigns(status="sent")
            one = await mc.get_campaign(campaign_id)
            report = await mc.get_campaign_report(campaign_id)
            with pytest.raises(ResourceNotFound) as missing:
                await mc.get_campaign("0000000000")
            return listed, one, report, missing

    listed, one, report, missing = await body()
    assert [c["id"] for c in listed] == [campaign_id]
    assert one["id"] == campaign_id
    assert report["id"] == campaign_id
    assert "campaign_id '0000000000'" in str(missing.value) or "0000000000" in str(missing.value)


@pytest.mark.anyio
async def test_oauth_token_dc_from_metadata(account):
    server = account.server
    metadata_url = server.base_url_template.split("/{dc}/")[0] + "/_emulator/oauth2/metadata"
    token = account.api_key.rpartition("-")[0]
    metadata = await fetch_oauth_metadata(token, metadata_url)
    assert metadata.dc == account.dc
    assert metadata.accountname == account.name
    assert metadata.api_endpoint.endswith(f"/{account.dc}")
    with pytest.raises(InvalidApiKey) as bad:
        await fetch_oauth_metadata("f" * 32, metadata_url)
    assert "f" * 16 not in str(bad.value)

    async def body():
        async with MailchimpClient(
            token,
            oauth=True,
            oauth_metadata_url=metadata_url,
            base_url_template=server.base_url_template,
        ) as mc:
            return await mc.ping(), mc.key, await mc.get_oauth_metadata()

    ping, key, own = await body()
    assert ping["health_status"] == "Everything's Chimpy!"
    assert own == metadata
    assert key.dc == account.dc and token not in repr(key)


def test_run_sync_with_and_without_a_running_loop(account):
    client = account.client()
    assert run_sync(client.ping())["health_status"]
    # a second event loop later on: the client rebinds to it
    assert run_sync(client.ping())["health_status"]

    box = {}

    def in_thread():
        box["result"] = run_sync(account.client().ping())

    worker = threading.Thread(target=in_thread)
    worker.start()
    worker.join(10)
    assert box["result"]["health_status"]


@pytest.mark.anyio
async def test_run_sync_inside_a_running_loop(account):
    # blocks this test's event loop; the coroutine runs on a worker thread
    assert run_sync(account.client().ping())["health_status"]


@pytest.mark.anyio
async def test_shared_metrics_and_constructor_validation(account):
    shared = CallMetrics()

    async def body():
        async with account.client(metrics=shared) as a, account.client(metrics=shared) as b:
            await asyncio.gather(a.ping(), b.ping())

    await body()
    assert shared.total_calls == 2
    assert shared.endpoints()["GET /ping"].calls == 2
    for bad in (0, 11):
        with pytest.raises(ValueError, match="max_connections must be between 1 and 10"):
            MailchimpClient(account.api_key, max_connections=bad)
    with pytest.raises(ValueError, match="max_attempts"):
        MailchimpClient(account.api_key, max_attempts=0)
    client = MailchimpClient(account.api_key, base_url_template="http://127.0.0.1:9/{dc}/3.0")
    assert client.base_url == f"http://127.0.0.1:9/{account.dc}/3.0"
    assert account.api_key not in repr(client)
