"""`/orgs/{org_id}/audiences`: the audiences of the connected account (or of a credential
before connecting, so the panel can offer a list to pick from) and their merge fields."""

from __future__ import annotations

from mc_pipelines.actions import audiences as actions
from mc_pipelines.api.endpoint import Call, Endpoint
from mc_pipelines.api.models import Out
from mc_pipelines.api.routes.connection import Credential
from mc_pipelines.store.connections import require_org


class AudienceOut(Out):
    """One audience."""

    id: str
    name: str
    member_count: int


class AudiencesOut(Out):
    """The account and its audiences."""

    account_name: str
    dc: str
    audiences: list[AudienceOut]


class MergeFieldOut(Out):
    """One merge field of an audience."""

    tag: str
    name: str
    type: str
    required: bool


class MergeFieldsOut(Out):
    """An audience's merge fields."""

    audience_id: str
    merge_fields: list[MergeFieldOut]


def _out(found: actions.AccountAudiences) -> AudiencesOut:
    return AudiencesOut(account_name=found.account_name, dc=found.dc,
                        audiences=[AudienceOut(id=a.id, name=a.name, member_count=a.member_count)
                                   for a in found.audiences])


def connected(call: Call) -> AudiencesOut:
    """The audiences of the org's connected account."""
    return _out(actions.org_audiences(call.engine, call.org_id))


def discover(call: Call) -> AudiencesOut:
    """The audiences a credential reaches (nothing stored)."""
    require_org(call.engine, call.org_id)
    body: Credential = call.body
    return _out(actions.discover_audiences(body.secret, oauth=body.oauth))


def merge_fields(call: Call) -> MergeFieldsOut:
    """The merge fields of an audience of the org's account."""
    audience = call.path["audience_id"]
    fields = actions.merge_fields(call.engine, call.org_id, audience)
    return MergeFieldsOut(audience_id=audience, merge_fields=[
        MergeFieldOut(tag=f.tag, name=f.name, type=f.type, required=f.required) for f in fields])


ENDPOINTS = [
    Endpoint("GET", "/orgs/{org_id}/audiences", "list_audiences", "Audiences of the connected account",
             connected, response=AudiencesOut, errors=(400, 404, 409), tag="audiences"),
    Endpoint("POST", "/orgs/{org_id}/audiences/discover", "discover_audiences",
             "Audiences a credential reaches, before connecting (nothing stored)", discover,
             body=Credential, response=AudiencesOut, errors=(400, 404), tag="audiences"),
    Endpoint("GET", "/orgs/{org_id}/audiences/{audience_id}/merge-fields", "list_merge_fields",
             "Merge fields of an audience of the connected account", merge_fields,
             response=MergeFieldsOut, errors=(400, 404, 409), tag="audiences"),
]
