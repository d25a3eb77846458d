"""What every request body of the REST API shares."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = ["Body"]


class Body(BaseModel):
    """A request body: unknown fields are refused by name (a misspelt field would otherwise
    be ignored without a word), and numbers must be finite."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
