"""Audience (list) calls: one audience, all audiences, merge fields."""

from __future__ import annotations

from typing import Any

from ..transport import Transport


class ListCalls(Transport):
    """``/lists`` and ``/lists/{id}/merge-fields``."""

    async def get_audience(self, list_id: str) -> dict[str, Any]:
        """``GET /lists/{list_id}``; :class:`AudienceNotFound` names the id when it does not exist."""
        return await self._request(
            "GET", "/lists/{list_id}", path={"list_id": list_id}, context={"list_id": list_id}
        )

    async def list_audiences(self) -> list[dict[str, Any]]:
        """All audiences of the account (paged)."""
        return await self._collect("/lists", "lists")

    async def list_merge_fields(self, list_id: str) -> list[dict[str, Any]]:
        """All merge fields of an audience (paged)."""
        return await self._collect(
            "/lists/{list_id}/merge-fields",
            "merge_fields",
            path={"list_id": list_id},
            context={"list_id": list_id},
        )
