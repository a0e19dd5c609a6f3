"""Member calls: listing and reading members, single writes, batch subscribe."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from ..addresses import address_key, member_hash, subscriber_hash
from ..errors import ACCOUNT_LEVEL_ERRORS, MailchimpError, MethodNotAllowed, ResourceNotFound
from ..limits import BATCH_LIMIT, PAGE_LIMIT, chunk
from ..results import BatchSubscribeResult, RowError
from ..runner import gather_all
from ..transport import Transport

__all__ = ["BATCH_SUBSCRIBE_FIELDS", "MemberCalls"]

_MEMBER = "/lists/{list_id}/members/{subscriber_hash}"

#: What the push reads from a batch subscribe answer: asking for no more keeps a 500-member
#: answer small (full member objects are ~1.5 kB each).
BATCH_SUBSCRIBE_FIELDS = ",".join(
    [
        "new_members.email_address",
        "new_members.status",
        "new_members.contact_id",
        "updated_members.email_address",
        "updated_members.status",
        "errors",
        "total_created",
        "total_updated",
        "error_count",
    ]
)


def _member_query(
    since_last_changed: datetime | None, status: str | None, fields: str | None
) -> dict[str, Any]:
    """Query of the member listings: sorted by ``last_changed`` ascending, filtered, trimmed."""
    params: dict[str, Any] = {
        "sort_field": "last_changed",
        "sort_dir": "ASC",
        "since_last_changed": since_last_changed,
        "status": status,
    }
    if fields:
        params["fields"] = fields
    else:
        params["exclude_fields"] = "members._links,_links"
    return params


def _row_errors(data: Mapping[str, Any]) -> list[RowError]:
    errors = []
    for item in data.get("errors") or []:
        message = str(item.get("error") or "")
        fld = item.get("field") or None
        if fld and item.get("field_message"):
            message = f"{message} ({fld}: {item['field_message']})"
        errors.append(
            RowError(
                str(item.get("email_address") or ""),
                str(item.get("error_code") or "ERROR_GENERIC"),
                message,
                fld,
            )
        )
    return errors


class MemberCalls(Transport):
    """``/lists/{id}/members…`` and batch subscribe (``POST /lists/{id}``)."""

    async def iter_members(
        self,
        list_id: str,
        *,
        since_last_changed: datetime | None = None,
        status: str | None = None,
        page_size: int = PAGE_LIMIT,
        fields: str | None = None,
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """Yield pages of members sorted by ``last_changed`` ascending, paged by offset.

        ``since_last_changed`` (naive = UTC) restricts to members changed after it;
        ``status`` filters by status (``"archived"`` lists archived members, which an
        unfiltered listing leaves out); ``fields`` is Mailchimp's field selector (e.g.
        ``"members.email_address,members.status,members.last_changed,total_items"``).
        Offset paging over a changing audience can skip a member: when one already
        read changes (or is archived) during the scan it leaves its place, every later
        member moves up one, and the member at the page boundary is never returned —
        and it may be older than any cursor.  Incremental pulls should therefore page
        by key with :meth:`get_members_page` (see ``mc_pipelines.effects.pull``).
        """
        async for page in self._pages(
            "/lists/{list_id}/members",
            "members",
            path={"list_id": list_id},
            params=_member_query(since_last_changed, status, fields),
            page_size=page_size,
            context={"list_id": list_id},
        ):
            yield page

    async def get_members_page(
        self,
        list_id: str,
        *,
        since_last_changed: datetime | None = None,
        offset: int = 0,
        count: int = PAGE_LIMIT,
        status: str | None = None,
        fields: str | None = None,
        before_last_changed: datetime | None = None,
    ) -> dict[str, Any]:
        """One page of members sorted by ``last_changed`` ascending (the raw response);
        ``before_last_changed`` bounds the listing above (one second's members, for a scan
        reading a block of same-second ties whole).

        Same filters as :meth:`iter_members` — ``status="archived"`` for the pull's second scan
        of archived members; for callers that page by key (``since_last_changed`` advanced to
        the last value seen, ``offset`` only within the members sharing that second) instead
        of by a growing offset.
        """
        if not 1 <= count <= PAGE_LIMIT:
            raise ValueError(f"count must be between 1 and {PAGE_LIMIT}, got {count}")
        if offset < 0:
            raise ValueError(f"offset must not be negative, got {offset}")
        return await self._request(
            "GET",
            "/lists/{list_id}/members",
            path={"list_id": list_id},
            params={**_member_query(since_last_changed, status, fields), "count": count, "offset": offset,
                    **({"before_last_changed": before_last_changed} if before_last_changed else {})},
            context={"list_id": list_id},
        )

    async def get_member(
        self, list_id: str, email_or_hash: str, *, fields: str | None = None
    ) -> dict[str, Any]:
        """``GET /lists/{list_id}/members/{subscriber_hash}`` (an email or its hash).

        ``fields`` is Mailchimp's field selector (``"email_address,status"``).  A member that
        does not exist (never added, or permanently deleted) raises :class:`ResourceNotFound`;
        an archived one comes back with ``status == "archived"``.
        """
        return await self._request(
            "GET",
            _MEMBER,
            path={"list_id": list_id, "subscriber_hash": member_hash(email_or_hash)},
            params={"fields": fields},
            context={"list_id": list_id, "email": email_or_hash},
        )

    async def upsert_member(
        self,
        list_id: str,
        email: str,
        body: Mapping[str, Any],
        *,
        skip_merge_validation: bool = False,
    ) -> dict[str, Any]:
        """``PUT /lists/{list_id}/members/{hash}`` — add or update; idempotent, safe to retry.

        Send ``status_if_new`` to leave an existing member's status alone; ``status``
        changes it (subject to Mailchimp's compliance rules).
        """
        payload = dict(body)
        payload.setdefault("email_address", email)
        return await self._request(
            "PUT",
            _MEMBER,
            path={"list_id": list_id, "subscriber_hash": subscriber_hash(email)},
            params={"skip_merge_validation": True} if skip_merge_validation else None,
            json_body=payload,
            context={"list_id": list_id, "email": email},
        )

    async def add_member(
        self, list_id: str, body: Mapping[str, Any], *, skip_merge_validation: bool = False
    ) -> dict[str, Any]:
        """``POST /lists/{list_id}/members`` — add a new member; :class:`MemberExists` if present.

        Not idempotent (a repeat raises MemberExists), so the sync uses
        :meth:`upsert_member` instead; this is for tools and tests.
        """
        email = str(body.get("email_address", ""))
        return await self._request(
            "POST",
            "/lists/{list_id}/members",
            path={"list_id": list_id},
            params={"skip_merge_validation": True} if skip_merge_validation else None,
            json_body=dict(body),
            context={"list_id": list_id, "email": email},
            idempotent=False,
        )

    async def update_member_tags(
        self, list_id: str, email: str, tags: Mapping[str, bool], *, is_syncing: bool = False
    ) -> None:
        """Set tags active (True) or inactive (False) on one member; idempotent."""
        await self._request(
            "POST",
            _MEMBER + "/tags",
            path={"list_id": list_id, "subscriber_hash": subscriber_hash(email)},
            json_body={
                "tags": [
                    {"name": name, "status": "active" if on else "inactive"}
                    for name, on in tags.items()
                ],
                "is_syncing": is_syncing,
            },
            context={"list_id": list_id, "email": email},
        )

    async def archive_member(self, list_id: str, email: str) -> None:
        """``DELETE /lists/{list_id}/members/{hash}`` (archive).

        A 405 after an earlier attempt that may have gone through counts as done
        (the member is archived), which makes the retry safe.
        """
        try:
            await self._request(
                "DELETE",
                _MEMBER,
                path={"list_id": list_id, "subscriber_hash": subscriber_hash(email)},
                context={"list_id": list_id, "email": email},
            )
        except MethodNotAllowed as err:
            if not err.ambiguous:
                raise

    async def delete_member_permanent(self, list_id: str, email: str) -> None:
        """``POST .../members/{hash}/actions/delete-permanent`` — irreversible (GDPR erase).

        A 404 after an earlier attempt that may have gone through counts as done.
        """
        try:
            await self._request(
                "POST",
                _MEMBER + "/actions/delete-permanent",
                path={"list_id": list_id, "subscriber_hash": subscriber_hash(email)},
                context={"list_id": list_id, "email": email},
            )
        except ResourceNotFound as err:
            if not err.ambiguous:
                raise

    async def batch_subscribe(
        self,
        list_id: str,
        members: Sequence[Mapping[str, Any]],
        *,
        update_existing: bool,
        sync_tags: bool = False,
        chunk_size: int = BATCH_LIMIT,
        skip_merge_validation: bool = False,
        fields: str | None = BATCH_SUBSCRIBE_FIELDS,
    ) -> BatchSubscribeResult:
        """Batch subscribe/update (``POST /lists/{list_id}``) in chunks of ≤ 500, sent concurrently.

        Returns per-email outcomes: ``created`` and ``updated`` member dicts and one
        :class:`RowError` per failed email.  The member dicts hold only what ``fields``
        asks Mailchimp for (by default :data:`BATCH_SUBSCRIBE_FIELDS`: email address and
        status — what the push reads); ``fields=None`` returns whole members.  A chunk whose
        request fails after retries (5xx, 429, transport, a 4xx for the whole request)
        becomes a ``RowError(code="request_failed")`` for each of its emails; account-level
        failures (invalid key, disabled account, unknown audience) raise instead.

        Safe to retry: re-sending a batch leaves members in the same state.  With
        ``update_existing=True`` the batch *changes* existing members' status — send
        it only for members whose status you mean to set.
        """
        if not 1 <= chunk_size <= BATCH_LIMIT:
            raise ValueError(f"chunk_size must be between 1 and {BATCH_LIMIT}, got {chunk_size}")
        params = {"skip_merge_validation": True if skip_merge_validation else None, "fields": fields}

        async def send(part: Sequence[Mapping[str, Any]]) -> BatchSubscribeResult:
            meta: dict[str, Any] = {}
            try:
                data = await self._request(
                    "POST",
                    "/lists/{list_id}",
                    path={"list_id": list_id},
                    params=params,
                    json_body={
                        "members": list(part),
                        "update_existing": update_existing,
                        "sync_tags": sync_tags,
                    },
                    context={"list_id": list_id},
                    meta=meta,
                )
            except ACCOUNT_LEVEL_ERRORS:
                raise
            except MailchimpError as err:
                return BatchSubscribeResult(
                    errors=[
                        RowError(str(m.get("email_address", "")), "request_failed", str(err))
                        for m in part
                    ]
                )
            return BatchSubscribeResult(
                created=list(data.get("new_members") or []),
                updated=list(data.get("updated_members") or []),
                errors=_row_errors(data),
                ambiguous={address_key(str(m.get("email_address", ""))) for m in part}
                if meta.get("ambiguous") else set(),
            )

        result = BatchSubscribeResult()
        for part_result in await gather_all(send(c) for c in chunk(members, chunk_size)):
            result.merge(part_result)
        return result
