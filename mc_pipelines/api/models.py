"""Shared pydantic types of the control API: request bodies are strict and refuse unknown
fields; texts refuse control characters; ids are bounded (PostgreSQL BIGINT)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

MAX_ID = 2**63 - 1

#: Text without control characters (NUL and friends never reach the database).
_NO_CONTROL = r"^[^\x00-\x1f\x7f]*$"


def text(max_length: int, min_length: int = 0) -> type[str]:
    """A str type of bounded length without control characters."""
    return Annotated[str, StringConstraints(min_length=min_length, max_length=max_length,  # type: ignore[return-value]
                                            pattern=_NO_CONTROL)]


Id = Annotated[int, Field(ge=1, le=MAX_ID)]
OrgId = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f\x7f/]+$")]
RefId = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


#: A time of the database (naive UTC) shown as RFC 3339 with its offset (`+00:00`).
Timestamp = Annotated[datetime, AfterValidator(lambda d: d if d.tzinfo else d.replace(tzinfo=UTC))]


def _drop_default(schema: dict) -> None:
    schema.pop("default", None)


def omitted(**kwargs) -> Any:
    """A body field that may be left out but, when given, is never null (its type is not
    nullable; the document shows no default)."""
    return Field(default=None, json_schema_extra=_drop_default, **kwargs)


class Body(BaseModel):
    """Base of request bodies: exact JSON types, unknown fields refused (422 naming them)."""

    model_config = ConfigDict(extra="forbid", strict=True)


class Query(BaseModel):
    """Base of query-parameter models: unknown parameters refused; values are text, so types are
    coerced (`true`/`false` for a boolean)."""

    model_config = ConfigDict(extra="forbid")


class Out(BaseModel):
    """Base of response bodies."""

    model_config = ConfigDict(extra="forbid")


class FieldProblem(Out):
    """One invalid field of a refused request."""

    field: str = Field(description="where: body.<name>, path.<name> or query.<name>")
    message: str


class ErrorOut(Out):
    """Every error: what went wrong and what to do about it."""

    error: str
    fix: str
    fields: list[FieldProblem] | None = None


class Done(Out):
    """An action that returns nothing else."""

    ok: bool = True
    changed: bool = Field(description="False when the state already was so (nothing written)")
