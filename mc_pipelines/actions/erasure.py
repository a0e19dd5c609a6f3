"""GDPR erasure of one contact: delete-permanent in Mailchimp, then forget local copies."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Engine

from mc_pipelines.errors import NotFoundError, OperationError
from mc_pipelines.mailchimp.endpoints import MailchimpClient
from mc_pipelines.mailchimp.errors import AudienceNotFound, ResourceNotFound
from mc_pipelines.mailchimp.runner import run_sync
from mc_pipelines.store import audit, connections, member_state
from mc_pipelines.store.connections import Connection
from mc_pipelines.store.contacts import contact_email, withdraw_consent
from mc_pipelines.store.erasure import forget_contact, member_state_rows

#: Builds a Mailchimp client for an org's stored connection (e.g. `MailchimpResource.client_for`).
ClientFactory = Callable[[Connection], MailchimpClient]


@dataclass
class ErasureOutcome:
    """What an erasure did. Holds ids and counts only, never an email: it goes to the audit log."""

    org_id: str
    contact_id: int
    audiences: dict[str, str] = field(default_factory=dict)  # audience id -> deleted | not_found | ...
    removed: dict[str, int] = field(default_factory=dict)  # local table -> rows removed
    consent_withdrawn: bool = False

    @property
    def outcome(self) -> str:
        """`erased` when Mailchimp held the contact somewhere, else `nothing_in_mailchimp`."""
        return "erased" if "deleted" in self.audiences.values() else "nothing_in_mailchimp"

    def audit_detail(self) -> dict[str, Any]:
        """The audit entry's detail: ids, audiences and outcome, no personal data."""
        return {"contact_id": self.contact_id, "audiences": dict(sorted(self.audiences.items())),
                "removed": dict(self.removed), "consent_withdrawn": self.consent_withdrawn,
                "outcome": self.outcome}


@dataclass(frozen=True)
class ErasurePlan:
    """What an erasure will touch: (audience, email) pairs in Mailchimp and the contact's emails."""

    targets: frozenset[tuple[str, str]]
    emails: tuple[str, ...] = field(repr=False)
    connection: Connection | None = field(repr=False)


def plan_erasure(engine: Engine, org_id: str, contact_id: int) -> ErasurePlan:
    """Check an erasure can run and list what it will delete; raises OperationError if not.

    Targets are the audiences the contact was synced to (its member-state rows, managed or not)
    plus the org's default audience under the contact's current address, in case Mailchimp got it
    some other way: an erasure request covers every copy the controller holds.
    """
    connections.require_org(engine, org_id)
    exists, current = contact_email(engine, org_id, contact_id)
    by_id = member_state.rows_for_contact(engine, org_id, contact_id)
    if not exists and not by_id:
        raise NotFoundError(
            f"contact {contact_id} does not exist in org {org_id!r} and was never synced: check the "
            "contact id (nothing was erased)"
        )
    emails = sorted({r["email"] for r in by_id if r["email"]} | ({current} if current else set()))
    # the same address may be tracked under a duplicate contact: it is the same Mailchimp member
    rows = member_state_rows(engine, org_id, contact_id, emails)
    connection = connections.get_connection(engine, org_id)
    connected = bool(connection and connection.api_key_encrypted)
    targets = {(r["audience_id"], r["email"]) for r in rows if r["email"]}
    if targets and not connected:
        raise OperationError(
            f"contact {contact_id} of org {org_id!r} was synced to Mailchimp but the org is not "
            f"connected: reconnect it (`mc-pipelines connect --org {org_id} ...`) so the contact can "
            "be deleted there (nothing was erased)"
        )
    if current and connected and connection and connection.audience_id:
        targets.add((connection.audience_id, current))
    emails = sorted({e for _, e in targets} | set(emails))
    return ErasurePlan(frozenset(targets), tuple(emails), connection)


async def _delete_in_mailchimp(client: MailchimpClient, targets: Iterable[tuple[str, str]]) -> dict[tuple[str, str], str]:
    async def one(audience: str, email: str) -> str:
        try:
            await client.delete_member_permanent(audience, email)
        except AudienceNotFound:
            return "audience_not_found"
        except ResourceNotFound:
            return "not_found"
        return "deleted"

    ordered = sorted(targets)
    results = await asyncio.gather(*(one(a, e) for a, e in ordered))
    return dict(zip(ordered, results, strict=True))


_OUTCOME_RANK = {"audience_not_found": 0, "not_found": 1, "deleted": 2}


def _merge_outcome(current: str | None, new: str) -> str:
    # one outcome per audience: "deleted" if any of the contact's addresses was deleted there
    return new if current is None or _OUTCOME_RANK[new] > _OUTCOME_RANK[current] else current


def erase_contact(engine: Engine, client_for: ClientFactory, org_id: str, contact_id: int,
                  *, actor: str) -> ErasureOutcome:
    """GDPR erasure of one contact: delete-permanent in Mailchimp, then forget local copies.

    Mailchimp first: if it fails, nothing local is removed and the erasure can simply be re-run.
    Locally the member state, sync errors and webhook events holding the contact's addresses go;
    consent is withdrawn so the next sync does not try to re-add a forgotten address. The audit
    entry keeps ids, audiences and outcome only.
    """
    plan = plan_erasure(engine, org_id, contact_id)
    outcome = ErasureOutcome(org_id=org_id, contact_id=contact_id)
    if plan.targets and plan.connection is not None:
        connection = plan.connection

        async def run() -> dict[tuple[str, str], str]:
            async with client_for(connection) as client:
                return await _delete_in_mailchimp(client, plan.targets)

        for (audience, _email), result in run_sync(run()).items():
            outcome.audiences[audience] = _merge_outcome(outcome.audiences.get(audience), result)
    outcome.removed.update(forget_contact(engine, org_id, contact_id, plan.emails))
    outcome.consent_withdrawn = bool(withdraw_consent(
        engine, org_id, [contact_id], source="gdpr_erasure", detail="erased from Mailchimp on request"))
    with engine.begin() as conn:
        audit.record(conn, org_id=org_id, actor=actor, action="gdpr_erasure", detail=outcome.audit_detail())
    return outcome
