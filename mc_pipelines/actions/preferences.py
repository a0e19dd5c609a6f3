"""A contact's marketing preferences: the consent trail, and opt-ins/opt-outs the application
records (a `consent_events` row with its source, `contacts.marketing_consent` flipped, an audit
entry). The next sync acts on it within the lifecycle contract (an opt-out unsubscribes; an
opt-in after a Mailchimp-side opt-out follows the `reconsent` option)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Engine

from mc_pipelines.effects.consent import SOURCE as MAILCHIMP_SOURCE
from mc_pipelines.errors import NotFoundError, OperationError
from mc_pipelines.store import connections, consent_trail, contacts

_SOURCE = re.compile(r"^[a-z0-9][a-z0-9_.:-]{0,63}$")
RESERVED_SOURCES = (MAILCHIMP_SOURCE, "gdpr_erasure")


@dataclass(frozen=True)
class Preferences:
    """A contact's current consent and its trail, oldest first."""

    contact_id: int
    marketing_consent: bool
    deleted: bool
    events: list[dict[str, Any]] = field(default_factory=list)


def _require_contact(engine: Engine, org_id: str, contact_id: int) -> tuple[bool, bool]:
    connections.require_org(engine, org_id)
    flags = contacts.consent_flags(engine, org_id, [contact_id]).get(int(contact_id))
    if flags is None:
        raise NotFoundError(f"contact {contact_id} does not exist in org {org_id!r}: check the "
                            "application's contact id")
    return flags


def preferences(engine: Engine, org_id: str, contact_id: int) -> Preferences:
    """The contact's consent and consent trail (NotFoundError for another org's contact)."""
    consent, deleted = _require_contact(engine, org_id, contact_id)
    return Preferences(contact_id=int(contact_id), marketing_consent=consent, deleted=deleted,
                       events=consent_trail.consent_trail(engine, org_id, contact_id))


def validate_source(source: Any) -> str:
    """A consent source: lower-case letters, digits and `_.:-`, 1-64 characters, not one the
    project writes itself."""
    if not isinstance(source, str) or not _SOURCE.match(source):
        raise OperationError(f"source {source!r} must be 1-64 characters of a-z, 0-9 and _.:- "
                             "naming what recorded the change (e.g. preference_center)")
    if source in RESERVED_SOURCES:
        raise OperationError(f"source {source!r} is reserved for the project's own consent changes: "
                             "name the application's channel instead (e.g. preference_center)")
    return source


def record_consent(engine: Engine, org_id: str, contact_id: int, *, given: bool, source: str,
                   actor: str, detail: str | None = None) -> tuple[bool, Preferences]:
    """Record an opt-in (`given`) or opt-out for the contact. Returns (changed, preferences):
    changed is False when the contact's consent already was so (nothing written)."""
    source = validate_source(source)
    detail = (detail or "").strip() or f"recorded by {actor}"
    if len(detail) > 500 or any(ord(ch) < 32 for ch in detail):
        raise OperationError("detail must be at most 500 characters without control characters")
    _require_contact(engine, org_id, contact_id)
    write = contacts.give_consent if given else contacts.withdraw_consent
    changed = write(engine, org_id, [contact_id], source=source, detail=detail, actor=actor)
    return bool(changed), preferences(engine, org_id, contact_id)
