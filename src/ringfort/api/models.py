"""What every request body of the REST API shares."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = ["Body"]


class Body(BaseModel):
    """A request body: unknown fields are refused by name (a misspelt field would otherwise
    be ignored without a word), and numbers must be finite.

    The bounds a body's fields declare (lengths, ranges) are loose on purpose: they
    keep absurd input (a megabyte name, a number beyond the database's integers) from
    the services, whose own checks, with the messages the CLI gives too, decide.
    """

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
