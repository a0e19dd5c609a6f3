"""What a GDPR erasure reads and removes locally: every row holding one contact's addresses.

A contact is matched by its id or by the `address_key` of any of its addresses (the same address
may be tracked under a duplicate contact: it is the same Mailchimp member). Every query is scoped
by org.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from mc_pipelines.mailchimp.addresses import address_key
from mc_pipelines.store.tables import (
    mailchimp_member_state,
    mailchimp_webhook_events,
    settled_syncs,
    sync_errors,
)


def _state_match(org_id: str, contact_id: int, emails: Iterable[str]) -> sa.ColumnElement[bool]:
    state = mailchimp_member_state.c
    return (state.org_id == org_id) & sa.or_(
        state.contact_id == contact_id, sa.func.lower(state.email).in_([address_key(e) for e in emails]))


def member_state_rows(engine: Engine, org_id: str, contact_id: int,
                      emails: Iterable[str]) -> list[dict[str, Any]]:
    """The org's member-state rows of the contact or of any of `emails` (every audience)."""
    with engine.connect() as conn:
        query = sa.select(mailchimp_member_state).where(_state_match(org_id, contact_id, emails))
        return [dict(r._mapping) for r in conn.execute(query)]


def forget_contact(engine: Engine, org_id: str, contact_id: int, emails: Iterable[str]) -> dict[str, int]:
    """Delete, in one transaction, the contact's member state, sync errors and webhook events
    (by id or address), and the org's settled sync; returns the rows removed per table."""
    emails = list(emails)
    lowered = [address_key(e) for e in emails]
    with engine.begin() as conn:
        return {
            "mailchimp_member_state": conn.execute(
                mailchimp_member_state.delete().where(_state_match(org_id, contact_id, emails))).rowcount,
            "sync_errors": conn.execute(sync_errors.delete().where(
                sync_errors.c.org_id == org_id,
                sa.or_(sync_errors.c.contact_id == contact_id, sa.func.lower(sync_errors.c.email).in_(lowered)),
            )).rowcount,
            "mailchimp_webhook_events": conn.execute(mailchimp_webhook_events.delete().where(
                mailchimp_webhook_events.c.org_id == org_id,
                sa.func.lower(mailchimp_webhook_events.c.email).in_(lowered),
            )).rowcount,
            # what the org's settling sync listed may name the contact: its next sync plans in full
            "settled_syncs": conn.execute(settled_syncs.delete().where(
                settled_syncs.c.org_id == org_id)).rowcount,
        }
