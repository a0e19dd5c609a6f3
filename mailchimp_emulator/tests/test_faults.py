"""The emulator's limits and faults: the 10-connection limit, seeded 5xx/429/drops, latency,
global vs per-account settings, request accounting, process mode and key-free logs."""

from __future__ import annotations

import asyncio
import hashlib
import time
from typing import Any

import httpx
import pytest

from mailchimp_emulator.cli import main as cli_main
from mailchimp_emulator.harness import EmulatorServer

from .helpers import api_client, sdk_for


async def _concurrent(
    emu: EmulatorServer, api_key: str, n: int, path: str = "/ping"
) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=n + 5)
    async with httpx.AsyncClient(
        base_url=emu.api_url(), auth=("u", api_key), limits=limits, timeout=30
    ) as client:
        return await asyncio.gather(*(client.get(path) for _ in range(n)))


@pytest.mark.anyio
async def test_eleventh_simultaneous_request_gets_429(emu: EmulatorServer, api_key: str) -> None:
    emu.set_faults(api_key, latency_ms=400)
    responses = await _concurrent(emu, api_key, 11)
    codes = sorted(r.status_code for r in responses)
    assert codes.count(200) == 10 and codes.count(429) == 1
    problem = next(r for r in responses if r.status_code == 429)
    assert problem.headers["content-type"].startswith("application/problem+json")
    assert problem.json()["title"] == "Too Many Requests"
    assert problem.json()["detail"] == "You have exceeded the limit of 10 simultaneous connections."
    stats = emu.stats(api_key)
    assert stats["max_concurrency"] == 11 and stats["faults"]["limit"] == 1
    assert stats["requests"]["GET /ping"] == {"200": 10, "429": 1}


@pytest.mark.anyio
async def test_ten_simultaneous_requests_overlap_and_pass(emu: EmulatorServer, api_key: str) -> None:
    emu.set_faults(api_key, latency_ms=300)
    started = time.monotonic()
    responses = await _concurrent(emu, api_key, 10)
    assert [r.status_code for r in responses] == [200] * 10
    assert time.monotonic() - started < 2.0  # latency overlaps (serial would be ≥ 3 s)
    assert emu.stats(api_key)["max_concurrency"] == 10


@pytest.mark.anyio
async def test_max_connections_per_account(emu: EmulatorServer, api_key: str) -> None:
    emu.set_faults(api_key, latency_ms=300, max_connections=2)
    codes = sorted(r.status_code for r in await _concurrent(emu, api_key, 3))
    assert codes == [200, 200, 429]


def test_per_member_latency_in_bulk_calls(emu: EmulatorServer, api_key: str, list_id: str) -> None:
    emu.set_faults(api_key, per_member_ms=4)
    members = [
        {"email_address": f"lat{i}@acme-corp.com", "status": "subscribed"} for i in range(100)
    ]
    with api_client(emu, api_key) as client:
        started = time.monotonic()
        assert client.get("/ping").status_code == 200
        ping = time.monotonic() - started
        started = time.monotonic()
        assert client.post(f"/lists/{list_id}", json={"members": members}).status_code == 200
        assert time.monotonic() - started >= 0.4 > ping


def _outcomes(emu: EmulatorServer, api_key: str, n: int) -> list[str]:
    out = []
    with api_client(emu, api_key) as client:
        for _ in range(n):
            try:
                out.append(str(client.get("/ping").status_code))
            except httpx.RemoteProtocolError:
                out.append("drop")
    return out


def test_fault_injection_is_reproducible_with_a_seed(emu: EmulatorServer, api_key: str) -> None:
    rates = {"error_rate": 0.25, "throttle_rate": 0.15, "drop_rate": 0.1}
    emu.set_faults(api_key, seed=42, **rates)
    first = _outcomes(emu, api_key, 60)
    emu.set_faults(api_key, seed=42)
    second = _outcomes(emu, api_key, 60)
    emu.set_faults(api_key, seed=7)
    third = _outcomes(emu, api_key, 60)
    assert first == second and first != third
    assert {"200", "429", "drop"} <= set(first) and {"500", "502", "503"} & set(first)
    faults = emu.stats(api_key)["faults"]
    assert faults["error"] and faults["throttle"] and faults["drop"]


def test_injected_errors_and_drops_never_apply_writes(
    emu: EmulatorServer, api_key: str, list_id: str
) -> None:
    email = "fault.write@acme-corp.com"
    path = f"/lists/{list_id}/members/{hashlib.md5(email.encode()).hexdigest()}"
    body = {"email_address": email, "status_if_new": "subscribed"}
    with api_client(emu, api_key) as client:
        emu.set_faults(api_key, error_rate=1.0, seed=1)
        for _ in range(5):
            resp = client.put(path, json=body)
            assert resp.status_code in (500, 502, 503)
            if resp.status_code == 500:
                assert resp.json()["title"] == "Internal Server Error"
        emu.set_faults(api_key, error_rate=0.0, drop_rate=1.0)
        with pytest.raises(httpx.RemoteProtocolError):
            client.put(path, json=body)
        assert emu.dump_list(api_key, list_id) == []
        assert emu.stats(api_key)["writes"] == 1  # only POST /lists
        emu.set_faults(api_key, drop_rate=0.0, ack_loss_rate=1.0)
        with pytest.raises(httpx.RemoteProtocolError):
            client.put(path, json=body)
    assert [m["email_address"] for m in emu.dump_list(api_key, list_id)] == [email]
    stats = emu.stats(api_key)
    assert stats["writes"] == 2 and stats["faults"]["ack_loss"] == 1
    assert stats["requests"]["PUT /lists/{list_id}/members/{subscriber_hash}"]["dropped"] == 2


def test_global_faults_spare_admin_routes_and_accounts_can_override() -> None:
    # global settings and global stats: a private emulator, not the shared one
    with EmulatorServer() as own:
        a = own.create_account("A")["api_key"]
        b = own.create_account("B")["api_key"]
        own.set_faults(drop_rate=1.0, seed=3)
        try:
            own.create_account("C")  # admin routes never get faults
            assert own.stats()["faults"]["drop"] == 0
            own.set_faults(a, drop_rate=0.0)
            with api_client(own, a) as client:
                assert client.get("/ping").status_code == 200
            with api_client(own, b) as client, pytest.raises(httpx.RemoteProtocolError):
                client.get("/ping")
            assert own.get_faults(a)["drop_rate"] == 0.0 and own.get_faults()["drop_rate"] == 1.0
        finally:
            own.set_faults(clear=True)
        with api_client(own, b) as client:
            assert client.get("/ping").status_code == 200


def test_stats_count_writes_and_requests_by_template(
    emu: EmulatorServer, api_key: str, list_id: str
) -> None:
    sdk = sdk_for(emu, api_key)
    email = "stats@acme-corp.com"
    sdk.lists.batch_list_members(
        list_id, {"members": [{"email_address": email, "status": "subscribed"}]}
    )
    sdk.lists.get_list_members_info(list_id)
    sdk.lists.get_list_member(list_id, email)
    with pytest.raises(Exception):  # noqa: B017 - a 400 is not a write
        sdk.lists.add_list_member(list_id, {"email_address": email, "status": "subscribed"})
    stats = emu.stats(api_key)
    assert stats["writes"] == 2  # POST /lists + batch subscribe
    req = stats["requests"]
    assert req["POST /lists/{list_id}"] == {"200": 1}
    assert req["GET /lists/{list_id}/members"] == {"200": 1}
    assert req["GET /lists/{list_id}/members/{subscriber_hash}"] == {"200": 1}
    assert req["POST /lists/{list_id}/members"] == {"400": 1}
    emu.reset(api_key)
    assert emu.stats(api_key)["writes"] == 0


def test_process_mode_serves_preset_keys_and_never_logs_keys(tmp_path: Any) -> None:
    key = "0123456789abcdef0123456789abcdef-us9"
    with EmulatorServer(
        mode="process", api_keys=[key], log_level="info", access_log=True
    ) as server:
        sdk = sdk_for(server, key, dc="us9")
        assert sdk.ping.get()["health_status"] == "Everything's Chimpy!"
        list_id = server.create_list(key)
        assert sdk.lists.get_list(list_id)["id"] == list_id
        httpx.get(server.api_url("us1") + "/ping", auth=("u", key))  # wrong dc → 401
        httpx.get(server.api_url("us9") + "/ping", headers={"Authorization": f"Bearer {key}"})
        time.sleep(0.2)
        output = server.process_output()
    assert "GET /us9/3.0/ping" in output  # the access log was on
    assert key not in output and key.split("-")[0] not in output


def test_cli_rejects_bad_flags() -> None:
    with pytest.raises(SystemExit):
        cli_main(["--error-rate", "2"])
    with pytest.raises(SystemExit):
        cli_main(["--api-key", "no-dc-suffix-here!"])
