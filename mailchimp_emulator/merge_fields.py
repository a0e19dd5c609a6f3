"""Merge-field validation (Mailchimp's types, required fields, 255-character text)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from .errors import (
    DETAIL_INVALID_RESOURCE,
    DETAIL_MERGE_INVALID,
    MAX_TEXT,
    ApiError,
    _json_type,
    invalid,
)
from .model import AudienceList

# --------------------------------------------------------------------------------------------
# Merge-field validation
# --------------------------------------------------------------------------------------------

_NUMBER_RE = re.compile(r"^-?\d+(\.\d+)?$")
_BIRTHDAY_RE = re.compile(r"^(\d{1,2})/(\d{1,2})$")
_DATE_FORMATS = ("%Y-%m-%d", "%m/%d/%Y", "%d/%m/%Y", "%Y/%m/%d")
_ADDRESS_REQUIRED = ("addr1", "city", "state", "zip")


class MergeError(Exception):
    """Merge-field problems: ``errors`` as Mailchimp lists them; ``schema`` means the value's
    JSON type was wrong (whole-document "Invalid Resource"), else "Your merge fields were
    invalid."."""

    def __init__(self, errors: list[dict[str, str]], schema: bool = False) -> None:
        super().__init__(errors)
        self.errors = errors
        self.schema = schema

    def api_error(self) -> ApiError:
        """As a 400 Invalid Resource."""
        return invalid(
            self.errors, DETAIL_INVALID_RESOURCE if self.schema else DETAIL_MERGE_INVALID
        )


def _check_value(field: dict[str, Any], value: Any) -> tuple[Any, str | None]:
    """Normalize one merge value; returns (value, error message or None)."""
    ftype = field["type"]
    if value == "" or value is None:
        return "", None
    if ftype == "address":
        if isinstance(value, str):
            parts = [p.strip() for p in value.split("  ")]
            if len(parts) < 4 or not all(parts[:4]):
                return value, "Please enter a complete address"
            keys = ("addr1", "addr2", "city", "state", "zip", "country")
            if len(parts) == 4:
                parts.insert(1, "")
            value = dict(zip(keys, parts, strict=False))
        if not isinstance(value, dict):
            return value, "schema"
        if not all(
            isinstance(value.get(k), str) and value.get(k).strip() for k in _ADDRESS_REQUIRED
        ):
            return value, "Please enter a complete address"
        return {
            "addr1": value["addr1"],
            "addr2": str(value.get("addr2", "") or ""),
            "city": value["city"],
            "state": value["state"],
            "zip": value["zip"],
            "country": str(value.get("country", "") or "US"),
        }, None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return value, "schema"
    if ftype == "number":
        if isinstance(value, int | float):
            return value, None
        text = value.strip()
        if not _NUMBER_RE.match(text):
            return value, "Please enter a number"
        return (float(text) if "." in text else int(text)), None
    text = value if isinstance(value, str) else str(value)
    if ftype == "text":
        if len(text) > MAX_TEXT:
            return text, f"Please enter a value no longer than {MAX_TEXT} characters"
        return text, None
    if ftype == "birthday":
        m = _BIRTHDAY_RE.match(text)
        if not m or not (1 <= int(m.group(1)) <= 12 and 1 <= int(m.group(2)) <= 31):
            return text, "Please enter a valid birthday (MM/DD)"
        return f"{int(m.group(1)):02d}/{int(m.group(2)):02d}", None
    if ftype == "date":
        for fmt in _DATE_FORMATS:
            try:
                return datetime.strptime(text, fmt).date().isoformat(), None
            except ValueError:
                continue
        return text, "Please enter a valid date"
    if ftype in ("dropdown", "radio"):
        choices = field["options"].get("choices") or []
        if text not in choices:
            return text, "Please choose one of the listed options"
        return text, None
    if ftype in ("url", "imageurl", "phone", "zip") and len(text) > MAX_TEXT:
        return text, f"Please enter a value no longer than {MAX_TEXT} characters"
    return text, None


def merge_values(
    lst: AudienceList,
    incoming: Any,
    current: tuple | None,
    skip_required: bool,
) -> tuple:
    """Validate ``incoming`` merge fields against the audience and merge them over ``current``
    (``None`` for a new member, which also receives default values).  Unknown tags are ignored.
    Raises :class:`MergeError`."""
    if incoming is None:
        incoming = {}
    if not isinstance(incoming, dict):
        raise MergeError(
            [
                {
                    "field": "merge_fields",
                    "message": f"Schema describes object, {_json_type(incoming)} found instead",
                }
            ],
            schema=True,
        )
    fields = lst.merge_fields
    if current is None:
        values = [f["default_value"] for f in fields]
    else:
        values = list(current) + [""] * (len(fields) - len(current))
    errors: list[dict[str, str]] = []
    schema = False
    index = lst.mf_index
    types = lst.mf_types
    for tag, raw in incoming.items():
        pos = index.get(tag)
        if pos is None:
            pos = index.get(tag.upper())
            if pos is None:
                continue
        if type(raw) is str and types[pos] == "text" and len(raw) <= MAX_TEXT:
            values[pos] = raw  # the common case, without the general checks
            continue
        value, err = _check_value(fields[pos], raw)
        if err == "schema":
            schema = True
            errors.append(
                {
                    "field": f"merge_fields.{fields[pos]['tag']}",
                    "message": "Data did not match any of the schemas described in anyOf.",
                }
            )
        elif err:
            errors.append({"field": fields[pos]["tag"], "message": err})
        else:
            values[pos] = value
    if not errors and not skip_required:
        for pos, f in enumerate(fields):
            if f["required"] and values[pos] == "":
                errors.append({"field": f["tag"], "message": "Please enter a value"})
    if errors:
        raise MergeError(errors, schema=schema)
    while values and values[-1] == "":
        values.pop()
    return tuple(values)


def merge_dict(lst: AudienceList, mf: tuple) -> dict[str, Any]:
    """Merge values as Mailchimp returns them: every audience field, ``""`` when empty."""
    fields = lst.merge_fields
    n = len(mf)
    return {f["tag"]: (mf[i] if i < n else "") for i, f in enumerate(fields)}


