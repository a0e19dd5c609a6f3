"""Batch operations: Mailchimp's asynchronous ``/batches`` endpoint.

:meth:`BatchCalls.batch_operations` submits ≤ 500 operations per batch (several batches at once,
within the transport's connection cap), polls ``GET /batches/{id}`` with backoff until
``finished``, downloads ``response_body_url`` (a ``.tar.gz`` of JSON arrays of
``{status_code, operation_id, response}``, ``response`` being a JSON string) without credentials,
and returns one :class:`OperationResult` per operation, in input order.

:func:`member_patch_op` builds the field update the lifecycle contract needs: a ``PATCH`` of a
member that never carries a status unless one is explicitly given (LIFECYCLE.md B1).
"""

from __future__ import annotations

import asyncio
import io
import tarfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from .. import wire_json
from ..addresses import subscriber_hash
from ..errors import ACCOUNT_LEVEL_ERRORS, MailchimpError
from ..limits import BATCH_LIMIT, chunk
from ..results import OperationResult
from ..runner import gather_all
from ..transport import Transport

__all__ = ["BatchCalls", "Operation", "member_patch_op", "parse_batch_results"]


@dataclass(frozen=True)
class Operation:
    """One operation of a ``/batches`` job: ``body`` is a JSON *string*, ``params`` for GETs."""

    method: str
    path: str
    body: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    operation_id: str | None = None

    def to_json(self, operation_id: str) -> dict[str, Any]:
        """The operation as Mailchimp's ``operations[]`` item."""
        out: dict[str, Any] = {"method": self.method, "path": self.path, "operation_id": operation_id}
        if self.body is not None:
            out["body"] = self.body
        if self.params:
            out["params"] = dict(self.params)
        return out


def member_patch_op(
    audience_id: str,
    email: str,
    *,
    merge_fields: Mapping[str, Any] | None = None,
    email_address: str | None = None,
    status: str | None = None,
    operation_id: str | None = None,
) -> Operation:
    """``PATCH /lists/{audience_id}/members/{hash of email}`` updating fields only.

    ``email_address`` changes the member's address in place; ``status`` is sent only when
    explicitly given (a field update must never change a status the project did not just read).
    """
    body: dict[str, Any] = {}
    if merge_fields is not None:
        body["merge_fields"] = dict(merge_fields)
    if email_address is not None:
        body["email_address"] = email_address
    if status is not None:
        body["status"] = status
    return Operation(
        method="PATCH",
        path=f"/lists/{quote(audience_id, safe='')}/members/{subscriber_hash(email)}",
        body=wire_json.dumps(body).decode(),
        operation_id=operation_id,
    )


def _one_result(item: Mapping[str, Any]) -> OperationResult:
    status = int(item.get("status_code") or 0)
    text = item.get("response")
    try:
        parsed: Any = wire_json.loads(text) if isinstance(text, str) and text.strip() else None
    except ValueError:
        parsed = text
    if status >= 400:
        problem = parsed if isinstance(parsed, dict) else {"detail": str(parsed or "")}
        return OperationResult(str(item.get("operation_id") or ""), status, problem=problem)
    return OperationResult(str(item.get("operation_id") or ""), status, body=parsed)


def parse_batch_results(archive: bytes) -> list[OperationResult]:
    """The operation results in a batch's ``.tar.gz`` (every JSON array in it, in order).

    Read in memory (nothing is extracted to disk).  Raises ``ValueError`` when the archive or
    a JSON file in it is malformed.
    """
    results: list[OperationResult] = []
    try:
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
            for member in tar:
                if not member.isfile() or not member.name.endswith(".json"):
                    continue
                handle = tar.extractfile(member)
                items = wire_json.loads(handle.read()) if handle is not None else []
                if not isinstance(items, list):
                    raise ValueError(f"{member.name} is not a JSON array")
                results.extend(_one_result(item) for item in items if isinstance(item, dict))
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ValueError(f"unreadable batch results: {type(exc).__name__}") from None
    return results


def _failed(ids: Sequence[str], title: str, detail: str, batch_id: str | None = None) -> list[OperationResult]:
    problem: dict[str, Any] = {"title": title, "detail": detail}
    if batch_id:
        problem["batch_id"] = batch_id
    return [OperationResult(i, 0, problem=problem) for i in ids]


#: Longest wait between polls of a batch whose pace is not known yet (none of its operations has
#: finished, or none since the last poll): it waits in the account's queue behind other jobs (the
#: sync's own, submitted together) and may start any moment.
QUEUED_POLL_CAP = 2.0


def next_poll_delay(batch: dict[str, Any], seen: tuple[float, int] | None, now: float,
                    previous: float, initial: float, cap: float) -> float:
    """Seconds until the next poll of an unfinished batch polled at `now`; `seen` is (time,
    finished operations) at the previous poll.

    Half the time the batch's pace since that poll says is left, so polls close in on its end;
    while the pace is unknown (nothing finished at the previous poll — the batch may have started
    at any moment since — or nothing since: it waits behind others in the account's queue), twice
    the last wait, up to `QUEUED_POLL_CAP`.
    The pace is measured between polls, never since the submission: a batch that waited in the
    queue and has just started would look slow from there and be polled up to `cap` late (seen:
    the last jobs of a sync found finished ~13 s after they were)."""
    total = int(batch.get("total_operations") or 0)
    done = int(batch.get("finished_operations") or 0)
    if seen is not None and 0 < seen[1] < done < total and now > seen[0]:
        pace = (done - seen[1]) / (now - seen[0])
        return min(cap, max(initial, (total - done) / pace / 2))
    return min(cap, QUEUED_POLL_CAP, max(initial, previous * 2))


class BatchCalls(Transport):
    """``/batches``: submit, poll, fetch results."""

    async def batch_operations(
        self,
        operations: Sequence[Operation],
        *,
        chunk_size: int = BATCH_LIMIT,
        poll_initial: float = 0.25,
        poll_cap: float = 15.0,
        max_wait: float = 3600.0,
    ) -> list[OperationResult]:
        """Run ``operations`` through ``/batches`` and return one result per operation, in order.

        Operations without an ``operation_id`` get their index as one; ids must be unique.
        Batches of ≤ ``chunk_size`` (500) operations are submitted concurrently; each is polled
        (first after ``poll_initial`` seconds, then as :func:`next_poll_delay` says, at most
        ``poll_cap`` apart) until ``finished``.
        Per-operation failures are results (``status_code`` ≥ 400 with ``problem``).  A batch
        that cannot be submitted, polled or read after retries, or does not finish within
        ``max_wait`` seconds, gives ``status_code`` 0 results with a ``problem`` saying why (its
        operations may or may not have been applied); account-level failures raise.
        """
        if not 1 <= chunk_size <= BATCH_LIMIT:
            raise ValueError(f"chunk_size must be between 1 and {BATCH_LIMIT}, got {chunk_size}")
        items = [op.to_json(op.operation_id or str(i)) for i, op in enumerate(operations)]
        ids = [item["operation_id"] for item in items]
        if len(set(ids)) != len(ids):
            raise ValueError("operation ids must be unique")
        parts = await gather_all(
            self._run_batch(part, poll_initial, poll_cap, max_wait) for part in chunk(items, chunk_size)
        )
        by_id = {r.operation_id: r for part in parts for r in part}
        return [
            by_id.get(i) or _failed([i], "Missing Result", "The batch results do not list this operation.")[0]
            for i in ids
        ]

    async def _run_batch(
        self, items: list[dict[str, Any]], poll_initial: float, poll_cap: float, max_wait: float
    ) -> list[OperationResult]:
        ids = [item["operation_id"] for item in items]
        batch_id: str | None = None
        try:
            batch = await self._request(
                "POST", "/batches", json_body={"operations": items}, idempotent=False
            )
            batch_id = str(batch["id"])
            deadline = time.monotonic() + max_wait
            delay = poll_initial
            seen: tuple[float, int] | None = None
            while batch.get("status") != "finished":
                if time.monotonic() + delay > deadline:
                    return _failed(
                        ids, "Batch Unfinished", f"The batch did not finish within {max_wait:g}s.", batch_id
                    )
                await asyncio.sleep(delay)
                batch = await self._request(
                    "GET", "/batches/{batch_id}", path={"batch_id": batch_id}, context={"batch_id": batch_id}
                )
                now = time.monotonic()
                delay = next_poll_delay(batch, seen, now, delay, poll_initial, poll_cap)
                seen = (now, int(batch.get("finished_operations") or 0))
            url = str(batch.get("response_body_url") or "")
            if not url:
                return _failed(ids, "Missing Results", "The finished batch has no response_body_url.", batch_id)
            return await self._download(
                url, "GET {response_body_url}", parse_batch_results, context={"batch_id": batch_id}
            )
        except ACCOUNT_LEVEL_ERRORS:
            raise
        except MailchimpError as err:
            return _failed(ids, "Request Failed", str(err), batch_id)
