"""Campaign and report calls."""

from __future__ import annotations

from typing import Any

from ..transport import Transport


class CampaignCalls(Transport):
    """``/campaigns`` and ``/reports``."""

    async def list_campaigns(self, **params: Any) -> list[dict[str, Any]]:
        """All campaigns matching ``params`` (``status``, ``list_id``, ``since_send_time``…; paged)."""
        params.pop("count", None)
        params.pop("offset", None)
        return await self._collect("/campaigns", "campaigns", params=params)

    async def get_campaign(self, campaign_id: str) -> dict[str, Any]:
        """``GET /campaigns/{campaign_id}``."""
        return await self._request(
            "GET",
            "/campaigns/{campaign_id}",
            path={"campaign_id": campaign_id},
            context={"campaign_id": campaign_id},
        )

    async def get_campaign_report(self, campaign_id: str) -> dict[str, Any]:
        """``GET /reports/{campaign_id}``."""
        return await self._request(
            "GET",
            "/reports/{campaign_id}",
            path={"campaign_id": campaign_id},
            context={"campaign_id": campaign_id},
        )
