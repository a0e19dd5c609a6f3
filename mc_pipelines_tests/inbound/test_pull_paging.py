"""Keyset paging of the member-status pull: members changed between pages are never skipped —
neither by a change before the boundary nor inside a second shared by more members than a page."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest

from mc_pipelines.effects.pull import MemberScan, pull_audience
from mc_pipelines.mailchimp.endpoints import MailchimpClient
from mc_pipelines.store import cursors
from mc_pipelines.store.clock import utcnow
from mc_pipelines_tests.support.app_data import consent_of, seed_org


class ChangingClient(MailchimpClient):
    """A real client that lets the test change Mailchimp right after a given page came back."""

    def __init__(self, *args: Any, after_page: dict[int, Callable[[], None]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.after_page = after_page
        self.pages = 0

    async def get_members_page(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        page = await super().get_members_page(*args, **kwargs)
        self.pages += 1
        if self.pages in self.after_page:
            await asyncio.to_thread(self.after_page[self.pages])
        return page


def _load(emulator, conn, emails: list[str], times: list[datetime]) -> None:
    emulator.bulk_load(conn["api_key"], conn["audience_id"], [
        {"email_address": e, "status": "subscribed", "last_changed": f"{t.isoformat()}+00:00"}
        for e, t in zip(emails, times, strict=True)])


async def _pull(emulator, conn, engine, org_id: str, after_page: dict[int, Callable[[], None]],
          page_size: int):
    async with ChangingClient(conn["api_key"], base_url_template=emulator.base_url_template,
                              after_page=after_page) as client:
        return await pull_audience(client, engine, org_id, conn["audience_id"], page_size=page_size)


@pytest.mark.anyio
async def test_a_member_changed_between_pages_skips_nobody(app_engine, emulator):
    emails = [f"m{i:02d}@paging-mail.io" for i in range(30)]
    conn = seed_org(app_engine, emulator, "pager", emails)
    start = (utcnow() - timedelta(days=2)).replace(microsecond=0)
    _load(emulator, conn, emails, [start + timedelta(seconds=i) for i in range(30)])

    def leave() -> None:  # m03 was on page 1; it moves to the end, m10 moves up to offset 9
        emulator.member_event(conn["api_key"], conn["audience_id"], emails[3], "unsubscribe")

    async def offset_scan() -> set[str]:  # what plain offset paging would have read
        async with ChangingClient(conn["api_key"], base_url_template=emulator.base_url_template,
                                  after_page={}) as client:
            seen, offset = set(), 0
            while page := (await client.get_members_page(conn["audience_id"], offset=offset,
                                                         count=10))["members"]:
                seen |= {m["email_address"] for m in page}
                offset += len(page)
                if offset == 10:
                    await asyncio.to_thread(emulator.member_event, conn["api_key"],
                                            conn["audience_id"], emails[4], "unsubscribe")
            return seen

    assert emails[10] not in await offset_scan()  # the hazard is real in the emulator

    result = await _pull(emulator, conn, app_engine, "pager", {1: leave}, page_size=10)
    assert result.members_seen == 30
    assert len(result.consent_withdrawn) == 2  # m03 and m04 (from the offset scan above)
    assert consent_of(app_engine, "pager")[4] is False
    assert cursors.get_cursor(app_engine, "pager", conn["audience_id"]) > start + timedelta(seconds=29)


@pytest.mark.anyio
async def test_a_tie_block_larger_than_a_page_that_shifts_mid_scan_is_reread(pg_app_engine, emulator):
    emails = [f"t{i:02d}@ties-mail.io" for i in range(25)]
    conn = seed_org(pg_app_engine, emulator, "ties", emails)
    same_second = (utcnow() - timedelta(days=1)).replace(microsecond=0)
    _load(emulator, conn, emails, [same_second] * 25)  # e.g. one batch subscribe

    def bounce() -> None:  # t02 leaves the tie block after page 1: offsets within it shift
        emulator.member_event(conn["api_key"], conn["audience_id"], emails[2], "cleaned")

    result = await _pull(emulator, conn, pg_app_engine, "ties", {1: bounce}, page_size=10)
    assert result.restarts == 1
    assert result.members_seen == 25 and result.cleaned_in_mailchimp == 1
    assert consent_of(pg_app_engine, "ties")[3] is False

    again = await _pull(emulator, conn, pg_app_engine, "ties", {}, page_size=10)
    assert again.members_seen == 1 and again.restarts == 0 and not again.consent_withdrawn


def test_scan_page_size_needs_room_for_the_anchor():
    with pytest.raises(ValueError, match="between 2 and 1000"):
        MemberScan(MailchimpClient(f"{'a' * 32}-us1"), "list", None, page_size=1)


@pytest.mark.anyio
async def test_ten_thousand_changed_members_take_eleven_requests_plus_the_archived_scan(pg_app_engine, emulator):
    emails = [f"bulk{i}@scale-mail.io" for i in range(10_000)]
    conn = seed_org(pg_app_engine, emulator, "scale", emails[:10])
    start = (utcnow() - timedelta(days=1)).replace(microsecond=0)
    _load(emulator, conn, emails, [start + timedelta(seconds=i // 500) for i in range(10_000)])
    result = await _pull(emulator, conn, pg_app_engine, "scale", {}, page_size=1000)
    # 11 pages of the main scan, and 1 of the (empty) archived-members scan
    assert result.members_seen == 10_000 and result.requests == 12 and result.restarts == 0
    assert result.state_rows_changed == 0  # members unknown to the state are not added
