"""Segment calls: static segments are Mailchimp's tags; bulk add/remove of their members."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from ..errors import (
    ACCOUNT_LEVEL_ERRORS,
    MailchimpError,
    ResourceNotFound,
    ServerError,
    TransportError,
)
from ..limits import BATCH_LIMIT, chunk
from ..results import RowError, SegmentMembersResult
from ..runner import gather_all
from ..transport import Transport


class SegmentCalls(Transport):
    """``/lists/{id}/segments`` and ``/lists/{id}/segments/{segment_id}``."""

    async def list_segments(self, list_id: str, *, type: str | None = None) -> list[dict[str, Any]]:
        """All segments of an audience (paged); ``type`` ∈ ``saved``, ``static``, ``fuzzy``."""
        return await self._collect(
            "/lists/{list_id}/segments",
            "segments",
            path={"list_id": list_id},
            params={"type": type},
            context={"list_id": list_id},
        )

    async def ensure_static_segment(self, list_id: str, name: str) -> int:
        """The id of the static segment (tag) called ``name``, created if missing.

        An exact name match wins; failing that, a match ignoring case (Mailchimp
        treats tag names case-insensitively and would refuse the duplicate).

        Creating is not idempotent, so a create that may have gone through (dropped
        connection, 5xx) is followed by a fresh lookup before trying again.
        """
        for round_ in range(1, self.max_attempts + 1):
            segments = await self.list_segments(list_id, type="static")
            exact = [seg for seg in segments if seg.get("name") == name]
            # Mailchimp treats tag names case-insensitively: reuse "vip" for "VIP".
            folded = name.casefold()
            similar = [seg for seg in segments if str(seg.get("name", "")).casefold() == folded]
            if exact or similar:
                return int((exact or similar)[0]["id"])
            try:
                created = await self._request(
                    "POST",
                    "/lists/{list_id}/segments",
                    path={"list_id": list_id},
                    json_body={"name": name, "static_segment": []},
                    context={"list_id": list_id},
                    idempotent=False,
                )
                return int(created["id"])
            except MailchimpError as err:
                maybe_created = isinstance(err, (TransportError, ServerError))
                if not maybe_created or round_ == self.max_attempts:
                    raise
                await asyncio.sleep(self._backoff(round_))
        raise AssertionError("unreachable")

    async def update_segment_members(
        self,
        list_id: str,
        segment_id: int | str,
        *,
        add: Sequence[str] = (),
        remove: Sequence[str] = (),
        chunk_size: int = BATCH_LIMIT,
    ) -> SegmentMembersResult:
        """Add/remove emails to/from a static segment (``POST /lists/{id}/segments/{segment_id}``).

        Adds and removes go in separate calls of ≤ 500 emails, sent concurrently.
        Returns the emails Mailchimp reports added/removed and a :class:`RowError`
        per email it refused; a call failing after retries yields
        ``RowError(code="request_failed")`` for each of its emails.  An unknown
        audience or segment and account-level failures raise.  Idempotent: emails
        already in (or already out of) the segment are simply not reported, so
        after a retried call whose first attempt was applied, "not in ``errors``"
        is what means "done".
        """
        if not 1 <= chunk_size <= BATCH_LIMIT:
            raise ValueError(f"chunk_size must be between 1 and {BATCH_LIMIT}, got {chunk_size}")
        ctx = {"list_id": list_id, "segment_id": segment_id}

        async def send(key: str, emails: Sequence[str]) -> SegmentMembersResult:
            try:
                data = await self._request(
                    "POST",
                    "/lists/{list_id}/segments/{segment_id}",
                    path={"list_id": list_id, "segment_id": segment_id},
                    json_body={key: list(emails)},
                    context=ctx,
                )
            except (*ACCOUNT_LEVEL_ERRORS, ResourceNotFound):
                raise
            except MailchimpError as err:
                return SegmentMembersResult(
                    errors=[RowError(e, "request_failed", str(err)) for e in emails]
                )
            errors = [
                RowError(
                    str(email_),
                    str(item.get("error_code") or "ERROR_GENERIC"),
                    str(item.get("error") or ""),
                )
                for item in data.get("errors") or []
                for email_ in item.get("email_addresses") or []
            ]
            return SegmentMembersResult(
                added=[m.get("email_address", "") for m in data.get("members_added") or []],
                removed=[m.get("email_address", "") for m in data.get("members_removed") or []],
                errors=errors,
            )

        jobs = [send("members_to_add", c) for c in chunk(add, chunk_size)]
        jobs += [send("members_to_remove", c) for c in chunk(remove, chunk_size)]
        result = SegmentMembersResult()
        for part in await gather_all(jobs):
            result.merge(part)
        return result
