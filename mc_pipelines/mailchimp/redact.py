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
  :class:`~mc_pipelines.mailchimp.client.MailchimpClient` installs it when it is
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

_KEY_SHAPED = re.compile(r"(?<![0-9A-Za-z])([0-9a-fA-F]{28})([0-9a-fA-F]{4})-([a-z]{2}\d{1,3})(?![0-9A-Za-z])")
_AUTH_VALUE = re.compile(
    r"(authorization['\"]?\s*[:=,]\s*\(?\s*b?['\"]?\s*)(basic|bearer|oauth|apikey)\s+[A-Za-z0-9+/=._~\-]+",
    re.IGNORECASE,
)

_lock = threading.Lock()
_secrets: set[str] = set()
_pattern: re.Pattern[str] | None = None


def mask(secret: str) -> str:
    """``"****abcd"``: the last four characters of a long secret, nothing of a short one."""
    if len(secret) >= 16:
        return "****" + secret[-4:]
    return "****"


def register_secret(secret: str, *, basic_auth_user: str | None = "anystring") -> None:
    """Remember ``secret`` so :func:`redact_text` removes it wherever it appears.

    Also registers the part before the ``-<dc>`` suffix of an API key and the
    base64 form of ``"<basic_auth_user>:<secret>"`` used in the Basic-auth header.
    Secrets shorter than 8 characters are ignored (masking them would mangle text).
    """
    if not secret or len(secret) < 8:
        return
    candidates = {secret}
    head, sep, _dc = secret.rpartition("-")
    if sep and len(head) >= 16:
        candidates.add(head)
    if basic_auth_user is not None:
        candidates.add(base64.b64encode(f"{basic_auth_user}:{secret}".encode()).decode("ascii"))
    global _pattern
    with _lock:
        if candidates <= _secrets:
            return
        _secrets.update(candidates)
        # Longest first so a full key is replaced before its body.
        alternatives = sorted(_secrets, key=len, reverse=True)
        _pattern = re.compile("|".join(re.escape(s) for s in alternatives))


def redact_text(text: str) -> str:
    """Return ``text`` with registered secrets, key-shaped strings and auth header values masked."""
    if not text:
        return text
    pattern = _pattern
    if pattern is not None:
        text = pattern.sub(lambda m: mask(m.group(0)), text)
    text = _KEY_SHAPED.sub(lambda m: f"****{m.group(2)}-{m.group(3)}", text)
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


def install_redaction_filter(logger_names: Iterable[str] = DEFAULT_REDACTED_LOGGERS) -> RedactingFilter:
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
