"""`/orgs/{org_id}/contacts/{contact_id}/consent`: a contact's consent trail; record an opt-in
or opt-out with its source."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from mc_pipelines.actions import preferences as actions
from mc_pipelines.api.endpoint import Call, Endpoint
from mc_pipelines.api.models import Body, Out, Timestamp, text


class ConsentBody(Body):
    """An opt-in (`given`) or opt-out (`withdrawn`) and what recorded it."""

    consent: Literal["given", "withdrawn"]
    source: str = Field(pattern=r"^[a-z0-9][a-z0-9_.:-]{0,63}$",
                        description="the application's channel, e.g. preference_center")
    detail: text(500) | None = None


class ConsentEventOut(Out):
    """One consent change."""

    kind: str
    at: Timestamp
    source: str
    detail: str | None


class PreferencesOut(Out):
    """The contact's consent now and its trail, oldest first."""

    contact_id: int
    marketing_consent: bool
    deleted: bool
    events: list[ConsentEventOut]


class RecordOut(Out):
    """`changed`: False when the consent already was so (nothing written)."""

    changed: bool
    preferences: PreferencesOut


def _out(found: actions.Preferences) -> PreferencesOut:
    return PreferencesOut(contact_id=found.contact_id, marketing_consent=found.marketing_consent,
                          deleted=found.deleted, events=[ConsentEventOut(**e) for e in found.events])


def trail(call: Call) -> PreferencesOut:
    """The contact's consent trail."""
    return _out(actions.preferences(call.engine, call.org_id, call.path["contact_id"]))


def record(call: Call) -> RecordOut:
    """Record an opt-in or opt-out."""
    body: ConsentBody = call.body
    changed, found = actions.record_consent(call.engine, call.org_id, call.path["contact_id"],
                                            given=body.consent == "given", source=body.source,
                                            actor=call.actor, detail=body.detail)
    return RecordOut(changed=changed, preferences=_out(found))


PATH = "/orgs/{org_id}/contacts/{contact_id}/consent"
ENDPOINTS = [
    Endpoint("GET", PATH, "get_consent", "A contact's consent and its trail", trail,
             response=PreferencesOut, tag="preferences"),
    Endpoint("POST", PATH, "record_consent", "Record an opt-in or opt-out", record, body=ConsentBody,
             response=RecordOut, errors=(400, 404), tag="preferences"),
]
