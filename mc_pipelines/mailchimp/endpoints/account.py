"""Account calls: ping, account info, OAuth metadata."""

from __future__ import annotations

from typing import Any

from ..oauth import fetch_oauth_metadata
from ..results import OAuthMetadata
from ..transport import Transport


class AccountCalls(Transport):
    """``/ping``, ``/`` and the OAuth metadata endpoint."""

    async def ping(self) -> dict[str, Any]:
        """``GET /ping`` → ``{"health_status": "Everything's Chimpy!"}``; raises on a bad key."""
        return await self._request("GET", "/ping")

    async def get_account(self) -> dict[str, Any]:
        """``GET /`` — account id, name, contact, plan."""
        return await self._request("GET", "/")

    async def get_oauth_metadata(self) -> OAuthMetadata:
        """Mailchimp's OAuth metadata for this client's token (``dc``, ``api_endpoint``, account).

        Asks ``oauth_metadata_url`` (Mailchimp's, ``MC_MAILCHIMP_OAUTH_METADATA_URL`` or the
        constructor's override) with ``Authorization: OAuth <token>``.
        """
        return await fetch_oauth_metadata(
            self._secret, self.oauth_metadata_url, timeout=min(self.timeout, 30.0)
        )
