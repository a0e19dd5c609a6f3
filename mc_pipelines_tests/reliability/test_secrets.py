"""Secrets: API keys encrypted at rest (the raw key is in neither the SQLite file nor any
PostgreSQL row), webhook secrets stored only as hashes, a wrong `MC_SECRET_KEY` fails with a clear
error, and the session-wide secret scan (`secret_scan.py`) is able to find a leak.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from mc_pipelines.actions.connections import connect_org
from mc_pipelines.automation.run_config import run_config_dict
from mc_pipelines.store import tables
from mc_pipelines.store.connections import get_connection
from mc_pipelines.store.secrets import (
    SecretKeyError,
    decrypt_secret,
    load_fernet,
    verify_webhook_secret,
)
from mc_pipelines_tests.support import secret_scan
from mc_pipelines_tests.support.app_data import (
    add_contacts,
    add_org,
    connect_to_emulator,
    contact_row,
)
from mc_pipelines_tests.support.reliability import (
    ORG_TABLES,
    immediate_retries,
    run_sync,
    state_rows,
)
from mc_pipelines_tests.support.secret_scan import (
    SecretScan,
    capture_text,
    run_cli,
    scanned_instance,
)

WRONG_KEY = ("cannot decrypt the stored Mailchimp API key: MC_SECRET_KEY is not the key it was encrypted "
             "with. Restore the original MC_SECRET_KEY, or reconnect the org with `mc-pipelines connect` "
             "to store the key again.")
MALFORMED = ("MC_SECRET_KEY is not a valid Fernet key (it must be 32 url-safe base64-encoded bytes, 44 "
             "characters); generate a new one only if no keys are stored yet.")
MISSING = ("MC_SECRET_KEY is not set: set it to a Fernet key (generate one with `python -c 'from "
           "cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'`).")


def _forms(key: str) -> list[bytes]:
    body = key.rpartition("-")[0]
    return [key.encode(), body.encode(), base64.b64encode(f"anystring:{key}".encode())]


def _synced_org(engine, emulator, org_id: str) -> dict:
    add_org(engine, org_id)
    add_contacts(engine, [contact_row(org_id, i, f"secret{i}@posteo.de") for i in range(1, 4)])
    conn = connect_to_emulator(engine, emulator, org_id)
    with scanned_instance() as instance:
        assert run_sync(instance, org_id, engine, emulator).success
    return conn


def test_raw_key_is_not_in_the_sqlite_file(tmp_path, emulator):
    from mc_pipelines.store.db import create_db_engine
    from mc_pipelines.store.migrations import migrate

    engine = create_db_engine(f"sqlite:///{tmp_path / 'app.db'}")
    migrate(engine)
    conn = _synced_org(engine, emulator, "at-rest")
    stored = get_connection(engine, "at-rest").api_key_encrypted
    assert decrypt_secret(stored) == conn["api_key"]  # a Fernet token of the key, nothing else
    assert stored.startswith("gAAAAA")
    engine.dispose()
    files = sorted(Path(tmp_path).glob("app.db*"))  # the database, its WAL and shared memory
    assert files and any(f.stat().st_size > 0 for f in files)
    for path in files:
        data = path.read_bytes()
        for form in _forms(conn["api_key"]):
            assert form not in data, f"{path.name} holds the API key"


def test_raw_key_is_in_no_postgresql_row(pg_app_engine, emulator):
    conn = _synced_org(pg_app_engine, emulator, "pg-at-rest")
    dumped = []
    with pg_app_engine.connect() as c:
        for name in ORG_TABLES:
            dumped += c.execute(sa.text(f"SELECT row_to_json(t)::text FROM {name} t")).scalars().all()
    text = "\n".join(dumped)
    assert "pg-at-rest" in text and "secret1@posteo.de" in text  # the dump did read the rows
    for form in _forms(conn["api_key"]):
        assert form.decode() not in text


def test_webhook_secret_is_shown_once_and_stored_as_a_hash(tmp_path, emulator, monkeypatch):
    from mc_pipelines.store.db import create_db_engine
    from mc_pipelines.store.migrations import migrate

    engine = create_db_engine(f"sqlite:///{tmp_path / 'app.db'}")
    migrate(engine)
    monkeypatch.setenv("MC_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    add_org(engine, "hooks")
    connect_to_emulator(engine, emulator, "hooks")
    code, out, err = run_cli(["webhook-secret", "--org", "hooks", "--base-url", "https://hooks.test"])
    assert (code, err) == (0, "")
    secret = out.splitlines()[1].strip()
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", secret)
    assert "https://hooks.test/" in out and secret in out.splitlines()[3]
    stored = get_connection(engine, "hooks").webhook_secret_hash
    assert stored == hashlib.sha256(secret.encode()).hexdigest()
    assert verify_webhook_secret(secret, stored) and not verify_webhook_secret(secret + "x", stored)
    with engine.connect() as c:
        audit = c.execute(sa.select(tables.audit_log.c.detail).where(tables.audit_log.c.action == "webhook_secret")).scalars().all()
    assert audit and all(secret not in str(d) and stored not in str(d) for d in audit)
    engine.dispose()
    for path in Path(tmp_path).glob("app.db*"):
        assert secret.encode() not in path.read_bytes()

    code, out2, _ = run_cli(["webhook-secret", "--org", "hooks"])  # a new one replaces it
    assert code == 0 and secret not in out2
    assert get_connection(create_db_engine(f"sqlite:///{tmp_path / 'app.db'}"), "hooks").webhook_secret_hash != stored


def test_wrong_missing_or_malformed_secret_key_gives_a_clear_error(app_engine, emulator, monkeypatch):
    add_org(app_engine, "keyed")
    conn = connect_to_emulator(app_engine, emulator, "keyed")
    stored = get_connection(app_engine, "keyed").api_key_encrypted
    monkeypatch.setenv("MC_SECRET_KEY", Fernet.generate_key().decode())  # a valid key, but not the one
    with pytest.raises(SecretKeyError) as caught:
        decrypt_secret(stored)
    assert str(caught.value) == WRONG_KEY
    monkeypatch.setenv("MC_SECRET_KEY", "not-a-fernet-key")
    with pytest.raises(SecretKeyError) as caught:
        load_fernet()
    assert str(caught.value) == MALFORMED
    monkeypatch.setenv("MC_SECRET_KEY", "  ")
    with pytest.raises(SecretKeyError) as caught:
        decrypt_secret(stored)
    assert str(caught.value) == MISSING
    # connecting with a malformed MC_SECRET_KEY fails before Mailchimp is called; nothing stored
    add_org(app_engine, "keyed2")
    monkeypatch.setenv("MC_SECRET_KEY", "not-a-fernet-key")
    writes = emulator.stats(conn["api_key"])["writes"]
    with pytest.raises(SecretKeyError, match="not a valid Fernet key"):
        connect_org(app_engine, "keyed2", conn["api_key"], conn["audience_id"], actor="test",
                    base_url_template=emulator.base_url_template)
    assert get_connection(app_engine, "keyed2") is None
    assert emulator.stats(conn["api_key"])["writes"] == writes


def test_cli_with_the_wrong_secret_key(app_engine, emulator, monkeypatch):
    monkeypatch.setenv("MC_DATABASE_URL", app_engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("MC_MAILCHIMP_BASE_URL", emulator.base_url_template)
    add_org(app_engine, "cli-keyed")
    connect_to_emulator(app_engine, emulator, "cli-keyed")
    monkeypatch.setenv("MC_SECRET_KEY", Fernet.generate_key().decode())
    code, out, err = run_cli(["test-connection", "--org", "cli-keyed"])
    assert (code, out, err) == (2, "", f"error: {WRONG_KEY}\n")


def _wrong_key_sync(engine, emulator, monkeypatch, org_id: str):
    conn = _synced_org(engine, emulator, org_id)
    writes, rows = emulator.stats(conn["api_key"])["writes"], state_rows(engine, org_id)
    monkeypatch.setenv("MC_SECRET_KEY", Fernet.generate_key().decode())
    with scanned_instance() as instance, immediate_retries():
        result = run_sync(instance, org_id, engine, emulator)
    assert not result.success
    assert emulator.stats(conn["api_key"])["writes"] == writes and state_rows(engine, org_id) == rows
    return result


def test_sync_with_the_wrong_secret_key_fails_clearly_and_writes_nothing(pg_app_engine, emulator, monkeypatch):
    result = _wrong_key_sync(pg_app_engine, emulator, monkeypatch, "run-keyed")
    failures = [e.step_failure_data.error for e in result.all_events if e.is_step_failure]
    texts = []
    for error in failures:
        while error is not None:
            texts.append(error.message)
            error = error.cause
    capture_text("wrong key sync", "\n".join(texts))
    assert any(WRONG_KEY in t for t in texts), texts


def test_sync_with_the_wrong_secret_key_fails_without_retrying(pg_app_engine, emulator, monkeypatch):
    result = _wrong_key_sync(pg_app_engine, emulator, monkeypatch, "run-keyed2")
    retried = [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    (error,) = [e.step_failure_data.error for e in result.all_events if e.is_step_failure]
    assert retried == [] and error.cls_name == "Failure" and WRONG_KEY in error.message


# -- the session scan can fail -----------------------------------------------------------------------

def test_the_secret_scan_finds_planted_keys(emulator):
    """A key in a log record, in a Dagster event log, in CLI output or in an exception text is
    found; text without it is not flagged; findings never show the key. (A scan of its own, so
    the planted leaks do not fail the session.)"""
    from dagster import DagsterInstance, materialize_to_memory

    scan = SecretScan()
    key = emulator.create_account("planted")["api_key"]
    assert key in secret_scan.SCAN.secrets  # the harness hook registered it for the session scan
    scan.add_secret(key)
    handler = secret_scan._CollectingHandler(scan)
    logger = logging.getLogger("reliability.planted")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.debug("request with %s", key.rpartition("-")[0])
        logger.info("nothing to see")
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    with DagsterInstance.ephemeral() as instance:
        from dagster import asset

        @asset
        def leaky(context) -> None:
            context.log.info(f"calling Mailchimp with {key}")

        quiet = run_config_dict(log_level="CRITICAL")  # event log only
        assert materialize_to_memory([leaky], instance=instance, run_config=quiet).success
        assert secret_scan.collect_instance(instance, "planted instance", scan=scan) > 5
    scan.add_text("cli stdout", "Authorization: Basic " + base64.b64encode(f"anystring:{key}".encode()).decode())
    scan.add_text("exception", "all fine here")
    where = sorted({f.where for f in scan.findings()})
    assert any(w.startswith("log reliability.planted") for w in where), where
    assert any(w.startswith("planted instance") for w in where), where
    assert "cli stdout" in where and "exception" not in where
    assert all(key not in f.excerpt and key.rpartition("-")[0] not in f.excerpt for f in scan.findings())


def test_no_key_leaked_so_far():
    """The session scan over everything collected up to this point (the full scan runs at the end
    of the session); it has texts and keys to search, and finds nothing."""
    assert len(secret_scan.SCAN.secrets) >= 1 and len(secret_scan.SCAN.texts) > 10
    assert secret_scan.SCAN.findings() == []
