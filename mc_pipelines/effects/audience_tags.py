"""The tags defined in an audience (its static segments), as Mailchimp lists them."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from mc_pipelines.mailchimp.endpoints import MailchimpClient
from mc_pipelines.mailchimp.errors import AudienceNotFound


async def audience_tags(client: MailchimpClient, audiences: Iterable[str]) -> dict[str, dict[str, int]]:
    """Per audience, tag name → static segment id (an audience Mailchimp does not hold: none)."""
    audiences = list(audiences)

    async def one(audience: str) -> dict[str, int]:
        try:
            segments = await client.list_segments(audience, type="static")
        except AudienceNotFound:
            return {}
        return {str(s.get("name", "")): int(s["id"]) for s in segments if s.get("name")}

    return dict(zip(audiences, await asyncio.gather(*[one(a) for a in audiences]), strict=True))
