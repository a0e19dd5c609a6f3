"""Typed errors: problem+json → error classes (unit table), and the same errors raised by the
client from the emulator's real responses, each with a message saying what to fix."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from mc_pipelines.mailchimp.addresses import subscriber_hash
from mc_pipelines.mailchimp.errors import (
    AccountDisabled,
    AudienceNotFound,
    BadRequest,
    Forbidden,
    ForgottenEmail,
    InvalidApiKey,
    InvalidResource,
    MailchimpError,
    MemberExists,
    MemberInComplianceState,
    MethodNotAllowed,
    RateLimited,
    ResourceNotFound,
    ServerError,
    WrongDatacenter,
    error_from_response,
)
from mc_pipelines_tests.support.mailchimp_client import (  # noqa: F401 (fixture)
    Account,
    account,
    new_account,
)

EP = "PUT /lists/{list_id}/members/{subscriber_hash}"


def _body(status, title, detail, **extra):
    return {"title": title, "status": status, "detail": detail, "instance": "abc", **extra}


MAPPING = [
    (
        401,
        _body(401, "API Key Missing", "Your request did not include an API key."),
        "GET /ping",
        InvalidApiKey,
    ),
    (
        401,
        _body(
            401,
            "API Key Invalid",
            "Your API key may be invalid, or you've attempted to access the wrong datacenter.",
        ),
        "GET /ping",
        InvalidApiKey,
    ),
    (
        403,
        _body(
            403, "Wrong Datacenter", "The API key provided is linked to a different data center."
        ),
        "GET /ping",
        WrongDatacenter,
    ),
    (
        403,
        _body(403, "User Disabled", "This account has been deactivated."),
        "GET /ping",
        AccountDisabled,
    ),
    (
        403,
        _body(403, "Forbidden", "You are not permitted to access this resource."),
        "GET /ping",
        Forbidden,
    ),
    (
        404,
        _body(404, "Resource Not Found", "The requested resource could not be found."),
        "GET /lists/{list_id}",
        AudienceNotFound,
    ),
    (404, _body(404, "Resource Not Found", "x"), "GET /lists/{list_id}/members", AudienceNotFound),
    (404, _body(404, "Resource Not Found", "x"), "POST /lists/{list_id}", AudienceNotFound),
    (404, _body(404, "Resource Not Found", "x"), EP, ResourceNotFound),
    (
        404,
        _body(404, "Resource Not Found", "x"),
        "POST /lists/{list_id}/segments/{segment_id}",
        ResourceNotFound,
    ),
    # `type` missing, keyed on title
    (
        400,
        _body(
            400,
            "Member Exists",
            "a@b.org is already a list member. Use PUT to insert or update list members.",
        ),
        EP,
        MemberExists,
    ),
    (
        400,
        _body(400, "Member In Compliance State", "a@b.org is in a compliance state"),
        EP,
        MemberInComplianceState,
    ),
    (
        400,
        _body(400, "Forgotten Email Not Subscribed", "a@b.org was permanently deleted"),
        EP,
        ForgottenEmail,
    ),
    # no title at all: keyed on the detail text
    (
        400,
        {"status": 400, "detail": "a@b.org is in a compliance state due to unsubscribe"},
        EP,
        MemberInComplianceState,
    ),
    (
        400,
        _body(
            400,
            "Invalid Resource",
            "Your merge fields were invalid.",
            errors=[{"field": "LTV", "message": "Please enter a number"}],
        ),
        EP,
        InvalidResource,
    ),
    (
        400,
        _body(400, "JSON Parse Error", "We encountered an unspecified JSON parsing error."),
        EP,
        BadRequest,
    ),
    (
        405,
        _body(405, "Method Not Allowed", "The requested method and resource are not compatible."),
        EP,
        MethodNotAllowed,
    ),
    (
        429,
        _body(
            429, "Too Many Requests", "You have exceeded the limit of 10 simultaneous connections."
        ),
        "GET /ping",
        RateLimited,
    ),
    (
        500,
        _body(500, "Internal Server Error", "A deep, internal error has occurred."),
        "GET /ping",
        ServerError,
    ),
    (503, "<html><body>Request Blocked</body></html>", "GET /ping", ServerError),
    (422, _body(422, "Requested Fields Invalid", "x"), "GET /ping", BadRequest),
]


@pytest.mark.parametrize(
    ("status", "body", "endpoint", "cls"), MAPPING, ids=[f"{m[0]}-{m[3].__name__}" for m in MAPPING]
)
def test_error_from_response_maps_status_and_title(status, body, endpoint, cls):
    err = error_from_response(
        status, body, endpoint, context={"list_id": "a1b2c3d4e5", "email": "a@b.org"}
    )
    assert type(err) is cls
    assert isinstance(err, MailchimpError)
    assert err.status == status and err.endpoint == endpoint
    text = str(err)
    assert text.startswith(f"Mailchimp {endpoint} failed ({status}")
    fragment = max(re.split(r"\{[a-z_]+\}", cls.hint), key=len).strip()
    assert fragment[:30] in text
    assert repr(err) == f"{cls.__name__}({text!r})"


def test_error_messages_name_the_record_and_the_fix():
    err = error_from_response(
        400,
        _body(
            400,
            "Invalid Resource",
            "Your merge fields were invalid.",
            errors=[{"field": "LTV", "message": "Please enter a number"}],
        ),
        EP,
        context={"email": "ada@acme-mail.net"},
    )
    assert err.field_errors == [{"field": "LTV", "message": "Please enter a number"}]
    assert "Fields: LTV: Please enter a number" in str(err)
    missing = error_from_response(
        404,
        _body(404, "Resource Not Found", "x"),
        "GET /lists/{list_id}",
        context={"list_id": "zz99"},
    )
    assert "audience 'zz99' not found" in str(missing)
    assert "Audience ID" in str(missing)
    limited = error_from_response(429, {}, "GET /ping", retry_after=3.0)
    assert limited.retry_after == 3.0 and "max_connections" in str(limited)


@pytest.mark.anyio
async def test_invalid_key_wrong_dc_revoked_and_disabled(account, emulator):
    # a well-formed key the server never issued
    stranger = "0" * 28 + "beef-us1"
    with pytest.raises(InvalidApiKey) as unknown:
        await _ping(account, stranger)
    assert unknown.value.status == 401
    assert "****beef-us1" in str(unknown.value)
    assert "Profile \u2192 Extras \u2192 API keys" in str(unknown.value)
    assert account.count("GET /ping") == 0  # the stranger's calls are not counted on this account

    # the right key at the wrong data centre
    other_dc = emulator.base_url_template.replace("{dc}", "us9")
    with pytest.raises(WrongDatacenter) as wrong:
        await account.client(base_url_template=other_dc).ping()
    assert isinstance(wrong.value, InvalidApiKey) and wrong.value.status == 401
    assert f"belongs to data centre {account.dc} but the request went to another one" in str(
        wrong.value
    )
    assert "keep '{dc}' in MC_MAILCHIMP_BASE_URL" in str(wrong.value)
    # a key whose suffix was edited to another data centre: the server cannot tell, nor can we
    body = account.api_key.rpartition("-")[0]
    with pytest.raises(InvalidApiKey) as edited:
        await _ping(account, f"{body}-us9")
    assert "'-<dc>' suffix names the wrong data centre" in str(edited.value)

    # revoked key
    revoked = new_account(emulator)
    emulator.revoke_key(revoked.api_key)
    with pytest.raises(InvalidApiKey):
        await revoked.client().ping()

    # disabled account
    disabled = new_account(emulator)
    emulator.disable_account(disabled.api_key)
    with pytest.raises(AccountDisabled) as off:
        await disabled.client().get_audience(disabled.list_id)
    assert off.value.status == 403
    assert "reactivate" in str(off.value)


async def _ping(account, key):
    from mc_pipelines.mailchimp.endpoints import MailchimpClient

    async with MailchimpClient(key, base_url_template=account.server.base_url_template) as mc:
        return await mc.ping()


@pytest.mark.anyio
async def test_unknown_audience_is_named_and_raised_by_bulk_calls(account):
    missing = "f00dfacade"

    async def body():
        async with account.client() as mc:
            errors = []
            for call in (
                lambda: mc.get_audience(missing),
                lambda: mc.list_merge_fields(missing),
                lambda: mc.batch_subscribe(
                    missing,
                    [{"email_address": "a@acme-mail.net", "status": "subscribed"}],
                    update_existing=True,
                ),
                lambda: _drain(mc.iter_members(missing)),
            ):
                with pytest.raises(AudienceNotFound) as info:
                    await call()
                errors.append(info.value)
            return errors

    for err in await body():
        assert err.status == 404
        assert f"audience '{missing}' not found" in str(err)
        assert err.context["list_id"] == missing


async def _drain(pages):
    return [p async for p in pages]


@pytest.mark.anyio
async def test_member_errors_from_the_emulator(account, emulator):
    unsub = "walked.away@acme-mail.net"
    dup = "twice.added@acme-mail.net"

    async def body():
        async with account.client() as mc:
            await mc.upsert_member(account.list_id, unsub, {"status": "subscribed"})
            emulator.member_event(
                account.api_key, account.list_id, subscriber_hash(unsub), "unsubscribe"
            )
            with pytest.raises(MemberInComplianceState) as compliance:
                await mc.upsert_member(account.list_id, unsub, {"status": "subscribed"})
            batch = await mc.batch_subscribe(
                account.list_id,
                [{"email_address": unsub, "status": "subscribed"}],
                update_existing=True,
            )
            await mc.add_member(account.list_id, {"email_address": dup, "status": "subscribed"})
            with pytest.raises(MemberExists) as exists:
                await mc.add_member(account.list_id, {"email_address": dup, "status": "subscribed"})
            with pytest.raises(InvalidResource) as bad_status:
                await mc.upsert_member(
                    account.list_id, "new.one@acme-mail.net", {"status": "bogus"}
                )
            with pytest.raises(InvalidResource) as bad_merge:
                await mc.upsert_member(
                    account.list_id,
                    "new.two@acme-mail.net",
                    {"status_if_new": "subscribed", "merge_fields": {"BIRTHDAY": "not a birthday"}},
                )
            with pytest.raises(InvalidResource) as bad_email:
                await mc.upsert_member(
                    account.list_id, "john.doe@example.com", {"status_if_new": "subscribed"}
                )
            return compliance, batch, exists, bad_status, bad_merge, bad_email

    compliance, batch, exists, bad_status, bad_merge, bad_email = await body()
    assert unsub in str(compliance.value) and "do not retry" in str(compliance.value)
    assert compliance.value.attempts == 1
    assert [e.email for e in batch.errors] == [unsub]
    assert "compliance state" in batch.errors[0].message
    assert exists.value.status == 400 and "upsert" in str(exists.value)
    assert bad_status.value.field_errors and any(
        "status" in fe["field"] for fe in bad_status.value.field_errors
    )
    assert any("BIRTHDAY" in fe["field"] for fe in bad_merge.value.field_errors)
    assert "BIRTHDAY" in str(bad_merge.value)
    assert "looks fake or invalid" in str(bad_email.value)
    # 4xx are never retried: each failing call hit the server exactly once
    assert account.count(EP, 400) == 4
    assert account.count("POST /lists/{list_id}/members", 400) == 1


def test_retry_after_header_parsing():
    # the emulator sends no Retry-After (Mailchimp documents none); the parser still honours both forms
    from email.utils import format_datetime

    from mc_pipelines.mailchimp.transport import _retry_after_seconds

    assert _retry_after_seconds(None) is None
    assert _retry_after_seconds("") is None
    assert _retry_after_seconds("2.5") == 2.5
    assert _retry_after_seconds("-3") == 0.0
    assert _retry_after_seconds("soon") is None
    later = datetime.now(UTC) + timedelta(seconds=30)
    assert 25 < _retry_after_seconds(format_datetime(later, usegmt=True)) <= 30
