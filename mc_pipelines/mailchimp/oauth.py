"""Mailchimp's OAuth metadata endpoint: the data centre, API endpoint and account of a token.

``GET https://login.mailchimp.com/oauth2/metadata`` with ``Authorization: OAuth <token>``
(Mailchimp's OAuth guide).  The URL can be overridden (argument, ``MC_MAILCHIMP_OAUTH_METADATA_URL``)
so the emulator can serve it.  Mailchimp answers 200 even for a bad token, just without
``dc``/``api_endpoint``; that case raises :class:`InvalidApiKey`.
"""

from __future__ import annotations

import os
import re
from typing import Any
from urllib.parse import urlsplit

import httpx

from .errors import InvalidApiKey, TransportError
from .redact import mask, redact_text, register_secret
from .results import OAuthMetadata

__all__ = ["DEFAULT_OAUTH_METADATA_URL", "OAUTH_METADATA_ENV", "fetch_oauth_metadata", "oauth_metadata_url"]

DEFAULT_OAUTH_METADATA_URL = "https://login.mailchimp.com/oauth2/metadata"
OAUTH_METADATA_ENV = "MC_MAILCHIMP_OAUTH_METADATA_URL"
_ENDPOINT = "GET /oauth2/metadata"
_DC_RE = re.compile(r"^[a-z]{2}\d{1,3}$")


def oauth_metadata_url(override: str | None = None) -> str:
    """``override``, else ``MC_MAILCHIMP_OAUTH_METADATA_URL``, else Mailchimp's own URL."""
    return override or os.environ.get(OAUTH_METADATA_ENV) or DEFAULT_OAUTH_METADATA_URL


async def fetch_oauth_metadata(
    token: str, metadata_url: str | None = None, *, timeout: float = 30.0
) -> OAuthMetadata:
    """What Mailchimp's OAuth metadata endpoint says about ``token``.

    Raises :class:`InvalidApiKey` when the token is not accepted (a non-200 answer, or a 200
    without a data centre) and :class:`TransportError` when the endpoint cannot be reached.
    """
    register_secret(token, basic_auth_user=None)
    headers = {"Authorization": f"OAuth {token}", "Accept": "application/json"}
    try:
        async with httpx.AsyncClient(timeout=timeout) as http:
            response = await http.get(oauth_metadata_url(metadata_url), headers=headers)
    except httpx.HTTPError as exc:
        raise TransportError(
            f"Could not reach the Mailchimp OAuth metadata endpoint ({type(exc).__name__}: "
            f"{redact_text(str(exc))}); check the network and the metadata URL.",
            endpoint=_ENDPOINT,
        ) from None
    if response.status_code != 200:
        raise InvalidApiKey(
            f"Mailchimp OAuth metadata endpoint answered {response.status_code}: the token was not "
            "accepted; reconnect the Mailchimp account to get a new token.",
            status=response.status_code,
            endpoint=_ENDPOINT,
        )
    try:
        payload: Any = response.json()
    except ValueError:
        payload = None
    return _metadata(payload if isinstance(payload, dict) else {}, token)


def _metadata(payload: dict[str, Any], token: str) -> OAuthMetadata:
    api_endpoint = str(payload.get("api_endpoint") or "")
    dc = str(payload.get("dc") or "")
    if not dc and api_endpoint:
        dc = (urlsplit(api_endpoint).hostname or "").split(".", 1)[0]
    if not _DC_RE.match(dc):
        raise InvalidApiKey(
            f"Mailchimp OAuth token {mask(token)} was not accepted: the OAuth metadata endpoint returned no "
            "data centre. The token may be revoked; reconnect the Mailchimp account to get a new one.",
            endpoint=_ENDPOINT,
        )
    return OAuthMetadata(
        dc=dc,
        api_endpoint=api_endpoint,
        accountname=str(payload.get("accountname") or ""),
        login_url=str(payload.get("login_url") or ""),
        raw=payload,
    )
