"""The API key never appears in logs (ours and httpx/httpcore's, at DEBUG), exception messages,
reprs or tracebacks — through successes, retried faults, typed errors and transport failures."""

from __future__ import annotations

import base64
import logging
import traceback

import pytest

from mc_pipelines.mailchimp.endpoints import MailchimpClient
from mc_pipelines.mailchimp.errors import InvalidApiKeyFormat, MailchimpError
from mc_pipelines.mailchimp.keys import ApiKey, parse_api_key
from mc_pipelines.mailchimp.oauth import fetch_oauth_metadata
from mc_pipelines.mailchimp.redact import RedactingFilter, install_redaction_filter, redact_text
from mc_pipelines_tests.support.mailchimp_client import (  # noqa: F401 (fixture)
    Account,
    account,
    emails,
    new_account,
)


def _texts_of(exc: BaseException) -> list[str]:
    return [str(exc), repr(exc), "".join(traceback.format_exception(exc))]


@pytest.mark.anyio
async def test_api_key_never_leaks(account, emulator, caplog):
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore", "mc_pipelines"):
        caplog.set_level(logging.DEBUG, logger=name)
    key = account.api_key
    body = key.rpartition("-")[0]
    texts: list[str] = []
    addresses = emails(600, prefix="leak")

    account.faults(seed=99, error_rate=0.15, throttle_rate=0.1, drop_rate=0.15, ack_loss_rate=0.1)

    async def main():
        async with account.client(max_attempts=10) as mc:
            texts.extend([repr(mc), str(mc), repr(mc.key), str(mc.key), repr(mc.metrics)])
            texts.append(str(mc.metrics.as_metadata()))
            batch = await mc.batch_subscribe(
                account.list_id,
                [{"email_address": e, "status": "subscribed"} for e in addresses]
                + [{"email_address": "not-an-email", "status": "subscribed"}],
                update_existing=True,
            )
            texts.extend(repr(e) for e in batch.errors)
            seg = await mc.ensure_static_segment(account.list_id, "Leak check")
            await mc.update_segment_members(account.list_id, seg, add=addresses)
            _ = [p async for p in mc.iter_members(account.list_id, page_size=250)]
            failing = [
                lambda: mc.get_audience("0000000000"),
                lambda: mc.get_member(account.list_id, "nobody.here@acme-mail.net"),
                lambda: mc.upsert_member(account.list_id, "x@acme-mail.net", {"status": "bogus"}),
                lambda: mc.archive_member(account.list_id, "nobody.here@acme-mail.net"),
            ]
            for call in failing:
                try:
                    await call()
                except MailchimpError as exc:
                    texts.extend(_texts_of(exc))
                    texts.append(repr(exc.__dict__))
                else:
                    pytest.fail("expected an error")
        account.faults(error_rate=1.0)
        async with account.client(max_attempts=2) as mc:
            for call in (mc.ping, lambda: mc.get_audience(account.list_id)):
                try:
                    await call()
                except MailchimpError as exc:
                    texts.extend(_texts_of(exc))
        account.faults(error_rate=0, drop_rate=1.0)
        async with account.client(max_attempts=2) as mc:
            try:
                await mc.ping()
            except MailchimpError as exc:
                texts.extend(_texts_of(exc))
        account.faults(drop_rate=0, throttle_rate=0, ack_loss_rate=0)

    await main()

    # a mistyped key (one character off), a key at the wrong data centre, a refused connection
    typo = body[:-1] + ("0" if body[-1] != "0" else "1") + "-" + account.dc
    for client in (
        MailchimpClient(typo, base_url_template=emulator.base_url_template, max_attempts=1),
        account.client(base_url_template=emulator.base_url_template.replace("{dc}", "us77")),
        account.client(base_url_template="http://127.0.0.1:9/{dc}/3.0", max_attempts=2),
    ):
        with pytest.raises(MailchimpError) as info:
            await client.ping()
        texts.extend(_texts_of(info.value))

    # malformed keys
    for raw in (f" {key}", f'"{key}"', body, f"{body}-XX", key.upper()):
        with pytest.raises(InvalidApiKeyFormat) as bad:
            parse_api_key(raw)
        texts.extend(_texts_of(bad.value))

    # OAuth: the key body as a token
    metadata_url = emulator.base_url_template.split("/{dc}/")[0] + "/_emulator/oauth2/metadata"
    assert (await fetch_oauth_metadata(body, metadata_url)).dc == account.dc

    async def oauth():
        async with MailchimpClient(
            body,
            oauth=True,
            oauth_metadata_url=metadata_url,
            base_url_template=emulator.base_url_template,
        ) as mc:
            texts.append(repr(mc))
            await mc.ping()

    await oauth()

    # anything else that logs the key through the covered loggers is scrubbed too
    logging.getLogger("mc_pipelines.mailchimp").debug("careless: %s", key)
    logging.getLogger("httpx").debug(
        "Authorization: Basic %s", base64.b64encode(f"anystring:{key}".encode()).decode()
    )
    logging.getLogger("mc_pipelines.mailchimp").warning("careless body %s", body)
    try:
        raise RuntimeError(f"boom {key}")
    except RuntimeError:
        logging.getLogger("mc_pipelines.mailchimp").exception("with traceback")

    everything = "\n".join(
        [
            caplog.text,
            *(r.getMessage() for r in caplog.records),
            *(r.exc_text or "" for r in caplog.records),
            *texts,
        ]
    )
    assert "HTTP Request:" in caplog.text  # httpx's own lines were captured
    assert "mailchimp GET /ping -> 200" in caplog.text
    assert "mailchimp POST /lists/{list_id} -> " in caplog.text
    assert "retry" in caplog.text
    secrets = {
        key,
        body,
        typo,
        typo.rpartition("-")[0],
        base64.b64encode(f"anystring:{key}".encode()).decode(),
        base64.b64encode(f"anystring:{typo}".encode()).decode(),
    }
    for secret in secrets:
        assert secret not in everything
        assert secret.upper() not in everything.upper()
    assert f"****{body[-4:]}" in everything  # the safe label is there instead


def test_redacting_filter_scrubs_records_and_installs_once():
    secret = "1234567890abcdef1234567890abcdef-us5"
    ApiKey(secret=secret, dc="us5")
    record = logging.LogRecord("httpx", logging.DEBUG, __file__, 1, "sent %s", (secret,), None)
    assert RedactingFilter().filter(record) is True
    assert record.getMessage() == "sent ****cdef-us5"
    f1 = install_redaction_filter()
    f2 = install_redaction_filter()
    assert f1 is f2
    for name in ("httpx", "httpcore", "mc_pipelines", "mc_pipelines.mailchimp", "httpcore.http11"):
        assert logging.getLogger(name).filters.count(f1) == 1
    assert redact_text(f"url?x={secret[:32]}") == "url?x=****cdef"
