"""Masking of personal data for Dagster metadata (pure functions, no I/O)."""

from __future__ import annotations

import pandas as pd
import pytest

from mc_pipelines.assets.privacy import mask_email, mask_text, redact_frame


@pytest.mark.parametrize(("value", "masked"), [
    ("anna.berg@acme-mail.net", "a***@acme-mail.net"),
    ("  Zoe.Petrova@example.org ", "Z***@example.org"),
    ("bad address@west.io", "b***@west.io"),      # the whole local part, also when invalid
    ("not-an-email", "n***"),
    (None, None),
    ("", ""),
])
def test_mask_email(value, masked):
    assert mask_email(value) == masked


def test_addresses_inside_text_are_masked():
    text = "same address (dup.person@rows.de) as contact 500; x@y.io refused"
    assert mask_text(text) == "same address (d***@rows.de) as contact 500; x***@y.io refused"


def test_redact_frame_drops_names_and_masks_emails_unless_full():
    frame = pd.DataFrame([{"contact_id": 1, "email": "anna@acme.net", "first_name": "Anna",
                           "last_name": "Berg", "message": "anna@acme.net looks fake"}])
    redacted = redact_frame(frame, full=False)
    assert list(redacted.columns) == ["contact_id", "email", "message"]
    assert redacted.iloc[0].tolist() == [1, "a***@acme.net", "a***@acme.net looks fake"]
    assert redact_frame(frame, full=True) is frame
    assert frame.loc[0, "email"] == "anna@acme.net"  # the source frame is not changed
