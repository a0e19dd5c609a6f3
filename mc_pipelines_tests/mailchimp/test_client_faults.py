"""Retries against injected faults (5xx, 429, dropped connections, lost acknowledgements), giving
up cleanly, and the concurrency cap — all measured by the emulator itself."""

from __future__ import annotations

import asyncio
import time

import pytest

from mc_pipelines.mailchimp.addresses import subscriber_hash
from mc_pipelines.mailchimp.errors import RateLimited, ServerError, TransportError
from mc_pipelines_tests.support.mailchimp_client import (  # noqa: F401 (fixture)
    Account,
    account,
    emails,
    new_account,
)

MEMBERS = "POST /lists/{list_id}"
SEGMENT = "POST /lists/{list_id}/segments/{segment_id}"


def _statuses(account):
    """{status: n} the emulator counted for the client's calls (not the fixture's POST /lists)."""
    out: dict[str, int] = {}
    for ep, by_status in account.stats()["requests"].items():
        if ep != "POST /lists":
            for status, n in by_status.items():
                out[status] = out.get(status, 0) + n
    return out


async def _workload(account, addresses):
    """Subscribe, tag, pull: the sync's own calls, returning what the client reported."""

    async def body():
        async with account.client(max_attempts=8) as mc:
            batch = await mc.batch_subscribe(
                account.list_id,
                [
                    {"email_address": e, "status": "subscribed", "merge_fields": {"FNAME": e[:8]}}
                    for e in addresses
                ],
                update_existing=True,
                chunk_size=100,
            )
            seg = await mc.ensure_static_segment(account.list_id, "Synced")
            seg_again = await mc.ensure_static_segment(account.list_id, "Synced")
            tagged = await mc.update_segment_members(
                account.list_id, seg, add=addresses[:700], chunk_size=100
            )
            untagged = await mc.update_segment_members(
                account.list_id, seg, remove=addresses[600:700], chunk_size=50
            )
            tagged.removed, tagged.errors = untagged.removed, tagged.errors + untagged.errors
            await mc.upsert_member(
                account.list_id, addresses[0], {"merge_fields": {"LNAME": "Put"}}
            )
            await mc.archive_member(account.list_id, addresses[1])
            await mc.delete_member_permanent(account.list_id, addresses[2])
            pulled = [
                m async for page in mc.iter_members(account.list_id, page_size=200) for m in page
            ]
            return mc.metrics, batch, seg, seg_again, tagged, pulled

    return await body()


async def _check_final_state(account, addresses, batch, seg, seg_again, tagged, pulled, exact_outcomes):
    assert batch.errors == [] and tagged.errors == []
    assert len(batch.created) + len(batch.updated) >= len(addresses)
    assert seg == seg_again
    dumped = account.server.dump_list(account.api_key, account.list_id)
    members = {m["email_address"]: m for m in dumped}
    assert set(members) == set(addresses) - {addresses[2]}  # exactly once each, one deleted
    assert members[addresses[0]]["merge_fields"]["LNAME"] == "Put"
    assert members[addresses[1]]["status"] == "archived"
    assert {m["status"] for e, m in members.items() if e != addresses[1]} == {"subscribed"}
    assert all(members[e]["merge_fields"]["FNAME"] == e[:8] for e in members)
    segments = [s for s in await _segments(account) if s["name"] == "Synced"]
    assert len(segments) == 1  # never created twice
    # archived members are not listed unless asked for
    assert sorted(m["email_address"] for m in pulled) == sorted(set(members) - {addresses[1]})
    # segment membership: added 0..699, removed 600..699 (and 2 was deleted).  After a lost
    # acknowledgement the repeat finds the emails already there and does not report them again.
    if exact_outcomes:
        assert sorted(tagged.added) == sorted(addresses[:700])
        assert sorted(tagged.removed) == sorted(addresses[600:700])
    else:
        assert set(tagged.added) <= set(addresses[:700])
        assert set(tagged.removed) <= set(addresses[600:700])
    in_segment = {e for e, m in members.items() if "Synced" in m["tags"]}
    assert in_segment == set(addresses[:600]) - {addresses[2]}


async def _segments(account):
    async def body():
        async with account.client() as mc:
            return await mc.list_segments(account.list_id)

    return await body()


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("fault", "statuses"),
    [
        ({"error_rate": 0.3}, {"500", "502", "503"}),
        ({"throttle_rate": 0.3}, {"429"}),
        ({"drop_rate": 0.3}, {"dropped"}),
        ({"ack_loss_rate": 0.3}, set()),
    ],
    ids=["5xx", "429", "dropped", "lost-ack"],
)
async def test_retries_succeed_and_final_state_is_exact(account, fault, statuses):
    addresses = emails(1234, prefix="fault")
    account.faults(seed=20240607, **fault)
    metrics, batch, seg, seg_again, tagged, pulled = await _workload(account, addresses)
    seen = _statuses(account)
    faults = account.stats()["faults"]
    account.faults(error_rate=0, throttle_rate=0, drop_rate=0, ack_loss_rate=0)
    lost_acks = bool(fault.get("ack_loss_rate"))
    await _check_final_state(account, addresses, batch, seg, seg_again, tagged, pulled, not lost_acks)

    injected = sum(n for s, n in seen.items() if s in statuses) + faults["ack_loss"]
    assert injected > 0, (seen, faults)
    # the client saw every request the server saw, and retried its way through every fault
    assert metrics.total_calls == sum(seen.values())
    assert metrics.total_retries > 0
    assert metrics.total_errors >= injected


@pytest.mark.anyio
async def test_ambiguous_writes_are_safe_to_repeat(account):
    """Lost acknowledgements (write applied, connection dropped): archive, permanent delete and
    segment creation still end exactly as asked, without errors or duplicates."""
    people = emails(12, prefix="ambiguous")

    async def body():
        async with account.client(max_attempts=10) as mc:
            await mc.batch_subscribe(
                account.list_id,
                [{"email_address": e, "status": "subscribed"} for e in people],
                update_existing=True,
            )
            account.faults(seed=4242, ack_loss_rate=0.5)
            for e in people[:6]:
                await mc.archive_member(account.list_id, e)
            for e in people[6:]:
                await mc.delete_member_permanent(account.list_id, e)
            ids = [await mc.ensure_static_segment(account.list_id, f"Tag {i}") for i in range(6)]
            account.faults(ack_loss_rate=0)
            return ids, await mc.list_segments(account.list_id)

    ids, segments = await body()
    stats = account.stats()
    requests = stats["requests"]
    assert stats["faults"]["ack_loss"] > 0
    # the retried archive/delete met "already done" answers and treated them as success
    assert requests["DELETE /lists/{list_id}/members/{subscriber_hash}"].get("405", 0) >= 1
    assert (
        requests["POST /lists/{list_id}/members/{subscriber_hash}/actions/delete-permanent"].get(
            "404", 0
        )
        >= 1
    )
    assert requests["POST /lists/{list_id}/segments"].get("dropped", 0) >= 1
    dumped = {
        m["email_address"]: m for m in account.server.dump_list(account.api_key, account.list_id)
    }
    assert {dumped[e]["status"] for e in people[:6]} == {"archived"}
    assert not set(people[6:]) & set(dumped)
    names = [s["name"] for s in segments]
    assert sorted(names) == sorted(f"Tag {i}" for i in range(6))  # each created exactly once
    assert sorted(ids) == sorted(s["id"] for s in segments)


@pytest.mark.anyio
async def test_gives_up_cleanly_on_persistent_5xx(account):
    account.faults(error_rate=1.0, seed=1)
    addresses = emails(1234, prefix="doomed")

    async def body():
        async with account.client(max_attempts=4) as mc:
            t0 = time.monotonic()
            with pytest.raises(ServerError) as ping_err:
                await mc.ping()
            batch = await mc.batch_subscribe(
                account.list_id,
                [{"email_address": e, "status": "subscribed"} for e in addresses],
                update_existing=True,
            )
            segs = await mc.update_segment_members(account.list_id, 12345, add=addresses[:600])
            return ping_err.value, batch, segs, time.monotonic() - t0, mc.metrics

    err, batch, segs, elapsed, metrics = await body()
    assert elapsed < 10
    assert err.attempts == 4 and err.status in (500, 502, 503)
    assert "gave up after 4 attempts" in str(err)
    assert account.count("GET /ping") == 4
    # each of the 3 chunks tried 4 times, then every email reported, none raised
    assert account.count(MEMBERS) == 12
    assert batch.created == [] and batch.updated == []
    assert sorted(e.email for e in batch.errors) == sorted(addresses)
    assert {e.code for e in batch.errors} == {"request_failed"}
    assert "gave up after 4 attempts" in batch.errors[0].message
    assert account.count(SEGMENT) == 8
    assert {e.code for e in segs.errors} == {"request_failed"} and len(segs.errors) == 600
    assert metrics.total_retries == 3 * (1 + 3 + 2)


@pytest.mark.anyio
async def test_gives_up_on_persistent_throttling_and_drops(account):
    async def ping_with(**faults):
        account.faults(**{"seed": 3, "error_rate": 0, "throttle_rate": 0, "drop_rate": 0, **faults})
        async with account.client(max_attempts=3) as mc:
            await mc.ping()

    with pytest.raises(RateLimited) as limited:
        await ping_with(throttle_rate=1.0)
    assert limited.value.attempts == 3 and limited.value.status == 429
    with pytest.raises(TransportError) as dropped:
        await ping_with(drop_rate=1.0)
    assert dropped.value.attempts == 3 and dropped.value.status is None
    assert "got no answer" in str(dropped.value)
    assert account.count("GET /ping", 429) == 3
    assert account.count("GET /ping", "dropped") == 3


@pytest.mark.anyio
async def test_retry_budget_bounds_total_time(account):
    account.faults(error_rate=1.0, seed=5)

    async def body():
        async with account.client(
            max_attempts=50, backoff_base=0.2, backoff_cap=0.2, max_retry_seconds=0.5
        ) as mc:
            t0 = time.monotonic()
            with pytest.raises(ServerError) as info:
                await mc.ping()
            return info.value, time.monotonic() - t0

    err, elapsed = await body()
    assert elapsed < 1.5
    assert 1 < err.attempts < 50


@pytest.mark.anyio
async def test_connection_refused_is_a_transport_error(account):
    async def body():
        async with account.client(
            base_url_template="http://127.0.0.1:9/{dc}/3.0", max_attempts=2
        ) as mc:
            await mc.ping()

    with pytest.raises(TransportError) as info:
        await body()
    assert info.value.attempts == 2 and "ConnectError" in str(info.value)


@pytest.mark.anyio
@pytest.mark.parametrize("cap", [3, 10])
async def test_concurrency_cap_is_never_exceeded(account, cap):
    addresses = emails(60, prefix="cap")

    async def seed():
        async with account.client() as mc:
            await mc.batch_subscribe(
                account.list_id,
                [{"email_address": e, "status": "subscribed"} for e in addresses],
                update_existing=True,
            )

    await seed()
    account.faults(latency_ms=30)

    async def body():
        async with account.client(max_connections=cap) as mc:
            calls = [mc.get_member(account.list_id, e) for e in addresses[:40]]
            calls += [mc.ping() for _ in range(10)]
            results = await asyncio.gather(*calls)
            # bulk calls share the same cap: 12 chunks of 5 members
            await mc.batch_subscribe(
                account.list_id,
                [{"email_address": e, "status": "subscribed"} for e in addresses],
                update_existing=True,
                chunk_size=5,
            )
            tagged = await mc.update_segment_members(
                account.list_id,
                await mc.ensure_static_segment(account.list_id, "Cap"),
                add=addresses,
                chunk_size=4,
            )
            return results, tagged, mc.metrics

    results, tagged, metrics = await body()
    assert len(results) == 50
    assert [r["id"] for r in results[:40]] == [subscriber_hash(e) for e in addresses[:40]]
    assert sorted(tagged.added) == sorted(addresses)
    stats = account.stats()
    assert 2 <= stats["max_concurrency"] <= cap
    assert metrics.total_retries == 0
    assert not any("429" in by_status for by_status in stats["requests"].values())
