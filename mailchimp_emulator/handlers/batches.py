"""``/batches``: background jobs run through the same handlers."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

from ..clock import iso, iso_or_empty
from ..errors import ApiError, enum_error, not_found, required_missing, schema_type_error
from ..model import new_id
from .base import Call, Result, body_dict, page

# ---- /batches ------------------------------------------------------------------------------

MAX_PENDING_BATCHES = 500
_BATCH_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


class Batch:
    """A ``/batches`` job processed in the background."""

    def __init__(self, batch_id: str, ops: list[dict[str, Any]], now: int) -> None:
        self.id = batch_id
        self.ops = ops
        self.status = "pending"
        self.finished = 0
        self.errored = 0
        self.submitted = now
        self.completed = 0
        self.url = ""
        self.token = secrets.token_urlsafe(16)
        self.archive: bytes | None = None
        self.task: asyncio.Task[None] | None = None

    def render(self) -> dict[str, Any]:
        """Mailchimp's Batch object (unfinished fields are ``""``)."""
        return {
            "id": self.id,
            "status": self.status,
            "total_operations": len(self.ops),
            "finished_operations": self.finished,
            "errored_operations": self.errored,
            "submitted_at": iso(self.submitted),
            "completed_at": iso_or_empty(self.completed),
            "response_body_url": self.url,
            "_links": [],
        }


def h_batches_post(call: Call) -> Result:
    body = body_dict(call)
    ops = body.get("operations")
    if ops is None:
        raise required_missing("", ["operations"])
    if not isinstance(ops, list):
        raise schema_type_error("operations", "array", ops)
    for i, op in enumerate(ops):
        prefix = f"operations.item:{i}"
        if not isinstance(op, dict):
            raise schema_type_error(prefix, "object", op)
        missing = [k for k in ("method", "path") if k not in op]
        if missing:
            raise required_missing(prefix, missing)
        if op["method"] not in _BATCH_METHODS:
            raise enum_error(prefix + ".method", _BATCH_METHODS)
        if not isinstance(op["path"], str):
            raise schema_type_error(prefix + ".path", "string", op["path"])
        if "body" in op and not isinstance(op["body"], str):
            raise schema_type_error(prefix + ".body", "string", op["body"])
        if "params" in op and not isinstance(op["params"], dict):
            raise schema_type_error(prefix + ".params", "object", op["params"])
    pending = sum(1 for b in call.acct.batches.values() if b.status != "finished")
    if pending >= MAX_PENDING_BATCHES:
        raise ApiError(
            429, "Too Many Requests", f"You have more than {MAX_PENDING_BATCHES} pending batches."
        )
    batch = Batch(new_id(call.acct.batches), ops, call.now)
    call.acct.batches[batch.id] = batch
    batch.task = asyncio.get_running_loop().create_task(
        call.emu.run_batch(call.acct, batch, call.base_url)
    )
    return 200, batch.render()


def h_batches_get(call: Call) -> Result:
    count, offset = page(call.query)
    batches = list(call.acct.batches.values())
    return 200, {
        "batches": [b.render() for b in batches[offset : offset + count]],
        "total_items": len(batches),
        "_links": [],
    }


def h_batch_get(call: Call) -> Result:
    batch = call.acct.batches.get(call.params["batch_id"])
    if batch is None:
        raise not_found()
    return 200, batch.render()


def h_batch_delete(call: Call) -> Result:
    batch = call.acct.batches.pop(call.params["batch_id"], None)
    if batch is None:
        raise not_found()
    if batch.task is not None:
        batch.task.cancel()
    return 204, None


