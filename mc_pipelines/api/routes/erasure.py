"""`/orgs/{org_id}/contacts/{contact_id}/erasure`: GDPR erasure of one contact (Mailchimp
delete-permanent in every audience, local records forgotten, audited without personal data)."""

from __future__ import annotations

from mc_pipelines.actions import erasure as actions
from mc_pipelines.actions.connections import client_for_connection
from mc_pipelines.api.endpoint import Call, Endpoint
from mc_pipelines.api.models import Out


class ErasureOut(Out):
    """What the erasure did: per audience deleted | not_found | audience_not_found."""

    contact_id: int
    outcome: str
    audiences: dict[str, str]
    removed: dict[str, int]
    consent_withdrawn: bool


def erase(call: Call) -> ErasureOut:
    """Erase the contact now, under the org's lock (never while a run of the org writes)."""
    with call.org_locked("erasure"):
        done = actions.erase_contact(call.engine, client_for_connection, call.org_id,
                                     call.path["contact_id"], actor=call.actor)
    return ErasureOut(**done.audit_detail())


ENDPOINTS = [
    Endpoint("POST", "/orgs/{org_id}/contacts/{contact_id}/erasure", "erase_contact",
             "GDPR erasure of one contact", erase, response=ErasureOut, errors=(400, 404, 409, 502),
             tag="erasure"),
]
