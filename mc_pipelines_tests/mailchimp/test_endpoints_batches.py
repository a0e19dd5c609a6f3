"""``/batches`` operations (LIFECYCLE.md B1, B9, B10) against the emulator over HTTP: field
updates that never carry a status, several batches at once, per-operation results."""

from __future__ import annotations

import io
import json
import tarfile

import pytest

from mc_pipelines.mailchimp.addresses import subscriber_hash
from mc_pipelines.mailchimp.endpoints import Operation, member_patch_op
from mc_pipelines.mailchimp.endpoints.batches import next_poll_delay, parse_batch_results
from mc_pipelines.mailchimp.errors import ResourceNotFound
from mc_pipelines_tests.support.mailchimp_client import (  # noqa: F401 (fixture)
    account,
    emails,
)


def test_member_patch_op_sends_a_status_only_when_given():
    plain = member_patch_op("abc123", " Ann@Example.com", merge_fields={"FNAME": "Ann"})
    assert plain.method == "PATCH"
    assert plain.path == f"/lists/abc123/members/{subscriber_hash('ann@example.com')}"
    assert json.loads(plain.body) == {"merge_fields": {"FNAME": "Ann"}}
    moved = member_patch_op("abc123", "ann@example.com", email_address="ann@new.org")
    assert json.loads(moved.body) == {"email_address": "ann@new.org"}
    explicit = member_patch_op("abc123", "ann@example.com", status="unsubscribed", operation_id="x")
    assert json.loads(explicit.body) == {"status": "unsubscribed"}
    assert explicit.to_json("x") == {"method": "PATCH", "path": explicit.path,
                                     "operation_id": "x", "body": explicit.body}


@pytest.mark.anyio
async def test_batch_operations_update_fields_without_touching_status(account):
    addrs = emails(7, prefix="patch")

    async def body():
        async with account.client() as mc:
            await mc.batch_subscribe(
                account.list_id,
                [{"email_address": e, "status": "subscribed"} for e in addrs[:4]]
                + [{"email_address": e, "status": "unsubscribed"} for e in addrs[4:6]],
                update_existing=False,
            )
            ops = [member_patch_op(account.list_id, e, merge_fields={"FNAME": f"N{i}"},
                                   operation_id=f"op-{i}")
                   for i, e in enumerate(addrs)]  # the last one does not exist
            results = await mc.batch_operations(ops, chunk_size=3, poll_initial=0.02)
            members = [await mc.get_member(account.list_id, e) for e in addrs[:6]]
            # results are fetched from the handed-out URL without the account's credentials
            assert mc._plain is not None and mc._plain.auth is None
            assert "authorization" not in mc._plain.headers
            return results, members, mc.metrics

    results, members, metrics = await body()
    assert [r.operation_id for r in results] == [f"op-{i}" for i in range(7)]
    assert [r.status_code for r in results] == [200] * 6 + [404]
    assert all(r.ok and r.problem is None for r in results[:6])
    assert results[0].body["merge_fields"]["FNAME"] == "N0"
    assert not results[6].ok and results[6].body is None
    assert results[6].problem["title"] == "Resource Not Found"
    # status never changed by a field update (B1): the unsubscribed stay unsubscribed
    assert [m["status"] for m in members] == ["subscribed"] * 4 + ["unsubscribed"] * 2
    assert [m["merge_fields"]["FNAME"] for m in members] == [f"N{i}" for i in range(6)]
    # three batches of ≤ 3 operations, each polled until finished, results downloaded
    calls = metrics.endpoints()
    assert calls["POST /batches"].calls == 3
    assert calls["GET /batches/{batch_id}"].calls >= 3
    assert calls["GET {response_body_url}"].calls == 3
    assert account.count("POST /batches", 200) == 3


@pytest.mark.anyio
async def test_batch_operations_change_an_address_in_place(account):
    old, new = "mover.old@acme-mail.net", "mover.new@acme-mail.net"

    async def body():
        async with account.client() as mc:
            await mc.batch_subscribe(
                account.list_id,
                [{"email_address": old, "status": "unsubscribed", "merge_fields": {"FNAME": "Mo"}}],
                update_existing=False,
            )
            [result] = await mc.batch_operations(
                [member_patch_op(account.list_id, old, email_address=new)], poll_initial=0.02
            )
            after = await mc.get_member(account.list_id, new)
            with pytest.raises(ResourceNotFound):
                await mc.get_member(account.list_id, old)
            page = await mc.get_members_page(account.list_id)
            return result, after, page

    result, after, page = await body()
    assert result.ok and result.operation_id == "0"
    # one member, moved: same status and fields under the new address (the emulator derives
    # contact_id from the hash, so it cannot show that id surviving the change)
    assert after["email_address"] == new and after["status"] == "unsubscribed"
    assert after["merge_fields"]["FNAME"] == "Mo"
    assert [m["email_address"] for m in page["members"]] == [new]


@pytest.mark.anyio
async def test_batch_operations_validate_ids_and_sizes(account):
    ops = [Operation("GET", "/ping", operation_id="same"), Operation("GET", "/ping", operation_id="same")]

    async def body():
        async with account.client() as mc:
            with pytest.raises(ValueError, match="unique"):
                await mc.batch_operations(ops)
            with pytest.raises(ValueError, match="chunk_size"):
                await mc.batch_operations(ops[:1], chunk_size=501)
            return await mc.batch_operations([])

    assert await body() == []


def test_parse_batch_results_reads_every_json_file():
    buf = io.BytesIO()
    files = {
        "b/1.json": [{"status_code": 200, "operation_id": "a", "response": '{"id": "x"}'}],
        "b/2.json": [{"status_code": 204, "operation_id": "b", "response": ""},
                     {"status_code": 400, "operation_id": "c",
                      "response": '{"title": "Invalid Resource", "status": 400}'}],
    }
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, items in files.items():
            data = json.dumps(items).encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    results = parse_batch_results(buf.getvalue())
    assert [(r.operation_id, r.status_code, r.ok) for r in results] == [
        ("a", 200, True), ("b", 204, True), ("c", 400, False)]
    assert results[0].body == {"id": "x"} and results[1].body is None
    assert results[2].problem == {"title": "Invalid Resource", "status": 400}
    with pytest.raises(ValueError):
        parse_batch_results(b"not a tarball")


def test_polls_close_in_on_the_end_of_a_batch_instead_of_doubling_past_it():
    def delay(done, seen, now, previous=0.5):
        return next_poll_delay({"total_operations": 500, "finished_operations": done}, seen, now,
                               previous, 0.25, 15.0)

    # none done: queued behind the account's other jobs — waits double, up to 2 s
    assert [delay(0, None, 1.0, d) for d in (0.25, 0.5, 4.0)] == [0.5, 1.0, 2.0]
    # first progress: the pace is not known yet (the job may have started just now)
    assert delay(100, (1.0, 0), 2.0, previous=2.0) == 2.0
    # 50 more done in the second since the last poll: 8 s left at that pace, next poll after half
    assert delay(100, (1.0, 50), 2.0) == 4.0
    # a job that waited 14 s in the queue and has just started is not taken for a slow one
    assert delay(10, (21.0, 0), 21.5, previous=2.0) == 2.0
    assert delay(135, (21.5, 10), 22.0) == 0.73  # 250 a second: 1.46 s left
    # nothing since the last poll: the pace is unknown again
    assert delay(100, (1.0, 100), 2.0) == 1.0
    # nearly done: never sooner than the first wait; very slow: never later than the cap
    assert delay(499, (1.0, 400), 2.0) == 0.25
    assert delay(2, (0.0, 1), 60.0) == 15.0
