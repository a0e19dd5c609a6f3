"""Keep Mailchimp credentials out of logs, exception texts and reprs.

Two layers:

* :func:`redact_text` scrubs a string: every secret registered with
  :func:`register_secret` (API keys, OAuth tokens, their Basic-auth encodings),
  anything shaped like an API key (``<32 hex>-<dc>``) and the value of any
  ``Authorization`` header is replaced by a mask that keeps at most the last
  four characters.
* :class:`RedactingFilter` applies it to every log record (message, arguments,
  formatted exception and stack).  :func:`install_redaction_filter` puts one
  shared instance on the ``httpx``, ``httpcore`` and ``mc_pipelines`` loggers and
  on their existing child loggers (a logger filter does not see records that
  propagate from children, so each one needs it).  Every
  :class:`~mc_pipelines.mailchimp.endpoints.MailchimpClient` installs it when it is
  created.
"""

from __future__ import annotations

import base64
import logging
import re
import threading
from collections.abc import Iterable

__all__ = [
    "DEFAULT_REDACTED_LOGGERS",
    "RedactingFilter",
    "install_redaction_filter",
    "mask",
    "redact_text",
    "register_secret",
]

DEFAULT_REDACTED_LOGGERS = ("httpx", "httpcore", "mc_pipelines")

# Known child loggers of httpcore/httpx (created at import time, but listed so the
# filter lands on them even when installation happens before their first use).
_KNOWN_CHILDREN = (
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "httpcore.socks",
    "mc_pipelines.mailchimp",
)

_KEY_SHAPED = re.compile(
    r"(?<![0-9A-Za-z])([0-9a-fA-F]{28})([0-9a-fA-F]{4})-([a-z]{2}\d{1,3})(?![0-9A-Za-z])"
)
_AUTH_VALUE = re.compile(
    r"(authorization['\"]?\s*[:=,]\s*\(?\s*b?['\"]?\s*)(basic|bearer|oauth|apikey)\s+[A-Za-z0-9+/=._~\-]+",
    re.IGNORECASE,
)

_DC_SUFFIX = re.compile(r"^[a-z]{2}\d{1,3}$")
_HEX32 = re.compile(r"^[0-9a-f]{32}$")
# Candidate tokens, looked up in the registered sets (so subscriber hashes etc. stay readable).
_HEX32_TOKEN = re.compile(r"(?<![0-9A-Za-z])[0-9a-fA-F]{32}(?![0-9A-Za-z])")
_B64_TOKEN = re.compile(r"(?<![A-Za-z0-9+/])[A-Za-z0-9+/]{16,}={0,2}(?![A-Za-z0-9+/=])")

_lock = threading.Lock()
_hex_secrets: set[str] = set()  # 32-hex key bodies / tokens (lower case)
_b64_secrets: set[str] = set()  # base64 of "user:secret" (Basic auth header values)
_other_secrets: tuple[str, ...] = ()  # anything else (longest first), found by substring search


def mask(secret: str) -> str:
    """``"****abcd"``: the last four characters of a long secret, nothing of a short one."""
    if len(secret) >= 16:
        return "****" + secret[-4:]
    return "****"


def register_secret(secret: str, *, basic_auth_user: str | None = "anystring") -> None:
    """Remember ``secret`` so :func:`redact_text` removes it wherever it appears.

    An API key's body (the part before ``-<dc>``) and the base64 form of
    ``"<basic_auth_user>:<secret>"`` (the Basic-auth header value) are registered
    with it.  Secrets shorter than 8 characters are ignored.  Lookups are set
    membership tests on candidate tokens, so many registered keys cost nothing extra.
    """
    global _other_secrets
    if not secret or len(secret) < 8:
        return
    head, sep, dc = secret.rpartition("-")
    body = head if sep and _DC_SUFFIX.match(dc) else secret
    with _lock:
        if _HEX32.match(body.lower()):
            _hex_secrets.add(body.lower())
        elif secret not in _other_secrets:
            _other_secrets = tuple(sorted({*_other_secrets, secret}, key=len, reverse=True))
        if basic_auth_user is not None:
            _b64_secrets.add(
                base64.b64encode(f"{basic_auth_user}:{secret}".encode()).decode("ascii")
            )


def _mask_hex(m: re.Match[str]) -> str:
    token = m.group(0)
    return mask(token) if token.lower() in _hex_secrets else token


def _mask_b64(m: re.Match[str]) -> str:
    token = m.group(0)
    return mask(token) if token in _b64_secrets else token


def redact_text(text: str) -> str:
    """Return ``text`` with registered secrets, key-shaped strings and auth header values masked."""
    if not text:
        return text
    for secret in _other_secrets:
        if secret in text:
            text = text.replace(secret, mask(secret))
    text = _KEY_SHAPED.sub(lambda m: f"****{m.group(2)}-{m.group(3)}", text)
    if _hex_secrets:
        text = _HEX32_TOKEN.sub(_mask_hex, text)
    if _b64_secrets:
        text = _B64_TOKEN.sub(_mask_b64, text)
    text = _AUTH_VALUE.sub(lambda m: f"{m.group(1)}{m.group(2)} [redacted]", text)
    return text


class RedactingFilter(logging.Filter):
    """A logging filter that scrubs credentials from a record; it never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: leave it to the handler to report
            message = None
        if message is not None:
            cleaned = redact_text(message)
            if cleaned != message:
                record.msg = cleaned
                record.args = None
        if record.exc_info and record.exc_info[0] is not None:
            if not record.exc_text:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
            record.exc_text = redact_text(record.exc_text)
        elif record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        if record.stack_info:
            record.stack_info = redact_text(record.stack_info)
        return True


_FILTER = RedactingFilter(name="")


def install_redaction_filter(
    logger_names: Iterable[str] = DEFAULT_REDACTED_LOGGERS,
) -> RedactingFilter:
    """Install the shared :class:`RedactingFilter` on the named loggers and their children.

    Idempotent; call it again after new child loggers are created (every
    ``MailchimpClient`` does).  Returns the filter instance.
    """
    names = tuple(logger_names)
    targets = set(names)
    targets.update(c for c in _KNOWN_CHILDREN if any(c.startswith(n + ".") for n in names))
    for existing in list(logging.root.manager.loggerDict):
        if any(existing.startswith(n + ".") for n in names):
            targets.add(existing)
    for name in targets:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
    return _FILTER
