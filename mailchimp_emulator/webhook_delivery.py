"""Webhook validation and deliveries (MAILCHIMP.md §9), scaled down for tests.

* Creating a webhook (or changing its URL) first sends a ``GET`` to the URL with User-Agent
  ``MailChimp.com WebHook Validator``; anything but a 2xx answer refuses the webhook.
* Every queued event (``events.py``) whose type the webhook subscribes to and whose source
  (``user`` = the person, ``admin`` = a marketer in Mailchimp, ``api`` = API writes) is enabled
  is POSTed form-encoded (``type``, ``fired_at`` as ``YYYY-MM-DD HH:MM:SS``, ``data[...]``) with
  User-Agent ``MailChimp.com``, from a background task: the API response never waits for it.
* Real Mailchimp retries for 75 minutes at increasing intervals; here a delivery is attempted
  ``1 + len(RETRY_DELAYS)`` times (0.2 s, 0.5 s, 1 s apart), then given up.  Every attempt's
  status code (or ``"error"`` for no answer) is recorded on the audience's ``deliveries``.

URLs are never logged (they usually carry the receiver's secret)."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import httpx

from .errors import ApiError
from .model import AudienceList

log = logging.getLogger(__name__)

SOURCES = ("user", "admin", "api")
RETRY_DELAYS = (0.2, 0.5, 1.0)
TIMEOUT_SECONDS = 10.0
VALIDATOR_AGENT = "MailChimp.com WebHook Validator"
DELIVERY_AGENT = "MailChimp.com"


def fired_at(ts: int) -> str:
    """Mailchimp's webhook timestamp: ``YYYY-MM-DD HH:MM:SS`` (UTC), not ISO 8601."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _flatten(prefix: str, value: Any, out: list[tuple[str, str]]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _flatten(f"{prefix}[{k}]", v, out)
    else:
        out.append((prefix, "" if value is None else str(value)))


def form_body(kind: str, data: dict[str, Any], ts: int) -> str:
    """The form-encoded delivery body: ``type``, ``fired_at``, ``data[...]`` (nested keys)."""
    pairs: list[tuple[str, str]] = [("type", kind), ("fired_at", fired_at(ts))]
    _flatten("data", data, pairs)
    return urlencode(pairs)


class WebhookDispatcher:
    """Validates webhook URLs and delivers queued events in background tasks."""

    def __init__(self) -> None:
        self.tasks: set[asyncio.Task[None]] = set()

    async def validate(self, url: str) -> None:
        """The validation GET; 400 Invalid Resource unless the URL answers 2xx."""
        code = 0
        try:
            async with httpx.AsyncClient(timeout=TIMEOUT_SECONDS) as client:
                resp = await client.get(url, headers={"User-Agent": VALIDATOR_AGENT})
            code = resp.status_code
        except httpx.HTTPError:
            code = 0
        if not 200 <= code < 300:
            raise ApiError(
                400,
                "Invalid Resource",
                "We couldn't verify the URL is working. Please double check and try again. "
                f"HTTP Code: {code}",
            )

    def flush(self, lists: Any, source: str) -> None:
        """Dispatch the queued events of ``lists`` as coming from ``source``."""
        for lst in lists:
            if not lst.outbox:
                continue
            queued, lst.outbox = lst.outbox, []
            for kind, data, ts in queued:
                for hook in list(lst.webhooks.values()):
                    if hook["events"].get(kind) and hook["sources"].get(source):
                        self._start(lst, hook, kind, source, data, ts)

    def _start(
        self, lst: AudienceList, hook: dict[str, Any], kind: str, source: str, data: dict[str, Any], ts: int
    ) -> None:
        record: dict[str, Any] = {
            "webhook_id": hook["id"],
            "type": kind,
            "source": source,
            "fired_at": fired_at(ts),
            "email": data.get("email") or data.get("new_email", ""),
            "attempts": [],
            "delivered": False,
            "done": False,
        }
        lst.deliveries.append(record)
        body = form_body(kind, data, ts)
        task = asyncio.get_running_loop().create_task(self._deliver(hook["url"], body, record))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _deliver(self, url: str, body: str, record: dict[str, Any]) -> None:
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "User-Agent": DELIVERY_AGENT,
        }
        try:
            async with httpx.AsyncClient(timeout=TIMEOUT_SECONDS) as client:
                for delay in (0.0, *RETRY_DELAYS):
                    if delay:
                        await asyncio.sleep(delay)
                    try:
                        resp = await client.post(url, content=body, headers=headers)
                    except httpx.HTTPError:
                        record["attempts"].append("error")
                        continue
                    record["attempts"].append(resp.status_code)
                    if 200 <= resp.status_code < 300:
                        record["delivered"] = True
                        return
            log.info("webhook delivery given up after %d attempts", len(record["attempts"]))
        finally:
            record["done"] = True

    async def close(self) -> None:
        """Cancel deliveries still running (shutdown)."""
        for task in list(self.tasks):
            task.cancel()
        if self.tasks:
            await asyncio.gather(*self.tasks, return_exceptions=True)
