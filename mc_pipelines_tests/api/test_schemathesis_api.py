"""Property-based tests generated from the published OpenAPI document (schemathesis): every
operation gets valid and hostile (negative) requests over real HTTP, half of the valid ones
aimed at a seeded, connected org. Checked on every answer: no 5xx, status codes and bodies
conform to the document, invalid requests are refused, auth is enforced, and no credential or
service token is ever echoed. Bounded: `MAX_EXAMPLES` per operation."""

from __future__ import annotations

import io
import zipfile
import zlib

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import CheckContext
from schemathesis.core.transport import Response
from schemathesis.generation.case import Case

from mc_pipelines.api.app import endpoints
from mc_pipelines.api.openapi import openapi_document
from mc_pipelines.api.routes.spreadsheets import CSV, XLSX
from mc_pipelines_tests.support.app_data import (
    add_contacts,
    add_org,
    add_segment,
    connect_to_emulator,
    contact_row,
)

MAX_EXAMPLES = 8
SECRETS: list[str] = []


DOCUMENT = openapi_document(endpoints())


@schemathesis.serializer(CSV, XLSX)
def _file_bytes(_ctx, value: object) -> bytes:
    """An upload's generated body sent as is (hostile bytes under every documented file type:
    the import must refuse them naming the fix, never fail)."""
    return value if isinstance(value, bytes) else str(value).encode("utf-8", "surrogatepass")


@pytest.fixture
def acme(api, emulator) -> None:
    """A connected org `acme` with contacts and a segment; the secrets the answers must not show."""
    add_org(api.engine, "acme")
    add_contacts(api.engine, [contact_row("acme", n, f"c{n}@acme.io") for n in range(1, 6)])
    account = connect_to_emulator(api.engine, emulator, "acme")
    add_segment(api.engine, "acme", 1, "vip", {})
    SECRETS[:] = [api.token, account["api_key"], account["api_key"].rpartition("-")[0]]


def _readable(content: bytes) -> str:
    """An answer's text; a workbook (the export, a zip) as the text of its XML parts."""
    if content.startswith(b"PK\x03\x04"):
        with zipfile.ZipFile(io.BytesIO(content)) as book:
            return "".join(book.read(n).decode("utf-8", "replace") for n in book.namelist())
    return content.decode("utf-8", "replace")


@schemathesis.check
def no_secret_echoed(ctx: CheckContext, response: Response, case: Case) -> bool | None:
    """No answer carries the service token or the org's Mailchimp key (whole or its body)."""
    text = _readable(response.content or b"")
    for secret in SECRETS:
        assert secret not in text, "a secret was echoed in the response"
    return None


def _schema(*, coverage: bool) -> schemathesis.BaseSchema:
    """The document the served API publishes (`test_the_served_document_is_the_one_tested` checks
    it), loaded at import so each operation becomes its own test. `coverage`: also schemathesis'
    coverage phase (boundary and invalid values of every field, about 1,000 more requests)."""
    loaded = schemathesis.openapi.from_dict(DOCUMENT)
    loaded.config.phases.coverage.enabled = coverage
    # a schema-valid request may still be refused for what no JSON Schema says (a key without its
    # `-dc`, a filter the segment rules refuse): 400 with the fix, documented on those operations
    checks = loaded.config.checks.positive_data_acceptance
    checks.expected_statuses = [*checks.expected_statuses, "400"]
    return loaded


schema = _schema(coverage=False)
full_schema = _schema(coverage=True)


def test_the_served_document_is_the_one_tested(api) -> None:
    assert api.get("/openapi.json").json() == DOCUMENT


def _call(case: Case, api) -> None:
    if case.path_parameters and "org_id" in case.path_parameters and zlib.crc32(repr(case.body).encode()) % 2 == 0 \
            and case.meta is not None and not case.meta.generation.mode.is_negative:
        # half of the valid requests reach real data (crc32, not hash(): the same cases every run)
        case.path_parameters["org_id"] = "acme"
    case.call_and_validate(base_url=api.root, headers={"Authorization": f"Bearer {api.token}"},
                           additional_checks=[no_secret_echoed])


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_every_operation_conforms_and_refuses_hostile_input(case: Case, api, acme) -> None:
    _call(case, api)


@pytest.mark.slow
@full_schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_every_operation_with_the_coverage_phase(case: Case, api, acme) -> None:
    _call(case, api)
