"""The Mailchimp API calls, by resource, combined into :class:`MailchimpClient`.

* :mod:`.account` — ping, account, OAuth metadata;
* :mod:`.lists` — audiences and merge fields;
* :mod:`.members` — member listings and reads, single writes, batch subscribe;
* :mod:`.segments` — static segments (tags) and their bulk add/remove;
* :mod:`.campaigns` — campaigns and reports;
* :mod:`.batches` — asynchronous ``/batches`` operations and their builders.

Every call goes through :class:`~mc_pipelines.mailchimp.transport.Transport` (retries, the one
connection limiter, metrics, redaction).

Idempotency.  Retrying a write after a dropped connection re-sends it although
Mailchimp may already have applied it, so every write the sync uses is one
that is safe to repeat: batch subscribe (``POST /lists/{id}`` — the same members
with the same fields end in the same state; ``update_existing=false`` re-sends
report existing members as ``ERROR_CONTACT_EXISTS`` rows, never duplicates — so
after a lost acknowledgement members the first attempt created come back as
such rows), upsert by subscriber hash (``PUT .../members/{hash}``), tag updates
(set active/inactive), static segment add/remove (set membership), member PATCH
operations.  Archive and permanent delete are made so: a 405 resp. 404 after an
ambiguous earlier attempt counts as done.  The non-idempotent writes are never
blindly retried: :meth:`MailchimpClient.ensure_static_segment` looks the name up
again before re-creating a segment, and a ``POST /batches`` is retried only when it
provably was not sent.
"""

from __future__ import annotations

from .account import AccountCalls
from .batches import BatchCalls, Operation, member_patch_op
from .campaigns import CampaignCalls
from .lists import ListCalls
from .members import BATCH_SUBSCRIBE_FIELDS, MemberCalls
from .segments import SegmentCalls

__all__ = ["BATCH_SUBSCRIBE_FIELDS", "MailchimpClient", "Operation", "member_patch_op"]


class MailchimpClient(AccountCalls, ListCalls, MemberCalls, SegmentCalls, CampaignCalls, BatchCalls):
    """Async client for one Mailchimp account (API key or OAuth token); see :class:`Transport`.

    Use as ``async with MailchimpClient(key) as mc: ...`` (or call :meth:`aclose`).
    """
